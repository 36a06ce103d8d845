"""A SQLite adapter: every durable layer in one database file, with the memory adapter's
semantics, and the cache in a second file beside it.

Every adapter instance holds one connection (``check_same_thread=False``) guarded by a
lock, so one instance is safe to share between threads. Each write is one transaction:
a put or delete is a single statement (``INSERT ... ON CONFLICT`` or ``UPDATE`` with
``RETURNING``) that checks the precondition, computes the version and etag, and purges
the cache entry through a trigger; an idempotent append, a group claim or an ack is one
``BEGIN IMMEDIATE`` transaction. Each is atomic, also across processes that open the
same file. The database runs in WAL mode; ``synchronous=FULL`` (the default)
makes a commit durable before the call returns.

The cache is not durable by contract, so it lives in ``<path>-cache``, attached to every
connection as the schema ``volatile`` with ``synchronous=OFF``: every adapter on the file
shares it (``distributed_cache``), and a read (a cache fill included) never writes the
durable database or its WAL and never waits for an fsync.

Deleted objects keep their row with ``live = 0`` as a tombstone, so versions continue
after a delete. Consumer groups are kept per delivery (``groups`` and ``deliveries``).
A value longer than SQLite's length limit (1,000,000,000 bytes by default) is
``InvalidRequestError`` naming it; every other ``sqlite3`` error becomes a
``BackendUnavailableError``. Expired cache rows are deleted by cache writes, at most
``EVICT_BATCH`` per write (a filling read evicts on every ``FILLS_PER_EVICTION``-th fill).
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, Final, TypeVar

from pytest_sanctum.adapters.codec import checkpoint_from_json
from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConfigError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.kit import backend_faults
from pytest_sanctum.kit.backend_info import BackendInfo
from pytest_sanctum.types import (
    AppendResult,
    Blob,
    BlobInfo,
    CacheEntry,
    CacheFill,
    Capabilities,
    Claimed,
    ETag,
    GroupCheckpoint,
    GroupPending,
    Layer,
    StoredMessage,
    Version,
    WriteResult,
)

__all__ = [
    "SCHEMA_VERSION",
    "SqliteAdapter",
    "SqliteBackdoor",
    "SqliteCacheStore",
    "SqliteFaultInjector",
    "SqliteGroupStore",
    "SqliteStreamLog",
    "SqliteVersionedStore",
    "cache_path",
    "create_sqlite_adapter",
]

_T = TypeVar("_T")

SCHEMA_VERSION: Final = 4
"""Stored in ``PRAGMA user_version`` once the tables exist. Version 2 added the
``settings`` table and the index of idempotency keys by age, version 3 the index of
cache rows by eviction time; version 4 keeps consumer groups per delivery (``groups``,
``deliveries``) instead of a JSON ``checkpoints`` row, and moves the cache to the
``volatile`` database. Opening an older file upgrades it: every saved checkpoint becomes
its group's rows, and the old cache table is dropped."""

EVICT_BATCH: Final = 64
"""Expired cache rows deleted by each cache write, at most: more than a write adds, so
expired rows never pile up, and each write's extra work stays bounded."""

FILLS_PER_EVICTION: Final = 32
"""A filling read is one statement; every this many fills of an adapter, one more deletes
up to ``EVICT_BATCH`` expired rows, which still outpaces what the fills add."""

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS objects (
        layer TEXT NOT NULL, ns TEXT NOT NULL, key TEXT NOT NULL,
        data BLOB, version INTEGER NOT NULL, etag TEXT, content_type TEXT,
        live INTEGER NOT NULL,
        PRIMARY KEY (layer, ns, key)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS messages (
        ns TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, payload BLOB NOT NULL,
        PRIMARY KEY (ns, stream, seq))""",
    """CREATE TABLE IF NOT EXISTS idempotency (
        ns TEXT NOT NULL, stream TEXT NOT NULL, idem_key TEXT NOT NULL,
        seq INTEGER NOT NULL, first_ms REAL NOT NULL,
        PRIMARY KEY (ns, stream, idem_key)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS idempotency_by_age ON idempotency (first_ms)",
    """CREATE TABLE IF NOT EXISTS settings (
        name TEXT NOT NULL PRIMARY KEY, value REAL NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS groups (
        ns TEXT NOT NULL, stream TEXT NOT NULL, grp TEXT NOT NULL,
        cursor INTEGER NOT NULL, revision INTEGER NOT NULL,
        PRIMARY KEY (ns, stream, grp)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        ns TEXT NOT NULL, stream TEXT NOT NULL, grp TEXT NOT NULL, seq INTEGER NOT NULL,
        consumer TEXT NOT NULL, deliveries INTEGER NOT NULL, visible_at_ms REAL NOT NULL,
        PRIMARY KEY (ns, stream, grp, seq)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS deliveries_due
        ON deliveries (ns, stream, grp, visible_at_ms, seq)""",
)
"""The durable tables. ``settings`` holds ``longest_dedupe_window_ms``, the longest window
any append has brought; ``deliveries_due`` finds a group's due deliveries, earliest first."""

_VOLATILE_SCHEMA: Final = """CREATE TABLE IF NOT EXISTS volatile.entries (
    ns TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL, version INTEGER NOT NULL,
    etag TEXT NOT NULL, stored_at_ms REAL NOT NULL, content_type TEXT,
    expires_at_ms REAL NOT NULL, evict_at_ms REAL NOT NULL,
    PRIMARY KEY (ns, key)) WITHOUT ROWID"""
_VOLATILE_INDEX: Final = (
    "CREATE INDEX IF NOT EXISTS volatile.entries_by_eviction ON entries (evict_at_ms)"
)
"""The cache entries: ``expires_at_ms`` is the entry's own field, ``evict_at_ms`` when the
adapter drops it."""

_TABLES: Final = ("objects", "messages", "idempotency", "groups", "deliveries", "volatile.entries")
"""The tables whose rows belong to a namespace (``reset`` clears them)."""

_new = tuple.__new__
"""Builds a named tuple from a ready tuple, skipping its generated Python ``__new__``."""

_MAX_INT: Final = 2**63 - 1
"""SQLite integers are 64-bit; larger ``after``/``limit`` values mean "no bound"."""

_SYNCHRONOUS: Final = ("FULL", "NORMAL")


def _forget_expired_keys(conn: sqlite3.Connection, now_ms: float, window_ms: float) -> None:
    """Delete idempotency keys older than the longest dedupe window any append has brought.

    A client with a short window thus never makes one with a long window lose a key; the
    index on ``first_ms`` keeps the delete proportional to what it removes.
    """
    conn.execute(
        "INSERT INTO settings (name, value) VALUES ('longest_dedupe_window_ms', ?)"
        " ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
        (window_ms,),
    )
    conn.execute(
        "DELETE FROM idempotency WHERE first_ms <= ? - (SELECT value FROM settings"
        " WHERE name = 'longest_dedupe_window_ms')",
        (now_ms,),
    )


def _prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (``None``: none).

    Keys compare by code point (SQLite's BINARY collation on UTF-8), so the strings with
    the prefix are exactly ``prefix <= key < _prefix_end(prefix)``: no LIKE, no wildcards.
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop()) + 1
        if last <= 0x10FFFF:
            if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be stored; none sort between
                last = 0xE000
            return "".join(chars) + chr(last)
    return None


def _ns_range(prefix: str) -> tuple[str, tuple[str, ...]]:
    """A ``WHERE`` clause (and its parameters) selecting namespaces starting with ``prefix``."""
    end = _prefix_end(prefix)
    if end is None:
        return "ns >= ?", (prefix,)
    return "ns >= ? AND ns < ?", (prefix, end)


def _check_limit(limit: int, namespace: str, key: str) -> None:
    if limit < 0:
        raise InvalidRequestError(
            f"limit must be >= 0, got {limit}", argument="limit", namespace=namespace, key=key
        )


# --- the connection ------------------------------------------------------------------------


def _unavailable(
    error: BaseException, namespace: str | None, key: str | None
) -> BackendUnavailableError:
    """The canonical error of a ``sqlite3`` failure (busy, locked, I/O, corrupt, closed...)."""
    text = str(error) or type(error).__name__
    if isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        text = f"sqlite database is busy: {text} (busy_timeout_ms elapsed)"
    else:
        text = f"sqlite error: {type(error).__name__}: {text}"
    return BackendUnavailableError(text, namespace=namespace, key=key)


def cache_path(path: str) -> str:
    """The file of the cache database beside the database at ``path``."""
    return path if path == ":memory:" else f"{path}-cache"


def _upgrade(conn: sqlite3.Connection) -> None:
    """Create what is missing, and bring an older file's data to the current schema.

    Runs in the caller's transaction. A version 2 file's JSON checkpoints become group
    rows: the cursor, the revision and one row per pending delivery (the acknowledged
    sequences are the delivered ones not pending, so they need no rows). Its cache table
    is dropped: cached entries are never needed.
    """
    for statement in _SCHEMA:
        conn.execute(statement)
    tables = {row[0] for row in conn.execute("SELECT name FROM main.sqlite_master")}
    if "checkpoints" in tables:
        for ns, stream, grp, revision, state in conn.execute(
            "SELECT ns, stream, grp, revision, state FROM checkpoints"
        ).fetchall():
            saved = checkpoint_from_json(state, revision)
            conn.execute(
                "INSERT OR REPLACE INTO groups (ns, stream, grp, cursor, revision)"
                " VALUES (?, ?, ?, ?, ?)",
                (ns, stream, grp, saved.cursor, revision),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO deliveries"
                " (ns, stream, grp, seq, consumer, deliveries, visible_at_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (ns, stream, grp, seq, held.consumer, held.deliveries, held.visible_at_ms)
                    for seq, held in saved.pending.items()
                ],
            )
        conn.execute("DROP TABLE checkpoints")
    if "cache" in tables:
        conn.execute("DROP TABLE main.cache")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


_PURGE_TRIGGERS: Final = tuple(
    f"CREATE TEMP TRIGGER IF NOT EXISTS purge_on_{event.lower()} AFTER {event} ON main.objects"
    " BEGIN DELETE FROM entries WHERE ns = NEW.ns AND key = sanctum_purge(); END"
    for event in ("INSERT", "UPDATE")
)
"""Every write of an object also deletes the cache entry ``sanctum_purge()`` names (none
when it returns NULL), inside the write's own statement: a write and its purge are one
statement and one transaction. (A trigger may not qualify the table it writes;
``entries`` exists only in ``volatile``.)"""


def _too_large(
    conn: sqlite3.Connection, error: sqlite3.DataError, payload: str, namespace: str, key: str
) -> InvalidRequestError:
    """The error for a value longer than SQLite's length limit, naming the argument."""
    return InvalidRequestError(
        f"{payload} is too large for sqlite ({error}; the limit is "
        f"{conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH):,} bytes)",
        argument=payload,
        namespace=namespace,
        key=key,
    )


class _Database:
    """One connection and the lock every store of one adapter shares.

    ``purging`` is the cache key the running statement's writes purge (see
    ``_PURGE_TRIGGERS``); it is set and cleared under the lock around that statement.
    """

    __slots__ = ("_conn", "busy_timeout_ms", "lock", "path", "purging")

    def __init__(self, path: str, busy_timeout_ms: float, synchronous: str) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.lock = threading.RLock()
        self.purging: str | None = None
        try:
            conn = sqlite3.connect(
                path,
                timeout=busy_timeout_ms / 1000.0,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            raise _unavailable(error, None, None) from error
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]
            if str(mode).lower() != "wal":
                raise BackendUnavailableError(f"sqlite cannot use WAL mode on {path!r} ({mode})")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("ATTACH DATABASE ? AS volatile", (cache_path(path),))
            conn.execute("PRAGMA volatile.journal_mode = WAL")
            conn.execute("PRAGMA volatile.synchronous = OFF")
            conn.execute(_VOLATILE_SCHEMA)
            conn.execute(_VOLATILE_INDEX)
            if conn.execute("PRAGMA user_version").fetchall()[0][0] != SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    _upgrade(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.rollback()
                    raise
            conn.create_function("sanctum_purge", 0, self._purge_key)
            for trigger in _PURGE_TRIGGERS:
                conn.execute(trigger)
        except (sqlite3.Error, BackendUnavailableError) as error:
            conn.close()
            if isinstance(error, BackendUnavailableError):
                raise
            raise _unavailable(error, None, None) from error
        self._conn: sqlite3.Connection | None = conn

    def _purge_key(self) -> str | None:
        return self.purging

    @property
    def closed(self) -> bool:
        return self._conn is None

    def write_one(
        self,
        namespace: str,
        key: str,
        sql: str,
        params: tuple[object, ...],
        purge: str | None,
        refused: Callable[[sqlite3.Connection], BaseException],
        payload: str | None = None,
    ) -> list[Any]:
        """One statement in its own transaction, purging ``purge`` through the triggers.

        When it returns no row (a refused condition), it is run again in a ``BEGIN
        IMMEDIATE`` transaction, where ``refused`` reads why with nothing changing in
        between; what it returns is raised. ``payload`` is as for ``write``.
        """
        with self.lock:
            conn = self._open(namespace, key)
            self.purging = purge
            try:
                rows = conn.execute(sql, params).fetchall()
            except sqlite3.DataError as error:
                if payload is None:
                    raise _unavailable(error, namespace, key) from error
                raise _too_large(conn, error, payload, namespace, key) from error
            except sqlite3.Error as error:
                raise _unavailable(error, namespace, key) from error
            except (OverflowError, UnicodeEncodeError) as error:
                raise InvalidRequestError(str(error), namespace=namespace, key=key) from error
            finally:
                self.purging = None
            if rows:
                return rows

            def again(conn: sqlite3.Connection) -> list[Any]:
                self.purging = purge
                try:
                    found = conn.execute(sql, params).fetchall()
                finally:
                    self.purging = None
                if not found:
                    raise refused(conn)
                return found

            return self.write(namespace, key, again, payload)

    def check_open(self, namespace: str, key: str) -> None:
        """Raise ``BackendUnavailableError`` when the adapter is closed."""
        if self._conn is None:
            self._open(namespace, key)

    def _open(self, namespace: str, key: str) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            raise BackendUnavailableError(
                "the sqlite adapter is closed", namespace=namespace, key=key
            )
        return conn

    def query(self, namespace: str, key: str, sql: str, params: tuple[object, ...]) -> list[Any]:
        """Every row of one statement (its own implicit read transaction)."""
        with self.lock:
            conn = self._open(namespace, key)
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise _unavailable(error, namespace, key) from error
            except (OverflowError, UnicodeEncodeError) as error:
                raise InvalidRequestError(str(error), namespace=namespace, key=key) from error

    def write(
        self,
        namespace: str,
        key: str,
        work: Callable[[sqlite3.Connection], _T],
        payload: str | None = None,
    ) -> _T:
        """Run ``work`` in a ``BEGIN IMMEDIATE`` transaction: committed, or rolled back on error.

        ``payload`` names the argument a value too large for SQLite came from (the
        facade's name for it: ``data``, ``value`` or ``payload``).
        """
        return self._transaction("BEGIN IMMEDIATE", namespace, key, work, payload)

    def read(self, namespace: str, key: str, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in a read transaction: its statements see one snapshot."""
        return self._transaction("BEGIN", namespace, key, work, None)

    def write_volatile(
        self,
        namespace: str,
        key: str,
        work: Callable[[sqlite3.Connection], _T],
        payload: str | None = None,
    ) -> _T:
        """Run ``work``, which writes only the volatile database, in a deferred transaction:
        it takes that database's write lock at its first write, never the durable one's."""
        return self._transaction("BEGIN", namespace, key, work, payload)

    def _transaction(
        self,
        begin: str,
        namespace: str,
        key: str,
        work: Callable[[sqlite3.Connection], _T],
        payload: str | None,
    ) -> _T:
        with self.lock:
            conn = self._open(namespace, key)
            try:
                conn.execute(begin)
            except sqlite3.Error as error:
                raise _unavailable(error, namespace, key) from error
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException as error:
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the original error is the one to report
                if isinstance(error, sqlite3.DataError) and payload is not None:
                    raise _too_large(conn, error, payload, namespace, key) from error
                if isinstance(error, sqlite3.Error):
                    raise _unavailable(error, namespace, key) from error
                if isinstance(error, OverflowError | UnicodeEncodeError):
                    raise InvalidRequestError(str(error), namespace=namespace, key=key) from error
                raise
            return result

    def set_busy_timeout(self, busy_timeout_ms: float) -> None:
        """Change how long this connection waits for another's lock (no-op once closed)."""
        with self.lock:
            if self._conn is not None:
                self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")

    def close(self) -> None:
        with self.lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(sqlite3.Error):  # committed data is safe; closing frees what it can
                conn.close()


# --- stores --------------------------------------------------------------------------------


_UPSERT: Final = (
    "INSERT INTO objects (layer, ns, key, data, version, etag, content_type, live)"
    " VALUES (?1, ?2, ?3, ?4, 1, '1-' || ?5, ?6, 1)"
    " ON CONFLICT (layer, ns, key) DO UPDATE SET data = excluded.data,"
    " version = objects.version + 1, etag = printf('%x-%s', objects.version + 1, ?5),"
    " content_type = excluded.content_type, live = 1"
)
"""The next version of a key in one statement: 1 for a new key, else the stored (or
tombstoned) version plus one. Parameters: layer, ns, key, data, digest, content type."""

_PUT: Final = _UPSERT + " RETURNING version, etag"
_CREATE: Final = _UPSERT + " WHERE objects.live = 0 RETURNING version, etag"
_REPLACE: Final = (
    "UPDATE objects SET data = ?4, version = version + 1,"
    " etag = printf('%x-%s', version + 1, ?5), content_type = ?6"
    " WHERE layer = ?1 AND ns = ?2 AND key = ?3 AND live = 1 AND etag = ?7"
    " RETURNING version, etag"
)
"""The put statements: unconditional, ``if_none_match`` (only over a tombstone or nothing)
and ``if_match`` (only over the live version with that etag). No row back: refused."""

_TOMBSTONE: Final = (
    "UPDATE objects SET live = 0, data = NULL, etag = NULL, content_type = NULL"
    " WHERE layer = ? AND ns = ? AND key = ? AND live = 1"
)

_PURGE: Final = "DELETE FROM volatile.entries WHERE ns = ? AND key = ?"

_EVICT: Final = (
    "DELETE FROM volatile.entries WHERE (ns, key) IN (SELECT ns, key FROM volatile.entries"
    " WHERE evict_at_ms <= ? ORDER BY evict_at_ms LIMIT ?)"
)
"""Deletes up to a number of cache rows whose eviction time has passed, oldest first."""

_FILL: Final = (
    "INSERT OR REPLACE INTO volatile.entries (ns, key, data, version, etag, stored_at_ms,"
    " content_type, expires_at_ms, evict_at_ms)"
    " SELECT ns, ?, data, version, etag, ?, content_type, ?, ? FROM objects"
    " WHERE layer = ? AND ns = ? AND key = ? AND live = 1 AND version >= ?"
    " RETURNING data, version, etag, content_type"
)
"""A read that fills the cache in the same statement: it writes only the volatile
database, and returns the row it copied."""


def _refused(
    conn: sqlite3.Connection,
    layer: str,
    namespace: str,
    key: str,
    if_match: ETag | None,
    if_none_match: bool,
) -> PreconditionFailedError:
    """Why a conditional write changed no row, read in the same transaction."""
    rows = conn.execute(
        "SELECT version, etag FROM objects WHERE layer = ? AND ns = ? AND key = ? AND live = 1",
        (layer, namespace, key),
    ).fetchall()
    if not rows:
        return PreconditionFailedError(
            "if_match given but the key does not exist", namespace=namespace, key=key
        )
    version, etag = rows[0]
    message = (
        "if_none_match given but the key exists"
        if if_none_match
        else f"if_match {if_match!r} does not match the current etag"
    )
    return PreconditionFailedError(
        message, current_etag=etag, current_version=version, namespace=namespace, key=key
    )


class SqliteVersionedStore:
    """A ``CachingVersionedStore`` over the ``objects`` rows of one layer (blobs or records).

    A write is one statement in its own transaction: the version, the etag and the
    precondition are computed by the statement, and the purge runs in it through a
    trigger. A filling read is one statement that writes only the volatile cache database.
    """

    __slots__ = ("_clock", "_db", "_fills", "_layer")

    def __init__(self, db: _Database, layer: Layer, clock: Clock) -> None:
        self._db = db
        self._layer = layer.value
        self._clock = clock
        self._fills = 0

    def put(
        self,
        namespace: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        if_match: ETag | None = None,
        if_none_match: bool = False,
    ) -> WriteResult:
        """Store ``data`` as the next version; the condition is part of the statement."""
        return self._put(namespace, key, data, content_type, if_match, if_none_match, None)

    def put_and_purge(
        self,
        namespace: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        if_match: ETag | None = None,
        if_none_match: bool = False,
        purge: str,
    ) -> WriteResult:
        """``put`` and delete the cache entry ``purge``, in one transaction."""
        return self._put(namespace, key, data, content_type, if_match, if_none_match, purge)

    def _put(
        self,
        namespace: str,
        key: str,
        data: bytes,
        content_type: str | None,
        if_match: ETag | None,
        if_none_match: bool,
        purge: str | None,
    ) -> WriteResult:
        if type(data) is not bytes:
            data = bytes(data)
        digest = hashlib.blake2b(data, digest_size=8).hexdigest()
        layer = self._layer
        if if_match is not None:
            sql = _REPLACE
            params: tuple[object, ...] = (
                layer,
                namespace,
                key,
                data,
                digest,
                content_type,
                if_match,
            )
        else:
            sql = _CREATE if if_none_match else _PUT
            params = (layer, namespace, key, data, digest, content_type)

        rows = self._db.write_one(
            namespace,
            key,
            sql,
            params,
            purge,
            lambda conn: _refused(conn, layer, namespace, key, if_match, if_none_match),
            "data" if layer == "blob" else "value",
        )
        version, etag = rows[0]
        return WriteResult(version, etag)

    def get_and_fill(self, namespace: str, key: str, fill: CacheFill) -> Blob:
        """``get``, copying the row into the cache entry ``fill.key`` in the same statement."""
        if not fill.ttl_ms > 0:
            self._db.query(namespace, key, _PURGE, (namespace, fill.key))
            return self.get(namespace, key)
        rows = self._db.query(
            namespace,
            key,
            _FILL,
            (
                fill.key,
                fill.stored_at_ms,
                fill.expires_at_ms,
                self._clock.now_ms() + fill.ttl_ms,
                self._layer,
                namespace,
                key,
                fill.min_version,
            ),
        )
        self._fills += 1
        if self._fills % FILLS_PER_EVICTION == 0:
            self._db.query(namespace, key, _EVICT, (self._clock.now_ms(), EVICT_BATCH))
        if rows:
            data, version, etag, content_type = rows[0]
            return Blob(key, data, version, etag, content_type)
        try:
            return self.get(namespace, key)  # older than the fill's floor: returned, not cached
        except NotFoundError:
            if fill.purge_if_absent:
                self._db.query(namespace, key, _PURGE, (namespace, fill.key))
            raise

    def get(self, namespace: str, key: str) -> Blob:
        """The current version, or ``NotFoundError``."""
        rows = self._db.query(
            namespace,
            key,
            "SELECT data, version, etag, content_type FROM objects"
            " WHERE layer = ? AND ns = ? AND key = ? AND live = 1",
            (self._layer, namespace, key),
        )
        if not rows:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        data, version, etag, content_type = rows[0]
        return Blob(key, data, version, etag, content_type)

    def head(self, namespace: str, key: str) -> BlobInfo:
        """The current version's metadata (without reading the payload), or ``NotFoundError``."""
        rows = self._db.query(
            namespace,
            key,
            "SELECT version, etag, length(data), content_type FROM objects"
            " WHERE layer = ? AND ns = ? AND key = ? AND live = 1",
            (self._layer, namespace, key),
        )
        if not rows:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        version, etag, size, content_type = rows[0]
        return BlobInfo(key, version, etag, size, content_type)

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> Version:
        """Turn the row into a tombstone (``live = 0``, version kept) and return that version."""
        return self._delete(namespace, key, if_match, None)

    def delete_and_purge(
        self, namespace: str, key: str, *, if_match: ETag | None = None, purge: str
    ) -> Version:
        """``delete`` and delete the cache entry ``purge``, in one transaction."""
        return self._delete(namespace, key, if_match, purge)

    def _delete(
        self, namespace: str, key: str, if_match: ETag | None, purge: str | None
    ) -> Version:
        layer = self._layer
        params: tuple[str, ...]
        if if_match is None:
            sql, params = _TOMBSTONE + " RETURNING version", (layer, namespace, key)
        else:
            sql = _TOMBSTONE + " AND etag = ? RETURNING version"
            params = (layer, namespace, key, if_match)

        def refused(conn: sqlite3.Connection) -> BaseException:
            error = _refused(conn, layer, namespace, key, if_match, False)
            if error.current_version is None:
                return NotFoundError("no such key", namespace=namespace, key=key)
            return error

        rows = self._db.write_one(namespace, key, sql, params, purge, refused)
        return int(rows[0][0])

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        """Up to ``limit`` live keys with ``prefix``, greater than ``start_after``, sorted."""
        self._db.check_open(namespace, prefix)
        _check_limit(limit, namespace, prefix)
        if limit == 0:
            return []
        # One lower bound, max(prefix, start_after), so the index seeks straight to the page.
        if start_after is not None and start_after >= prefix:
            bound, low = "key > ?", start_after
        else:
            bound, low = "key >= ?", prefix
        sql = (
            "SELECT key, version, etag, length(data), content_type FROM objects"
            f" WHERE layer = ? AND ns = ? AND live = 1 AND {bound}"
        )
        params: list[object] = [self._layer, namespace, low]
        end = _prefix_end(prefix)
        if end is not None:
            sql += " AND key < ?"
            params.append(end)
        sql += " ORDER BY key LIMIT ?"
        params.append(min(limit, _MAX_INT))
        rows = self._db.query(namespace, prefix, sql, tuple(params))
        return [BlobInfo(*row) for row in rows]


class SqliteStreamLog:
    """A ``StreamLog`` over the ``messages`` table, deduplicating with the ``idempotency`` table."""

    __slots__ = ("_db",)

    def __init__(self, db: _Database) -> None:
        self._db = db

    def append(
        self,
        namespace: str,
        stream: str,
        payload: bytes,
        *,
        idempotency_key: str | None = None,
        dedupe_window_ms: float = 0.0,
        now_ms: float = 0.0,
    ) -> AppendResult:
        """Append ``payload``, or return the original message when the key is inside the window.

        An idempotency key's window starts at its first append; once it has expired, the
        next append with that key is a new message and starts a new window.
        """
        if type(payload) is not bytes:
            payload = bytes(payload)

        def work(conn: sqlite3.Connection) -> AppendResult:
            if idempotency_key is not None:
                seen = conn.execute(
                    "SELECT seq, first_ms FROM idempotency"
                    " WHERE ns = ? AND stream = ? AND idem_key = ?",
                    (namespace, stream, idempotency_key),
                ).fetchall()
                if seen and now_ms - seen[0][1] < dedupe_window_ms:
                    return AppendResult(str(seen[0][0]), seen[0][0], duplicate=True)
            last = conn.execute(
                "SELECT max(seq) FROM messages WHERE ns = ? AND stream = ?", (namespace, stream)
            ).fetchall()[0][0]
            sequence = 1 if last is None else last + 1
            conn.execute(
                "INSERT INTO messages (ns, stream, seq, payload) VALUES (?, ?, ?, ?)",
                (namespace, stream, sequence, payload),
            )
            if idempotency_key is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO idempotency (ns, stream, idem_key, seq, first_ms)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (namespace, stream, idempotency_key, sequence, now_ms),
                )
                _forget_expired_keys(conn, now_ms, dedupe_window_ms)
            return AppendResult(str(sequence), sequence)

        return self._db.write(namespace, stream, work, "payload")

    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages with sequence greater than ``after``, in order."""
        self._db.check_open(namespace, stream)
        _check_limit(limit, namespace, stream)
        if limit == 0 or after >= _MAX_INT:
            return []
        rows = self._db.query(
            namespace,
            stream,
            "SELECT seq, payload FROM messages WHERE ns = ? AND stream = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (namespace, stream, max(after, 0), min(limit, _MAX_INT)),
        )
        return [StoredMessage(seq, payload) for seq, payload in rows]


def _in(values: Collection[int]) -> str:
    """The placeholders of an ``IN (...)`` list of ``len(values)`` parameters."""
    return ",".join("?" * len(values))


_IN_CHUNK: Final = 500
"""Sequences per ``IN`` list of an ack (SQLite allows 32766 parameters per statement)."""


class SqliteGroupStore:
    """A ``GroupStore``: a ``groups`` row (cursor, revision) and one ``deliveries`` row per
    pending delivery, indexed by visible-again time; each claim and ack is one
    transaction whose statements touch only the rows of its batch."""

    __slots__ = ("_db",)

    def __init__(self, db: _Database) -> None:
        self._db = db

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        """The group's state, read in one transaction."""
        key = (namespace, stream, group)

        def work(conn: sqlite3.Connection) -> GroupCheckpoint:
            header = conn.execute(
                "SELECT cursor, revision FROM groups WHERE ns = ? AND stream = ? AND grp = ?", key
            ).fetchall()
            if not header:
                return GroupCheckpoint()
            rows = conn.execute(
                "SELECT seq, consumer, deliveries, visible_at_ms FROM deliveries"
                " WHERE ns = ? AND stream = ? AND grp = ?",
                key,
            ).fetchall()
            pending = {seq: GroupPending(c, d, v) for seq, c, d, v in rows}
            return GroupCheckpoint.from_deliveries(header[0][0], pending, header[0][1])

        return self._db.read(namespace, stream, work)

    def claim(
        self,
        namespace: str,
        stream: str,
        group: str,
        consumer: str,
        *,
        limit: int,
        now_ms: float,
        visible_at_ms: float,
    ) -> list[Claimed]:
        """Redeliver due deliveries (earliest first), then deliver new messages: one transaction."""
        _check_limit(limit, namespace, stream)
        if limit == 0:
            self._db.check_open(namespace, stream)
            return []
        key = (namespace, stream, group)
        limit = min(limit, _MAX_INT)

        def work(conn: sqlite3.Connection) -> list[Claimed]:
            picked: list[Claimed] = []
            changed = False
            due = conn.execute(
                "SELECT seq, deliveries FROM deliveries WHERE ns = ? AND stream = ? AND grp = ?"
                " AND visible_at_ms <= ? ORDER BY visible_at_ms, seq LIMIT ?",
                (*key, now_ms, limit),
            ).fetchall()
            if due:
                changed = True
                sequences = [seq for seq, _ in due]
                found = dict(
                    conn.execute(
                        "SELECT seq, payload FROM messages WHERE ns = ? AND stream = ?"
                        f" AND seq IN ({_in(sequences)})",
                        (namespace, stream, *sequences),
                    ).fetchall()
                )
                kept = [seq for seq in sequences if seq in found]
                if kept:
                    conn.execute(
                        "UPDATE deliveries SET consumer = ?, deliveries = deliveries + 1,"
                        " visible_at_ms = ? WHERE ns = ? AND stream = ? AND grp = ?"
                        f" AND seq IN ({_in(kept)})",
                        (consumer, visible_at_ms, *key, *kept),
                    )
                if len(kept) < len(sequences):
                    gone = [seq for seq in sequences if seq not in found]
                    conn.execute(
                        "DELETE FROM deliveries WHERE ns = ? AND stream = ? AND grp = ?"
                        f" AND seq IN ({_in(gone)})",
                        (*key, *gone),
                    )
                picked = [
                    _new(Claimed, (seq, found[seq], deliveries + 1))
                    for seq, deliveries in due
                    if seq in found
                ]
            header = conn.execute(
                "SELECT cursor FROM groups WHERE ns = ? AND stream = ? AND grp = ?", key
            ).fetchall()
            cursor = header[0][0] if header else 0
            if len(picked) < limit:
                fresh = conn.execute(
                    "SELECT seq, payload FROM messages WHERE ns = ? AND stream = ? AND seq > ?"
                    " ORDER BY seq LIMIT ?",
                    (namespace, stream, cursor, limit - len(picked)),
                ).fetchall()
                if fresh:
                    changed = True
                    conn.execute(
                        "INSERT INTO deliveries"
                        " (ns, stream, grp, seq, consumer, deliveries, visible_at_ms) VALUES "
                        + ",".join(["(?, ?, ?, ?, ?, 1, ?)"] * len(fresh)),
                        [
                            value
                            for seq, _ in fresh
                            for value in (namespace, stream, group, seq, consumer, visible_at_ms)
                        ],
                    )
                    picked += [_new(Claimed, (seq, payload, 1)) for seq, payload in fresh]
                    cursor = fresh[-1][0]
            if changed:
                conn.execute(
                    "INSERT INTO groups (ns, stream, grp, cursor, revision) VALUES (?, ?, ?, ?, 1)"
                    " ON CONFLICT (ns, stream, grp) DO UPDATE SET cursor = excluded.cursor,"
                    " revision = revision + 1",
                    (*key, cursor),
                )
            return picked

        return self._db.write(namespace, stream, work)

    def ack(self, namespace: str, stream: str, group: str, sequences: Collection[int]) -> int:
        """Delete the pending deliveries among ``sequences``: one transaction (none when empty)."""
        if not sequences:
            self._db.check_open(namespace, stream)
            return 0
        key = (namespace, stream, group)
        ordered = sorted(sequences)

        def work(conn: sqlite3.Connection) -> int:
            done = 0
            for start in range(0, len(ordered), _IN_CHUNK):
                chunk = ordered[start : start + _IN_CHUNK]
                done += conn.execute(
                    "DELETE FROM deliveries WHERE ns = ? AND stream = ? AND grp = ?"
                    f" AND seq IN ({_in(chunk)})",
                    (*key, *chunk),
                ).rowcount
            if done:
                conn.execute(
                    "UPDATE groups SET revision = revision + 1"
                    " WHERE ns = ? AND stream = ? AND grp = ?",
                    key,
                )
            return done

        return self._db.write(namespace, stream, work)


class SqliteCacheStore:
    """A ``CacheStore`` in the volatile database: shared by every adapter on the file,
    expiring on the clock; its writes never touch the durable database."""

    __slots__ = ("_clock", "_db")

    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        """The entry, or ``None`` when absent or expired (an expired entry is evicted)."""
        now = self._clock.now_ms()
        rows = self._db.query(
            namespace,
            key,
            "SELECT data, version, etag, stored_at_ms, content_type, expires_at_ms, evict_at_ms"
            " FROM volatile.entries WHERE ns = ? AND key = ?",
            (namespace, key),
        )
        if not rows:
            return None
        *fields, evict_at_ms = rows[0]
        if now >= evict_at_ms:
            self._db.query(
                namespace,
                key,
                "DELETE FROM volatile.entries WHERE ns = ? AND key = ? AND evict_at_ms <= ?",
                (namespace, key, now),
            )
            return None
        return CacheEntry(*fields)

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        """Store ``entry`` until ``now + ttl_ms``; ``ttl_ms <= 0`` leaves the key absent.

        The same transaction deletes up to ``EVICT_BATCH`` rows of any namespace whose
        eviction time has passed, oldest first, so expired entries that nobody reads do
        not stay in the file.
        """
        now = self._clock.now_ms()
        row = (
            namespace,
            key,
            bytes(entry.data),
            entry.version,
            entry.etag,
            entry.stored_at_ms,
            entry.content_type,
            entry.expires_at_ms,
            now + ttl_ms,
        )

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_EVICT, (now, EVICT_BATCH))
            if not ttl_ms > 0:
                conn.execute(_PURGE, (namespace, key))
                return
            conn.execute(
                "INSERT OR REPLACE INTO volatile.entries (ns, key, data, version, etag,"
                " stored_at_ms, content_type, expires_at_ms, evict_at_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        self._db.write_volatile(namespace, key, work, "value")

    def delete(self, namespace: str, key: str) -> None:
        """Remove the entry if present."""
        self._db.query(
            namespace,
            key,
            "DELETE FROM volatile.entries WHERE ns = ? AND key = ?",
            (namespace, key),
        )


# --- backdoor and adapter ------------------------------------------------------------------


class SqliteBackdoor:
    """Reads the database file through a connection of its own, bypassing the adapter's
    stores. The connection is opened on the first probe and kept until ``close``."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        with self._lock:
            if self._conn is None:
                self._conn = sqlite3.connect(self._path, timeout=5.0, check_same_thread=False)
            return self._conn.execute(sql, params).fetchall()

    def read_object(self, layer: Layer, namespace: str, key: str) -> Blob | None:
        """The live blob or record, or ``None``."""
        rows = self._rows(
            "SELECT data, version, etag, content_type FROM objects"
            " WHERE layer = ? AND ns = ? AND key = ? AND live = 1",
            (Layer(layer).value, namespace, key),
        )
        if not rows:
            return None
        data, version, etag, content_type = rows[0]
        return Blob(key, data, version, etag, content_type)

    def stream_messages(self, namespace: str, stream: str) -> list[StoredMessage]:
        """Every stored message of the stream, in sequence order."""
        rows = self._rows(
            "SELECT seq, payload FROM messages WHERE ns = ? AND stream = ? ORDER BY seq",
            (namespace, stream),
        )
        return [StoredMessage(seq, payload) for seq, payload in rows]

    def close(self) -> None:
        """Close the probe's connection (a later probe opens a new one)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


LOCKED_BUSY_TIMEOUT_MS: Final = 20
"""How long the adapter waits for a lock while the fault injector holds one (instead of its
``busy_timeout_ms``), so a test of the busy path takes milliseconds."""


class SqliteFaultInjector:
    """Provokes a real ``database is locked``: another connection holds the write lock.

    SQLite's only transient failure is lock contention; its connections cannot be cut and
    its writes (``BEGIN IMMEDIATE``) never lose a serialisation conflict, so ``locked`` is
    the one fault it offers.
    """

    faults = frozenset({backend_faults.LOCKED})

    def __init__(self, db: _Database) -> None:
        self._db = db

    @contextmanager
    def provoke(self, fault: str) -> Iterator[None]:
        """Hold the write lock from a connection of our own, with the adapter's busy timeout
        shortened to ``LOCKED_BUSY_TIMEOUT_MS``, until the context ends."""
        if fault not in self.faults:
            raise ValueError(
                f"sqlite cannot provoke fault {fault!r}; it offers {sorted(self.faults)}"
            )
        holder = sqlite3.connect(self._db.path, timeout=5.0, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            self._db.set_busy_timeout(LOCKED_BUSY_TIMEOUT_MS)
            try:
                yield
            finally:
                self._db.set_busy_timeout(self._db.busy_timeout_ms)
                holder.execute("ROLLBACK")
        finally:
            holder.close()


class SqliteAdapter:
    """A ``StorageAdapter`` on one SQLite file: every capability, the cache shared by all."""

    __slots__ = ("_backdoor", "_blobs", "_cache", "_checkpoints", "_db", "_records", "_streams")

    _CAPABILITIES: Final = Capabilities.all()

    def __init__(
        self, path: str, clock: Clock, *, busy_timeout_ms: float = 5000, synchronous: str = "FULL"
    ) -> None:
        self._db = _Database(path, busy_timeout_ms, synchronous)
        self._blobs = SqliteVersionedStore(self._db, Layer.BLOB, clock)
        self._records = SqliteVersionedStore(self._db, Layer.RECORD, clock)
        self._streams = SqliteStreamLog(self._db)
        self._checkpoints = SqliteGroupStore(self._db)
        self._cache = SqliteCacheStore(self._db, clock)
        self._backdoor: SqliteBackdoor | None = None

    @property
    def name(self) -> str:
        return "sqlite"

    @property
    def path(self) -> str:
        """The database file."""
        return self._db.path

    @property
    def capabilities(self) -> Capabilities:
        return self._CAPABILITIES

    @property
    def blobs(self) -> SqliteVersionedStore:
        return self._blobs

    @property
    def records(self) -> SqliteVersionedStore:
        return self._records

    @property
    def streams(self) -> SqliteStreamLog:
        return self._streams

    @property
    def checkpoints(self) -> SqliteGroupStore:
        return self._checkpoints

    @property
    def cache(self) -> SqliteCacheStore:
        return self._cache

    def backdoor(self) -> SqliteBackdoor:
        """A probe reading the database file with its own connection (one per adapter,
        opened on the first probe, closed with the adapter)."""
        self._db.check_open("", "")
        if self._backdoor is None:
            self._backdoor = SqliteBackdoor(self._db.path)
        return self._backdoor

    def fault_injector(self) -> SqliteFaultInjector:
        """Provokes real lock contention on the file for the kit's ``ERR-006`` contract."""
        return SqliteFaultInjector(self._db)

    def backend_info(self) -> BackendInfo:
        """The SQLite library this Python links against (the file has no version of its own)."""
        return BackendInfo("SQLite", sqlite3.sqlite_version)

    def reset(self, namespace_prefix: str) -> None:
        """Remove every row, tombstones included, of namespaces starting with the prefix."""
        where, params = _ns_range(namespace_prefix)

        def work(conn: sqlite3.Connection) -> None:
            for table in _TABLES:
                conn.execute(f"DELETE FROM {table} WHERE {where}", params)

        self._db.write(namespace_prefix, "", work)

    def close(self) -> None:
        """Close the connection; every store method then raises ``BackendUnavailableError``."""
        self._db.close()
        if self._backdoor is not None:
            self._backdoor.close()

    def __repr__(self) -> str:
        state = "closed" if self._db.closed else "open"
        return f"SqliteAdapter(path={self._db.path!r}, {state})"


def create_sqlite_adapter(options: Mapping[str, object], clock: Clock) -> SqliteAdapter:
    """The ``sqlite`` adapter factory (the ``sqlite`` entry point).

    Options: ``path`` (required non-empty str, the database file; adapters on the same
    path share the data), ``busy_timeout_ms`` (number >= 0, default 5000: how long a write
    waits for another connection's lock before ``BackendUnavailableError``),
    ``synchronous`` (``"FULL"``, the default, or ``"NORMAL"``).
    """
    path: str | None = None
    busy_timeout_ms: float = 5000
    synchronous = "FULL"
    for name, value in options.items():
        if name == "path":
            if not isinstance(value, str) or not value:
                raise ConfigError(
                    f"sqlite option 'path' must be a non-empty string, got {value!r}",
                    field="options.path",
                )
            path = value
        elif name == "busy_timeout_ms":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigError(
                    f"sqlite option 'busy_timeout_ms' must be a number >= 0, got {value!r}",
                    field="options.busy_timeout_ms",
                )
            busy_timeout_ms = value
        elif name == "synchronous":
            if value not in _SYNCHRONOUS:
                raise ConfigError(
                    f"sqlite option 'synchronous' must be 'FULL' or 'NORMAL', got {value!r}",
                    field="options.synchronous",
                )
            synchronous = str(value)
        else:
            raise ConfigError(
                f"unknown sqlite option {name!r} (known: path, busy_timeout_ms, synchronous)",
                field=f"options.{name}",
            )
    if path is None:
        raise ConfigError("sqlite option 'path' is required", field="options.path")
    return SqliteAdapter(path, clock, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)


create_sqlite_adapter.opens_across_processes = True  # type: ignore[attr-defined]
"""Another process opening the same ``path`` sees the same data (the kit's HIST-008)."""
