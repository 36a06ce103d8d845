"""The adapter's stores: versioned objects, the stream log, consumer groups and the cache.

Every method is one statement, so one round trip. A conditional write is a single
``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE`` or ``UPDATE ... WHERE etag = ...``:
PostgreSQL re-checks the condition on the newest row version under the row's lock, so of
two concurrent conditional writers exactly one wins. The same statement reads the key's
state as it was, so a refused write can report the current etag and version without a
second round trip (a second one is needed only when the refusal came from a write that
committed after the statement began, which the snapshot cannot see).

Cache purges are not deletes but *purge marks*: a write empties the entry's row in the
same statement and raises its ``floor``, the lowest version a fill may store from then
on; a fill is an upsert that yields to a higher floor. Upserts see every committed row,
not just the statement's snapshot, so a read that fills can never store a version a
write has already purged, however the two interleave.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final, NoReturn

from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import InvalidRequestError, NotFoundError, PreconditionFailedError
from pytest_sanctum.types import (
    AppendResult,
    Blob,
    BlobInfo,
    CacheEntry,
    CacheFill,
    Claimed,
    ETag,
    GroupCheckpoint,
    GroupPending,
    Layer,
    StoredMessage,
    Version,
    WriteResult,
)
from reference_adapters.postgres.database import Database, Row

MAX_BIGINT: Final = 2**63 - 1
"""PostgreSQL ``bigint`` bound: larger ``after``/``limit`` values mean "no bound"."""

_new = tuple.__new__
"""Builds a named tuple from a ready tuple, skipping its generated Python ``__new__``."""


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (``None``: none).

    Keys compare by code point (the ``"C"`` collation on UTF-8), so the strings with the
    prefix are exactly ``prefix <= key < prefix_end(prefix)``: no LIKE, no wildcards.
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop()) + 1
        if last <= 0x10FFFF:
            if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be stored; none sort between
                last = 0xE000
            return "".join(chars) + chr(last)
    return None


def check_limit(limit: int, namespace: str, key: str) -> None:
    if limit < 0:
        raise InvalidRequestError(
            f"limit must be >= 0, got {limit}", argument="limit", namespace=namespace, key=key
        )


BLANK: Final = (
    "data = NULL, version = NULL, etag = NULL, stored_at_ms = NULL, content_type = NULL,"
    " expires_at_ms = NULL, evict_at_ms = NULL"
)
"""Empties a cache row but keeps its ``floor``: removing the row would forget the floor."""


def _mark(s: str, floor: str) -> str:
    """A CTE purging the cache entry ``%(purge)s`` after the write ``w``: only versions of
    at least ``floor`` may be cached from now on."""
    return (
        f", mark AS (INSERT INTO {s}.cache AS c (ns, key, floor)"
        f" SELECT %(ns)s, %(purge)s, {floor} FROM w"
        f" ON CONFLICT (ns, key) DO UPDATE SET {BLANK}, floor = greatest(c.floor, excluded.floor))"
    )


class VersionedSql:
    """The statements of one schema's versioned store (built once per adapter)."""

    def __init__(self, s: str) -> None:
        where = "o.layer = %(layer)s AND o.ns = %(ns)s AND o.key = %(key)s"
        current = f"WITH cur AS (SELECT o.version, o.etag, o.live FROM {s}.objects o WHERE {where})"
        etag = f"to_hex(o.version + 1) || '-' || to_hex(nextval('{s}.writes'))"
        upsert = (
            f", w AS (INSERT INTO {s}.objects AS o"
            " (layer, ns, key, data, version, etag, content_type, live)"
            " VALUES (%(layer)s, %(ns)s, %(key)s, %(data)s, 1,"
            f" '1-' || to_hex(nextval('{s}.writes')), %(ctype)s, true)"
            " ON CONFLICT (layer, ns, key) DO UPDATE SET data = excluded.data,"
            f" version = o.version + 1, etag = {etag},"
            " content_type = excluded.content_type, live = true"
        )
        replace = (
            f", w AS (UPDATE {s}.objects AS o SET data = %(data)s, version = o.version + 1,"
            f" etag = {etag}, content_type = %(ctype)s"
            f" WHERE {where} AND o.live AND o.etag = %(if_match)s RETURNING o.version, o.etag)"
        )
        tombstone = (
            f", w AS (UPDATE {s}.objects AS o SET live = false, data = NULL, etag = NULL,"
            f" content_type = NULL WHERE {where} AND o.live"
        )
        outcome = (
            " SELECT w.version, w.etag, true, true FROM w UNION ALL SELECT cur.version,"
            " cur.etag, cur.live, false FROM cur WHERE NOT EXISTS (SELECT 1 FROM w)"
        )
        put = current + upsert + " RETURNING o.version, o.etag)"
        create = current + upsert + " WHERE NOT o.live RETURNING o.version, o.etag)"
        self.put = {
            (kind, purge): sql + (_mark(s, "w.version") if purge else "") + outcome
            for kind, sql in (("put", put), ("create", create), ("replace", current + replace))
            for purge in (False, True)
        }
        """``(kind, purge) -> statement``: kind ``put``, ``create`` (``if_none_match``) or
        ``replace`` (``if_match``). Rows: ``(version, etag, live, written)``; no row: the
        key never existed."""
        delete = {
            False: tombstone + " RETURNING o.version, NULL::text AS etag)",
            True: tombstone + " AND o.etag = %(if_match)s RETURNING o.version, NULL::text AS etag)",
        }
        self.delete = {
            (conditional, purge): current
            + sql
            + (_mark(s, "w.version + 1") if purge else "")
            + outcome
            for conditional, sql in delete.items()
            for purge in (False, True)
        }
        """``(if_match given, purge) -> statement``; the purge mark lets only versions
        after the deleted one be cached."""
        self.state = f"SELECT o.version, o.etag, o.live FROM {s}.objects o WHERE {where}"
        self.get = (
            "SELECT o.data, o.version, o.etag, o.content_type"
            f" FROM {s}.objects o WHERE {where} AND o.live"
        )
        self.head = (
            "SELECT o.version, o.etag, octet_length(o.data), o.content_type"
            f" FROM {s}.objects o WHERE {where} AND o.live"
        )
        source = f"WITH src AS ({self.get})"
        fill = (
            f", fill AS (INSERT INTO {s}.cache AS c (ns, key, data, version, etag, stored_at_ms,"
            " content_type, expires_at_ms, evict_at_ms)"
            " SELECT %(ns)s, %(fill)s, src.data, src.version, src.etag, %(stored)s,"
            " src.content_type, %(expires)s, %(evict)s FROM src WHERE src.version >= %(min)s"
            " ON CONFLICT (ns, key) DO UPDATE SET data = excluded.data,"
            " version = excluded.version, etag = excluded.etag,"
            " stored_at_ms = excluded.stored_at_ms, content_type = excluded.content_type,"
            " expires_at_ms = excluded.expires_at_ms, evict_at_ms = excluded.evict_at_ms"
            " WHERE excluded.version >= c.floor)"
        )
        drop = (
            f", drop AS (UPDATE {s}.cache c SET {BLANK}"
            " WHERE c.ns = %(ns)s AND c.key = %(fill)s AND c.data IS NOT NULL{absent})"
        )
        result = " SELECT src.data, src.version, src.etag, src.content_type FROM src"
        self.fill = {
            False: source + fill + result,
            True: source
            + fill
            + drop.format(absent=" AND NOT EXISTS (SELECT 1 FROM src)")
            + result,
        }
        """``purge_if_absent -> statement``: read the object and fill the cache entry."""
        self.get_and_drop = source + drop.format(absent="") + result
        """Read the object and drop its cache entry (a fill with no TTL stores nothing)."""
        self.list = (
            "SELECT o.key, o.version, o.etag, octet_length(o.data), o.content_type"
            f" FROM {s}.objects o WHERE o.layer = %(layer)s AND o.ns = %(ns)s AND o.live"
            " AND o.key {low} %(low)s{high} ORDER BY o.key LIMIT %(limit)s"
        )


class PostgresVersionedStore:
    """A ``CachingVersionedStore`` over the ``objects`` rows of one layer (blobs or records).

    Deleted keys keep their row as a tombstone (``live = false``, version kept), so
    versions continue after a delete. Etags are the version and a write number from the
    ``writes`` sequence, in hex (``"3-1f"``): unique per write, even across a reset.
    """

    __slots__ = ("_clock", "_db", "_layer", "_sql")

    def __init__(self, db: Database, layer: Layer, clock: Clock, sql: VersionedSql) -> None:
        self._db = db
        self._layer = layer.value
        self._clock = clock
        self._sql = sql

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
        """``put`` and mark the cache entry ``purge`` purged, in the same statement."""
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
        kind = "replace" if if_match is not None else "create" if if_none_match else "put"
        params = {
            "layer": self._layer,
            "ns": namespace,
            "key": key,
            "data": bytes(data),
            "ctype": content_type,
            "if_match": if_match,
            "purge": purge,
        }
        rows = self._db.rows(
            namespace, key, self._sql.put[kind, purge is not None], params, read=False
        )
        if rows and rows[0][3]:
            return WriteResult(rows[0][0], rows[0][1])
        state = rows[0] if rows else None
        if self._stale(state, if_match, live_refuses=if_none_match):
            state = self._state(namespace, key)
        _refused(state, if_match, if_none_match, namespace, key)

    def _stale(self, state: Row | None, if_match: ETag | None, *, live_refuses: bool) -> bool:
        """Whether a refusal contradicts the state the statement's snapshot saw: the row
        changed after the statement began, so the current state must be read again."""
        live = state is not None and bool(state[2])
        if if_match is not None:
            return live and state is not None and state[1] == if_match
        return not live if live_refuses else live

    def _state(self, namespace: str, key: str) -> Row | None:
        rows = self._db.rows(
            namespace,
            key,
            self._sql.state,
            {"layer": self._layer, "ns": namespace, "key": key},
            read=True,
        )
        return rows[0] if rows else None

    def get_and_fill(self, namespace: str, key: str, fill: CacheFill) -> Blob:
        """``get``, storing the row read as the cache entry ``fill.key`` in the same statement."""
        params: dict[str, object] = {
            "layer": self._layer,
            "ns": namespace,
            "key": key,
            "fill": fill.key,
        }
        if fill.ttl_ms > 0:
            sql = self._sql.fill[fill.purge_if_absent]
            params |= {
                "stored": fill.stored_at_ms,
                "expires": fill.expires_at_ms,
                "evict": self._clock.now_ms() + fill.ttl_ms,
                "min": min(fill.min_version, MAX_BIGINT),
            }
        else:
            sql = self._sql.get_and_drop
        rows = self._db.rows(namespace, key, sql, params, read=True)
        if not rows:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        data, version, etag, content_type = rows[0]
        return Blob(key, data, version, etag, content_type)

    def get(self, namespace: str, key: str) -> Blob:
        """The current version, or ``NotFoundError``."""
        rows = self._db.rows(
            namespace,
            key,
            self._sql.get,
            {"layer": self._layer, "ns": namespace, "key": key},
            read=True,
        )
        if not rows:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        data, version, etag, content_type = rows[0]
        return Blob(key, data, version, etag, content_type)

    def head(self, namespace: str, key: str) -> BlobInfo:
        """The current version's metadata (the size computed by the server), or ``NotFoundError``."""
        rows = self._db.rows(
            namespace,
            key,
            self._sql.head,
            {"layer": self._layer, "ns": namespace, "key": key},
            read=True,
        )
        if not rows:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        version, etag, size, content_type = rows[0]
        return BlobInfo(key, version, etag, size, content_type)

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> Version:
        """Turn the row into a tombstone (version kept) and return the version removed."""
        return self._delete(namespace, key, if_match, None)

    def delete_and_purge(
        self, namespace: str, key: str, *, if_match: ETag | None = None, purge: str
    ) -> Version:
        """``delete`` and mark the cache entry ``purge`` purged, in the same statement."""
        return self._delete(namespace, key, if_match, purge)

    def _delete(
        self, namespace: str, key: str, if_match: ETag | None, purge: str | None
    ) -> Version:
        params = {
            "layer": self._layer,
            "ns": namespace,
            "key": key,
            "if_match": if_match,
            "purge": purge,
        }
        sql = self._sql.delete[if_match is not None, purge is not None]
        rows = self._db.rows(namespace, key, sql, params, read=False)
        if rows and rows[0][3]:
            return int(rows[0][0])
        state = rows[0] if rows else None
        if self._stale(state, if_match, live_refuses=False):
            state = self._state(namespace, key)
        if if_match is None or state is None or not state[2]:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        _refused(state, if_match, False, namespace, key)

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        """Up to ``limit`` live keys with ``prefix``, greater than ``start_after``, sorted.

        The primary key's index seeks straight to ``max(prefix, start_after)``.
        """
        self._db.check_open(namespace, prefix)
        check_limit(limit, namespace, prefix)
        if limit == 0:
            return []
        if start_after is not None and start_after >= prefix:
            low, bound = ">", start_after
        else:
            low, bound = ">=", prefix
        end = prefix_end(prefix)
        sql = self._sql.list.format(low=low, high="" if end is None else " AND o.key < %(high)s")
        params = {
            "layer": self._layer,
            "ns": namespace,
            "low": bound,
            "high": end,
            "limit": min(limit, MAX_BIGINT),
        }
        rows = self._db.rows(namespace, prefix, sql, params, read=True)
        return [BlobInfo(*row) for row in rows]


def _refused(
    state: Row | None,
    if_match: ETag | None,
    if_none_match: bool,
    namespace: str,
    key: str,
) -> NoReturn:
    """Raise the ``PreconditionFailedError`` of a refused write, with the key's state."""
    if state is None or not state[2]:
        raise PreconditionFailedError(
            "if_match given but the key does not exist", namespace=namespace, key=key
        )
    message = (
        "if_none_match given but the key exists"
        if if_none_match
        else f"if_match {if_match!r} does not match the current etag"
    )
    raise PreconditionFailedError(
        message, current_etag=state[1], current_version=state[0], namespace=namespace, key=key
    )


class PostgresStreamLog:
    """A ``StreamLog`` over ``messages``, numbered by a per-stream counter row.

    An append increments the stream's ``streams.last_seq`` and inserts the message in the
    same statement (and so the same transaction): the counter's row lock orders
    concurrent appends from any number of processes, and a rolled-back append rolls its
    increment back, so sequences have no gaps and no duplicates.
    """

    __slots__ = ("_append", "_append_once", "_db", "_read")

    def __init__(self, db: Database) -> None:
        s = db.table
        self._db = db
        self._append = (
            f"WITH n AS (INSERT INTO {s}.streams AS t (ns, stream, last_seq) VALUES (%s, %s, 1)"
            " ON CONFLICT (ns, stream) DO UPDATE SET last_seq = t.last_seq + 1"
            " RETURNING t.last_seq)"
            f" INSERT INTO {s}.messages (ns, stream, seq, payload)"
            " SELECT %s, %s, n.last_seq, %s FROM n RETURNING seq"
        )
        self._append_once = (
            f"SELECT out_seq, out_duplicate FROM {s}.append_once("
            "%s, %s, %s, %s, %s::float8, %s::float8)"
        )
        self._read = (
            f"SELECT m.seq, m.payload FROM {s}.messages m"
            " WHERE m.ns = %s AND m.stream = %s AND m.seq > %s ORDER BY m.seq LIMIT %s"
        )

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

        With a key, the server function ``append_once`` checks the key and appends under
        an advisory lock on the (stream, key) pair, forgetting keys older than the longest
        window any append to the stream brought.
        """
        data = bytes(payload)
        if idempotency_key is None:
            rows = self._db.rows(
                namespace,
                stream,
                self._append,
                (namespace, stream, namespace, stream, data),
                read=False,
            )
            sequence = int(rows[0][0])
            return AppendResult(str(sequence), sequence)
        rows = self._db.rows(
            namespace,
            stream,
            self._append_once,
            (namespace, stream, data, idempotency_key, dedupe_window_ms, now_ms),
            read=False,
        )
        sequence, duplicate = int(rows[0][0]), bool(rows[0][1])
        return AppendResult(str(sequence), sequence, duplicate=duplicate)

    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages with sequence greater than ``after``, in order."""
        self._db.check_open(namespace, stream)
        check_limit(limit, namespace, stream)
        if limit == 0 or after >= MAX_BIGINT:
            return []
        rows = self._db.rows(
            namespace,
            stream,
            self._read,
            (namespace, stream, max(after, 0), min(limit, MAX_BIGINT)),
            read=True,
        )
        return [_new(StoredMessage, row) for row in rows]


class PostgresGroupStore:
    """A ``GroupStore``: a ``groups`` row (cursor, revision) and one ``deliveries`` row per
    pending delivery, indexed by visible-again time. A claim and an ack are each one call
    of a server function that holds the group's advisory lock, so they touch only the
    rows of their batch and never conflict."""

    __slots__ = ("_ack", "_claim", "_db", "_load")

    def __init__(self, db: Database) -> None:
        s = db.table
        self._db = db
        self._load = (
            "SELECT g.last_delivered, g.revision, d.seq, d.consumer, d.deliveries,"
            f" d.visible_at_ms FROM {s}.groups g LEFT JOIN {s}.deliveries d"
            " ON d.ns = g.ns AND d.stream = g.stream AND d.grp = g.grp"
            " WHERE g.ns = %s AND g.stream = %s AND g.grp = %s"
        )
        self._claim = (
            f"SELECT out_seq, out_payload, out_deliveries FROM {s}.claim("
            "%s, %s, %s, %s, %s::bigint, %s::float8, %s::float8)"
        )
        self._ack = f"SELECT {s}.ack(%s, %s, %s, %s::bigint[])"

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        """The group's state, read by one statement (one snapshot)."""
        rows = self._db.rows(namespace, stream, self._load, (namespace, stream, group), read=True)
        if not rows:
            return GroupCheckpoint()
        pending = {
            seq: GroupPending(consumer, deliveries, visible_at_ms)
            for _, _, seq, consumer, deliveries, visible_at_ms in rows
            if seq is not None
        }
        return GroupCheckpoint.from_deliveries(rows[0][0], pending, rows[0][1])

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
        """Redeliver due deliveries (earliest first), then deliver new messages: one call."""
        check_limit(limit, namespace, stream)
        if limit == 0:
            self._db.check_open(namespace, stream)
            return []
        rows = self._db.rows(
            namespace,
            stream,
            self._claim,
            (namespace, stream, group, consumer, min(limit, MAX_BIGINT), now_ms, visible_at_ms),
            read=False,
        )
        return [_new(Claimed, row) for row in rows]

    def ack(self, namespace: str, stream: str, group: str, sequences: Collection[int]) -> int:
        """Delete the pending deliveries among ``sequences``: one call (none when empty)."""
        wanted = sorted({s for s in sequences if 0 < s <= MAX_BIGINT})
        if not wanted:
            self._db.check_open(namespace, stream)
            return 0
        rows = self._db.rows(
            namespace, stream, self._ack, (namespace, stream, group, wanted), read=False
        )
        return int(rows[0][0])


EVICT_BATCH: Final = 64
"""Expired entries (of any namespace) each cache ``set`` removes in the same statement,
oldest first, so entries nobody reads again do not pile up."""


class PostgresCacheStore:
    """A ``CacheStore`` in the UNLOGGED ``cache`` table: shared by every adapter on the
    schema (``distributed_cache``), expiring on the adapter's clock (the facade's), and
    never written to the WAL. Rows without data (purge marks) are invisible here. An
    expired entry is removed by the next ``get`` of its key, or by a later ``set`` (each
    removes up to ``EVICT_BATCH`` expired entries), unless its row keeps a floor."""

    __slots__ = ("_clock", "_db", "_delete", "_get", "_set")

    def __init__(self, db: Database, clock: Clock) -> None:
        s = db.table
        self._db = db
        self._clock = clock
        self._get = (
            f"WITH gone AS (DELETE FROM {s}.cache c WHERE c.ns = %(ns)s AND c.key = %(key)s"
            " AND c.floor = 0 AND c.evict_at_ms <= %(now)s)"
            " SELECT c.data, c.version, c.etag, c.stored_at_ms, c.content_type, c.expires_at_ms"
            f" FROM {s}.cache c WHERE c.ns = %(ns)s AND c.key = %(key)s"
            " AND c.data IS NOT NULL AND c.evict_at_ms > %(now)s"
        )
        self._set = (
            f"WITH gone AS (DELETE FROM {s}.cache c WHERE c.ctid = ANY (ARRAY("
            f"SELECT e.ctid FROM {s}.cache e WHERE e.evict_at_ms <= %s AND e.floor = 0"
            f" ORDER BY e.evict_at_ms LIMIT {EVICT_BATCH})))"
            f" INSERT INTO {s}.cache (ns, key, data, version, etag, stored_at_ms, content_type,"
            " expires_at_ms, evict_at_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (ns, key) DO UPDATE SET data = excluded.data,"
            " version = excluded.version, etag = excluded.etag,"
            " stored_at_ms = excluded.stored_at_ms, content_type = excluded.content_type,"
            " expires_at_ms = excluded.expires_at_ms, evict_at_ms = excluded.evict_at_ms"
        )
        self._delete = (
            f"WITH gone AS (DELETE FROM {s}.cache c WHERE c.ns = %(ns)s AND c.key = %(key)s"
            f" AND c.floor = 0) UPDATE {s}.cache c SET {BLANK}"
            " WHERE c.ns = %(ns)s AND c.key = %(key)s AND c.floor > 0 AND c.data IS NOT NULL"
        )

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        """The entry, or ``None`` when absent or expired (an expired entry is evicted)."""
        rows = self._db.rows(
            namespace,
            key,
            self._get,
            {"ns": namespace, "key": key, "now": self._clock.now_ms()},
            read=True,
        )
        return CacheEntry(*rows[0]) if rows else None

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        """Store ``entry`` until ``now + ttl_ms``; ``ttl_ms <= 0`` leaves the key absent."""
        if ttl_ms <= 0:
            self.delete(namespace, key)
            return
        now = self._clock.now_ms()
        self._db.execute(
            namespace,
            key,
            self._set,
            (
                now,
                namespace,
                key,
                bytes(entry.data),
                entry.version,
                entry.etag,
                entry.stored_at_ms,
                entry.content_type,
                entry.expires_at_ms,
                now + ttl_ms,
            ),
        )

    def delete(self, namespace: str, key: str) -> None:
        """Remove the entry if present. A row with a floor is emptied instead of removed:
        the floor guards the next fill."""
        self._db.execute(namespace, key, self._delete, {"ns": namespace, "key": key})
