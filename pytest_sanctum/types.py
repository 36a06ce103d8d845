"""Domain types shared by the facade, the adapters and the conformance kit.

Values are immutable so they cannot be changed behind the facade's back: frozen
dataclasses with ``__slots__``, and named tuples for the stream values and group state,
which every stream operation builds several of (a named tuple is cheaper to create).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass, field, fields
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from pytest_sanctum.errors import SanctumError

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
"""Any value that ``json.dumps`` accepts without a custom encoder."""

Record: TypeAlias = Mapping[str, "JSONValue"]
"""A record value: a JSON object."""

Namespace: TypeAlias = str
"""A logical namespace; resolved to an adapter by the configuration."""

Key: TypeAlias = str
"""An object key inside a namespace (blob key, record id, stream name)."""

Version: TypeAlias = int
"""A per-key version: 1 for the first write, strictly increasing afterwards, never reused."""

ETag: TypeAlias = str
"""An opaque entity tag, unique per (key, version)."""

MessageId: TypeAlias = str
"""A stream message id, unique within a stream."""


class Layer(StrEnum):
    """The storage layers the facade offers."""

    BLOB = "blob"
    RECORD = "record"
    STREAM = "stream"
    CACHE = "cache"


class ReadLevel(StrEnum):
    """Read consistency levels of ADR-001."""

    STRONG = "strong"
    """Newest acknowledged version; a cache entry only when its age is within the staleness budget."""
    EVENTUAL = "eventual"
    """Cache first; stale data permitted; never a consistency error."""
    CACHE_ONLY = "cache_only"
    """Cache alone: zero backend calls; a miss raises ``CacheMissError``."""


ReadLevelName = Literal["strong", "eventual", "cache_only"]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What every successful write returns."""

    version: Version
    etag: ETag


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """Metadata of a stored blob (what ``head`` returns)."""

    key: Key
    version: Version
    etag: ETag
    size: int
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class Blob:
    """A blob value with its version and etag."""

    key: Key
    data: bytes
    version: Version
    etag: ETag
    content_type: str | None = None

    @property
    def info(self) -> BlobInfo:
        """The blob's metadata without its payload."""
        return BlobInfo(self.key, self.version, self.etag, len(self.data), self.content_type)


@dataclass(frozen=True, slots=True)
class RecordValue:
    """A record with its version and etag. ``value`` must not be mutated by callers."""

    key: Key
    value: Record
    version: Version
    etag: ETag


class StoredMessage(NamedTuple):
    """A message as a stream log stores it: ``sequence`` is 1, 2, 3, ... per stream.

    ``payload`` is the message's JSON encoding (compact UTF-8, keys in the writer's order).
    """

    sequence: int
    payload: bytes


class AppendResult(NamedTuple):
    """What a stream append returns.

    ``duplicate`` is true when an idempotency key matched an earlier append inside the
    dedupe window; ``message_id`` is then the original message's id.
    """

    message_id: MessageId
    sequence: int
    duplicate: bool = False


class Delivery(NamedTuple):
    """One delivery of a stream message to a consumer.

    ``delivery_count`` is 1 on first delivery and grows by one on every redelivery.
    ``error`` is ``None`` for every message the facade wrote. A stored message that does
    not decode (written by something else, or damaged) is still delivered, so it neither
    blocks the batch nor disappears: its ``payload`` is ``None`` and ``error`` is the
    ``AdapterError`` naming it. Ack it to drop it, or leave it to be delivered again.
    """

    stream: Key
    group: str
    consumer: str
    message_id: MessageId
    sequence: int
    payload: JSONValue
    delivery_count: int
    error: SanctumError | None = None


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """Options of a read. ``if_match`` makes a strong read conditional (mismatch: 412)."""

    level: ReadLevel = ReadLevel.STRONG
    bypass_cache: bool = False
    if_match: ETag | None = None


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A cached payload with its version, etag, and the facade-clock times it was stored at and expires."""

    data: bytes
    version: Version
    etag: ETag
    stored_at_ms: float
    content_type: str | None = None
    expires_at_ms: float = float("inf")


@dataclass(frozen=True, slots=True)
class InvalidationEvent:
    """A cache purge that other nodes must apply (handed to the fan-out after each write)."""

    layer: Layer
    namespace: Namespace
    key: Key
    version: Version
    origin: str


def _capability(doc: str) -> bool:
    """A capability field, off by default, carrying its one-line contract as metadata."""
    return field(default=False, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an adapter guarantees. Conservative defaults: an adapter declares what it supports.

    Each field's ``doc`` metadata is the capability's one-line contract; the conformance
    kit quotes it when it skips a test as unsupported, and fails a test when a declared
    capability does not work.
    """

    blobs: bool = _capability("Blob layer: put/get/head/delete/list-by-prefix of byte payloads.")
    records: bool = _capability("Record layer: put/get/delete of JSON objects.")
    streams: bool = _capability(
        "Stream layer: an append-only log per stream, read back in append order."
    )
    cache: bool = _capability(
        "Cache layer: a key-value cache the facade uses for read-through and purges."
    )
    read_after_write: bool = _capability(
        "A backend read issued after a write was acknowledged returns that write or a newer one."
    )
    conditional_writes: bool = _capability(
        "Writes and deletes honour if_match / if_none_match atomically (no lost update between two writers)."
    )
    distributed_cache: bool = _capability(
        "The cache is shared by every client of the backend: a purge on one client is seen by all."
    )
    idempotent_append: bool = _capability(
        "An append with an idempotency key inside the dedupe window returns the original message id."
    )
    durable_checkpoints: bool = _capability(
        "Consumer-group checkpoints survive an abrupt restart of the adapter (a new connection)."
    )

    def names(self) -> tuple[str, ...]:
        """Names of the declared (true) capabilities, in declaration order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name))

    @classmethod
    def all(cls) -> Capabilities:
        """Every capability declared."""
        return cls(**{f.name: True for f in fields(cls)})

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every capability's name, in declaration order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def doc(cls, name: str) -> str:
        """The one-line contract of capability ``name``."""
        for f in fields(cls):
            if f.name == name:
                return str(f.metadata["doc"])
        raise KeyError(name)


class CacheFill(NamedTuple):
    """How ``CachingVersionedStore.get_and_fill`` fills its adapter's cache with what it reads.

    The entry stored under ``key`` is the blob read, stamped ``stored_at_ms`` and
    ``expires_at_ms`` (the facade clock), and may be evicted after ``ttl_ms``. Only a
    version of at least ``min_version`` is stored (0: any); when the object is absent and
    ``purge_if_absent`` is true, the entry is removed instead.
    """

    key: str
    stored_at_ms: float
    expires_at_ms: float
    ttl_ms: float
    min_version: int = 0
    purge_if_absent: bool = False


class Claimed(NamedTuple):
    """One message a ``GroupStore.claim`` handed to the consumer: its sequence, its
    stored payload and how often the group has now delivered it (1 the first time)."""

    sequence: int
    payload: bytes
    deliveries: int


class GroupPending(NamedTuple):
    """A delivered, not yet acknowledged message of a consumer group (immutable)."""

    consumer: str
    deliveries: int
    visible_at_ms: float


class AckedAbove(Set[int]):
    """The acknowledged sequences above a group's floor, derived instead of stored: every
    sequence from ``floor + 1`` to ``cursor`` that is not pending (a read-only set).

    Groups kept per delivery (``GroupStore``) record no acknowledged set, so it cannot
    grow; this view answers membership in constant time and is built for inspection only.
    """

    __slots__ = ("_cursor", "_floor", "_pending")

    def __init__(self, floor: int, cursor: int, pending: Mapping[int, object]) -> None:
        self._floor = floor
        self._cursor = cursor
        self._pending = pending

    def __contains__(self, sequence: object) -> bool:
        return (
            type(sequence) is int
            and self._floor < sequence <= self._cursor
            and sequence not in self._pending
        )

    def __iter__(self) -> Iterator[int]:
        pending = self._pending
        return (s for s in range(self._floor + 1, self._cursor + 1) if s not in pending)

    def __len__(self) -> int:
        return self._cursor - self._floor - len(self._pending)

    __hash__ = Set._hash

    def __repr__(self) -> str:
        return f"AckedAbove({set(self)!r})"


class GroupCheckpoint(NamedTuple):
    """The durable state of one consumer group on one stream (immutable).

    ``floor``: every sequence up to it is acknowledged. ``acked``: acknowledged sequences
    above the floor. ``cursor``: the highest sequence ever delivered. ``pending``: delivered
    but unacknowledged sequences. ``revision`` increases on every save (compare-and-set).
    ``next_visible_ms``: no pending message becomes visible again before this time. It is
    a lower bound the facade keeps so that a read scans ``pending`` for expired messages
    only when one may be due; ``-inf`` (the default) means unknown, and the next read with
    pending messages scans. A named tuple rather than a dataclass: the facade builds
    several per stream operation.
    """

    floor: int = 0
    cursor: int = 0
    acked: Set[int] = frozenset()
    pending: Mapping[int, GroupPending] = MappingProxyType({})
    revision: int = 0
    next_visible_ms: float = -math.inf

    def saved(self) -> GroupCheckpoint:
        """This checkpoint as a store keeps it after a successful save: ``revision + 1``."""
        return self._replace(revision=self.revision + 1)

    @classmethod
    def from_deliveries(
        cls, cursor: int, pending: Mapping[int, GroupPending], revision: int
    ) -> GroupCheckpoint:
        """The checkpoint of a group kept per delivery (``GroupStore.load``).

        Every sequence up to the cursor was delivered, so the floor is one below the lowest
        pending sequence (the cursor when nothing is pending), the acknowledged sequences
        above it are the ones not pending, and ``next_visible_ms`` is the earliest time a
        pending delivery is visible again.
        """
        floor = min(pending) - 1 if pending else cursor
        next_visible = min(p.visible_at_ms for p in pending.values()) if pending else math.inf
        frozen = MappingProxyType(dict(pending))
        return cls(floor, cursor, AckedAbove(floor, cursor, frozen), frozen, revision, next_visible)
