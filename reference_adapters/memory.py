"""The in-memory reference adapter: it defines the semantics every other backend is checked against.

A ``MemoryServer`` holds the "durable" state (versioned objects, stream logs, idempotency
index, checkpoints, shared cache) and outlives the adapters built on it, so reopening an
adapter (a new instance with the same options) sees the same data. All values stored are
immutable (``bytes``, frozen dataclasses and named tuples), so nothing is copied on the
hot path; one re-entrant lock per server makes every check-and-write atomic. Stream reads
and checkpoint loads take no lock: each looks up one stored value or slices one list,
which CPython does atomically.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Literal, TypeVar

import pytest_sanctum
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
    "MemoryAdapter",
    "MemoryBackdoor",
    "MemoryBatchStreamLog",
    "MemoryCacheStore",
    "MemoryCachingVersionedStore",
    "MemoryCheckpointStore",
    "MemoryFaultInjector",
    "MemoryGroupStore",
    "MemoryServer",
    "MemoryStreamLog",
    "MemoryVersionedStore",
    "create_memory_adapter",
    "drop_server",
    "get_server",
]

_V = TypeVar("_V")

Interface = Literal["full", "basic"]
"""Which stores a memory adapter offers: every optional one-call protocol (``full``), or
only the base protocols (``basic``), as an adapter written against them would."""


_new = tuple.__new__
"""Builds a named tuple from a ready tuple, skipping its generated Python ``__new__``."""


def _drop_prefix(table: dict[str, _V], prefix: str) -> None:
    """Remove every namespace of ``table`` that starts with ``prefix``."""
    for namespace in [ns for ns in table if ns.startswith(prefix)]:
        del table[namespace]


_CLOSED = "closed"
"""A store's refusal once its adapter is closed; the other refusals are injected faults."""


def _refuse(refusal: str, namespace: str, key: str, *, write: bool) -> None:
    """Raise what a store in state ``refusal`` raises for a call (``write``: one that writes).

    ``refusal`` is ``"closed"`` or a fault of ``pytest_sanctum.kit.backend_faults``; a lock held by
    another client blocks writes only, so a read under ``"locked"`` returns and proceeds.
    """
    if refusal == _CLOSED:
        message = "the memory adapter is closed"
    elif refusal == backend_faults.UNREACHABLE:
        message = "the memory server refused the connection"
    elif refusal == backend_faults.TIMEOUT:
        message = "the memory server did not answer in time"
    elif not write:
        return
    elif refusal == backend_faults.LOCKED:
        message = "the memory server is locked by another client (busy timeout elapsed)"
    else:
        raise ConflictError(
            "could not serialize access due to a concurrent transaction",
            namespace=namespace,
            key=key,
        )
    raise BackendUnavailableError(message, namespace=namespace, key=key)


def _limit_error(limit: int, namespace: str, key: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"limit must be >= 0, got {limit}", argument="limit", namespace=namespace, key=key
    )


class _Keyspace:
    """The versioned objects of one layer: live values plus the last version of deleted keys.

    ``tombstones`` holds a key only while it is deleted, so a put on a live key needs one
    lookup; a re-created key continues from its tombstone's version. ``index`` keeps each
    namespace's live keys sorted, so a list page seeks with a binary search instead of
    sorting every key; only creating or deleting a key changes it.
    """

    __slots__ = ("index", "live", "tombstones")

    def __init__(self) -> None:
        self.live: dict[str, dict[str, Blob]] = {}
        self.tombstones: dict[str, dict[str, int]] = {}
        self.index: dict[str, list[str]] = {}

    def reset(self, prefix: str) -> None:
        _drop_prefix(self.live, prefix)
        _drop_prefix(self.tombstones, prefix)
        _drop_prefix(self.index, prefix)


class _DedupeIndex:
    """The idempotency keys of one server, oldest first, each forgotten once no window needs it.

    Each append brings its client's dedupe window. A key is dropped only when it is older
    than the longest window any append has brought, so a client with a short window
    never makes one with a long window lose a key; dropping from the oldest end keeps the
    cost per append constant.
    """

    __slots__ = ("entries", "longest_window_ms")

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple[str, str, str], tuple[int, float]] = OrderedDict()
        """(namespace, stream, idempotency key) -> (sequence, first appended at ms)."""
        self.longest_window_ms = 0.0

    def remember(
        self, entry: tuple[str, str, str], sequence: int, now_ms: float, window_ms: float
    ) -> None:
        """Record a key's first append (or a new window for it), then forget expired keys."""
        entries = self.entries
        entries[entry] = (sequence, now_ms)
        entries.move_to_end(entry)
        if window_ms > self.longest_window_ms:
            self.longest_window_ms = window_ms
        horizon = now_ms - self.longest_window_ms
        while entries:
            oldest = next(iter(entries))
            if entries[oldest][1] > horizon:
                break
            del entries[oldest]

    def reset(self, namespace_prefix: str) -> None:
        for entry in [e for e in self.entries if e[0].startswith(namespace_prefix)]:
            del self.entries[entry]


class _CacheTable:
    """The entries of one cache (an adapter's own, or a server's shared one), evicted by time.

    Every write first evicts the entries whose deadline has passed, oldest first, from a
    heap of deadlines: an expired entry is dropped without being read, and the work is
    amortised O(log n) per entry written. A namespace whose last entry goes is dropped;
    one that lost more entries than it kept is copied, since a dict never shrinks by
    itself. The heap also holds the old deadlines of rewritten or deleted keys; it is
    rebuilt from the live entries when it grows past twice their number (plus 64).
    """

    __slots__ = ("deadlines", "namespaces", "size")

    def __init__(self) -> None:
        self.namespaces: dict[str, dict[str, tuple[CacheEntry, float]]] = {}
        """namespace -> cache key -> (entry, evict at ms)."""
        self.deadlines: list[tuple[float, str, str]] = []
        """A heap of (evict at ms, namespace, key); entries may be stale."""
        self.size = 0
        """How many entries ``namespaces`` holds."""

    def get(self, namespace: str, key: str, now_ms: float) -> CacheEntry | None:
        entries = self.namespaces.get(namespace)
        slot = entries.get(key) if entries else None
        if slot is None:
            return None
        if now_ms >= slot[1]:
            self.remove(namespace, key)
            return None
        return slot[0]

    def put(
        self, namespace: str, key: str, entry: CacheEntry, deadline_ms: float, now_ms: float
    ) -> None:
        self.evict(now_ms)
        entries = self.namespaces.get(namespace)
        if entries is None:
            entries = self.namespaces[namespace] = {}
        if key not in entries:
            self.size += 1
        entries[key] = (entry, deadline_ms)
        heapq.heappush(self.deadlines, (deadline_ms, namespace, key))
        if len(self.deadlines) > 2 * self.size + 64:
            self.deadlines = [
                (slot[1], ns, name)
                for ns, table in self.namespaces.items()
                for name, slot in table.items()
            ]
            heapq.heapify(self.deadlines)

    def remove(self, namespace: str, key: str) -> None:
        entries = self.namespaces.get(namespace)
        if entries and entries.pop(key, None) is not None:
            self.size -= 1
            if not entries:
                del self.namespaces[namespace]

    def evict(self, now_ms: float) -> None:
        """Drop every entry whose deadline is at or before ``now_ms``."""
        heap = self.deadlines
        evicted: dict[str, int] = {}
        while heap and heap[0][0] <= now_ms:
            _, namespace, key = heapq.heappop(heap)
            entries = self.namespaces.get(namespace)
            slot = entries.get(key) if entries else None
            if slot is not None and slot[1] <= now_ms:
                self.remove(namespace, key)
                evicted[namespace] = evicted.get(namespace, 0) + 1
        for namespace, count in evicted.items():
            entries = self.namespaces.get(namespace)
            if entries is not None and count > len(entries):
                self.namespaces[namespace] = dict(entries)  # release the emptied slots

    def reset(self, prefix: str) -> None:
        for namespace in [ns for ns in self.namespaces if ns.startswith(prefix)]:
            self.size -= len(self.namespaces.pop(namespace))


class MemoryServer:
    """The shared durable state of every adapter built with the same ``server`` option.

    Obtain one with ``get_server``; adapters read and write its tables under ``lock``.
    """

    __slots__ = (
        "blobs",
        "checkpoints",
        "groups",
        "idempotency",
        "lock",
        "messages",
        "name",
        "records",
        "shared_cache",
        "writes",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.RLock()
        self.writes = itertools.count(1)
        """Numbers every write of the server: the second half of an etag, unique per write."""
        self.blobs = _Keyspace()
        self.records = _Keyspace()
        self.messages: dict[str, dict[str, list[StoredMessage]]] = {}
        """namespace -> stream -> messages; sequence n is at index n - 1."""
        self.idempotency = _DedupeIndex()
        self.checkpoints: dict[str, dict[tuple[str, str], GroupCheckpoint]] = {}
        """namespace -> (stream, group) -> saved checkpoint (the ``basic`` interface)."""
        self.groups: dict[str, dict[tuple[str, str], _Group]] = {}
        """namespace -> (stream, group) -> group kept per delivery (``MemoryGroupStore``)."""
        self.shared_cache = _CacheTable()

    def reset(self, namespace_prefix: str) -> None:
        """Remove all data, tombstones included, of namespaces starting with the prefix."""
        with self.lock:
            self.blobs.reset(namespace_prefix)
            self.records.reset(namespace_prefix)
            _drop_prefix(self.messages, namespace_prefix)
            self.idempotency.reset(namespace_prefix)
            _drop_prefix(self.checkpoints, namespace_prefix)
            _drop_prefix(self.groups, namespace_prefix)
            self.shared_cache.reset(namespace_prefix)

    def __repr__(self) -> str:
        return f"MemoryServer({self.name!r})"


_servers: dict[str, MemoryServer] = {}
_servers_lock = threading.Lock()


def get_server(name: str) -> MemoryServer:
    """The server registered under ``name``, created on first use."""
    with _servers_lock:
        server = _servers.get(name)
        if server is None:
            server = _servers[name] = MemoryServer(name)
        return server


def drop_server(name: str) -> None:
    """Forget the server registered under ``name`` (no-op when unknown) and so all its data."""
    with _servers_lock:
        _servers.pop(name, None)


class MemoryVersionedStore:
    """A ``VersionedStore`` over one keyspace of a server (blobs and records each get one).

    An etag is the version and the server's write number in hex (``"3-1f"``): unique per
    write, so per (key, version), and free of any hashing of the payload.
    """

    __slots__ = ("_keyspace", "_lock", "_refusal", "_writes")

    def __init__(self, server: MemoryServer, keyspace: _Keyspace) -> None:
        self._lock = server.lock
        self._keyspace = keyspace
        self._writes = server.writes
        self._refusal = ""

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
        """Store ``data`` as the next version; both conditions are checked under the lock."""
        if self._refusal:
            _refuse(self._refusal, namespace, key, write=True)
        with self._lock:
            return self._put(namespace, key, data, content_type, if_match, if_none_match)

    def _put(
        self,
        namespace: str,
        key: str,
        data: bytes,
        content_type: str | None,
        if_match: ETag | None,
        if_none_match: bool,
    ) -> WriteResult:
        """``put`` under the server lock, held by the caller."""
        if type(data) is not bytes:
            data = bytes(data)  # a mutable buffer would let the stored value change
        keyspace = self._keyspace
        objects: dict[str, Blob] | None = keyspace.live.get(namespace)
        current = objects.get(key) if objects else None
        if current is None:
            if if_match is not None:
                raise PreconditionFailedError(
                    "if_match given but the key does not exist", namespace=namespace, key=key
                )
            tombstones = keyspace.tombstones.get(namespace)
            version = tombstones.pop(key, 0) + 1 if tombstones else 1
            if objects is None:
                objects = keyspace.live[namespace] = {}
                keyspace.index[namespace] = [key]
            else:
                insort(keyspace.index[namespace], key)
        else:
            if if_none_match:
                raise PreconditionFailedError(
                    "if_none_match given but the key exists",
                    current_etag=current.etag,
                    current_version=current.version,
                    namespace=namespace,
                    key=key,
                )
            if if_match is not None and if_match != current.etag:
                raise PreconditionFailedError(
                    f"if_match {if_match!r} does not match the current etag",
                    current_etag=current.etag,
                    current_version=current.version,
                    namespace=namespace,
                    key=key,
                )
            version = current.version + 1
        assert objects is not None  # a current value lives in it
        etag = f"{version:x}-{next(self._writes):x}"
        objects[key] = Blob(key, data, version, etag, content_type)
        return WriteResult(version, etag)

    def get(self, namespace: str, key: str) -> Blob:
        """The current version as stored (it is immutable), or ``NotFoundError``."""
        if self._refusal:
            _refuse(self._refusal, namespace, key, write=False)
        objects = self._keyspace.live.get(namespace)  # one lookup each: atomic, no lock
        blob = objects.get(key) if objects else None
        if blob is None:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        return blob

    def head(self, namespace: str, key: str) -> BlobInfo:
        """The current version's metadata, or ``NotFoundError``."""
        return self.get(namespace, key).info

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> Version:
        """Remove the key, keep its last version as a tombstone and return that version."""
        if self._refusal:
            _refuse(self._refusal, namespace, key, write=True)
        with self._lock:
            return self._delete(namespace, key, if_match)

    def _delete(self, namespace: str, key: str, if_match: ETag | None) -> Version:
        """``delete`` under the server lock, held by the caller."""
        keyspace = self._keyspace
        objects = keyspace.live.get(namespace)
        current = objects.get(key) if objects else None
        if objects is None or current is None:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        if if_match is not None and if_match != current.etag:
            raise PreconditionFailedError(
                f"if_match {if_match!r} does not match the current etag",
                current_etag=current.etag,
                current_version=current.version,
                namespace=namespace,
                key=key,
            )
        del objects[key]
        index = keyspace.index[namespace]
        del index[bisect_left(index, key)]
        keyspace.tombstones.setdefault(namespace, {})[key] = current.version
        return current.version

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        """Up to ``limit`` live keys with ``prefix``, greater than ``start_after``, sorted.

        Seeks in the sorted index to ``max(prefix, start_after)``: the cost follows the
        page, not the number of keys.
        """
        if self._refusal:
            _refuse(self._refusal, namespace, prefix, write=False)
        if limit < 0:
            raise _limit_error(limit, namespace, prefix)
        with self._lock:
            names = self._keyspace.index.get(namespace)
            if not names or limit == 0:
                return []
            objects = self._keyspace.live[namespace]
            if start_after is not None and start_after >= prefix:
                start = bisect_right(names, start_after)
            else:
                start = bisect_left(names, prefix)
            result: list[BlobInfo] = []
            for name in names[start : start + limit]:
                if not name.startswith(prefix):
                    break
                result.append(objects[name].info)
        return result


class MemoryCachingVersionedStore(MemoryVersionedStore):
    """A ``CachingVersionedStore``: every purge and fill of the adapter's cache happens under
    the server lock with the write or read it belongs to, so the two are one atomic step."""

    __slots__ = ("_cache",)

    def __init__(self, server: MemoryServer, keyspace: _Keyspace, cache: MemoryCacheStore) -> None:
        super().__init__(server, keyspace)
        self._cache = cache

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
        """``put`` and remove the cache entry ``purge``, under one hold of the lock."""
        if self._refusal:
            _refuse(self._refusal, namespace, key, write=True)
        with self._lock:
            result = self._put(namespace, key, data, content_type, if_match, if_none_match)
            self._cache.delete(namespace, purge)
        return result

    def delete_and_purge(
        self, namespace: str, key: str, *, if_match: ETag | None = None, purge: str
    ) -> Version:
        """``delete`` and remove the cache entry ``purge``, under one hold of the lock."""
        if self._refusal:
            _refuse(self._refusal, namespace, key, write=True)
        with self._lock:
            version = self._delete(namespace, key, if_match)
            self._cache.delete(namespace, purge)
        return version

    def get_and_fill(self, namespace: str, key: str, fill: CacheFill) -> Blob:
        """``get`` and store what it read as the entry ``fill.key``, under one hold of the lock."""
        if self._refusal:
            _refuse(self._refusal, namespace, key, write=False)
        with self._lock:
            objects = self._keyspace.live.get(namespace)
            blob = objects.get(key) if objects else None
            if blob is None:
                if fill.purge_if_absent:
                    self._cache.delete(namespace, fill.key)
                raise NotFoundError("no such key", namespace=namespace, key=key)
            if blob.version >= fill.min_version:
                self._cache.set(
                    namespace,
                    fill.key,
                    CacheEntry(
                        blob.data,
                        blob.version,
                        blob.etag,
                        fill.stored_at_ms,
                        blob.content_type,
                        fill.expires_at_ms,
                    ),
                    fill.ttl_ms,
                )
        return blob


class MemoryStreamLog:
    """A ``StreamLog``: one list per stream, plus an idempotency index for deduplication."""

    __slots__ = ("_idempotency", "_lock", "_messages", "_refusal")

    def __init__(self, server: MemoryServer) -> None:
        self._lock = server.lock
        self._messages = server.messages
        self._idempotency = server.idempotency
        self._refusal = ""

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
        if self._refusal:
            _refuse(self._refusal, namespace, stream, write=True)
        if type(payload) is not bytes:
            payload = bytes(payload)  # a mutable buffer would let the stored message change
        with self._lock:
            if idempotency_key is not None:
                original = self._idempotency.entries.get((namespace, stream, idempotency_key))
                if original is not None and now_ms - original[1] < dedupe_window_ms:
                    return AppendResult(str(original[0]), original[0], duplicate=True)
            streams = self._messages.get(namespace)
            if streams is None:
                streams = self._messages[namespace] = {}
            log = streams.get(stream)
            if log is None:
                log = streams[stream] = []
            sequence = len(log) + 1
            log.append(_new(StoredMessage, (sequence, payload)))
            if idempotency_key is not None:
                self._idempotency.remember(
                    (namespace, stream, idempotency_key), sequence, now_ms, dedupe_window_ms
                )
        return _new(AppendResult, (str(sequence), sequence, False))

    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages with sequence greater than ``after``, by slicing (O(limit))."""
        if self._refusal:
            _refuse(self._refusal, namespace, stream, write=False)
        if limit < 0:
            raise _limit_error(limit, namespace, stream)
        start = after if after > 0 else 0
        streams = self._messages.get(namespace)
        log = streams.get(stream) if streams else None
        return log[start : start + limit] if log else []


class MemoryBatchStreamLog(MemoryStreamLog):
    """A ``BatchStreamLog``: the memory log reading explicit sequences with one slice each."""

    __slots__ = ()

    def read_sequences(
        self, namespace: str, stream: str, sequences: Sequence[int]
    ) -> list[StoredMessage]:
        """The stored messages among ``sequences``, in the order given (absent ones left out)."""
        if self._refusal:
            _refuse(self._refusal, namespace, stream, write=False)
        streams = self._messages.get(namespace)
        log = streams.get(stream) if streams else None
        if not log:
            return []
        size = len(log)
        return [log[sequence - 1] for sequence in sequences if 0 < sequence <= size]


class _Group:
    """One consumer group kept per delivery: the cursor, the revision, the pending
    deliveries, and a heap of (visible-again time, sequence) to find the due ones.

    The heap is lazy: an entry whose delivery was acked or redelivered since stays until
    it surfaces or the heap is rebuilt, which happens once it holds twice as many entries
    as there are pending deliveries (so each ack costs O(1) amortized, each claim
    O(batch x log pending)).
    """

    __slots__ = ("cursor", "due", "pending", "revision")

    def __init__(self) -> None:
        self.cursor = 0
        self.revision = 0
        self.pending: dict[int, GroupPending] = {}
        self.due: list[tuple[float, int]] = []

    def compact(self) -> None:
        if len(self.due) > 2 * len(self.pending) + 64:
            self.due = [(held.visible_at_ms, seq) for seq, held in self.pending.items()]
            heapq.heapify(self.due)


class MemoryGroupStore:
    """A ``GroupStore``: consumer groups kept per delivery, each claim and ack one step
    under the server lock, costing in proportion to its batch."""

    __slots__ = ("_groups", "_lock", "_messages", "_refusal")

    def __init__(self, server: MemoryServer) -> None:
        self._lock = server.lock
        self._groups = server.groups
        self._messages = server.messages
        self._refusal = ""

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        """The group's state (its floor and acknowledged set derived), or a fresh one."""
        if self._refusal:
            _refuse(self._refusal, namespace, stream, write=False)
        with self._lock:
            groups = self._groups.get(namespace)
            found = groups.get((stream, group)) if groups else None
            if found is None:
                return GroupCheckpoint()
            return GroupCheckpoint.from_deliveries(found.cursor, found.pending, found.revision)

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
        """Redeliver due deliveries (earliest first), then deliver new messages, up to ``limit``."""
        if self._refusal:
            _refuse(self._refusal, namespace, stream, write=True)
        if limit < 0:
            raise _limit_error(limit, namespace, stream)
        with self._lock:
            streams = self._messages.get(namespace)
            log = (streams.get(stream) if streams else None) or []
            groups = self._groups.get(namespace)
            if groups is None:
                groups = self._groups[namespace] = {}
            state = groups.get((stream, group))
            if state is None:
                state = groups[(stream, group)] = _Group()
            pending, due = state.pending, state.due
            picked: list[Claimed] = []
            changed = False
            while due and len(picked) < limit and due[0][0] <= now_ms:
                visible_at, sequence = heapq.heappop(due)
                held = pending.get(sequence)
                if held is None or held.visible_at_ms != visible_at:
                    continue  # acked or redelivered since this entry was pushed
                changed = True
                if sequence > len(log):
                    del pending[sequence]  # gone from the log: counts as acknowledged
                    continue
                deliveries = held.deliveries + 1
                pending[sequence] = _new(GroupPending, (consumer, deliveries, visible_at_ms))
                heapq.heappush(due, (visible_at_ms, sequence))
                picked.append(_new(Claimed, (sequence, log[sequence - 1].payload, deliveries)))
            cursor = state.cursor
            if len(picked) < limit and cursor < len(log):
                fresh = _new(GroupPending, (consumer, 1, visible_at_ms))
                for message in log[cursor : cursor + limit - len(picked)]:
                    sequence = message.sequence
                    pending[sequence] = fresh
                    heapq.heappush(due, (visible_at_ms, sequence))
                    picked.append(_new(Claimed, (sequence, message.payload, 1)))
                state.cursor = picked[-1].sequence
                changed = True
            if changed:
                state.revision += 1
        return picked

    def ack(self, namespace: str, stream: str, group: str, sequences: Collection[int]) -> int:
        """Remove the pending deliveries among ``sequences``; returns how many there were."""
        if self._refusal:
            _refuse(self._refusal, namespace, stream, write=True)
        with self._lock:
            groups = self._groups.get(namespace)
            state = groups.get((stream, group)) if groups else None
            if state is None:
                return 0
            pending = state.pending
            done = 0
            for sequence in sequences:
                if pending.pop(sequence, None) is not None:
                    done += 1
            if done:
                state.revision += 1
                state.compact()
        return done


class MemoryCheckpointStore:
    """A ``CheckpointStore``: frozen checkpoints saved with compare-and-set on ``revision``."""

    __slots__ = ("_checkpoints", "_lock", "_refusal")

    def __init__(self, server: MemoryServer) -> None:
        self._lock = server.lock
        self._checkpoints = server.checkpoints
        self._refusal = ""

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        """The saved checkpoint, or a fresh one with revision 0."""
        if self._refusal:
            _refuse(self._refusal, namespace, stream, write=False)
        groups = self._checkpoints.get(namespace)
        saved = groups.get((stream, group)) if groups else None
        return GroupCheckpoint() if saved is None else saved

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        """Store ``checkpoint`` with ``revision + 1`` if the stored revision still equals it."""
        if self._refusal:
            _refuse(self._refusal, namespace, stream, write=True)
        revision = checkpoint.revision
        with self._lock:
            groups = self._checkpoints.get(namespace)
            if groups is None:
                groups = self._checkpoints[namespace] = {}
            saved = groups.get((stream, group))
            stored_revision = 0 if saved is None else saved.revision
            if stored_revision != revision:
                raise ConflictError(
                    f"group {group!r}: checkpoint revision {revision} is stale"
                    f" (stored revision {stored_revision})",
                    namespace=namespace,
                    key=stream,
                )
            # checkpoint.saved(), built without the named tuple's Python-level __new__
            floor, cursor, acked, pending, _, next_visible_ms = checkpoint
            stored = groups[(stream, group)] = _new(
                GroupCheckpoint, (floor, cursor, acked, pending, revision + 1, next_visible_ms)
            )
        return stored


class MemoryCacheStore:
    """A ``CacheStore`` whose entries expire on the injected clock.

    The table is either private to one adapter instance or the server's shared one.
    Expired entries are evicted by every write (see ``_CacheTable``), so a cache that is
    only written to holds no more than its live entries plus those expired since the
    last write.
    """

    __slots__ = ("_clock", "_lock", "_refusal", "_table")

    def __init__(self, table: _CacheTable, lock: threading.RLock, clock: Clock) -> None:
        self._table = table
        self._lock = lock
        self._clock = clock
        self._refusal = ""

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        """The entry, or ``None`` when absent or expired (an expired entry is evicted)."""
        if self._refusal:
            _refuse(self._refusal, namespace, key, write=False)
        now = self._clock.now_ms()
        with self._lock:
            return self._table.get(namespace, key, now)

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        """Store ``entry`` until ``now + ttl_ms``; ``ttl_ms <= 0`` leaves the key absent."""
        if self._refusal:
            _refuse(self._refusal, namespace, key, write=True)
        with self._lock:
            now = self._clock.now_ms()
            if not ttl_ms > 0:
                self._table.remove(namespace, key)
                self._table.evict(now)
                return
            self._table.put(namespace, key, entry, now + ttl_ms, now)

    def delete(self, namespace: str, key: str) -> None:
        """Remove the entry if present (and evict what has expired)."""
        if self._refusal:
            _refuse(self._refusal, namespace, key, write=True)
        with self._lock:
            self._table.remove(namespace, key)
            self._table.evict(self._clock.now_ms())

    def reset(self, namespace_prefix: str) -> None:
        """Remove the entries of namespaces starting with the prefix."""
        with self._lock:
            self._table.reset(namespace_prefix)


_Store = (
    MemoryVersionedStore
    | MemoryStreamLog
    | MemoryCheckpointStore
    | MemoryGroupStore
    | MemoryCacheStore
)
"""Any of the adapter's stores (each has a ``_refusal``)."""


class MemoryBackdoor:
    """Reads a server's tables directly, bypassing the stores: the kit's backdoor probe."""

    def __init__(self, server: MemoryServer) -> None:
        self._server = server

    def read_object(self, layer: Layer, namespace: str, key: str) -> Blob | None:
        """The live blob or record, or ``None``."""
        keyspace = self._server.blobs if layer is Layer.BLOB else self._server.records
        with self._server.lock:
            return keyspace.live.get(namespace, {}).get(key)

    def stream_messages(self, namespace: str, stream: str) -> list[StoredMessage]:
        """Every stored message of the stream, in sequence order."""
        with self._server.lock:
            return list(self._server.messages.get(namespace, {}).get(stream, ()))


class MemoryAdapter:
    """The reference ``StorageAdapter``: every capability, all data held by a ``MemoryServer``."""

    __slots__ = (
        "_blobs",
        "_cache",
        "_capabilities",
        "_checkpoints",
        "_closed",
        "_records",
        "_server",
        "_streams",
    )

    def __init__(
        self,
        server: MemoryServer,
        clock: Clock,
        *,
        shared_cache: bool = False,
        interface: Interface = "full",
    ) -> None:
        self._server = server
        self._capabilities = dataclasses.replace(Capabilities.all(), distributed_cache=shared_cache)
        if shared_cache:
            self._cache = MemoryCacheStore(server.shared_cache, server.lock, clock)
        else:
            self._cache = MemoryCacheStore(_CacheTable(), threading.RLock(), clock)
        self._blobs: MemoryVersionedStore
        self._records: MemoryVersionedStore
        self._streams: MemoryStreamLog
        self._checkpoints: MemoryCheckpointStore | MemoryGroupStore
        if interface == "full":
            self._blobs = MemoryCachingVersionedStore(server, server.blobs, self._cache)
            self._records = MemoryCachingVersionedStore(server, server.records, self._cache)
            self._streams = MemoryBatchStreamLog(server)
            self._checkpoints = MemoryGroupStore(server)
        else:
            self._blobs = MemoryVersionedStore(server, server.blobs)
            self._records = MemoryVersionedStore(server, server.records)
            self._streams = MemoryStreamLog(server)
            self._checkpoints = MemoryCheckpointStore(server)
        self._closed = False

    @property
    def name(self) -> str:
        return "memory"

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def server(self) -> MemoryServer:
        """The server holding this adapter's durable data."""
        return self._server

    @property
    def interface(self) -> Interface:
        """Whether the stores offer the optional one-call protocols (``full``) or not."""
        return "full" if isinstance(self._checkpoints, MemoryGroupStore) else "basic"

    @property
    def blobs(self) -> MemoryVersionedStore:
        return self._blobs

    @property
    def records(self) -> MemoryVersionedStore:
        return self._records

    @property
    def streams(self) -> MemoryStreamLog:
        return self._streams

    @property
    def checkpoints(self) -> MemoryCheckpointStore | MemoryGroupStore:
        return self._checkpoints

    @property
    def cache(self) -> MemoryCacheStore:
        return self._cache

    def backdoor(self) -> MemoryBackdoor:
        """A probe reading this adapter's server without going through its stores."""
        return MemoryBackdoor(self._server)

    def fault_injector(self) -> MemoryFaultInjector:
        """Simulates backend faults for the kit's ``ERR-006`` and ``ERR-007`` contracts."""
        return MemoryFaultInjector(self)

    def backend_info(self) -> BackendInfo:
        """The backend is this process's memory: the kit's version is its version."""
        return BackendInfo("in-process memory (pytest-sanctum)", pytest_sanctum.__version__)

    def stores(self) -> tuple[_Store, ...]:
        """The adapter's five stores."""
        return (self._blobs, self._records, self._streams, self._checkpoints, self._cache)

    def reset(self, namespace_prefix: str) -> None:
        """Remove all data of namespaces starting with the prefix, both caches included."""
        refusal = self._blobs._refusal
        if refusal:
            _refuse(refusal, namespace_prefix, "", write=True)
        self._server.reset(namespace_prefix)
        self._cache.reset(namespace_prefix)

    def close(self) -> None:
        """Make every store method raise ``BackendUnavailableError``; the server's data stays."""
        self._closed = True
        for store in self.stores():
            store._refusal = _CLOSED

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"MemoryAdapter(server={self._server.name!r}, {state})"


class MemoryFaultInjector:
    """Simulates faults of the memory "backend" for one adapter: while a fault lasts, that
    adapter's stores answer as a real backend in that state would (see ``_refuse``).

    The memory adapter has no connection to cut or lock to contend for, so this is a
    simulation: it shows what the kit checks, on the backend every other one is compared to.
    """

    faults = frozenset(backend_faults.FAULTS)

    def __init__(self, adapter: MemoryAdapter) -> None:
        self._adapter = adapter

    @contextmanager
    def provoke(self, fault: str) -> Iterator[None]:
        """Stores of the adapter suffer ``fault`` until the context ends (unless closed meanwhile)."""
        if fault not in self.faults:
            raise ValueError(f"unknown fault {fault!r}; known: {sorted(self.faults)}")
        stores = self._adapter.stores()
        before = [store._refusal for store in stores]
        for store in stores:
            if not store._refusal:
                store._refusal = fault
        try:
            yield
        finally:
            for store, refusal in zip(stores, before, strict=True):
                if store._refusal == fault:
                    store._refusal = refusal


def create_memory_adapter(options: Mapping[str, object], clock: Clock) -> MemoryAdapter:
    """The ``memory`` adapter factory (the ``memory`` entry point).

    Options: ``server`` (non-empty str, default ``"default"``) names the shared state;
    ``shared_cache`` (bool, default false) makes every adapter of the server share one cache;
    ``interface`` (``"full"``, the default, or ``"basic"``) chooses whether the stores offer
    the optional one-call protocols or only the base ones (the facade's default path).
    Every adapter of one server should use the same interface: the two keep consumer
    groups apart.
    """
    server = "default"
    shared_cache = False
    interface: Interface = "full"
    for name, value in options.items():
        if name == "server":
            if not isinstance(value, str) or not value:
                raise ConfigError(
                    f"memory option 'server' must be a non-empty string, got {value!r}",
                    field="options.server",
                )
            server = value
        elif name == "shared_cache":
            if not isinstance(value, bool):
                raise ConfigError(
                    f"memory option 'shared_cache' must be a boolean, got {value!r}",
                    field="options.shared_cache",
                )
            shared_cache = value
        elif name == "interface":
            if value not in ("full", "basic"):
                raise ConfigError(
                    f"memory option 'interface' must be 'full' or 'basic', got {value!r}",
                    field="options.interface",
                )
            interface = "full" if value == "full" else "basic"
        else:
            raise ConfigError(
                f"unknown memory option {name!r} (known: interface, server, shared_cache)",
                field=f"options.{name}",
            )
    return MemoryAdapter(get_server(server), clock, shared_cache=shared_cache, interface=interface)


create_memory_adapter.opens_across_processes = False  # type: ignore[attr-defined]
"""A memory server lives in one process: other processes cannot open its data (HIST-008)."""
