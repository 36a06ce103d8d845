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

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from pytest_sanctum.clock import Clock
from pytest_sanctum.types import (
    AppendResult,
    Blob,
    BlobInfo,
    CacheEntry,
    Capabilities,
    ETag,
    GroupCheckpoint,
    StoredMessage,
    Version,
    WriteResult,
)

__all__ = [
    "AdapterFactory",
    "CacheStore",
    "Capabilities",
    "CheckpointStore",
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
    canonical JSON bytes.
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
    def checkpoints(self) -> CheckpointStore | None: ...

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
