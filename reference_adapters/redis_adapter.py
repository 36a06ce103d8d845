"""A Redis adapter (redis-py): every capability, on one Redis server (no cluster).

Key layout: every key starts with ``key_prefix + namespace``, so ``reset`` finds a
namespace's data with one ``SCAN MATCH``. Fields are separated by ``\\x1f`` (unit
separator), which printable keys never contain::

    {p}{ns}\\x1fblob\\x1fobj\\x1f{key}       hash: data, version, etag, ctype, live
    {p}{ns}\\x1fblob\\x1findex              sorted set of live keys (score 0, lexical order)
    {p}{ns}\\x1frecord\\x1f...              the same for records
    {p}{ns}\\x1fstream\\x1flog\\x1f{stream}  list: message n is at index n - 1
    {p}{ns}\\x1fstream\\x1fdedupe\\x1f{stream}  hash: idempotency key -> "seq:first_ms"
    {p}{ns}\\x1fstream\\x1fdedupe-age\\x1f{stream}  sorted set: idempotency key, score first_ms
    {p}{ns}\\x1fstream\\x1fdedupe-longest  string: the longest dedupe window an append brought
    {p}{ns}\\x1fgroup\\x1f{stream}\\x1f{group}          hash: cursor, revision
    {p}{ns}\\x1fgroup-pending\\x1f{stream}\\x1f{group}  hash: 20-digit seq -> "deliveries:consumer"
    {p}{ns}\\x1fgroup-due\\x1f{stream}\\x1f{group}      sorted set: 20-digit seq, score visible again at
    {p}{ns}\\x1fcache\\x1f{key}             hash per cache entry, with PX = ttl

A deleted object keeps its hash as a tombstone (``live`` 0, ``version`` kept) so versions
continue. Every operation that checks and writes is one Lua script, so it is atomic on
the server and costs one round trip: a put or delete with its cache purge, a read with
its cache fill, an idempotent append, a group claim (redeliveries and new messages) and
a group ack. Consumer groups are kept per delivery (a ``GroupStore``), so a claim or an
ack costs in proportion to its batch. The list and claim scripts read keys they build
names for, which is fine on a single node but not on Redis Cluster.

Every redis-py error is mapped to a canonical error: connection errors, timeouts and
"loading" to ``BackendUnavailableError``, ``WatchError`` to ``ConflictError``, anything
else (``ResponseError`` included) to ``BackendUnavailableError`` with the server's message.
"""

from __future__ import annotations

import hashlib
import math
import socket
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, cast
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import (
    BusyLoadingError,
    RedisError,
    ResponseError,
    WatchError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)
from redis.retry import Retry

from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
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
    "CAPABILITIES",
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_URL",
    "EXPIRY_SLACK_MS",
    "RedisAdapter",
    "RedisBackdoor",
    "RedisCacheStore",
    "RedisFaultInjector",
    "RedisGroupStore",
    "RedisStreamLog",
    "RedisVersionedStore",
    "create_fakeredis_adapter",
    "create_redis_adapter",
    "create_redis_adapter_from_client",
    "drop_fake_server",
    "map_redis_error",
    "scan_pattern",
]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_KEY_PREFIX = "sanctum:"
DEFAULT_SOCKET_TIMEOUT_S = 5.0

SEP = "\x1f"
"""Separates the parts of a Redis key; printable keys and namespaces never contain it."""

CAPABILITIES = Capabilities.all()
"""One Redis server: reads follow acknowledged writes, the cache is shared, scripts are atomic."""

_new = tuple.__new__
"""Builds a named tuple from a ready tuple, skipping its generated Python ``__new__``."""

_MAX_INDEX = 2**63 - 1
"""The largest index or count Redis accepts (a signed 64-bit integer)."""

_RESET_BATCH = 500
"""Keys scanned and unlinked per round trip by ``reset``."""

_PUT = """
local cur = redis.call('HMGET', KEYS[1], 'version', 'etag', 'live')
local version = tonumber(cur[1]) or 0
if cur[3] == '1' then
  if ARGV[8] == '1' then return {0, 'exists', cur[2], version} end
  if ARGV[6] == '1' and ARGV[7] ~= cur[2] then return {0, 'mismatch', cur[2], version} end
elseif ARGV[6] == '1' then
  return {0, 'absent'}
end
version = version + 1
local etag = string.format('%x-%s', version, ARGV[3])
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'version', string.format('%d', version),
           'etag', etag, 'live', '1')
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'ctype', ARGV[5])
else
  redis.call('HDEL', KEYS[1], 'ctype')
end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if KEYS[3] then redis.call('DEL', KEYS[3]) end
return {1, version, etag}
"""
"""KEYS: object hash, index[, cache entry to purge]. ARGV: key, data, digest, has_ctype,
ctype, has_if_match, if_match, if_none_match. Returns {1, version, etag} or
{0, reason[, etag, version]}."""

_DELETE = """
local cur = redis.call('HMGET', KEYS[1], 'version', 'etag', 'live')
if cur[3] ~= '1' then return {0, 'absent'} end
local version = tonumber(cur[1])
if ARGV[2] == '1' and ARGV[3] ~= cur[2] then return {0, 'mismatch', cur[2], version} end
redis.call('HSET', KEYS[1], 'live', '0')
redis.call('HDEL', KEYS[1], 'data', 'etag', 'ctype')
redis.call('ZREM', KEYS[2], ARGV[1])
if KEYS[3] then redis.call('DEL', KEYS[3]) end
return {1, version}
"""
"""KEYS: object hash, index[, cache entry to purge]. ARGV: key, has_if_match, if_match.
Returns {1, version} or {0, reason[, etag, version]}; the hash stays as a tombstone."""

_GET_AND_FILL = """
local h = redis.call('HMGET', KEYS[1], 'data', 'version', 'etag', 'ctype', 'live')
if h[5] ~= '1' then
  if ARGV[6] == '1' then redis.call('DEL', KEYS[2]) end
  return false
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[2])
elseif tonumber(h[2]) >= tonumber(ARGV[5]) then
  redis.call('DEL', KEYS[2])
  local fields = {'data', h[1], 'version', h[2], 'etag', h[3], 'stored_at', ARGV[1],
                  'expires_at', ARGV[2], 'deadline', ARGV[4]}
  if h[4] then
    fields[#fields + 1] = 'ctype'
    fields[#fields + 1] = h[4]
  end
  redis.call('HSET', KEYS[2], unpack(fields))
  if ARGV[3] ~= 'inf' then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
end
if h[4] then return {h[1], h[2], h[3], '1', h[4]} end
return {h[1], h[2], h[3], '0', ''}
"""
"""KEYS: object hash, cache entry. ARGV: stored_at, expires_at, ttl (whole ms, 'inf', or
'0': store nothing), deadline, min_version, purge_if_absent. Returns nil when the key is
absent, else {data, version, etag, has_ctype, ctype}; the entry is written as
``RedisCacheStore.set`` writes it."""

_LIST = """
local names = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
local out = {}
for _, name in ipairs(names) do
  local object = ARGV[4] .. name
  local h = redis.call('HMGET', object, 'version', 'etag', 'ctype')
  if h[1] and h[2] then
    out[#out + 1] = name
    out[#out + 1] = h[1]
    out[#out + 1] = h[2]
    if h[3] then
      out[#out + 1] = '1'
      out[#out + 1] = h[3]
    else
      out[#out + 1] = '0'
      out[#out + 1] = ''
    end
    out[#out + 1] = redis.call('HSTRLEN', object, 'data')
  end
end
return out
"""
"""KEYS: index. ARGV: lexical min, lexical max, limit, object key prefix.
Returns name, version, etag, has_ctype, ctype, size for each live key, flattened."""

_APPEND = """
local seen = redis.call('HGET', KEYS[2], ARGV[2])
if seen then
  local sep = string.find(seen, ':', 1, true)
  local first = tonumber(string.sub(seen, sep + 1))
  if tonumber(ARGV[4]) - first < tonumber(ARGV[3]) then
    return {tonumber(string.sub(seen, 1, sep - 1)), 1}
  end
end
local sequence = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], string.format('%d:%s', sequence, ARGV[4]))
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
local longest = tonumber(redis.call('GET', KEYS[4]) or '0')
if tonumber(ARGV[3]) > longest then
  longest = tonumber(ARGV[3])
  redis.call('SET', KEYS[4], ARGV[3])
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf',
  string.format('%.17g', tonumber(ARGV[4]) - longest), 'LIMIT', 0, 256)
if #expired > 0 then
  redis.call('HDEL', KEYS[2], unpack(expired))
  redis.call('ZREM', KEYS[3], unpack(expired))
end
return {sequence, 0}
"""
"""KEYS: stream list, dedupe hash, dedupe ages (sorted set), longest window.
ARGV: payload, idempotency key, window ms, now ms. Returns {sequence, duplicate}.

After a new key is recorded, up to 256 keys of the stream older than the longest window
any append to the namespace has brought are forgotten, oldest first: more than each
append adds, so the index stays bounded, and a client with a short window never makes
one with a long window lose a key."""

_CLAIM = """
local limit = tonumber(ARGV[2])
local out = {}
local n = 0
local changed = false
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[3], 'LIMIT', 0, limit)
for _, member in ipairs(due) do
  local sequence = tonumber(member)
  local payload = redis.call('LINDEX', KEYS[4], sequence - 1)
  changed = true
  if payload then
    local held = redis.call('HGET', KEYS[2], member)
    local deliveries = tonumber(string.sub(held, 1, string.find(held, ':', 1, true) - 1)) + 1
    redis.call('HSET', KEYS[2], member, deliveries .. ':' .. ARGV[1])
    redis.call('ZADD', KEYS[3], ARGV[4], member)
    n = n + 1
    out[#out + 1] = sequence
    out[#out + 1] = payload
    out[#out + 1] = deliveries
  else
    redis.call('HDEL', KEYS[2], member)
    redis.call('ZREM', KEYS[3], member)
  end
end
if n < limit then
  local cursor = tonumber(redis.call('HGET', KEYS[1], 'cursor') or '0')
  local fresh = redis.call('LRANGE', KEYS[4], cursor, cursor + limit - n - 1)
  if #fresh > 0 then
    local fields = {}
    local scored = {}
    local held = '1:' .. ARGV[1]
    for i, payload in ipairs(fresh) do
      local member = string.format('%020d', cursor + i)
      fields[#fields + 1] = member
      fields[#fields + 1] = held
      scored[#scored + 1] = ARGV[4]
      scored[#scored + 1] = member
      out[#out + 1] = cursor + i
      out[#out + 1] = payload
      out[#out + 1] = 1
    end
    redis.call('HSET', KEYS[2], unpack(fields))
    redis.call('ZADD', KEYS[3], unpack(scored))
    redis.call('HSET', KEYS[1], 'cursor', string.format('%d', cursor + #fresh))
    changed = true
  end
end
if changed then redis.call('HINCRBY', KEYS[1], 'revision', 1) end
return out
"""
"""KEYS: group header, pending hash, due sorted set, stream list. ARGV: consumer, limit
(>= 1), now, visible again at. Returns sequence, payload, deliveries per claimed message,
flattened: ``GroupStore.claim`` in one step."""

_ACK = """
local n = 0
for i = 1, #ARGV do
  if redis.call('HDEL', KEYS[2], ARGV[i]) == 1 then
    redis.call('ZREM', KEYS[3], ARGV[i])
    n = n + 1
  end
end
if n > 0 then redis.call('HINCRBY', KEYS[1], 'revision', 1) end
return n
"""
"""KEYS: group header, pending hash, due sorted set. ARGV: 20-digit sequences.
Returns how many were pending."""


_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, BusyLoadingError, OSError)
"""Errors that mean the server is not reachable right now (or did not answer in time)."""


def map_redis_error(
    error: BaseException, namespace: str | None = None, key: str | None = None
) -> SanctumError:
    """The canonical error for a redis-py (or socket) error."""
    detail = f"{type(error).__name__}: {error}"
    if isinstance(error, WatchError):
        return ConflictError(f"redis: {detail}", namespace=namespace, key=key)
    if isinstance(error, _UNAVAILABLE):
        return BackendUnavailableError(f"redis unavailable: {detail}", namespace=namespace, key=key)
    # ResponseError and the rest: the server refused the command (for a write: not applied,
    # unless the connection broke mid-way, when the outcome is unknown).
    return BackendUnavailableError(f"redis error: {detail}", namespace=namespace, key=key)


_GLOB_SPECIAL = frozenset("*?[]\\")


def scan_pattern(literal_prefix: str) -> str:
    """A ``SCAN MATCH`` pattern matching every key that starts with ``literal_prefix``."""
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in literal_prefix) + "*"


def _number(value: float) -> str:
    """``value`` as text Lua's ``tonumber`` reads back as the same double (inf included)."""
    if math.isnan(value):
        return "-1e999"  # every comparison with NaN is false, as with -inf in "x < window"
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    return repr(float(value))


EXPIRY_SLACK_MS = 10_000
"""How long after its TTL Redis drops a cache entry. The entry's deadline, on the adapter's
clock, decides when it stops being served; Redis's own expiry, in real time, only frees
the memory, late enough that a client running slow (a busy machine, a virtual clock)
never sees an entry vanish before its TTL."""


def _expiry_ms(ttl_ms: float) -> int:
    """The ``PX`` of a cache entry kept for ``ttl_ms``: the TTL plus the slack, whole ms."""
    return math.ceil(ttl_ms) + EXPIRY_SLACK_MS


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8")


def _closed_error(namespace: str, key: str) -> BackendUnavailableError:
    return BackendUnavailableError("the redis adapter is closed", namespace=namespace, key=key)


def _check_limit(limit: int, namespace: str, key: str) -> None:
    if limit < 0:
        raise InvalidRequestError(
            f"limit must be >= 0, got {limit}", argument="limit", namespace=namespace, key=key
        )


def _redact(url: str) -> str:
    """``url`` without its password, for error messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return "<unparsable url>"


def _sibling(client: redis.Redis) -> redis.Redis:
    """A new client with its own connection pool, to the same server with the same settings."""
    pool = client.connection_pool
    settings = {
        name: value
        for name, value in pool.connection_kwargs.items()
        if name != "maint_notifications_pool_handler"  # bound to the original pool
    }
    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **settings)
    )


# --- the connection shared by the stores ---------------------------------------------------


class _Link:
    """The client, clock, key prefix, scripts and closed flag shared by one adapter's stores."""

    __slots__ = (
        "ack",
        "append",
        "claim",
        "client",
        "clock",
        "closed",
        "delete",
        "get_and_fill",
        "list",
        "prefix",
        "put",
    )

    def __init__(self, client: redis.Redis, prefix: str, clock: Clock) -> None:
        self.client = client
        self.prefix = prefix
        self.clock = clock
        self.closed = False
        self.put: Script = client.register_script(_PUT)
        self.delete: Script = client.register_script(_DELETE)
        self.get_and_fill: Script = client.register_script(_GET_AND_FILL)
        self.list: Script = client.register_script(_LIST)
        self.append: Script = client.register_script(_APPEND)
        self.claim: Script = client.register_script(_CLAIM)
        self.ack: Script = client.register_script(_ACK)

    def key(self, namespace: str, *parts: str) -> str:
        return self.prefix + namespace + SEP + SEP.join(parts)


class RedisVersionedStore:
    """A ``VersionedStore``: a hash per object (tombstone after delete) and a sorted-set index."""

    __slots__ = ("_kind", "_link")

    def __init__(self, link: _Link, layer: Layer) -> None:
        self._link = link
        self._kind = layer.value

    def _object(self, namespace: str, key: str) -> str:
        return self._link.key(namespace, self._kind, "obj", key)

    def _index(self, namespace: str) -> str:
        return self._link.key(namespace, self._kind, "index")

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
        """Store ``data`` as the next version; the preconditions are checked in the script."""
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
        """``put``, deleting the cache entry ``purge`` in the same script (one round trip)."""
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
        link = self._link
        if link.closed:
            raise _closed_error(namespace, key)
        if type(data) is not bytes:
            data = bytes(data)
        digest = hashlib.blake2b(data, digest_size=8).hexdigest()
        keys = [self._object(namespace, key), self._index(namespace)]
        if purge is not None:
            keys.append(link.key(namespace, "cache", purge))
        try:
            reply = link.put(
                keys=keys,
                args=[
                    key,
                    data,
                    digest,
                    "0" if content_type is None else "1",
                    content_type or "",
                    "0" if if_match is None else "1",
                    if_match or "",
                    "1" if if_none_match else "0",
                ],
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, key) from error
        if reply[0] == 1:
            return WriteResult(int(reply[1]), reply[2].decode())
        raise _precondition_failed(reply, namespace, key, if_match)

    def get_and_fill(self, namespace: str, key: str, fill: CacheFill) -> Blob:
        """``get``, writing the cache entry ``fill.key`` in the same script (one round trip)."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace, key)
        ttl_ms = fill.ttl_ms
        if not ttl_ms > 0:
            ttl = "0"
        elif math.isfinite(ttl_ms):
            ttl = str(_expiry_ms(ttl_ms))
        else:
            ttl = "inf"
        try:
            reply = link.get_and_fill(
                keys=[self._object(namespace, key), link.key(namespace, "cache", fill.key)],
                args=[
                    repr(float(fill.stored_at_ms)),
                    repr(float(fill.expires_at_ms)),
                    ttl,
                    repr(link.clock.now_ms() + ttl_ms),
                    str(fill.min_version),
                    "1" if fill.purge_if_absent else "0",
                ],
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, key) from error
        if reply is None:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        data, version, etag, has_ctype, ctype = reply
        return Blob(
            key, data, int(version), etag.decode(), ctype.decode() if has_ctype == b"1" else None
        )

    def get(self, namespace: str, key: str) -> Blob:
        """The current version, or ``NotFoundError`` (also for a tombstone)."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace, key)
        try:
            data, version, etag, ctype, live = cast(
                list[bytes | None],
                link.client.hmget(
                    self._object(namespace, key), ["data", "version", "etag", "ctype", "live"]
                ),
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, key) from error
        if live != b"1" or data is None or version is None or etag is None:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        return Blob(key, data, int(version), etag.decode(), _text(ctype))

    def head(self, namespace: str, key: str) -> BlobInfo:
        """The current version's metadata (the payload is not transferred), or ``NotFoundError``."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace, key)
        name = self._object(namespace, key)
        try:
            pipe = link.client.pipeline(transaction=True)
            pipe.hmget(name, ["version", "etag", "ctype", "live"])
            pipe.hstrlen(name, "data")
            fields, size = cast(tuple[list[bytes | None], int], pipe.execute())
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, key) from error
        version, etag, ctype, live = fields
        if live != b"1" or version is None or etag is None:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        return BlobInfo(key, int(version), etag.decode(), int(size), _text(ctype))

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> Version:
        """Remove the key, keep its version in a tombstone and return that version."""
        return self._delete(namespace, key, if_match, None)

    def delete_and_purge(
        self, namespace: str, key: str, *, if_match: ETag | None = None, purge: str
    ) -> Version:
        """``delete``, deleting the cache entry ``purge`` in the same script (one round trip)."""
        return self._delete(namespace, key, if_match, purge)

    def _delete(
        self, namespace: str, key: str, if_match: ETag | None, purge: str | None
    ) -> Version:
        link = self._link
        if link.closed:
            raise _closed_error(namespace, key)
        keys = [self._object(namespace, key), self._index(namespace)]
        if purge is not None:
            keys.append(link.key(namespace, "cache", purge))
        try:
            reply = link.delete(
                keys=keys, args=[key, "0" if if_match is None else "1", if_match or ""]
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, key) from error
        if reply[0] == 1:
            return int(reply[1])
        if reply[1] == b"absent":
            raise NotFoundError("no such key", namespace=namespace, key=key)
        raise _precondition_failed(reply, namespace, key, if_match)

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        """Up to ``limit`` live keys with ``prefix``, greater than ``start_after``, sorted.

        Redis orders the index by bytes; UTF-8 byte order is code point order, as Python's.
        """
        link = self._link
        if link.closed:
            raise _closed_error(namespace, prefix)
        _check_limit(limit, namespace, prefix)
        if limit == 0:
            return []
        low_key = prefix.encode()
        low = b"[" + low_key if low_key else b"-"
        if start_after is not None and start_after.encode() >= low_key:
            low = b"(" + start_after.encode()
        # UTF-8 never contains 0xff, so every key starting with the prefix sorts below this.
        high = b"(" + low_key + b"\xff" if low_key else b"+"
        try:
            flat = link.list(
                keys=[self._index(namespace)],
                args=[low, high, min(limit, _MAX_INDEX), self._object(namespace, "")],
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, prefix) from error
        result: list[BlobInfo] = []
        for i in range(0, len(flat), 6):
            name, version, etag, has_ctype, ctype, size = flat[i : i + 6]
            result.append(
                BlobInfo(
                    name.decode(),
                    int(version),
                    etag.decode(),
                    int(size),
                    ctype.decode() if has_ctype == b"1" else None,
                )
            )
        return result


def _precondition_failed(
    reply: Sequence[Any], namespace: str, key: str, if_match: ETag | None
) -> PreconditionFailedError:
    """The error for a script's ``{0, reason[, etag, version]}`` reply."""
    reason = reply[1]
    if reason == b"absent":
        return PreconditionFailedError(
            "if_match given but the key does not exist", namespace=namespace, key=key
        )
    message = (
        "if_none_match given but the key exists"
        if reason == b"exists"
        else f"if_match {if_match!r} does not match the current etag"
    )
    return PreconditionFailedError(
        message,
        current_etag=reply[2].decode(),
        current_version=int(reply[3]),
        namespace=namespace,
        key=key,
    )


class RedisStreamLog:
    """A ``StreamLog``: a list per stream (``RPUSH`` returns the sequence), deduplicated in Lua."""

    __slots__ = ("_link",)

    def __init__(self, link: _Link) -> None:
        self._link = link

    def _log(self, namespace: str, stream: str) -> str:
        return self._link.key(namespace, "stream", "log", stream)

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
        link = self._link
        if link.closed:
            raise _closed_error(namespace, stream)
        if type(payload) is not bytes:
            payload = bytes(payload)
        try:
            if idempotency_key is None:
                sequence = int(link.client.rpush(self._log(namespace, stream), payload))
                return AppendResult(str(sequence), sequence)
            reply = link.append(
                keys=[
                    self._log(namespace, stream),
                    link.key(namespace, "stream", "dedupe", stream),
                    link.key(namespace, "stream", "dedupe-age", stream),
                    link.key(namespace, "stream", "dedupe-longest"),
                ],
                args=[payload, idempotency_key, _number(dedupe_window_ms), _number(now_ms)],
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, stream) from error
        sequence = int(reply[0])
        return AppendResult(str(sequence), sequence, duplicate=reply[1] == 1)

    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages with sequence greater than ``after`` (one ``LRANGE``)."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace, stream)
        _check_limit(limit, namespace, stream)
        if limit == 0:
            return []
        start = after if after > 0 else 0
        if start >= _MAX_INDEX:
            return []
        stop = min(start + limit - 1, _MAX_INDEX)
        try:
            payloads = cast(
                list[bytes], link.client.lrange(self._log(namespace, stream), start, stop)
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, stream) from error
        return [StoredMessage(start + i, p) for i, p in enumerate(payloads, start=1)]


def _member(sequence: int) -> str:
    """A sequence as a group's pending field and due member: 20 digits, so the lexical
    order of equal scores is the numeric order."""
    return f"{sequence:020d}"


class RedisGroupStore:
    """A ``GroupStore``: per group a header hash (cursor, revision), a hash of pending
    deliveries and a sorted set of them by visible-again time; claim and ack are one
    script each, load one ``MULTI``."""

    __slots__ = ("_link",)

    def __init__(self, link: _Link) -> None:
        self._link = link

    def _keys(self, namespace: str, stream: str, group: str) -> list[str]:
        link = self._link
        return [
            link.key(namespace, "group", stream, group),
            link.key(namespace, "group-pending", stream, group),
            link.key(namespace, "group-due", stream, group),
        ]

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        """The group's state, read in one transaction (its size in one reply)."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace, stream)
        header, pending_key, due_key = self._keys(namespace, stream, group)
        try:
            pipe = link.client.pipeline(transaction=True)
            pipe.hmget(header, ["cursor", "revision"])
            pipe.hgetall(pending_key)
            pipe.zrange(due_key, 0, -1, withscores=True)
            (cursor, revision), held, due = cast(
                tuple[list[bytes | None], dict[bytes, bytes], list[tuple[bytes, float]]],
                pipe.execute(),
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, stream) from error
        if revision is None:
            return GroupCheckpoint()
        visible = dict(due)
        pending: dict[int, GroupPending] = {}
        for member, value in held.items():
            deliveries, _, consumer = value.decode().partition(":")
            pending[int(member)] = GroupPending(consumer, int(deliveries), visible[member])
        return GroupCheckpoint.from_deliveries(int(cursor or 0), pending, int(revision))

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
        """Redeliver due deliveries (earliest first), then deliver new messages: one script."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace, stream)
        _check_limit(limit, namespace, stream)
        if limit == 0:
            return []
        try:
            flat = link.claim(
                keys=[
                    *self._keys(namespace, stream, group),
                    link.key(namespace, "stream", "log", stream),
                ],
                args=[
                    consumer,
                    min(limit, _MAX_INDEX),
                    repr(float(now_ms)),
                    repr(float(visible_at_ms)),
                ],
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, stream) from error
        return [_new(Claimed, (flat[i], flat[i + 1], flat[i + 2])) for i in range(0, len(flat), 3)]

    def ack(self, namespace: str, stream: str, group: str, sequences: Collection[int]) -> int:
        """Remove the pending deliveries among ``sequences``: one script (none when empty)."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace, stream)
        if not sequences:
            return 0
        try:
            return int(
                link.ack(
                    keys=self._keys(namespace, stream, group),
                    args=[_member(sequence) for sequence in sequences],
                )
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, stream) from error


class RedisCacheStore:
    """A ``CacheStore``: a hash per entry, evicted by Redis after the TTL (``PX``).

    Entries also carry their deadline on the injected clock, so a virtual clock decides
    expiry exactly as it does for the reference adapter.
    """

    __slots__ = ("_clock", "_link")

    def __init__(self, link: _Link, clock: Clock) -> None:
        self._link = link
        self._clock = clock

    def _key(self, namespace: str, key: str) -> str:
        return self._link.key(namespace, "cache", key)

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        """The entry, or ``None`` when absent, evicted or past its deadline."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace, key)
        try:
            fields = cast(
                list[bytes | None],
                link.client.hmget(
                    self._key(namespace, key),
                    ["data", "version", "etag", "stored_at", "expires_at", "ctype", "deadline"],
                ),
            )
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, key) from error
        data, version, etag, stored_at, expires_at, ctype, deadline = fields
        if (
            data is None
            or version is None
            or etag is None
            or stored_at is None
            or expires_at is None
            or deadline is None
        ):
            return None
        if self._clock.now_ms() >= float(deadline):
            return None
        return CacheEntry(
            data, int(version), etag.decode(), float(stored_at), _text(ctype), float(expires_at)
        )

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        """Store ``entry`` for ``ttl_ms`` (Redis ``PX``, at least 1 ms); ``ttl_ms <= 0`` deletes."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace, key)
        name = self._key(namespace, key)
        try:
            if not ttl_ms > 0:
                link.client.delete(name)
                return
            fields: dict[str, bytes | str] = {
                "data": entry.data,
                "version": str(entry.version),
                "etag": entry.etag,
                "stored_at": repr(float(entry.stored_at_ms)),
                "expires_at": repr(float(entry.expires_at_ms)),
                "deadline": repr(self._clock.now_ms() + ttl_ms),
            }
            if entry.content_type is not None:
                fields["ctype"] = entry.content_type
            pipe = link.client.pipeline(transaction=True)
            pipe.delete(name)
            pipe.hset(name, mapping=fields)  # type: ignore[arg-type]
            if math.isfinite(ttl_ms):
                pipe.pexpire(name, _expiry_ms(ttl_ms))
            pipe.execute()
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, key) from error

    def delete(self, namespace: str, key: str) -> None:
        """Remove the entry if present."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace, key)
        try:
            link.client.delete(self._key(namespace, key))
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace, key) from error


class RedisBackdoor:
    """Reads the stored hashes and lists with its own client, bypassing the stores."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    @property
    def client(self) -> redis.Redis:
        """The backdoor's own client (not the adapter's)."""
        return self._client

    def read_object(self, layer: Layer, namespace: str, key: str) -> Blob | None:
        """The live blob or record, or ``None``."""
        name = self._prefix + namespace + SEP + layer.value + SEP + "obj" + SEP + key
        fields = cast(
            list[bytes | None],
            self._client.hmget(name, ["data", "version", "etag", "ctype", "live"]),
        )
        data, version, etag, ctype, live = fields
        if live != b"1" or data is None or version is None or etag is None:
            return None
        return Blob(key, data, int(version), etag.decode(), _text(ctype))

    def stream_messages(self, namespace: str, stream: str) -> list[StoredMessage]:
        """Every stored message of the stream, in sequence order."""
        name = self._prefix + namespace + SEP + "stream" + SEP + "log" + SEP + stream
        payloads = cast(list[bytes], self._client.lrange(name, 0, -1))
        return [StoredMessage(i, p) for i, p in enumerate(payloads, start=1)]

    def close(self) -> None:
        """Close the backdoor's own connections."""
        self._client.close()
        self._client.connection_pool.disconnect()


FAULT_TIMEOUT_S: Final = 0.02
"""The socket timeout of the adapter's connections while the ``timeout`` fault lasts."""


class RedisFaultInjector:
    """Provokes real socket faults on one adapter's connections, and on no one else's.

    While a fault lasts, the adapter's client talks to a socket of the injector's own on
    the loopback instead of the server: one that refuses connections (``unreachable``), or
    one that accepts them and never answers (``timeout``, with a 20 ms socket timeout).
    redis-py raises its own ``ConnectionError`` and ``TimeoutError`` as it would for a dead
    or stalled server; the shared server itself is never paused or blocked. Every write is
    one atomic script, so there is no serialisation conflict to provoke.
    """

    faults = frozenset({backend_faults.UNREACHABLE, backend_faults.TIMEOUT})

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    @contextmanager
    def provoke(self, fault: str) -> Iterator[None]:
        """Point the adapter's client at a refusing or silent socket until the context ends."""
        if fault not in self.faults:
            raise ValueError(
                f"redis cannot provoke fault {fault!r}; it offers {sorted(self.faults)}"
            )
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sink:
            sink.bind(("127.0.0.1", 0))
            if fault == backend_faults.TIMEOUT:
                sink.listen(16)  # the kernel completes handshakes; nobody ever answers
            port = sink.getsockname()[1]
            faulty = redis.ConnectionPool(
                host="127.0.0.1",
                port=port,
                socket_timeout=FAULT_TIMEOUT_S,
                socket_connect_timeout=FAULT_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),
            )
            original = self._client.connection_pool
            self._client.connection_pool = faulty
            try:
                yield
            finally:
                self._client.connection_pool = original
                faulty.disconnect()


class RedisAdapter:
    """A ``StorageAdapter`` over one Redis server; every capability declared."""

    __slots__ = (
        "_backdoors",
        "_blobs",
        "_cache",
        "_checkpoints",
        "_link",
        "_lock",
        "_name",
        "_records",
        "_streams",
    )

    def __init__(
        self, client: redis.Redis, clock: Clock, *, key_prefix: str, name: str = "redis"
    ) -> None:
        self._name = name
        self._link = _Link(client, key_prefix, clock)
        self._blobs = RedisVersionedStore(self._link, Layer.BLOB)
        self._records = RedisVersionedStore(self._link, Layer.RECORD)
        self._streams = RedisStreamLog(self._link)
        self._checkpoints = RedisGroupStore(self._link)
        self._cache = RedisCacheStore(self._link, clock)
        self._backdoors: list[RedisBackdoor] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    @property
    def key_prefix(self) -> str:
        """The prefix of every Redis key this adapter writes."""
        return self._link.prefix

    @property
    def client(self) -> redis.Redis:
        """The redis-py client the stores use."""
        return self._link.client

    @property
    def closed(self) -> bool:
        return self._link.closed

    @property
    def blobs(self) -> RedisVersionedStore:
        return self._blobs

    @property
    def records(self) -> RedisVersionedStore:
        return self._records

    @property
    def streams(self) -> RedisStreamLog:
        return self._streams

    @property
    def checkpoints(self) -> RedisGroupStore:
        return self._checkpoints

    @property
    def cache(self) -> RedisCacheStore:
        return self._cache

    def ping(self) -> None:
        """Check the server answers; ``BackendUnavailableError`` when it does not."""
        if self._link.closed:
            raise _closed_error("", "")
        try:
            self._link.client.ping()
        except (RedisError, OSError) as error:
            raise map_redis_error(error) from error

    def backdoor(self) -> RedisBackdoor:
        """A probe with its own connection pool to the same server (closed with the adapter).

        One probe per adapter, made on first use: every later probe reuses its connection.
        """
        if self._link.closed:
            raise _closed_error("", "")
        with self._lock:
            if not self._backdoors:
                self._backdoors.append(
                    RedisBackdoor(_sibling(self._link.client), self._link.prefix)
                )
            return self._backdoors[0]

    def fault_injector(self) -> RedisFaultInjector:
        """Provokes real socket faults for the kit's ``ERR-006`` contract."""
        return RedisFaultInjector(self._link.client)

    def backend_info(self) -> BackendInfo:
        """The server's product and version, from ``INFO server`` (one round trip); Valkey
        answers with ``server_name`` and its own version besides Redis's."""
        if self._link.closed:
            raise _closed_error("", "")
        try:
            info = cast("dict[str, object]", self._link.client.info("server"))
        except ResponseError:  # a server without INFO (fakeredis): the product is all we know
            return BackendInfo("Redis", None)
        except (RedisError, OSError) as error:
            raise map_redis_error(error) from error
        if info.get("server_name") == "valkey" and "valkey_version" in info:
            return BackendInfo("Valkey", str(info["valkey_version"]))
        version = info.get("redis_version")
        return BackendInfo("Redis", None if version is None else str(version))

    def reset(self, namespace_prefix: str) -> None:
        """Unlink every key of namespaces starting with the prefix (``SCAN MATCH`` in batches)."""
        link = self._link
        if link.closed:
            raise _closed_error(namespace_prefix, "")
        pattern = scan_pattern(link.prefix + namespace_prefix)
        try:
            cursor = 0
            while True:
                cursor, keys = cast(
                    tuple[int, list[bytes]],
                    link.client.scan(cursor, match=pattern, count=_RESET_BATCH),
                )
                if keys:
                    link.client.unlink(*keys)
                if cursor == 0:
                    break
        except (RedisError, OSError) as error:
            raise map_redis_error(error, namespace_prefix) from error

    def close(self) -> None:
        """Close the connection pool (and the backdoors'); afterwards every method raises
        ``BackendUnavailableError``. The server's data stays."""
        link = self._link
        if link.closed:
            return
        link.closed = True
        with self._lock:
            probes, self._backdoors = self._backdoors, []
        for probe in probes:
            probe.close()
        try:
            link.client.close()
            link.client.connection_pool.disconnect()
        except (RedisError, OSError):
            pass  # closing a broken connection: nothing left to release

    def __repr__(self) -> str:
        state = "closed" if self._link.closed else "open"
        return f"RedisAdapter(prefix={self._link.prefix!r}, {state})"


# --- factories -----------------------------------------------------------------------------


def _string_option(name: str, value: object, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty):
        raise ConfigError(
            f"redis option {name!r} must be a non-empty string, got {value!r}",
            field=f"options.{name}",
        )
    return value


def _key_prefix(value: object) -> str:
    prefix = _string_option("key_prefix", value)
    if SEP in prefix:
        raise ConfigError(
            "redis option 'key_prefix' must not contain the unit separator \\x1f",
            field="options.key_prefix",
        )
    return prefix


def create_redis_adapter(options: Mapping[str, object], clock: Clock) -> RedisAdapter:
    """The ``redis`` adapter factory (the ``redis`` entry point); connects and PINGs at once.

    Options: ``url`` (default ``redis://127.0.0.1:6379/0``), ``key_prefix`` (non-empty,
    default ``sanctum:``; every key starts with it, so runs sharing a database stay apart),
    ``socket_timeout_s`` (positive number, default 5: connect and read timeout). Commands
    are never retried by the client: a failure is ``BackendUnavailableError`` and, for a
    write, an unknown outcome.
    """
    url = DEFAULT_URL
    key_prefix = DEFAULT_KEY_PREFIX
    timeout = DEFAULT_SOCKET_TIMEOUT_S
    for name, value in options.items():
        if name == "url":
            url = _string_option("url", value)
        elif name == "key_prefix":
            key_prefix = _key_prefix(value)
        elif name == "socket_timeout_s":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(
                    f"redis option 'socket_timeout_s' must be a positive number, got {value!r}",
                    field="options.socket_timeout_s",
                )
            timeout = float(value)
        else:
            raise ConfigError(
                f"unknown redis option {name!r} (known: key_prefix, socket_timeout_s, url)",
                field=f"options.{name}",
            )
    try:
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
        )
    except (ValueError, RedisError) as error:
        raise ConfigError(
            f"redis option 'url' is not a usable Redis URL ({_redact(url)}): {error}",
            field="options.url",
        ) from error
    adapter = RedisAdapter(client, clock, key_prefix=key_prefix)
    _ping_or_close(adapter, f"redis not reachable at {_redact(url)}")
    return adapter


def _ping_or_close(adapter: RedisAdapter, what: str) -> None:
    try:
        adapter.ping()
    except BackendUnavailableError as error:
        adapter.close()
        raise BackendUnavailableError(f"{what}: {error.message}") from error


def create_redis_adapter_from_client(
    client: redis.Redis, clock: Clock, *, key_prefix: str = DEFAULT_KEY_PREFIX, name: str = "redis"
) -> RedisAdapter:
    """An adapter over an already-built client (``decode_responses`` must be off); PINGs it.

    ``close()`` closes the client. Used with fakeredis, or to bring your own pool settings.
    """
    prefix = _key_prefix(key_prefix)
    if client.get_encoder().decode_responses:
        raise ConfigError(
            "the redis client must return bytes (decode_responses=False)", field="client"
        )
    adapter = RedisAdapter(client, clock, key_prefix=prefix, name=name)
    _ping_or_close(adapter, "redis not reachable")
    return adapter


_fake_servers: dict[str, Any] = {}
_fake_servers_lock = threading.Lock()


def create_fakeredis_adapter(options: Mapping[str, object], clock: Clock) -> RedisAdapter:
    """The Redis adapter over an in-process fakeredis server (needs ``fakeredis[lua]``).

    Options: ``server`` (non-empty str, default ``"default"``) names the fake server, so
    adapters built with the same options share its data; ``key_prefix`` as for ``redis``.
    """
    import fakeredis  # a dev dependency: imported only when this factory is used

    server_name = "default"
    key_prefix = DEFAULT_KEY_PREFIX
    for name, value in options.items():
        if name == "server":
            server_name = _string_option("server", value)
        elif name == "key_prefix":
            key_prefix = _key_prefix(value)
        else:
            raise ConfigError(
                f"unknown fakeredis option {name!r} (known: key_prefix, server)",
                field=f"options.{name}",
            )
    with _fake_servers_lock:
        server = _fake_servers.get(server_name)
        if server is None:
            server = _fake_servers[server_name] = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    return create_redis_adapter_from_client(client, clock, key_prefix=key_prefix, name="fakeredis")


def drop_fake_server(name: str) -> None:
    """Forget the fakeredis server registered under ``name`` (no-op when unknown)."""
    with _fake_servers_lock:
        _fake_servers.pop(name, None)


create_redis_adapter.opens_across_processes = True  # type: ignore[attr-defined]
"""Another process connecting with the same options sees the same data (HIST-008)."""
create_fakeredis_adapter.opens_across_processes = False  # type: ignore[attr-defined]
"""fakeredis keeps its server in this process."""
