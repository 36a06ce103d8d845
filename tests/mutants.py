"""Deliberately broken adapters and facades: each must make the conformance kit fail.

A kit whose tests cannot fail proves nothing. Every mutant here breaks exactly one
behaviour of the in-memory reference and names, in ``MUTANTS``, the contracts the kit
must then report as ``fail``; ``test_kit_mutants.py`` runs the kit against each one.

- **Adapter mutants** are factories ``(options, clock) -> StorageAdapter`` wrapping
  ``create_memory_adapter``: run them with ``--sanctum-adapter=mutants:<name>``.
- **Facade mutants** break the facade itself, for contracts no adapter can break (ACL,
  observability, read levels, validation). Their ``factory`` patches the facade with a
  ``MonkeyPatch``; this module is also a pytest plugin applying one of them for a run:
  ``--sanctum-adapter=memory -p mutants --facade-mutant=<name>``.

Every contract of the catalogue is killed by at least one mutant. One factory here is no
mutant: ``honest_lagging_replica`` is a correct adapter without ``read_after_write``, which
the kit must pass (``test_kit_masks.py``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal, NamedTuple

import pytest
from facade_helpers import AdapterDouble, LaggingStore

from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConsistencyError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.types import (
    Blob,
    BlobInfo,
    CacheEntry,
    GroupCheckpoint,
    GroupPending,
    ReadLevel,
    StoredMessage,
    WriteResult,
)
from reference_adapters.memory import (
    MemoryBackdoor,
    MemoryCheckpointStore,
    MemoryServer,
    create_memory_adapter,
)

MutantKind = Literal["adapter", "facade"]


class Mutant(NamedTuple):
    """A registered mutant: ``factory`` builds the adapter (adapter mutants) or patches the
    facade (facade mutants); ``kills`` are the contracts the kit must report as failing."""

    factory: Callable[..., Any]
    kills: frozenset[str]
    kind: MutantKind


MUTANTS: dict[str, Mutant] = {}
"""Every mutant by name: the adapter factory or facade patch, the contracts it must fail."""

KNOWN_GAPS: dict[str, str] = {}
"""Mutants the kit does not catch yet, and why: each is a test to sharpen. Their runs are
strict expected failures, so a sharpened test makes them fail until removed from here."""


def _register(kind: MutantKind, kills: tuple[str, ...]) -> Callable[[Any], Any]:
    def register(factory: Any) -> Any:
        name = factory.__name__.removeprefix("_")
        MUTANTS[name] = Mutant(factory, frozenset(kills), kind)
        return factory

    return register


def adapter_mutant(*kills: str) -> Callable[[Any], Any]:
    """Register an adapter factory as a mutant that must fail ``kills``."""
    return _register("adapter", kills)


def facade_mutant(*kills: str) -> Callable[[Any], Any]:
    """Register a facade patch ``(monkeypatch) -> None`` as a mutant that must fail ``kills``."""
    return _register("facade", kills)


# -- building blocks -----------------------------------------------------------------


class Mutated(AdapterDouble):
    """A memory adapter with stores or capabilities swapped; keeps the memory backdoor,
    which reads what was really stored whatever the swapped stores do."""

    def backdoor(self) -> MemoryBackdoor:
        return self.inner.backdoor()


class Wrap:
    """Forwards every attribute to ``inner``; subclasses override the broken method."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _swap(options: Mapping[str, object], clock: Clock, wrap: Any, *stores: str) -> Mutated:
    """The memory adapter with ``wrap`` around each of the named stores."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, **{store: wrap(getattr(inner, store)) for store in stores})


VERSIONED = ("blobs", "records")


# -- versioned stores: preconditions -------------------------------------------------


class _PutIgnoresIfMatch(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        options["if_match"] = None
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-003", "REC-009", "ERR-002", "PROP-002")
def put_ignores_if_match(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Writes ignore ``if_match`` (a lost update waiting to happen)."""
    return _swap(options, clock, _PutIgnoresIfMatch, *VERSIONED)


class _DeleteIgnoresIfMatch(Wrap):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        return self.inner.delete(namespace, key)  # type: ignore[no-any-return]


@adapter_mutant("REC-006", "ERR-002")
def delete_ignores_if_match(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Deletes ignore ``if_match``."""
    return _swap(options, clock, _DeleteIgnoresIfMatch, *VERSIONED)


class _IfMatchAlwaysFails(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        if options.get("if_match") is not None:
            raise PreconditionFailedError("refused", namespace=namespace, key=key)
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-004")
def if_match_always_fails(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Every write with ``if_match`` is refused, even with the current etag."""
    return _swap(options, clock, _IfMatchAlwaysFails, *VERSIONED)


class _IgnoresIfNoneMatch(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        options["if_none_match"] = False
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-005", "ERR-002")
def ignores_if_none_match(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Create-only writes overwrite existing keys."""
    return _swap(options, clock, _IgnoresIfNoneMatch, *VERSIONED)


class _RacyConditionalPut(Wrap):
    """Checks ``if_match`` with a read, waits a network round trip, then writes blindly."""

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        expected = options.pop("if_match", None)
        if expected is not None:
            try:
                current = self.inner.get(namespace, key)
            except NotFoundError:
                raise PreconditionFailedError("missing", namespace=namespace, key=key) from None
            if current.etag != expected:
                raise PreconditionFailedError(
                    "stale", current_etag=current.etag, namespace=namespace, key=key
                )
            time.sleep(0.02)  # the race window a real client-side check has
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-009")
def racy_conditional_put(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Declares ``conditional_writes`` but checks and writes in two steps."""
    return _swap(options, clock, _RacyConditionalPut, *VERSIONED)


class _RawPreconditionError(Wrap):
    def _mapped(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except PreconditionFailedError as error:
            raise ValueError(f"412 Precondition Failed: {error.message}") from None

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        return self._mapped(lambda: self.inner.put(namespace, key, data, **options))  # type: ignore[no-any-return]

    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        return self._mapped(lambda: self.inner.delete(namespace, key, if_match=if_match))  # type: ignore[no-any-return]


@adapter_mutant("ERR-002", "REC-003", "REC-005", "REC-006")
def raw_precondition_error(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A failed precondition leaks as the backend's own ``ValueError``."""
    return _swap(options, clock, _RawPreconditionError, *VERSIONED)


# -- versioned stores: versions, etags, payloads -----------------------------------------


def _restamp(store: Any, namespace: str, key: str, **changes: Any) -> Blob:
    """Change the live blob of ``key`` in the memory keyspace behind ``store``."""
    with store._lock:
        objects = store._keyspace.live[namespace]
        objects[key] = dataclasses.replace(objects[key], **changes)
        return objects[key]  # type: ignore[no-any-return]


class _EtagPerContent(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        result: WriteResult = self.inner.put(namespace, key, data, **options)
        etag = result.etag.partition("-")[2]  # the content digest alone
        _restamp(self.inner, namespace, key, etag=etag)
        return WriteResult(result.version, etag)


@adapter_mutant("BLOB-003")
def etag_per_content(options: Mapping[str, object], clock: Clock) -> Mutated:
    """The etag is a hash of the bytes, so rewriting the same bytes reuses it."""
    return _swap(options, clock, _EtagPerContent, *VERSIONED)


class _VersionsRestart(Wrap):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        version: int = self.inner.delete(namespace, key, if_match=if_match)
        with self.inner._lock:
            self.inner._keyspace.tombstones[namespace].pop(key, None)
        return version


@adapter_mutant("BLOB-002", "REC-002")
def versions_restart_after_delete(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A key deleted and written again starts over at version 1 (no tombstone)."""
    return _swap(options, clock, _VersionsRestart, *VERSIONED)


class _Truncating(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        return self.inner.put(namespace, key, bytes(data)[:-1], **options)  # type: ignore[no-any-return]


@adapter_mutant("BLOB-001", "BLOB-007")
def blob_truncated(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Blob puts store all but the last byte (a short write)."""
    return _swap(options, clock, _Truncating, "blobs")


class _TextOnly(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        text = bytes(data).decode("utf-8", errors="replace").encode("utf-8")
        return self.inner.put(namespace, key, text, **options)  # type: ignore[no-any-return]


@adapter_mutant("BLOB-007")
def blob_not_binary_safe(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Blobs are stored as UTF-8 text: bytes that are not UTF-8 get replaced."""
    return _swap(options, clock, _TextOnly, "blobs")


class _DropsContentType(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        options["content_type"] = None
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("BLOB-004")
def drops_content_type(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Blob puts forget the content type."""
    return _swap(options, clock, _DropsContentType, "blobs")


class _HeadWrongSize(Wrap):
    def head(self, namespace: str, key: str) -> BlobInfo:
        info: BlobInfo = self.inner.head(namespace, key)
        return dataclasses.replace(info, size=info.size + 1)


@adapter_mutant("BLOB-004")
def head_wrong_size(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``head`` reports one byte too many."""
    return _swap(options, clock, _HeadWrongSize, "blobs")


class _DeleteNoop(Wrap):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        current: Blob = self.inner.get(namespace, key)
        if if_match is not None and if_match != current.etag:
            raise PreconditionFailedError("stale", current_etag=current.etag)
        return current.version


@adapter_mutant("BLOB-005", "CONS-003")
def delete_noop(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Deletes acknowledge and remove nothing."""
    return _swap(options, clock, _DeleteNoop, *VERSIONED)


class _DeleteMissingSilently(Wrap):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        try:
            return self.inner.delete(namespace, key, if_match=if_match)  # type: ignore[no-any-return]
        except NotFoundError:
            return 0


@adapter_mutant("BLOB-005")
def delete_missing_silently(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Deleting a missing key succeeds instead of raising ``NotFoundError``."""
    return _swap(options, clock, _DeleteMissingSilently, *VERSIONED)


class _ListIgnoresPrefix(Wrap):
    def list(self, namespace: str, prefix: str = "", **options: Any) -> list[BlobInfo]:
        return self.inner.list(namespace, "", **options)  # type: ignore[no-any-return]


class _ListUnsorted(Wrap):
    def list(self, namespace: str, prefix: str = "", **options: Any) -> list[BlobInfo]:
        return self.inner.list(namespace, prefix, **options)[::-1]  # type: ignore[no-any-return]


class _ListIgnoresStartAfter(Wrap):
    def list(self, namespace: str, prefix: str = "", **options: Any) -> list[BlobInfo]:
        options.pop("start_after", None)
        return self.inner.list(namespace, prefix, **options)  # type: ignore[no-any-return]


class _ListIgnoresLimit(Wrap):
    def list(self, namespace: str, prefix: str = "", **options: Any) -> list[BlobInfo]:
        options.pop("limit", None)
        return self.inner.list(namespace, prefix, **options)  # type: ignore[no-any-return]


@adapter_mutant("BLOB-006")
def list_ignores_prefix(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` returns every key of the namespace whatever the prefix."""
    return _swap(options, clock, _ListIgnoresPrefix, "blobs")


@adapter_mutant("BLOB-006")
def list_unsorted(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` returns keys in descending order."""
    return _swap(options, clock, _ListUnsorted, "blobs")


@adapter_mutant("BLOB-006")
def list_ignores_start_after(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` pages always restart at the first key."""
    return _swap(options, clock, _ListIgnoresStartAfter, "blobs")


@adapter_mutant("BLOB-006")
def list_ignores_limit(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` returns every matching key whatever the limit."""
    return _swap(options, clock, _ListIgnoresLimit, "blobs")


class _ExtraField(Wrap):
    def get(self, namespace: str, key: str) -> Blob:
        blob: Blob = self.inner.get(namespace, key)
        value = {**json.loads(blob.data), "_rev": blob.version}
        return dataclasses.replace(blob, data=json.dumps(value).encode())


@adapter_mutant("REC-001")
def record_extra_field(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Record reads return the value with a bookkeeping field added."""
    return _swap(options, clock, _ExtraField, "records")


class _AsciiOnly(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        text = bytes(data).decode("utf-8").encode("ascii", errors="replace")
        return self.inner.put(namespace, key, text, **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-008")
def records_ascii_only(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Records are stored in an ASCII column: other characters become ``?``."""
    return _swap(options, clock, _AsciiOnly, "records")


def _float32(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return struct.unpack("f", struct.pack("f", value))[0]
    if isinstance(value, dict):
        return {name: _float32(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_float32(item) for item in value]
    return value


class _Float32(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        value = _float32(json.loads(data))
        return self.inner.put(namespace, key, json.dumps(value).encode(), **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-008")
def records_float32(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Record numbers are stored as 32-bit floats (precision lost)."""
    return _swap(options, clock, _Float32, "records")


# -- versioned stores: consistency and errors --------------------------------------------


STALE_LAG_MS = 1_000.0
"""How far the stale replicas lag behind writes: far beyond the 100 ms read-after-write window."""


@adapter_mutant("CONS-001", "CONS-008", "CONS-009", "CONS-010")
def stale_reads_declared_raw(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Declares ``read_after_write`` but reads come from a replica 1 s behind."""
    inner = create_memory_adapter(options, clock)
    return Mutated(
        inner,
        blobs=LaggingStore(inner.blobs, clock, STALE_LAG_MS),
        records=LaggingStore(inner.records, clock, STALE_LAG_MS),
    )


@adapter_mutant("BLOB-001", "REC-001")
def stale_reads_undeclared(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Honestly lacks ``read_after_write``, but its replica never catches up."""
    inner = create_memory_adapter(options, clock)
    return Mutated(
        inner,
        capabilities={"read_after_write": False},
        blobs=LaggingStore(inner.blobs, clock, math.inf),
        records=LaggingStore(inner.records, clock, math.inf),
    )


HONEST_LAG_MS = 30.0
"""The lag of the honest replica: well inside the facade's 100 ms read-after-write window."""


class _SharedReplica(LaggingStore):
    """A ``LaggingStore`` whose replica is shared by every adapter instance of one memory
    server, as a replicated backend's is: another node reads the same lagging state, and
    catches up at the same time. Calls are serialised, so threads see one order of writes."""

    _replicas: ClassVar[dict[tuple[str, str], tuple[Any, Any, threading.RLock]]] = {}

    def __init__(self, inner: Any, clock: Clock, lag_ms: float, server: str, store: str) -> None:
        super().__init__(inner, clock, lag_ms)
        shared = self._replicas.setdefault((server, store), ({}, {}, threading.RLock()))
        self._replica, self._pending, self._lock = shared

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        with self._lock:
            return super().put(namespace, key, data, **options)

    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        with self._lock:
            return super().delete(namespace, key, if_match=if_match)

    def get(self, namespace: str, key: str) -> Blob:
        with self._lock:
            return super().get(namespace, key)


def honest_lagging_replica(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Not a mutant: honestly lacks ``read_after_write``, and reads come from a replica
    lagging ``HONEST_LAG_MS`` behind writes. A correct adapter: the kit must pass it."""
    inner = create_memory_adapter(options, clock)
    server = str(options.get("server", "default"))
    return Mutated(
        inner,
        capabilities={"read_after_write": False},
        blobs=_SharedReplica(inner.blobs, clock, HONEST_LAG_MS, server, "blobs"),
        records=_SharedReplica(inner.records, clock, HONEST_LAG_MS, server, "records"),
    )


class _MissingRaises(Wrap):
    error: Callable[[str, str], Exception]

    def _mapped(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except NotFoundError as error:
            raise type(self).error(str(error.namespace), str(error.key)) from None

    def get(self, namespace: str, key: str) -> Blob:
        return self._mapped(lambda: self.inner.get(namespace, key))  # type: ignore[no-any-return]

    def head(self, namespace: str, key: str) -> BlobInfo:
        return self._mapped(lambda: self.inner.head(namespace, key))  # type: ignore[no-any-return]

    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        return self._mapped(lambda: self.inner.delete(namespace, key, if_match=if_match))  # type: ignore[no-any-return]


class _KeyErrorWhenMissing(_MissingRaises):
    @staticmethod
    def error(namespace: str, key: str) -> Exception:
        return KeyError(key)


class _UnavailableWhenMissing(_MissingRaises):
    @staticmethod
    def error(namespace: str, key: str) -> Exception:
        return BackendUnavailableError("404", namespace=namespace, key=key)


@adapter_mutant("ERR-001", "BLOB-005")
def keyerror_when_missing(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A missing key leaks as the driver's ``KeyError``."""
    return _swap(options, clock, _KeyErrorWhenMissing, *VERSIONED)


@adapter_mutant("ERR-001", "BLOB-005")
def unavailable_when_missing(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A missing key is reported as ``BackendUnavailableError`` (retryable)."""
    return _swap(options, clock, _UnavailableWhenMissing, *VERSIONED)


class _NeverCloses(Mutated):
    def close(self) -> None:
        self.closed += 1


@adapter_mutant("ERR-004")
def closed_still_works(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``close`` does nothing: a closed adapter keeps serving."""
    return _NeverCloses(create_memory_adapter(options, clock))


# -- streams ---------------------------------------------------------------------------


class _ReadReversed(Wrap):
    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        return self.inner.read(namespace, stream, after=after, limit=limit)[::-1]  # type: ignore[no-any-return]


class _ReadLosesEveryThird(Wrap):
    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        found = self.inner.read(namespace, stream, after=after, limit=limit)
        return [message for message in found if message.sequence % 3]


class _ReadDuplicates(Wrap):
    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        found = self.inner.read(namespace, stream, after=after, limit=limit)
        return [copy for message in found for copy in (message, message)][:limit]


class _ReadOffByOne(Wrap):
    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        return self.inner.read(namespace, stream, after=max(after - 1, 0), limit=limit)  # type: ignore[no-any-return]


@adapter_mutant("STR-001")
def stream_read_reversed(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stream reads return a batch newest first."""
    return _swap(options, clock, _ReadReversed, "streams")


@adapter_mutant("STR-001", "PROP-003")
def stream_loses_every_third(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Every third message of a stream is never read back."""
    return _swap(options, clock, _ReadLosesEveryThird, "streams")


@adapter_mutant("STR-001")
def stream_read_duplicates(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stream reads return every message twice."""
    return _swap(options, clock, _ReadDuplicates, "streams")


@adapter_mutant("STR-001", "STR-002", "STR-004")
def stream_read_after_off_by_one(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``read(after=n)`` starts at sequence ``n`` instead of ``n + 1``."""
    return _swap(options, clock, _ReadOffByOne, "streams")


class _IgnoresIdempotency(Wrap):
    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        options["idempotency_key"] = None
        return self.inner.append(namespace, stream, payload, **options)


class _DedupeForever(Wrap):
    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        options["dedupe_window_ms"] = math.inf
        return self.inner.append(namespace, stream, payload, **options)


class _DedupeByStream(Wrap):
    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        if options.get("idempotency_key") is not None:
            options["idempotency_key"] = "*"
        return self.inner.append(namespace, stream, payload, **options)


@adapter_mutant("STR-006")
def dedupe_ignores_the_key(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Any two keyed appends to a stream within the window are duplicates, whatever the key."""
    return _swap(options, clock, _DedupeByStream, "streams")


@adapter_mutant("STR-006")
def ignores_idempotency_key(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Declares ``idempotent_append`` but appends every repeat."""
    return _swap(options, clock, _IgnoresIdempotency, "streams")


@adapter_mutant("STR-006")
def dedupe_window_never_expires(options: Mapping[str, object], clock: Clock) -> Mutated:
    """An idempotency key deduplicates forever instead of for the window."""
    return _swap(options, clock, _DedupeForever, "streams")


# -- checkpoints -----------------------------------------------------------------------


class _NoCompareAndSet(Wrap):
    """Saves whatever revision it is given; loads take a network round trip."""

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        state: GroupCheckpoint = self.inner.load(namespace, stream, group)
        time.sleep(0.005)
        return state

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        stored = self.inner.load(namespace, stream, group).revision
        return self.inner.save(namespace, stream, group, checkpoint._replace(revision=stored))  # type: ignore[no-any-return]


class _DropsPending(Wrap):
    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        emptied = checkpoint._replace(pending=MappingProxyType({}))
        return self.inner.save(namespace, stream, group, emptied)  # type: ignore[no-any-return]


class _VisibleAtOnce(Wrap):
    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        pending = {
            sequence: GroupPending(entry.consumer, entry.deliveries, 0.0)
            for sequence, entry in checkpoint.pending.items()
        }
        return self.inner.save(  # type: ignore[no-any-return]
            namespace, stream, group, checkpoint._replace(pending=MappingProxyType(pending))
        )


class _NeverDue(Wrap):
    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        never = checkpoint._replace(next_visible_ms=math.inf)
        return self.inner.save(namespace, stream, group, never)  # type: ignore[no-any-return]


class _ForgetsAcks(Wrap):
    """Merges saved pending deliveries into every save, so acked ones come back."""

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        stored = self.inner.load(namespace, stream, group)
        pending = {**stored.pending, **checkpoint.pending}
        return self.inner.save(  # type: ignore[no-any-return]
            namespace, stream, group, checkpoint._replace(pending=MappingProxyType(pending))
        )


class _OneGroup(Wrap):
    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        return self.inner.load(namespace, stream, "*")  # type: ignore[no-any-return]

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        return self.inner.save(namespace, stream, "*", checkpoint)  # type: ignore[no-any-return]


@adapter_mutant("STR-007")
def checkpoint_without_cas(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoint saves ignore the revision (last writer wins)."""
    return _swap(options, clock, _NoCompareAndSet, "checkpoints")


@adapter_mutant("STR-005", "PROP-003")
def checkpoint_not_durable(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Declares ``durable_checkpoints`` but keeps them in the adapter instance (lost on reopen)."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, checkpoints=MemoryCheckpointStore(MemoryServer("not-durable")))


@adapter_mutant("STR-002", "STR-005")
def checkpoint_drops_pending(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoint saves silently drop the pending deliveries (no redelivery)."""
    return _swap(options, clock, _DropsPending, "checkpoints")


@adapter_mutant("STR-003", "STR-007")
def checkpoint_visible_at_once(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoint saves drop the visibility timeouts: pending messages are due at once."""
    return _swap(options, clock, _VisibleAtOnce, "checkpoints")


@adapter_mutant("STR-002", "STR-003", "STR-005")
def checkpoint_never_due(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoint saves store ``next_visible_ms`` as infinity: the facade never looks for
    expired deliveries, so nothing is redelivered."""
    return _swap(options, clock, _NeverDue, "checkpoints")


@adapter_mutant("STR-004")
def checkpoint_forgets_acks(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoint saves keep deliveries pending after they were acked."""
    return _swap(options, clock, _ForgetsAcks, "checkpoints")


@adapter_mutant("STR-008")
def checkpoint_ignores_group(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Every consumer group of a stream shares one checkpoint."""
    return _swap(options, clock, _OneGroup, "checkpoints")


# -- cache -----------------------------------------------------------------------------


class _SetIfAbsent(Wrap):
    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        if self.inner.get(namespace, key) is None:
            self.inner.set(namespace, key, entry, ttl_ms)


class _NeverHits(Wrap):
    def get(self, namespace: str, key: str) -> CacheEntry | None:
        return None


class _DeleteIgnored(Wrap):
    def delete(self, namespace: str, key: str) -> None:
        return None


class _NeverExpires(Wrap):
    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        forever = dataclasses.replace(entry, expires_at_ms=math.inf)
        self.inner.set(namespace, key, forever, 1e15)


class _OneSlotPerLayer(Wrap):
    """Keys collide: the cache keeps one entry per layer prefix (``record/``, ``kv/``...)."""

    @staticmethod
    def _slot(key: str) -> str:
        return key.partition("/")[0]

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        return self.inner.get(namespace, self._slot(key))  # type: ignore[no-any-return]

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        self.inner.set(namespace, self._slot(key), entry, ttl_ms)

    def delete(self, namespace: str, key: str) -> None:
        self.inner.delete(namespace, self._slot(key))


@adapter_mutant("CACHE-001")
def cache_set_keeps_old_entry(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``cache.set`` does not replace a live entry (set-if-absent)."""
    return _swap(options, clock, _SetIfAbsent, "cache")


@adapter_mutant("CACHE-002")
def cache_never_hits(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``cache.get`` always misses."""
    return _swap(options, clock, _NeverHits, "cache")


@adapter_mutant("CACHE-003", "CACHE-004", "CACHE-006", "CACHE-008")
def cache_delete_ignored(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``cache.delete`` does nothing, so no purge happens."""
    return _swap(options, clock, _DeleteIgnored, "cache")


@adapter_mutant("CACHE-005", "CACHE-006")
def cache_never_expires(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``cache.set`` stores entries without expiry."""
    return _swap(options, clock, _NeverExpires, "cache")


@adapter_mutant("CACHE-006")
def cache_keys_collide(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``cache.get`` serves another key's entry (keys truncated at the first ``/``)."""
    return _swap(options, clock, _OneSlotPerLayer, "cache")


@adapter_mutant("CACHE-007")
def fake_distributed_cache(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Declares ``distributed_cache`` while every instance has its own cache."""
    return Mutated(create_memory_adapter(options, clock), capabilities={"distributed_cache": True})


# -- facade mutants ----------------------------------------------------------------------


@facade_mutant("ACL-001")
def _acl_grants_all(mp: pytest.MonkeyPatch) -> None:
    """Every principal is granted every operation."""
    from pytest_sanctum.acl import OPERATIONS, AccessPolicy

    mp.setattr(AccessPolicy, "granted", lambda self, namespace, principal: frozenset(OPERATIONS))


@facade_mutant("ACL-002")
def _acl_denies_all(mp: pytest.MonkeyPatch) -> None:
    """Once an ACL exists, nothing is granted."""
    from pytest_sanctum.acl import AccessPolicy

    mp.setattr(AccessPolicy, "granted", lambda self, namespace, principal: frozenset())


@facade_mutant("ACL-002")
def _acl_allows_unlogged(mp: pytest.MonkeyPatch) -> None:
    """ACL allow decisions are not logged."""
    from pytest_sanctum import core
    from pytest_sanctum.observability import EVENT_ACL_DECISION, emit

    def quiet(logger: Any, level: int, event: str, fields: Mapping[str, object]) -> None:
        if event == EVENT_ACL_DECISION and fields.get("decision") == "allow":
            return
        emit(logger, level, event, fields)

    mp.setattr(core, "emit", quiet)


@facade_mutant("OBS-001")
def _success_unmeasured(mp: pytest.MonkeyPatch) -> None:
    """Successful operations record no metrics."""
    from pytest_sanctum.core import FacadeCore

    mp.setattr(FacadeCore, "succeeded", lambda self, op, route, started, nbytes: None)


@facade_mutant("OBS-002")
def _errors_uncounted(mp: pytest.MonkeyPatch) -> None:
    """Failed operations are logged but record no metrics."""
    from pytest_sanctum.core import FacadeCore

    failed = FacadeCore.failed

    def uncounted(self: FacadeCore, *args: Any) -> Any:
        enabled, self.metrics_enabled = self.metrics_enabled, False
        try:
            return failed(self, *args)
        finally:
            self.metrics_enabled = enabled

    mp.setattr(FacadeCore, "failed", uncounted)


@facade_mutant("OBS-003")
def _correlation_ignores_scope(mp: pytest.MonkeyPatch) -> None:
    """Every operation draws a fresh correlation id, ignoring the caller's scope."""
    from pytest_sanctum.core import FacadeCore
    from pytest_sanctum.observability import new_correlation_id

    mp.setattr(FacadeCore, "correlation_id", staticmethod(new_correlation_id))


@facade_mutant("CACHE-003", "CACHE-004", "CACHE-008", "PROP-001")
def _purge_skipped(mp: pytest.MonkeyPatch) -> None:
    """Writes and deletes neither purge the cache nor publish an invalidation."""
    from pytest_sanctum.core import FacadeCore

    mp.setattr(FacadeCore, "purge", lambda self, route, layer, key, version, cid: None)


@facade_mutant("CACHE-008")
def _invalidations_ignored(mp: pytest.MonkeyPatch) -> None:
    """Clients ignore invalidations published by other clients."""
    from pytest_sanctum.core import FacadeCore

    mp.setattr(FacadeCore, "_on_invalidation", lambda self, event: None)


@facade_mutant("CONS-005", "CONS-006", "CONS-010")
def _staleness_budget_ignored(mp: pytest.MonkeyPatch) -> None:
    """Strong reads serve any live cache entry, whatever its age."""
    from pytest_sanctum.core import Route

    init = Route.__init__

    def unbounded(self: Route, *args: Any) -> None:
        init(self, *args)
        self.budget_ms = math.inf

    mp.setattr(Route, "__init__", unbounded)


def _patch_read_options(mp: pytest.MonkeyPatch, change: Callable[[Any], Any]) -> None:
    """Rewrite the ``ReadOptions`` every blob and record read resolves."""
    from pytest_sanctum.keyed import _VersionedLayer

    options = _VersionedLayer._options

    def changed(self: Any, level: object, bypass_cache: object, if_match: object) -> Any:
        return change(options(self, level, bypass_cache, if_match))

    mp.setattr(_VersionedLayer, "_options", changed)


@facade_mutant("CONS-005")
def _default_level_eventual(mp: pytest.MonkeyPatch) -> None:
    """A read without a level is eventual instead of strong."""
    from pytest_sanctum.keyed import _VersionedLayer

    options = _VersionedLayer._options

    def eventual(self: Any, level: object, bypass_cache: object, if_match: object) -> Any:
        return options(self, "eventual" if level is None else level, bypass_cache, if_match)

    mp.setattr(_VersionedLayer, "_options", eventual)


@facade_mutant("CONS-007")
def _eventual_reads_backend(mp: pytest.MonkeyPatch) -> None:
    """Eventual reads are served like strong ones (the cache is used only within the budget)."""

    def strong(options: Any) -> Any:
        if options.level is ReadLevel.EVENTUAL:
            return dataclasses.replace(options, level=ReadLevel.STRONG)
        return options

    _patch_read_options(mp, strong)


@facade_mutant("CACHE-001", "CONS-004", "PROP-004")
def _bypass_ignored(mp: pytest.MonkeyPatch) -> None:
    """``bypass_cache=True`` is ignored."""
    _patch_read_options(mp, lambda options: dataclasses.replace(options, bypass_cache=False))


@facade_mutant("CONS-002", "CONS-007")
def _eventual_raises_when_stale(mp: pytest.MonkeyPatch) -> None:
    """Eventual reads refuse a cache entry older than the staleness budget with
    ``ConsistencyError`` instead of serving it."""
    from pytest_sanctum.keyed import _VersionedLayer

    read = _VersionedLayer._read

    def strict(self: Any, op: str, route: Any, key: str, options: Any, cid: str) -> Blob:
        cache = route.read_cache
        if options.level is ReadLevel.EVENTUAL and cache is not None:
            entry = cache.get(route.namespace, self._prefix + key)
            age = self._core.clock.now_ms() - entry.stored_at_ms if entry is not None else 0.0
            if age > route.budget_ms:
                raise ConsistencyError(f"the cached entry is {age} ms old", retry_after_ms=1.0)
        return read(self, op, route, key, options, cid)

    mp.setattr(_VersionedLayer, "_read", strict)


@facade_mutant("STR-002", "PROP-005")
def _consumer_ignores_markers(mp: pytest.MonkeyPatch) -> None:
    """The idempotent consumer never finds a marker: every delivery runs the handler again."""
    from pytest_sanctum.consumer import IdempotentConsumer

    mp.setattr(IdempotentConsumer, "handled", lambda self, delivery: False)


@facade_mutant("CACHE-002")
def _cache_only_reads_backend(mp: pytest.MonkeyPatch) -> None:
    """``cache_only`` reads fall through to the backend like strong ones."""

    def strong(options: Any) -> Any:
        if options.level is ReadLevel.CACHE_ONLY:
            return dataclasses.replace(options, level=ReadLevel.STRONG)
        return options

    _patch_read_options(mp, strong)


@facade_mutant("CONS-009", "CONS-010")
def _read_if_match_ignored(mp: pytest.MonkeyPatch) -> None:
    """Reads ignore ``if_match``."""
    from pytest_sanctum import keyed

    mp.setattr(keyed, "_checked", lambda blob, if_match: blob)


@facade_mutant("ERR-003")
def _keys_unchecked(mp: pytest.MonkeyPatch) -> None:
    """Keys, stream, group and consumer names are not validated."""
    from pytest_sanctum import cache_layer, keyed, streams

    def anything(key: object, argument: str = "key") -> Any:
        return key

    for module in (keyed, streams, cache_layer):
        mp.setattr(module, "check_key", anything)


@facade_mutant("ERR-003")
def _payloads_unchecked(mp: pytest.MonkeyPatch) -> None:
    """Payloads are encoded leniently instead of checked: NaN, sets, tuples, objects and
    non-bytes blobs are stored as whatever ``json.dumps`` or ``str`` makes of them."""
    from pytest_sanctum import keyed

    def lenient_record(self: Any, data: object) -> bytes:
        return json.dumps(data, default=repr).encode()

    def lenient_blob(self: Any, data: object) -> bytes:
        return data if isinstance(data, bytes) else str(data).encode()

    mp.setattr(keyed.RecordLayer, "_encode", lenient_record)
    mp.setattr(keyed.BlobLayer, "_encode", lenient_blob)


@facade_mutant("ERR-003")
def _options_unchecked(mp: pytest.MonkeyPatch) -> None:
    """Read and write options are coerced instead of checked (bad levels read strong,
    ``bool(x)`` for flags, any etag or limit passed through)."""
    from pytest_sanctum import keyed

    mp.setattr(keyed, "check_etag", lambda etag, argument="if_match": etag)
    mp.setattr(keyed, "check_if_none_match", lambda value: value is not None)
    mp.setattr(keyed, "check_bool", lambda value, argument: bool(value))
    mp.setattr(keyed, "check_int", lambda value, argument, low, high: value)
    mp.setattr(
        keyed,
        "check_read_level",
        lambda level: level if isinstance(level, ReadLevel) else ReadLevel.STRONG,
    )


@facade_mutant("ERR-003")
def _invalid_requests_misreported(mp: pytest.MonkeyPatch) -> None:
    """Refused input leaves as a bare ``ValueError`` (reported as ``AdapterError``)."""
    from pytest_sanctum.core import FacadeCore
    from pytest_sanctum.errors import InvalidRequestError

    failed = FacadeCore.failed

    def misreported(
        self: FacadeCore, op: str, route: Any, ns: object, key: object, *rest: Any
    ) -> Any:
        started, error, cid = rest
        if isinstance(error, InvalidRequestError):
            error = ValueError(error.message)
        return failed(self, op, route, ns, key, started, error, cid)

    mp.setattr(FacadeCore, "failed", misreported)


@facade_mutant("ERR-005")
def _consistency_retry_hint_zero(mp: pytest.MonkeyPatch) -> None:
    """``ConsistencyError`` says to retry after 0 ms."""
    from pytest_sanctum import core

    class NoHint(ConsistencyError):
        def __init__(self, message: str, *, retry_after_ms: float, **fields: Any) -> None:
            super().__init__(message, retry_after_ms=0.0, **fields)

    mp.setattr(core, "ConsistencyError", NoHint)


@facade_mutant("REC-007")
def _record_values_shared(mp: pytest.MonkeyPatch) -> None:
    """Record reads hand out one shared dict per version: the value written, or the first
    read's (a decode cache without copies)."""
    from pytest_sanctum import keyed
    from pytest_sanctum.types import RecordValue

    shared: dict[str, Any] = {}
    put = keyed.RecordLayer.put

    def remembering_put(self: Any, namespace: str, key: str, value: Any, **options: Any) -> Any:
        result = put(self, namespace, key, value, **options)
        shared[result.etag] = value
        return result

    def cached(blob: Blob) -> RecordValue:
        value = shared.setdefault(blob.etag, json.loads(blob.data))
        return RecordValue(blob.key, value, blob.version, blob.etag)

    mp.setattr(keyed.RecordLayer, "put", remembering_put)
    mp.setattr(keyed, "_as_record", cached)


# -- the plugin applying a facade mutant -----------------------------------------------

_UNDO: pytest.StashKey[pytest.MonkeyPatch] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--facade-mutant",
        metavar="NAME",
        help="break the facade with this facade mutant of tests/mutants.py for the run",
    )


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("facade_mutant")
    if not name:
        return
    found = MUTANTS.get(name)
    if found is None or found.kind != "facade":
        known = sorted(n for n, m in MUTANTS.items() if m.kind == "facade")
        raise pytest.UsageError(f"--facade-mutant={name!r}: not a facade mutant; known: {known}")
    patcher = config.stash[_UNDO] = pytest.MonkeyPatch()
    found.factory(patcher)


def pytest_unconfigure(config: pytest.Config) -> None:
    patcher = config.stash.get(_UNDO, None)
    if patcher is not None:
        patcher.undo()
