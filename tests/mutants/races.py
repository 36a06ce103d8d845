"""Mutants that are atomic within one adapter instance and racy across instances.

Each guards its check-then-act with a lock of its own instance, as a backend client that
checks in one process and writes in another step would: one node alone never races, two
nodes do. Only concurrent histories over several nodes (``HIST-*``) can catch them; the
``sleep`` is the network round trip between the check and the write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import Any

from mutants.base import Mutated, Wrap, adapter_mutant, basic_memory, swap
from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import ConflictError, NotFoundError, PreconditionFailedError
from pytest_sanctum.types import AppendResult, Blob, GroupCheckpoint, StoredMessage, WriteResult
from reference_adapters.memory import MemoryServer, create_memory_adapter
from reference_adapters.sqlite import create_sqlite_adapter

ROUND_TRIP_S = 0.002
"""The time between a mutant's check and its write."""


class _InstanceLocked(Wrap):
    """A wrapper with a lock of its own instance (one per node)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.lock = threading.Lock()


def _current(store: Any, namespace: str, key: str) -> Blob | None:
    """The key's current blob, ``None`` when it is missing: a mutant's separate check."""
    try:
        return store.get(namespace, key)  # type: ignore[no-any-return]
    except NotFoundError:
        return None


class _CreateOnlyCheckThenAct(_InstanceLocked):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        if not options.get("if_none_match"):
            return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]
        with self.lock:
            current = _current(self.inner, namespace, key)
            if current is not None:
                raise PreconditionFailedError(
                    "exists", current_etag=current.etag, current_version=current.version
                )
            time.sleep(ROUND_TRIP_S)
            options["if_none_match"] = False
            return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("HIST-002")
def create_only_check_then_act(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Create-only writes check for the key, then write in a second step (racy across nodes)."""
    return swap(options, clock, _CreateOnlyCheckThenAct, "records", "blobs")


class _ConditionalDeleteCheckThenAct(_InstanceLocked):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        if if_match is None:
            return self.inner.delete(namespace, key)  # type: ignore[no-any-return]
        with self.lock:
            current = self.inner.get(namespace, key)
            if current.etag != if_match:
                raise PreconditionFailedError(
                    "stale", current_etag=current.etag, current_version=current.version
                )
            time.sleep(ROUND_TRIP_S)
            return self.inner.delete(namespace, key)  # type: ignore[no-any-return]


@adapter_mutant("HIST-002")
def conditional_delete_check_then_act(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Conditional deletes compare the etag, then delete whatever is there (racy across nodes)."""
    return swap(options, clock, _ConditionalDeleteCheckThenAct, "records", "blobs")


class _CasCheckThenAct(_InstanceLocked):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        etag = options.get("if_match")
        if etag is None:
            return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]
        with self.lock:
            current = _current(self.inner, namespace, key)
            if current is None:
                raise PreconditionFailedError("missing", current_etag=None, current_version=None)
            if current.etag != etag:
                raise PreconditionFailedError(
                    "stale", current_etag=current.etag, current_version=current.version
                )
            time.sleep(ROUND_TRIP_S)
            options["if_match"] = None
            return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("HIST-002")
def cas_check_then_act(options: Mapping[str, object], clock: Clock) -> Mutated:
    """If-match writes read the etag, then write in a second step (HEAD, then PUT): two
    nodes holding one etag both win."""
    return swap(options, clock, _CasCheckThenAct, "records", "blobs")


class _DeleteLooksUpFirst(_InstanceLocked):
    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        if if_match is not None:
            return self.inner.delete(namespace, key, if_match=if_match)  # type: ignore[no-any-return]
        with self.lock:
            version: int = self.inner.get(namespace, key).version
            time.sleep(ROUND_TRIP_S)
            with contextlib.suppress(NotFoundError):  # a blind DEL whose count is ignored
                self.inner.delete(namespace, key)
            return version


@adapter_mutant("HIST-001")
def delete_looks_up_then_deletes(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Plain deletes look the key up for its version, then delete blindly in a second step:
    two nodes both report removing the one version, and a write between is deleted unseen."""
    return swap(options, clock, _DeleteLooksUpFirst, "records", "blobs")


class _PlainPutVersions(_InstanceLocked):
    """Plain puts compute ``current version + 1`` and store it blindly (a max+1 upsert)."""

    def __init__(self, inner: Any, server: MemoryServer, layer: str) -> None:
        super().__init__(inner)
        self.server = server
        self.keyspace = getattr(server, layer)

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        if options.get("if_match") is not None or options.get("if_none_match"):
            return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]
        with self.lock:
            try:
                version = self.inner.get(namespace, key).version + 1
            except NotFoundError:
                version = self.keyspace.tombstones.get(namespace, {}).get(key, 0) + 1
            time.sleep(ROUND_TRIP_S)
            etag = f"{version:x}-{hashlib.blake2b(data, digest_size=8).hexdigest()}"
            with self.server.lock:
                self.keyspace.tombstones.get(namespace, {}).pop(key, None)
                live = self.keyspace.live.setdefault(namespace, {})
                live[key] = Blob(key, bytes(data), version, etag, options.get("content_type"))
            return WriteResult(version, etag)


@adapter_mutant("HIST-001")
def plain_put_versions_across_instances(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Plain puts read the current version and write version + 1 in a second step."""
    inner = basic_memory(options, clock)
    return Mutated(
        inner,
        records=_PlainPutVersions(inner.records, inner.server, "records"),
        blobs=_PlainPutVersions(inner.blobs, inner.server, "blobs"),
    )


class _AppendsAcrossInstances(_InstanceLocked):
    """Appends take ``length + 1`` as their sequence, then store the message there."""

    def __init__(self, inner: Any, server: MemoryServer) -> None:
        super().__init__(inner)
        self.server = server

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> AppendResult:
        if options.get("idempotency_key") is not None:
            return self.inner.append(namespace, stream, payload, **options)  # type: ignore[no-any-return]
        with self.lock:
            log = self.server.messages.setdefault(namespace, {}).setdefault(stream, [])
            sequence = len(log) + 1
            time.sleep(ROUND_TRIP_S)
            with self.server.lock:
                message = StoredMessage(sequence, bytes(payload))
                if len(log) >= sequence:
                    log[sequence - 1] = message
                else:
                    log.append(message)
            return AppendResult(str(sequence), sequence)


@adapter_mutant("HIST-005")
def appends_across_instances(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Appends compute the next sequence from the log's length, then write it (max + 1)."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, streams=_AppendsAcrossInstances(inner.streams, inner.server))


class _CheckpointCasPerInstance(_InstanceLocked):
    """Compare-and-set that compares under its own lock, then writes blindly."""

    def __init__(self, inner: Any, server: MemoryServer) -> None:
        super().__init__(inner)
        self.server = server

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        with self.lock:
            stored = self.inner.load(namespace, stream, group)
            if stored.revision != checkpoint.revision:
                raise ConflictError("stale checkpoint")
            time.sleep(ROUND_TRIP_S)
            saved = checkpoint.saved()
            with self.server.lock:
                self.server.checkpoints.setdefault(namespace, {})[(stream, group)] = saved
            return saved


@adapter_mutant("HIST-007")
def checkpoint_cas_per_instance(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Group state compare-and-set is atomic only within one process (one adapter instance)."""
    inner = basic_memory(options, clock)
    return Mutated(inner, checkpoints=_CheckpointCasPerInstance(inner.checkpoints, inner.server))


class _DedupePerInstance(_InstanceLocked):
    """Remembers idempotency keys in this instance only, as a per-process index would."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.seen: dict[tuple[str, str, str], tuple[int, float]] = {}

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> AppendResult:
        key = options.pop("idempotency_key", None)
        if key is None:
            return self.inner.append(namespace, stream, payload, **options)  # type: ignore[no-any-return]
        window, now = options.get("dedupe_window_ms", 0.0), options.get("now_ms", 0.0)
        with self.lock:
            found = self.seen.get((namespace, stream, key))
            if found is not None and now - found[1] < window:
                return AppendResult(str(found[0]), found[0], duplicate=True)
            result: AppendResult = self.inner.append(namespace, stream, payload, **options)
            self.seen[(namespace, stream, key)] = (result.sequence, now)
            return result


@adapter_mutant("HIST-006")
def dedupe_per_instance(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Idempotency keys are deduplicated per adapter instance, not across nodes."""
    return swap(options, clock, _DedupePerInstance, "streams")


class _DedupeCheckThenAppend(_InstanceLocked):
    """Looks the idempotency key up in the server's shared index, appends in a second
    step, then records the key: correct one node at a time, racy across nodes."""

    def __init__(self, inner: Any, server: MemoryServer) -> None:
        super().__init__(inner)
        self.server = server

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> AppendResult:
        key = options.pop("idempotency_key", None)
        if key is None:
            return self.inner.append(namespace, stream, payload, **options)  # type: ignore[no-any-return]
        window, now = options.get("dedupe_window_ms", 0.0), options.get("now_ms", 0.0)
        index = self.server.idempotency
        with self.lock:
            with self.server.lock:
                found = index.entries.get((namespace, stream, key))
            if found is not None and now - found[1] < window:
                return AppendResult(str(found[0]), found[0], duplicate=True)
            time.sleep(ROUND_TRIP_S)
            result: AppendResult = self.inner.append(namespace, stream, payload, **options)
            with self.server.lock:
                index.remember((namespace, stream, key), result.sequence, now, window)
            return result


@adapter_mutant("HIST-006")
def dedupe_check_then_append(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Idempotent appends check a shared index, then append and record the key in further
    steps (GET, XADD, SET): two nodes appending one key at once both append."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, streams=_DedupeCheckThenAppend(inner.streams, inner.server))


_PROCESS_INDEX: dict[tuple[str, str, str], tuple[int, float]] = {}
"""Idempotency keys seen by this process: shared by every adapter instance in it."""
_PROCESS_LOCK = threading.Lock()


class _DedupePerProcess(Wrap):
    """Remembers idempotency keys in a table of this process, as an in-memory index would."""

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> AppendResult:
        key = options.pop("idempotency_key", None)
        if key is None:
            return self.inner.append(namespace, stream, payload, **options)  # type: ignore[no-any-return]
        window, now = options.get("dedupe_window_ms", 0.0), options.get("now_ms", 0.0)
        with _PROCESS_LOCK:
            found = _PROCESS_INDEX.get((namespace, stream, key))
            if found is not None and now - found[1] < window:
                return AppendResult(str(found[0]), found[0], duplicate=True)
            result: AppendResult = self.inner.append(namespace, stream, payload, **options)
            _PROCESS_INDEX[(namespace, stream, key)] = (result.sequence, now)
            return result


def dedupe_per_process(options: Mapping[str, object], clock: Clock) -> Mutated:
    """SQLite whose idempotency index lives in each process: correct across threads and
    instances of one process, duplicating across processes. Without a ``path`` option it
    uses one file in the temporary directory (each kit run has its own namespaces)."""
    path = options.get("path") or os.path.join(tempfile.gettempdir(), "sanctum-mutant.sqlite")
    inner = create_sqlite_adapter({**options, "path": path}, clock)
    return Mutated(inner, streams=_DedupePerProcess(inner.streams))  # type: ignore[arg-type]


dedupe_per_process.opens_across_processes = True  # type: ignore[attr-defined]
adapter_mutant("HIST-008")(dedupe_per_process)
