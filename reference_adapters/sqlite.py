"""A SQLite adapter: every layer in one database file, with the memory adapter's semantics.

Every adapter instance holds one connection (``check_same_thread=False``) guarded by a
lock, so one instance is safe to share between threads. Writes run in ``BEGIN IMMEDIATE``
transactions: the precondition check and the write of a conditional put, an idempotent
append or a checkpoint compare-and-set are one atomic step, also across processes that
open the same file. The database runs in WAL mode; ``synchronous=FULL`` (the default)
makes a commit durable before the call returns.

Deleted objects keep their row with ``live = 0`` as a tombstone, so versions continue
after a delete. The cache table lives in the file too, so every adapter on the file shares
it (``distributed_cache``). A value longer than SQLite's length limit (1,000,000,000 bytes
by default) is ``InvalidRequestError`` naming it; every other ``sqlite3`` error becomes a
``BackendUnavailableError``. Expired cache rows are deleted by cache writes, at most
``EVICT_BATCH`` per write.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager, suppress
from typing import Any, Final, TypeVar

from pytest_sanctum.adapters.codec import checkpoint_from_json, checkpoint_to_json
from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.kit import backend_faults
from pytest_sanctum.types import (
    AppendResult,
    Blob,
    BlobInfo,
    CacheEntry,
    Capabilities,
    ETag,
    GroupCheckpoint,
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
    "SqliteCheckpointStore",
    "SqliteFaultInjector",
    "SqliteStreamLog",
    "SqliteVersionedStore",
    "checkpoint_from_json",
    "checkpoint_to_json",
    "create_sqlite_adapter",
]

_T = TypeVar("_T")

SCHEMA_VERSION: Final = 3
"""Stored in ``PRAGMA user_version`` once the tables exist. Version 2 added the
``settings`` table and the index of idempotency keys by age, version 3 the index of
cache rows by eviction time; opening an older file adds them."""

EVICT_BATCH: Final = 64
"""Expired cache rows deleted by each cache write, at most: more than a write adds, so
expired rows never pile up, and each write's extra work stays bounded."""

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
    """CREATE TABLE IF NOT EXISTS checkpoints (
        ns TEXT NOT NULL, stream TEXT NOT NULL, grp TEXT NOT NULL,
        revision INTEGER NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY (ns, stream, grp)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS cache (
        ns TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL, version INTEGER NOT NULL,
        etag TEXT NOT NULL, stored_at_ms REAL NOT NULL, content_type TEXT,
        expires_at_ms REAL NOT NULL, evict_at_ms REAL NOT NULL,
        PRIMARY KEY (ns, key)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS cache_by_eviction ON cache (evict_at_ms)",
)
"""``cache.expires_at_ms`` is the entry's own field; ``evict_at_ms`` is when the adapter drops it.
``settings`` holds ``longest_dedupe_window_ms``, the longest window any append has brought."""

_TABLES: Final = ("objects", "messages", "idempotency", "checkpoints", "cache")
"""The tables whose rows belong to a namespace (``reset`` clears them)."""

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


def _etag(version: int, data: bytes) -> str:
    return f"{version:x}-{hashlib.blake2b(data, digest_size=8).hexdigest()}"


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


class _Database:
    """One connection and the lock every store of one adapter shares."""

    __slots__ = ("_conn", "busy_timeout_ms", "lock", "path")

    def __init__(self, path: str, busy_timeout_ms: float, synchronous: str) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.lock = threading.RLock()
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
            if conn.execute("PRAGMA user_version").fetchall()[0][0] != SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.rollback()
                    raise
        except (sqlite3.Error, BackendUnavailableError) as error:
            conn.close()
            if isinstance(error, BackendUnavailableError):
                raise
            raise _unavailable(error, None, None) from error
        self._conn: sqlite3.Connection | None = conn

    @property
    def closed(self) -> bool:
        return self._conn is None

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
        with self.lock:
            conn = self._open(namespace, key)
            try:
                conn.execute("BEGIN IMMEDIATE")
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
                    raise InvalidRequestError(
                        f"{payload} is too large for sqlite ({error}; the limit is "
                        f"{conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH):,} bytes)",
                        argument=payload,
                        namespace=namespace,
                        key=key,
                    ) from error
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


class SqliteVersionedStore:
    """A ``VersionedStore`` over the ``objects`` rows of one layer (blobs or records)."""

    __slots__ = ("_db", "_layer")

    def __init__(self, db: _Database, layer: Layer) -> None:
        self._db = db
        self._layer = layer.value

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
        """Store ``data`` as the next version; conditions are checked in the same transaction."""
        if type(data) is not bytes:
            data = bytes(data)
        digest = hashlib.blake2b(data, digest_size=8).hexdigest()
        layer = self._layer

        def work(conn: sqlite3.Connection) -> WriteResult:
            rows = conn.execute(
                "SELECT version, etag, live FROM objects WHERE layer = ? AND ns = ? AND key = ?",
                (layer, namespace, key),
            ).fetchall()
            if not rows or not rows[0][2]:
                if if_match is not None:
                    raise PreconditionFailedError(
                        "if_match given but the key does not exist", namespace=namespace, key=key
                    )
                version = rows[0][0] + 1 if rows else 1
            else:
                current_version, current_etag, _ = rows[0]
                if if_none_match:
                    raise PreconditionFailedError(
                        "if_none_match given but the key exists",
                        current_etag=current_etag,
                        current_version=current_version,
                        namespace=namespace,
                        key=key,
                    )
                if if_match is not None and if_match != current_etag:
                    raise PreconditionFailedError(
                        f"if_match {if_match!r} does not match the current etag",
                        current_etag=current_etag,
                        current_version=current_version,
                        namespace=namespace,
                        key=key,
                    )
                version = current_version + 1
            etag = f"{version:x}-{digest}"
            conn.execute(
                "INSERT INTO objects (layer, ns, key, data, version, etag, content_type, live)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1)"
                " ON CONFLICT (layer, ns, key) DO UPDATE SET data = excluded.data,"
                " version = excluded.version, etag = excluded.etag,"
                " content_type = excluded.content_type, live = 1",
                (layer, namespace, key, data, version, etag, content_type),
            )
            return WriteResult(version, etag)

        return self._db.write(namespace, key, work, "data" if layer == "blob" else "value")

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
        layer = self._layer

        def work(conn: sqlite3.Connection) -> Version:
            rows = conn.execute(
                "SELECT version, etag FROM objects"
                " WHERE layer = ? AND ns = ? AND key = ? AND live = 1",
                (layer, namespace, key),
            ).fetchall()
            if not rows:
                raise NotFoundError("no such key", namespace=namespace, key=key)
            version, etag = rows[0]
            if if_match is not None and if_match != etag:
                raise PreconditionFailedError(
                    f"if_match {if_match!r} does not match the current etag",
                    current_etag=etag,
                    current_version=version,
                    namespace=namespace,
                    key=key,
                )
            conn.execute(
                "UPDATE objects SET live = 0, data = NULL, etag = NULL, content_type = NULL"
                " WHERE layer = ? AND ns = ? AND key = ?",
                (layer, namespace, key),
            )
            return int(version)

        return self._db.write(namespace, key, work)

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        """Up to ``limit`` live keys with ``prefix``, greater than ``start_after``, sorted."""
        self._db.check_open(namespace, prefix)
        _check_limit(limit, namespace, prefix)
        if limit == 0:
            return []
        sql = (
            "SELECT key, version, etag, length(data), content_type FROM objects"
            " WHERE layer = ? AND ns = ? AND live = 1 AND key >= ?"
        )
        params: list[object] = [self._layer, namespace, prefix]
        end = _prefix_end(prefix)
        if end is not None:
            sql += " AND key < ?"
            params.append(end)
        if start_after is not None:
            sql += " AND key > ?"
            params.append(start_after)
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


class SqliteCheckpointStore:
    """A ``CheckpointStore``: one JSON row per group, saved with compare-and-set on ``revision``."""

    __slots__ = ("_db",)

    def __init__(self, db: _Database) -> None:
        self._db = db

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        """The saved checkpoint, or a fresh one with revision 0."""
        rows = self._db.query(
            namespace,
            stream,
            "SELECT revision, state FROM checkpoints WHERE ns = ? AND stream = ? AND grp = ?",
            (namespace, stream, group),
        )
        if not rows:
            return GroupCheckpoint()
        revision, state = rows[0]
        return checkpoint_from_json(state, revision)

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        """Store ``checkpoint`` with ``revision + 1`` if the stored revision still equals it."""
        state = checkpoint_to_json(checkpoint)

        def work(conn: sqlite3.Connection) -> None:
            rows = conn.execute(
                "SELECT revision FROM checkpoints WHERE ns = ? AND stream = ? AND grp = ?",
                (namespace, stream, group),
            ).fetchall()
            stored_revision = rows[0][0] if rows else 0
            if stored_revision != checkpoint.revision:
                raise ConflictError(
                    f"group {group!r}: checkpoint revision {checkpoint.revision} is stale"
                    f" (stored revision {stored_revision})",
                    namespace=namespace,
                    key=stream,
                )
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints (ns, stream, grp, revision, state)"
                " VALUES (?, ?, ?, ?, ?)",
                (namespace, stream, group, checkpoint.revision + 1, state),
            )

        self._db.write(namespace, stream, work)
        return checkpoint.saved()


class SqliteCacheStore:
    """A ``CacheStore`` in the database file: shared by every adapter on it, expiring on the clock."""

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
            " FROM cache WHERE ns = ? AND key = ?",
            (namespace, key),
        )
        if not rows:
            return None
        *fields, evict_at_ms = rows[0]
        if now >= evict_at_ms:
            self._db.query(
                namespace,
                key,
                "DELETE FROM cache WHERE ns = ? AND key = ? AND evict_at_ms <= ?",
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
            conn.execute(
                "DELETE FROM cache WHERE (ns, key) IN (SELECT ns, key FROM cache"
                " WHERE evict_at_ms <= ? ORDER BY evict_at_ms LIMIT ?)",
                (now, EVICT_BATCH),
            )
            if not ttl_ms > 0:
                conn.execute("DELETE FROM cache WHERE ns = ? AND key = ?", (namespace, key))
                return
            conn.execute(
                "INSERT OR REPLACE INTO cache (ns, key, data, version, etag, stored_at_ms,"
                " content_type, expires_at_ms, evict_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        self._db.write(namespace, key, work, "value")

    def delete(self, namespace: str, key: str) -> None:
        """Remove the entry if present."""
        self._db.query(
            namespace, key, "DELETE FROM cache WHERE ns = ? AND key = ?", (namespace, key)
        )


# --- backdoor and adapter ------------------------------------------------------------------


class SqliteBackdoor:
    """Reads the database file through a connection of its own, bypassing the adapter's stores."""

    def __init__(self, path: str) -> None:
        self._path = path

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        with closing(sqlite3.connect(self._path, timeout=5.0)) as conn:
            return conn.execute(sql, params).fetchall()

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

    __slots__ = ("_blobs", "_cache", "_checkpoints", "_db", "_records", "_streams")

    _CAPABILITIES: Final = Capabilities.all()

    def __init__(
        self, path: str, clock: Clock, *, busy_timeout_ms: float = 5000, synchronous: str = "FULL"
    ) -> None:
        self._db = _Database(path, busy_timeout_ms, synchronous)
        self._blobs = SqliteVersionedStore(self._db, Layer.BLOB)
        self._records = SqliteVersionedStore(self._db, Layer.RECORD)
        self._streams = SqliteStreamLog(self._db)
        self._checkpoints = SqliteCheckpointStore(self._db)
        self._cache = SqliteCacheStore(self._db, clock)

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
    def checkpoints(self) -> SqliteCheckpointStore:
        return self._checkpoints

    @property
    def cache(self) -> SqliteCacheStore:
        return self._cache

    def backdoor(self) -> SqliteBackdoor:
        """A probe reading the database file with its own connection."""
        return SqliteBackdoor(self._db.path)

    def fault_injector(self) -> SqliteFaultInjector:
        """Provokes real lock contention on the file for the kit's ``ERR-006`` contract."""
        return SqliteFaultInjector(self._db)

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
