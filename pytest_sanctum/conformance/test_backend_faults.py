"""Real backend errors (ERR-006, ERR-007, ERR-040): faults provoked through the adapter's fault injector.

A closed adapter (ERR-004) is not a failing backend: a lock held by another client, a
refused connection, a reply that never comes and a lost serialisation conflict each take
a different path through an adapter's error mapping. The adapter's test support provokes
them for real (``pytest_sanctum.kit.backend_faults``); an adapter without a fault injector gets
``untested`` for these contracts, never ``pass``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.client import StorageClient
from pytest_sanctum.core import cache_key
from pytest_sanctum.errors import (
    BackendUnavailableError,
    CacheMissError,
    ConflictError,
    SanctumError,
)
from pytest_sanctum.kit import backend_faults
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.backend_faults import FaultInjector
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.types import Capabilities, Layer

NO_INJECTOR = (
    "untested: no fault injector: the adapter offers neither a fault_injector() method nor "
    "the pytest_sanctum_fault_injector hook, so the kit cannot make its backend fail for real "
    "(see docs/adapter-authors.md, 'Provoke real faults')"
)


def _injector(kit: KitSession, adapter: StorageAdapter) -> FaultInjector:
    found = kit.fault_injector(adapter)
    if found is None:
        pytest.skip(NO_INJECTOR)
    return found


Attempt = tuple[str, str, Callable[[StorageClient, str], object]]
"""(op, key or stream, call) of one operation tried while a fault lasts."""

WRITES: list[Attempt] = [
    ("record.put", "k", lambda c, ns: c.records.put(ns, "k", {"n": 2})),
    ("record.delete", "k", lambda c, ns: c.records.delete(ns, "k")),
]
READS: list[Attempt] = [
    ("record.get", "k", lambda c, ns: c.records.get(ns, "k", bypass_cache=True)),
]
STREAM_WRITES: list[Attempt] = [
    ("stream.append", "s", lambda c, ns: c.streams.append(ns, "s", {"n": 2})),
    ("stream.read", "s", lambda c, ns: c.streams.read(ns, "s", "g", "c")),
]


def _outcome(attempt: Attempt, client: StorageClient, namespace: str) -> str | None:
    """``None`` when the attempt raised the retryable BackendUnavailableError naming its
    op, namespace and key; else what happened instead."""
    op, key, call = attempt
    try:
        result = call(client, namespace)
    except BackendUnavailableError as error:
        named = (error.retryable, error.op, error.namespace, error.key)
        # A cache store that fails names the key the facade caches under (record/<key>).
        if named[:3] == (True, op, namespace) and error.key in (key, cache_key(Layer.RECORD, key)):
            return None
        return f"{error!r}: (retryable, op, namespace, key) were {named}"
    except SanctumError as error:
        return f"{type(error).__name__} ({error.code}): {error}"
    return f"no error: returned {result!r}"


@contract("ERR-006")
def test_busy_unreachable_and_timing_out_backends_are_retryable(
    sanctum_kit: KitSession,
    sanctum_adapter: StorageAdapter,
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
) -> None:
    """Under each fault the injector offers, operations raise retryable BackendUnavailableError,
    lose nothing acknowledged, and work again once the fault is over."""
    injector = _injector(sanctum_kit, sanctum_adapter)
    offered = [fault for fault in backend_faults.UNAVAILABLE_FAULTS if fault in injector.faults]
    if not offered:
        pytest.skip(
            f"untested: the adapter's fault injector offers none of "
            f"{', '.join(backend_faults.UNAVAILABLE_FAULTS)} (it offers {sorted(injector.faults)})"
        )
    client, ns = sanctum_client, sanctum_namespace
    streams = sanctum_adapter.capabilities.streams
    kept = client.records.put(ns, "kept", {"acknowledged": True})
    if streams:
        client.streams.append(ns, "kept", {"acknowledged": True})
    wrong: dict[str, str] = {}
    for fault in offered:
        client.records.put(ns, "k", {"n": 1})
        if streams:
            client.streams.append(ns, "s", {"n": 1})  # something for the group read to claim
        attempts = [*WRITES, *(STREAM_WRITES if streams else [])]
        if fault != backend_faults.LOCKED:  # a write lock held elsewhere need not block reads
            attempts += READS
        with injector.provoke(fault):
            for attempt in attempts:
                found = _outcome(attempt, client, ns)
                if found is not None:
                    wrong[f"{fault}: {attempt[0]}"] = found
        after = client.records.put(ns, "k", {"n": 3})
        read = client.records.get(ns, "k")
        if (read.value, read.version) != ({"n": 3}, after.version):
            wrong[f"after {fault}"] = f"a put returned {after}, a read then {read}"
    stored = sanctum_backdoor.read_object(Layer.RECORD, ns, "kept")
    if stored is None or (stored.version, stored.etag) != (kept.version, kept.etag):
        wrong["acknowledged record"] = f"written as {kept}, the backend holds {stored}"
    if streams and len(sanctum_backdoor.stream_messages(ns, "kept")) != 1:
        wrong["acknowledged message"] = f"{sanctum_backdoor.stream_messages(ns, 'kept')}"
    assert wrong == {}, f"{explain('ERR-006')} with faults {offered}: {wrong}"


@contract("ERR-007")
def test_serialisation_failures_are_retryable_conflicts(
    sanctum_kit: KitSession,
    sanctum_adapter: StorageAdapter,
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
) -> None:
    """A write losing a serialisation conflict raises ConflictError and changes nothing; a
    retry after the conflict applies."""
    injector = _injector(sanctum_kit, sanctum_adapter)
    if backend_faults.SERIALIZATION not in injector.faults:
        pytest.skip(
            "unsupported: serialization: the adapter's fault injector says its backend never "
            f"fails a write with a serialisation conflict (it offers {sorted(injector.faults)})"
        )
    client, ns = sanctum_client, sanctum_namespace
    written = client.records.put(ns, "k", {"n": 1})
    attempts: list[Attempt] = [
        ("record.put", "k", lambda c, n: c.records.put(n, "k", {"n": 2}, if_match=written.etag)),
        ("record.put", "k", lambda c, n: c.records.put(n, "k", {"n": 2})),
        ("record.delete", "k", lambda c, n: c.records.delete(n, "k", if_match=written.etag)),
    ]
    wrong: dict[str, str] = {}
    with injector.provoke(backend_faults.SERIALIZATION):
        for number, (op, key, call) in enumerate(attempts):
            try:
                result = call(client, ns)
            except ConflictError as error:
                named = (error.code, error.retryable, error.op, error.namespace, error.key)
                if named != ("conflict", True, op, ns, key):
                    wrong[f"{number}: {op}"] = f"(code, retryable, op, namespace, key) {named}"
            except SanctumError as error:
                wrong[f"{number}: {op}"] = f"{type(error).__name__} ({error.code}): {error}"
            else:
                wrong[f"{number}: {op}"] = f"no error: returned {result!r}"
    stored = sanctum_backdoor.read_object(Layer.RECORD, ns, "k")
    if stored is None or (stored.version, stored.etag) != (written.version, written.etag):
        wrong["after the conflicts"] = f"written as {written}, the backend holds {stored}"
    retried = client.records.put(ns, "k", {"n": 2}, if_match=written.etag)
    if retried.version != written.version + 1:
        wrong["retry"] = f"the retry with the same if_match returned {retried}"
    assert wrong == {}, f"{explain('ERR-007')} {wrong}"


def _every_operation(capabilities: Capabilities) -> tuple[list[Attempt], list[Attempt]]:
    """(writes, others): one call of every store method the facade reaches, per layer the
    adapter offers. Writes change the blob, record or stream data (a stream read claims
    deliveries, so it is one); the others read, or use the cache, which may live outside
    the failing backend (in the process, on another server, the kit's reference cache)
    and so may go on working while it fails."""
    writes: list[Attempt] = []
    others: list[Attempt] = []
    if capabilities.blobs:
        writes += [
            ("blob.put", "b", lambda c, ns: c.blobs.put(ns, "b", b"2")),
            ("blob.delete", "b", lambda c, ns: c.blobs.delete(ns, "b")),
        ]
        others += [
            ("blob.get", "b", lambda c, ns: c.blobs.get(ns, "b", bypass_cache=True)),
            ("blob.head", "b", lambda c, ns: c.blobs.head(ns, "b")),
            ("blob.list", "", lambda c, ns: c.blobs.list(ns)),
        ]
    if capabilities.records:
        writes += [
            ("record.put", "k", lambda c, ns: c.records.put(ns, "k", {"n": 2})),
            ("record.delete", "k", lambda c, ns: c.records.delete(ns, "k")),
        ]
        others += [("record.get", "k", lambda c, ns: c.records.get(ns, "k", bypass_cache=True))]
    if capabilities.streams:
        writes += [
            ("stream.append", "s", lambda c, ns: c.streams.append(ns, "s", {"n": 2})),
            ("stream.read", "s", lambda c, ns: c.streams.read(ns, "s", "g", "c")),
            ("stream.ack", "s", lambda c, ns: c.streams.ack(ns, "s", "g", ["1"])),
        ]
        others += [("stream.read", "s", lambda c, ns: c.streams.checkpoint(ns, "s", "g"))]
    if capabilities.cache:
        others += [
            ("cache.set", "c", lambda c, ns: c.cache.set(ns, "c", b"2")),
            ("cache.delete", "c", lambda c, ns: c.cache.delete(ns, "c")),
            ("cache.get", "c", lambda c, ns: c.cache.get(ns, "c")),
        ]
    return writes, others


def _refused(attempt: Attempt, client: StorageClient, namespace: str) -> str | None:
    """``None`` when the attempt raised a retryable BackendUnavailableError naming its op and
    namespace (or, for a cache read, missed: a cache may drop any entry); else what
    happened instead."""
    op, _, call = attempt
    try:
        result = call(client, namespace)
    except BackendUnavailableError as error:
        named = (error.retryable, error.op, error.namespace)
        return None if named == (True, op, namespace) else f"{error!r}: {named}"
    except CacheMissError:
        return None if op == "cache.get" else "CacheMissError"
    except SanctumError as error:
        return f"{type(error).__name__} ({error.code}): {error}"
    return f"{NO_ERROR} {result!r}"


NO_ERROR = "no error: returned"


@contract("ERR-040")
def test_every_store_method_maps_backend_faults(
    sanctum_kit: KitSession,
    sanctum_adapter: StorageAdapter,
    sanctum_client: StorageClient,
    sanctum_namespace: str,
) -> None:
    """Under each fault the injector offers, every method of every layer raises a retryable
    BackendUnavailableError; reads under a lock held elsewhere, and the cache under any
    fault, may succeed instead, but never raise anything else."""
    injector = _injector(sanctum_kit, sanctum_adapter)
    offered = [fault for fault in backend_faults.UNAVAILABLE_FAULTS if fault in injector.faults]
    if not offered:
        pytest.skip(
            f"untested: the adapter's fault injector offers none of "
            f"{', '.join(backend_faults.UNAVAILABLE_FAULTS)} (it offers {sorted(injector.faults)})"
        )
    client, ns = sanctum_client, sanctum_namespace
    capabilities = sanctum_adapter.capabilities
    writes, others = _every_operation(capabilities)
    wrong: dict[str, str] = {}
    for fault in offered:
        if capabilities.blobs:
            client.blobs.put(ns, "b", b"1")
        if capabilities.records:
            client.records.put(ns, "k", {"n": 1})
        if capabilities.streams:  # one delivery pending for the ack, one message to hand out
            client.streams.append(ns, "s", {"n": 1})
            client.streams.append(ns, "s", {"n": 1})
            client.streams.read(ns, "s", "g", "c", count=1, visibility_timeout_ms=60_000.0)
        if capabilities.cache:
            client.cache.set(ns, "c", b"1")
        with injector.provoke(fault):
            for number, attempt in enumerate([*writes, *others]):
                found = _refused(attempt, client, ns)
                op = attempt[0]
                may_pass = op.startswith("cache.") or (
                    number >= len(writes) and fault == backend_faults.LOCKED
                )
                if found is not None and not (may_pass and found.startswith(NO_ERROR)):
                    wrong[f"{fault}: {op} #{number}"] = found
    assert wrong == {}, f"{explain('ERR-040')} with faults {offered}: {wrong}"
