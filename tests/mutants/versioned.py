"""Mutants of the versioned stores (blobs and records): preconditions, versions, etags,
payloads, listing, read consistency and error mapping."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import struct
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from facade_helpers import LaggingStore

from mutants.base import (
    VERSIONED,
    Mutated,
    Wrap,
    adapter_mutant,
    swap,
)
from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import (
    BackendUnavailableError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.types import (
    Blob,
    BlobInfo,
    WriteResult,
)
from reference_adapters.memory import (
    create_memory_adapter,
)

# -- versioned stores: preconditions -------------------------------------------------


class _PutIgnoresIfMatch(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        options["if_match"] = None
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-003", "REC-009", "ERR-002", "PROP-002")
def put_ignores_if_match(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Writes ignore ``if_match`` (a lost update waiting to happen)."""
    return swap(options, clock, _PutIgnoresIfMatch, *VERSIONED)


class _DeleteIgnoresIfMatch(Wrap):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        return self.inner.delete(namespace, key)  # type: ignore[no-any-return]


@adapter_mutant("REC-006", "ERR-002")
def delete_ignores_if_match(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Deletes ignore ``if_match``."""
    return swap(options, clock, _DeleteIgnoresIfMatch, *VERSIONED)


class _IfMatchAlwaysFails(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        if options.get("if_match") is not None:
            raise PreconditionFailedError("refused", namespace=namespace, key=key)
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-004")
def if_match_always_fails(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Every write with ``if_match`` is refused, even with the current etag."""
    return swap(options, clock, _IfMatchAlwaysFails, *VERSIONED)


class _IgnoresIfNoneMatch(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        options["if_none_match"] = False
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-005", "ERR-002")
def ignores_if_none_match(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Create-only writes overwrite existing keys."""
    return swap(options, clock, _IgnoresIfNoneMatch, *VERSIONED)


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
    return swap(options, clock, _RacyConditionalPut, *VERSIONED)


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
    return swap(options, clock, _RawPreconditionError, *VERSIONED)


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
        etag = hashlib.blake2b(bytes(data), digest_size=8).hexdigest()  # the content alone
        _restamp(self.inner, namespace, key, etag=etag)
        return WriteResult(result.version, etag)


@adapter_mutant("BLOB-003")
def etag_per_content(options: Mapping[str, object], clock: Clock) -> Mutated:
    """The etag is a hash of the bytes, so rewriting the same bytes reuses it."""
    return swap(options, clock, _EtagPerContent, *VERSIONED)


class _VersionsRestart(Wrap):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        version: int = self.inner.delete(namespace, key, if_match=if_match)
        with self.inner._lock:
            self.inner._keyspace.tombstones[namespace].pop(key, None)
        return version


@adapter_mutant("BLOB-002", "REC-002")
def versions_restart_after_delete(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A key deleted and written again starts over at version 1 (no tombstone)."""
    return swap(options, clock, _VersionsRestart, *VERSIONED)


class _Truncating(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        return self.inner.put(namespace, key, bytes(data)[:-1], **options)  # type: ignore[no-any-return]


@adapter_mutant("BLOB-001", "BLOB-007")
def blob_truncated(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Blob puts store all but the last byte (a short write)."""
    return swap(options, clock, _Truncating, "blobs")


class _TextOnly(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        text = bytes(data).decode("utf-8", errors="replace").encode("utf-8")
        return self.inner.put(namespace, key, text, **options)  # type: ignore[no-any-return]


@adapter_mutant("BLOB-007")
def blob_not_binary_safe(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Blobs are stored as UTF-8 text: bytes that are not UTF-8 get replaced."""
    return swap(options, clock, _TextOnly, "blobs")


class _DropsContentType(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        options["content_type"] = None
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("BLOB-004")
def drops_content_type(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Blob puts forget the content type."""
    return swap(options, clock, _DropsContentType, "blobs")


class _HeadWrongSize(Wrap):
    def head(self, namespace: str, key: str) -> BlobInfo:
        info: BlobInfo = self.inner.head(namespace, key)
        return dataclasses.replace(info, size=info.size + 1)


@adapter_mutant("BLOB-004")
def head_wrong_size(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``head`` reports one byte too many."""
    return swap(options, clock, _HeadWrongSize, "blobs")


class _DeleteNoop(Wrap):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        current: Blob = self.inner.get(namespace, key)
        if if_match is not None and if_match != current.etag:
            raise PreconditionFailedError("stale", current_etag=current.etag)
        return current.version


@adapter_mutant("BLOB-005", "CONS-003")
def delete_noop(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Deletes acknowledge and remove nothing."""
    return swap(options, clock, _DeleteNoop, *VERSIONED)


class _DeleteMissingSilently(Wrap):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        try:
            return self.inner.delete(namespace, key, if_match=if_match)  # type: ignore[no-any-return]
        except NotFoundError:
            return 0


@adapter_mutant("BLOB-005")
def delete_missing_silently(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Deleting a missing key succeeds instead of raising ``NotFoundError``."""
    return swap(options, clock, _DeleteMissingSilently, *VERSIONED)


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
    return swap(options, clock, _ListIgnoresPrefix, "blobs")


@adapter_mutant("BLOB-006")
def list_unsorted(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` returns keys in descending order."""
    return swap(options, clock, _ListUnsorted, "blobs")


@adapter_mutant("BLOB-006")
def list_ignores_start_after(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` pages always restart at the first key."""
    return swap(options, clock, _ListIgnoresStartAfter, "blobs")


@adapter_mutant("BLOB-006")
def list_ignores_limit(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` returns every matching key whatever the limit."""
    return swap(options, clock, _ListIgnoresLimit, "blobs")


class _ListFiltersAfterPaging(Wrap):
    """Reads a page of ``limit`` keys after ``start_after`` whatever their prefix, then drops
    those without it (a client-side filter over a backend page)."""

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        page = self.inner.list(namespace, "", start_after=start_after, limit=limit)
        return [info for info in page if info.key.startswith(prefix)]


@adapter_mutant("BLOB-006")
def list_filters_prefix_after_paging(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` filters the prefix out of a page of any keys, so a page comes back short or
    empty while matching keys remain: the facade takes the empty page for the end."""
    return swap(options, clock, _ListFiltersAfterPaging, "blobs")


class _ExtraField(Wrap):
    def get(self, namespace: str, key: str) -> Blob:
        blob: Blob = self.inner.get(namespace, key)
        value = {**json.loads(blob.data), "_rev": blob.version}
        return dataclasses.replace(blob, data=json.dumps(value).encode())


@adapter_mutant("REC-001")
def record_extra_field(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Record reads return the value with a bookkeeping field added."""
    return swap(options, clock, _ExtraField, "records")


class _AsciiOnly(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        text = bytes(data).decode("utf-8").encode("ascii", errors="replace")
        return self.inner.put(namespace, key, text, **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-008")
def records_ascii_only(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Records are stored in an ASCII column: other characters become ``?``."""
    return swap(options, clock, _AsciiOnly, "records")


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
    return swap(options, clock, _Float32, "records")


# -- versioned stores: consistency and errors --------------------------------------------


STALE_LAG_MS = 1_000.0
"""How far the stale replicas lag behind writes: far beyond the 100 ms read-after-write window."""


@adapter_mutant("CONS-001", "CONS-008", "CONS-009", "CONS-010", "HIST-003")
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


class _StaleOnceARun(Wrap):
    """The first read of an existing key in each kit run finds nothing, as from a replica
    still restoring its snapshot; every later read is right. The kit's namespaces start
    with the run's id, which keys the state."""

    _runs: ClassVar[set[str]] = set()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def get(self, namespace: str, key: str) -> Blob:
        blob: Blob = self.inner.get(namespace, key)
        run = namespace.rpartition("-")[0]
        with self._lock:
            first = run not in self._runs
            self._runs.add(run)
        if first:
            raise NotFoundError("the replica is still restoring", namespace=namespace, key=key)
        return blob


@adapter_mutant("PROP-001")
def stale_once_a_run(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Declares ``read_after_write``, but the first read of each run misses a key that
    exists: a failure hypothesis cannot replay (``Flaky``), which the kit must still
    report by the failing read and its operation log."""
    return swap(options, clock, _StaleOnceARun, *VERSIONED)


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
    return swap(options, clock, _KeyErrorWhenMissing, *VERSIONED)


@adapter_mutant("ERR-001", "BLOB-005")
def unavailable_when_missing(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A missing key is reported as ``BackendUnavailableError`` (retryable)."""
    return swap(options, clock, _UnavailableWhenMissing, *VERSIONED)


class _NeverCloses(Mutated):
    def close(self) -> None:
        self.closed += 1


@adapter_mutant("ERR-004")
def closed_still_works(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``close`` does nothing: a closed adapter keeps serving."""
    return _NeverCloses(create_memory_adapter(options, clock))


# -- versioned stores: metadata on every read path ---------------------------------------


class _ListDropsContentType(Wrap):
    def list(self, namespace: str, prefix: str = "", **options: Any) -> list[BlobInfo]:
        infos: list[BlobInfo] = self.inner.list(namespace, prefix, **options)
        return [dataclasses.replace(info, content_type=None) for info in infos]


class _ListQuotesEtags(Wrap):
    def list(self, namespace: str, prefix: str = "", **options: Any) -> list[BlobInfo]:
        infos: list[BlobInfo] = self.inner.list(namespace, prefix, **options)
        return [dataclasses.replace(info, etag=f'"{info.etag}"') for info in infos]


class _HeadKeepsFirstType(Wrap):
    """``head`` answers the content type the key was first written with."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.first_type: dict[tuple[str, str], str | None] = {}

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        self.first_type.setdefault((namespace, key), options.get("content_type"))
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]

    def head(self, namespace: str, key: str) -> BlobInfo:
        info: BlobInfo = self.inner.head(namespace, key)
        first = self.first_type.get((namespace, key), info.content_type)
        return dataclasses.replace(info, content_type=first)


@adapter_mutant("BLOB-008")
def list_drops_content_type(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` reports no content type (the listing API does not return it)."""
    return swap(options, clock, _ListDropsContentType, "blobs")


@adapter_mutant("BLOB-008", "BLOB-006")
def list_quotes_etags(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` returns etags in quotes, as S3's listing does, while ``get`` does not."""
    return swap(options, clock, _ListQuotesEtags, "blobs")


@adapter_mutant("BLOB-008", "BLOB-004")
def head_keeps_first_content_type(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``head`` serves the content type of the key's first version (stale metadata)."""
    return swap(options, clock, _HeadKeepsFirstType, "blobs")


# -- versioned stores: precondition details ----------------------------------------------


class _PreconditionWithoutState(Wrap):
    def _bare(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except PreconditionFailedError as error:
            raise PreconditionFailedError(
                error.message, namespace=error.namespace, key=error.key
            ) from None

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        return self._bare(lambda: self.inner.put(namespace, key, data, **options))  # type: ignore[no-any-return]

    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        return self._bare(lambda: self.inner.delete(namespace, key, if_match=if_match))  # type: ignore[no-any-return]


class _ConditionalDeleteOfMissingIs412(Wrap):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        try:
            return self.inner.delete(namespace, key, if_match=if_match)  # type: ignore[no-any-return]
        except NotFoundError:
            if if_match is None:
                raise
            raise PreconditionFailedError(
                "if_match given but the key does not exist", namespace=namespace, key=key
            ) from None


class _TombstoneByPrefix(Wrap):
    """A fresh key continues from a deleted key it is a prefix of (``WHERE key LIKE ?||'%'``)."""

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        keyspace = self.inner._keyspace
        with self.inner._lock:
            live = keyspace.live.get(namespace, {})
            tombstones = keyspace.tombstones.setdefault(namespace, {})
            if key not in live and key not in tombstones:
                longer = [v for name, v in tombstones.items() if name.startswith(key)]
                if longer:
                    tombstones[key] = max(longer)
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("REC-010", "ERR-030")
def precondition_without_current_state(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A failed precondition carries neither the current version nor the current etag."""
    return swap(options, clock, _PreconditionWithoutState, *VERSIONED)


@adapter_mutant("REC-011", "PROP-002")
def conditional_delete_of_missing_is_412(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A delete with ``if_match`` of a missing key raises ``PreconditionFailedError``."""
    return swap(options, clock, _ConditionalDeleteOfMissingIs412, *VERSIONED)


@adapter_mutant("REC-012")
def tombstone_found_by_prefix(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A fresh key continues from the versions of deleted keys it is a prefix of."""
    return swap(options, clock, _TombstoneByPrefix, *VERSIONED)


class _SentinelPrefixRange(Wrap):
    """Bounds a prefix listing with ``prefix <= key < prefix + "\\uf8ff"``, the sentinel idiom
    of some document stores, which misses keys whose next character sorts above U+F8FF."""

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        everything: list[BlobInfo] = self.inner.list(
            namespace, "", start_after=start_after, limit=10_000
        )
        inside = [info for info in everything if prefix <= info.key < prefix + "\uf8ff"]
        return inside[:limit]


@adapter_mutant("BLOB-020")
def prefix_range_ends_at_a_sentinel(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Prefix listings end at ``prefix + "\\uf8ff"``: keys continuing with a fullwidth or
    astral-plane character are never listed."""
    return swap(options, clock, _SentinelPrefixRange, *VERSIONED)
