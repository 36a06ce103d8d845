"""The adapter interface: what a storage backend implements so the facade can use it.

An adapter is one object that declares its ``Capabilities`` and offers up to five
stores. The facade owns the semantics around them (validation, ACL, cache read-through
and purge, read levels, consistency retries, consumer groups, observability); the stores
own durability and atomicity (versions, etags, conditional writes, idempotent appends,
compare-and-set checkpoints).

Contract for every store method: raise only ``SanctumError`` subclasses
(``NotFoundError``, ``PreconditionFailedError``, ``ConflictError``,
``BackendUnavailableError``, ...). Anything else is reported by the facade as
``AdapterError``. Every method takes the namespace, so one adapter serves many
namespaces and ``reset`` can remove a whole run's data.

Keys, stream and group names come from callers. The facade guarantees each is an exact,
non-empty, printable ``str`` of at most 1024 UTF-8 bytes and passes it unchanged; the
adapter stores it as an opaque exact string inside its namespace, never as a path, and
never case-folded or normalised (contracts ``KEY-*``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol, runtime_checkable

from pytest_sanctum.clock import Clock
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
    StoredMessage,
    Version,
    WriteResult,
)

__all__ = [
    "AdapterFactory",
    "BatchStreamLog",
    "CacheStore",
    "CachingVersionedStore",
    "Capabilities",
    "CheckpointStore",
    "GroupStore",
    "StorageAdapter",
    "StreamLog",
    "VersionedStore",
]


@runtime_checkable
class VersionedStore(Protocol):
    """Versioned key-value objects; serves both the blob and the record layer.

    Versions start at 1 and strictly increase per key over the key's whole life: a key
    deleted and written again continues from its last version (keep a tombstone or a
    counter). An etag is opaque and unique per (key, version). Record payloads arrive as
    compact JSON bytes (UTF-8, keys in the caller's order): store and return them byte for
    byte.
    """

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
        """Store ``data`` as the key's next version.

        ``if_match``: apply only when the current etag equals it, else raise
        ``PreconditionFailedError`` (also when the key is absent). ``if_none_match``:
        apply only when the key is absent. The check and the write are one atomic step
        when the adapter declares ``conditional_writes``.
        """
        ...

    def get(self, namespace: str, key: str) -> Blob:
        """The current version, or ``NotFoundError``."""
        ...

    def head(self, namespace: str, key: str) -> BlobInfo:
        """The current version's metadata, or ``NotFoundError``."""
        ...

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> Version:
        """Remove the key and return the version removed; ``NotFoundError`` when absent."""
        ...

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        """Live keys starting with ``prefix`` and greater than ``start_after``, sorted, at most
        ``limit`` of them.

        A page may be shorter than ``limit`` (a backend's own page size): the facade calls
        again from the page's last key until it has ``limit`` entries, so callers always get
        full pages. An empty page means no more keys; return one only at the end.
        """
        ...


@runtime_checkable
class CachingVersionedStore(VersionedStore, Protocol):
    """A ``VersionedStore`` that updates its adapter's own ``CacheStore`` in the same backend
    call (or transaction) as the write, delete or read it serves.

    The facade calls these methods only when the namespace's cache is this adapter's own
    cache. ``purge`` and ``fill.key`` are cache keys as the facade builds them, in the same
    namespace; the entry they name is the one ``CacheStore.get(namespace, key)`` returns.
    One call, one atomic step: a read that fills can never store a version that a write
    has already purged, so the facade needs no check after the fill.
    """

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
        """``put``, and remove the cache entry ``purge`` in the same atomic step.

        A write refused by its precondition need not remove the entry.
        """
        ...

    def delete_and_purge(
        self, namespace: str, key: str, *, if_match: ETag | None = None, purge: str
    ) -> Version:
        """``delete``, and remove the cache entry ``purge`` in the same atomic step."""
        ...

    def get_and_fill(self, namespace: str, key: str, fill: CacheFill) -> Blob:
        """``get``, and store what it read as the cache entry ``fill.key`` in the same step.

        The entry is ``CacheEntry(data, version, etag, fill.stored_at_ms, content_type,
        fill.expires_at_ms)``, stored only when ``version >= fill.min_version``, and may be
        evicted after ``fill.ttl_ms`` (``<= 0``: store nothing). When the key is absent,
        raise ``NotFoundError``, after removing the entry if ``fill.purge_if_absent``.
        """
        ...


@runtime_checkable
class StreamLog(Protocol):
    """An append-only log per (namespace, stream), with sequences 1, 2, 3, ...

    The facade builds consumer groups on top of it and a ``CheckpointStore``.
    """

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
        """Append ``payload``; with an idempotency key seen within ``dedupe_window_ms`` of
        ``now_ms``, append nothing and return the original message with ``duplicate=True``.
        """
        ...

    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages with sequence greater than ``after``, in order."""
        ...


@runtime_checkable
class BatchStreamLog(StreamLog, Protocol):
    """A ``StreamLog`` that reads explicit sequences in one call.

    The facade uses it to redeliver the expired messages of a ``CheckpointStore`` group:
    one call per batch instead of one ``read`` per message.
    """

    def read_sequences(
        self, namespace: str, stream: str, sequences: Sequence[int]
    ) -> list[StoredMessage]:
        """The stored messages among ``sequences``, in the order given; absent ones are left out."""
        ...


@runtime_checkable
class CheckpointStore(Protocol):
    """Durable consumer-group state, saved with compare-and-set on ``revision``."""

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        """The group's saved state, or a fresh ``GroupCheckpoint()`` (revision 0)."""
        ...

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        """Store ``checkpoint`` if the stored revision still equals ``checkpoint.revision``.

        Returns the stored state with ``revision + 1``; raises ``ConflictError`` when
        another writer saved first. Must be durable before it returns.
        """
        ...


@runtime_checkable
class GroupStore(Protocol):
    """Consumer groups stored per delivery: each read and ack is one atomic backend step.

    An alternative to ``CheckpointStore`` for an adapter whose stream log lives in the same
    backend: the store keeps, per group, the cursor (highest sequence ever delivered), a
    revision, and one entry per pending delivery (consumer, delivery count, visible-again
    time). A read or an ack then costs in proportion to its batch, however many deliveries
    are pending. The facade chooses every time and limit; the store applies them exactly
    as ``claim`` and ``ack`` say, atomically against every other client of the backend.
    """

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        """The group's state for inspection, or ``GroupCheckpoint()`` for a group never read.

        ``pending`` holds every pending delivery; ``floor`` is one below the lowest pending
        sequence, or the cursor when nothing is pending, and ``acked`` the delivered
        sequences above the floor that are not pending; ``next_visible_ms`` is the earliest
        visible-again time (infinity when nothing is pending). Build it with
        ``GroupCheckpoint.from_deliveries``. It may cost in proportion to the group's size.
        """
        ...

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
        """Hand up to ``limit`` messages to ``consumer``, in one atomic step:

        1. The pending deliveries with ``visible_at_ms <= now_ms``, earliest visible-again
           time first (then lowest sequence), up to ``limit``: each goes to ``consumer``
           with its delivery count raised by one and ``visible_at_ms`` as its new time; one
           whose message is no longer in the log is removed instead (it counts as acked).
        2. Then the messages after the cursor, in sequence order, up to what is left of
           ``limit``: each becomes pending for ``consumer`` with count 1 and
           ``visible_at_ms``, and the cursor moves to the last one.

        Returns ``Claimed(sequence, payload, deliveries)`` in that order (redeliveries,
        then new messages). Raises the revision by one when anything changed.
        """
        ...

    def ack(self, namespace: str, stream: str, group: str, sequences: Collection[int]) -> int:
        """Remove the pending deliveries among ``sequences`` in one atomic step; return how
        many there were (not pending: counts zero). Raises the revision when any was."""
        ...


@runtime_checkable
class CacheStore(Protocol):
    """A cache of ``CacheEntry`` values per namespace. Keys are built by the facade.

    Expired entries must go without being read: evicted by later writes, or by the
    backend's own expiry, so a cache written with distinct keys does not grow forever.
    """

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        """The entry, or ``None`` when absent or evicted."""
        ...

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        """Store ``entry``; the backend may evict it after ``ttl_ms`` (the facade also checks age)."""
        ...

    def delete(self, namespace: str, key: str) -> None:
        """Remove the entry if present."""
        ...


@runtime_checkable
class StorageAdapter(Protocol):
    """One backend: its declared capabilities and the stores it offers (``None`` when absent)."""

    @property
    def name(self) -> str:
        """A short name for metrics labels and reports (``memory``, ``redis``, ...)."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What this adapter guarantees; the facade and the kit trust it."""
        ...

    @property
    def blobs(self) -> VersionedStore | None: ...

    @property
    def records(self) -> VersionedStore | None: ...

    @property
    def streams(self) -> StreamLog | None: ...

    @property
    def checkpoints(self) -> CheckpointStore | GroupStore | None:
        """The consumer-group state: a ``GroupStore`` when it is one, else a ``CheckpointStore``."""
        ...

    @property
    def cache(self) -> CacheStore | None: ...

    def reset(self, namespace_prefix: str) -> None:
        """Remove every object, message, checkpoint and cache entry of namespaces starting with the prefix."""
        ...

    def close(self) -> None:
        """Release connections. Durable data stays."""
        ...


AdapterFactory = Callable[[Mapping[str, object], Clock], StorageAdapter]
"""Builds an adapter from its config options and the facade's clock.

Registered under the ``pytest_sanctum.adapters`` entry-point group, or named as
``package.module:factory``. Two adapters built from the same options must see the same
durable data (the kit reopens an adapter to test durability).
"""
