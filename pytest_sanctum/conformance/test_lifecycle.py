"""Lifecycle contracts (LIFE-*): what ``reset`` removes and keeps, and what ``close`` refuses.

``reset(prefix)`` and ``close()`` belong to the adapter, not the facade, so these tests
call them on the adapter under test (``sanctum_adapter``) and look at the result through
the backdoor and the stores themselves. Real adapters get ``reset`` wrong as pattern
matches (``LIKE 'prefix%'``, where ``_`` matches any character and ASCII case is ignored;
``SCAN MATCH`` without escaping), as substring matches, or by forgetting a layer (the
cache, the idempotency index, the consumer-group checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_sanctum.adapters.base import (
    BatchStreamLog,
    CachingVersionedStore,
    CheckpointStore,
    GroupStore,
    StorageAdapter,
)
from pytest_sanctum.client import StorageClient
from pytest_sanctum.core import cache_key
from pytest_sanctum.errors import BackendUnavailableError, CacheMissError
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.fixtures import ClientMaker
from pytest_sanctum.types import CacheEntry, CacheFill, Capabilities, GroupCheckpoint, Layer


def _target(base: str) -> str:
    """The prefix the tests reset: it holds ``_``, a LIKE wildcard."""
    return f"{base}_a"


def _matching(base: str) -> list[str]:
    """Namespaces starting with the reset prefix: reset removes all their data."""
    target = _target(base)
    return [target, f"{target}b", f"{target}.c", f"{target}-d"]


def _others(base: str) -> list[str]:
    """Namespaces not starting with the reset prefix: reset keeps all their data.

    ``base`` and ``base_`` are prefixes of the reset prefix; ``base-a`` and ``base.a``
    match ``LIKE 'base_a%'``; ``base_A`` matches it case-insensitively; the last one
    contains the reset prefix after its start.
    """
    return [base, f"{base}_", f"{base}-a", f"{base}.a", f"{base}_A", f"{base}x{_target(base)}"]


def _populate(client: StorageClient, caps: Capabilities, namespace: str) -> None:
    """Give ``namespace`` data in every declared layer: a blob, a record (read, so cached),
    a message appended with an idempotency key, a group holding it pending, cache entries."""
    if caps.blobs:
        client.blobs.put(namespace, "b", b"blob")
    if caps.records:
        client.records.put(namespace, "r", {"n": 1})
        client.records.get(namespace, "r")
    if caps.streams:
        key = "i" if caps.idempotent_append else None
        client.streams.append(namespace, "s", {"n": 1}, idempotency_key=key)
        client.streams.read(namespace, "s", "g", "c")
    if caps.cache:
        client.cache.set(namespace, "c", b"cached")


def _cached(adapter: StorageAdapter, client: StorageClient, namespace: str) -> list[str]:
    """Which of ``namespace``'s cache entries the cache still serves."""
    served = []
    try:
        client.cache.get(namespace, "c")
        served.append("direct entry 'c'")
    except CacheMissError:
        pass
    if adapter.cache is not None and adapter.cache.get(namespace, cache_key(Layer.RECORD, "r")):
        served.append("read-through entry of record 'r'")
    return served


@pytest.fixture
def reset_world(
    sanctum_client: StorageClient, sanctum_adapter: StorageAdapter, sanctum_namespace: str
) -> tuple[StorageClient, StorageAdapter, Capabilities]:
    """Every namespace around the reset prefix populated, then ``reset(prefix)`` called."""
    caps = sanctum_adapter.capabilities
    for namespace in [*_matching(sanctum_namespace), *_others(sanctum_namespace)]:
        _populate(sanctum_client, caps, namespace)
    sanctum_adapter.reset(_target(sanctum_namespace))
    return sanctum_client, sanctum_adapter, caps


@contract("LIFE-001")
def test_reset_removes_every_layer_of_matching_namespaces(
    reset_world: tuple[StorageClient, StorageAdapter, Capabilities],
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
) -> None:
    """After reset(prefix), namespaces starting with it hold nothing in any layer."""
    client, adapter, caps = reset_world
    left: dict[str, list[str]] = {}
    for namespace in _matching(sanctum_namespace):
        found = []
        if caps.blobs and sanctum_backdoor.read_object(Layer.BLOB, namespace, "b") is not None:
            found.append("blob 'b'")
        if caps.records and sanctum_backdoor.read_object(Layer.RECORD, namespace, "r"):
            found.append("record 'r'")
        if caps.blobs and (listed := [i.key for i in client.blobs.list(namespace)]):
            found.append(f"blobs listed: {listed}")
        if caps.streams:
            if sanctum_backdoor.stream_messages(namespace, "s"):
                found.append("messages of stream 's'")
            assert adapter.checkpoints is not None
            if adapter.checkpoints.load(namespace, "s", "g") != GroupCheckpoint():
                found.append("the checkpoint of group 'g'")
            key = "i" if caps.idempotent_append else None
            again = client.streams.append(namespace, "s", {"n": 2}, idempotency_key=key)
            if (again.sequence, again.duplicate) != (1, False):
                found.append(f"the stream's sequence or idempotency key ({again} appended)")
            delivered = [
                (d.sequence, d.delivery_count)
                for d in client.streams.read(namespace, "s", "g", "c")
            ]
            if delivered != [(1, 1)]:
                found.append(f"group 'g' state: a new message 1 was delivered as {delivered}")
        if caps.cache:
            found += _cached(adapter, client, namespace)
        if found:
            left[namespace] = found
    assert left == {}, (
        f"{explain('LIFE-001')} after reset({_target(sanctum_namespace)!r}) these namespaces "
        f"still hold: {left}"
    )


@contract("LIFE-002")
def test_reset_spares_every_other_namespace(
    reset_world: tuple[StorageClient, StorageAdapter, Capabilities],
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
) -> None:
    """After reset(prefix), namespaces not starting with it keep all their data."""
    client, adapter, caps = reset_world
    lost: dict[str, list[str]] = {}
    served_from_cache = 0
    for namespace in _others(sanctum_namespace):
        missing = []
        if caps.blobs and sanctum_backdoor.read_object(Layer.BLOB, namespace, "b") is None:
            missing.append("blob 'b'")
        if caps.records and sanctum_backdoor.read_object(Layer.RECORD, namespace, "r") is None:
            missing.append("record 'r'")
        if caps.streams:
            if [m.sequence for m in sanctum_backdoor.stream_messages(namespace, "s")] != [1]:
                missing.append("message 1 of stream 's'")
            assert adapter.checkpoints is not None
            state = adapter.checkpoints.load(namespace, "s", "g")
            if (state.cursor, sorted(state.pending)) != (1, [1]):
                missing.append(f"group 'g' holding message 1 pending (loaded {state})")
            if caps.idempotent_append:
                again = client.streams.append(namespace, "s", {"n": 2}, idempotency_key="i")
                if (again.message_id, again.duplicate) != ("1", True):
                    missing.append(f"idempotency key 'i' (a repeat appended {again})")
        if caps.cache:
            served_from_cache += len(_cached(adapter, client, namespace))
        if missing:
            lost[namespace] = missing
    assert lost == {}, (
        f"{explain('LIFE-002')} reset({_target(sanctum_namespace)!r}) removed data of "
        f"namespaces it does not match: {lost}"
    )
    if caps.cache:
        assert served_from_cache > 0, (
            f"{explain('LIFE-002')} reset({_target(sanctum_namespace)!r}) emptied the cache "
            f"of every namespace it does not match"
        )


def _store_calls(namespace: str) -> list[tuple[str, str, Callable[[Any], object]]]:
    """(store, method, call taking the store) for every method of every store."""
    entry = CacheEntry(b"x", 1, "e", 0.0)
    return (
        [(store, "put", lambda s: s.put(namespace, "k", b"x")) for store in ("blobs", "records")]
        + [
            (store, method, call)
            for store in ("blobs", "records")
            for method, call in [
                ("get", lambda s: s.get(namespace, "k")),
                ("head", lambda s: s.head(namespace, "k")),
                ("delete", lambda s: s.delete(namespace, "k")),
                ("list", lambda s: s.list(namespace)),
                ("put_and_purge", lambda s: s.put_and_purge(namespace, "k", b"x", purge="k")),
                ("delete_and_purge", lambda s: s.delete_and_purge(namespace, "k", purge="k")),
                ("get_and_fill", lambda s: s.get_and_fill(namespace, "k", CacheFill("k", 0, 1, 1))),
                ("list(limit=0)", lambda s: s.list(namespace, limit=0)),
            ]
        ]
        + [
            ("streams", "append", lambda s: s.append(namespace, "s", b"{}")),
            ("streams", "read", lambda s: s.read(namespace, "s", after=0, limit=10)),
            ("streams", "read_sequences", lambda s: s.read_sequences(namespace, "s", [1])),
            ("checkpoints", "load", lambda s: s.load(namespace, "s", "g")),
            ("checkpoints", "save", lambda s: s.save(namespace, "s", "g", GroupCheckpoint())),
            (
                "checkpoints",
                "claim",
                lambda s: s.claim(namespace, "s", "g", "c", limit=1, now_ms=0.0, visible_at_ms=1.0),
            ),
            ("checkpoints", "ack", lambda s: s.ack(namespace, "s", "g", [1])),
            ("cache", "get", lambda s: s.get(namespace, "k")),
            ("cache", "set", lambda s: s.set(namespace, "k", entry, 1000.0)),
            ("cache", "delete", lambda s: s.delete(namespace, "k")),
        ]
    )


_OPTIONAL: dict[str, type] = {
    "put_and_purge": CachingVersionedStore,
    "delete_and_purge": CachingVersionedStore,
    "get_and_fill": CachingVersionedStore,
    "read_sequences": BatchStreamLog,
    "save": CheckpointStore,
    "claim": GroupStore,
    "ack": GroupStore,
}
"""Store methods of one protocol among alternatives (adapters/base.py): called only on a
store that offers that protocol."""


def _facade_calls(namespace: str) -> list[tuple[str, str, Callable[[StorageClient], object]]]:
    """(capability, op, call taking a client) for every facade operation."""
    return [
        ("blobs", "blob.put", lambda c: c.blobs.put(namespace, "k", b"x")),
        ("blobs", "blob.get", lambda c: c.blobs.get(namespace, "k")),
        ("blobs", "blob.head", lambda c: c.blobs.head(namespace, "k")),
        ("blobs", "blob.delete", lambda c: c.blobs.delete(namespace, "k")),
        ("blobs", "blob.list", lambda c: c.blobs.list(namespace)),
        ("records", "record.put", lambda c: c.records.put(namespace, "k", {"n": 1})),
        ("records", "record.get", lambda c: c.records.get(namespace, "k", bypass_cache=True)),
        ("records", "record.delete", lambda c: c.records.delete(namespace, "k")),
        ("streams", "stream.append", lambda c: c.streams.append(namespace, "s", {"n": 1})),
        ("streams", "stream.read", lambda c: c.streams.read(namespace, "s", "g", "c")),
        ("streams", "stream.ack", lambda c: c.streams.ack(namespace, "s", "g", ["1"])),
        ("cache", "cache.set", lambda c: c.cache.set(namespace, "k", b"x")),
        ("cache", "cache.get", lambda c: c.cache.get(namespace, "k")),
        ("cache", "cache.delete", lambda c: c.cache.delete(namespace, "k")),
    ]


def _refusal(call: Callable[[Any], object], target: object, namespace: str) -> str | None:
    """``None`` when ``call(target)`` raised a retryable BackendUnavailableError naming
    ``namespace``, else what it did instead."""
    try:
        result = call(target)
    except BackendUnavailableError as error:
        if error.retryable and error.namespace == namespace:
            return None
        return f"{error!r} (namespace {error.namespace!r})"
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return f"no error: returned {result!r}"


@contract("LIFE-003")
def test_a_closed_adapter_refuses_every_store_call(
    sanctum_reopen: Callable[[], StorageAdapter], sanctum_namespace: str
) -> None:
    """Every method of every store of a closed adapter raises BackendUnavailableError naming
    the namespace it was called with."""
    adapter = sanctum_reopen()
    adapter.close()
    wrong = {}
    for store_name, method, call in _store_calls(sanctum_namespace):
        store = getattr(adapter, store_name)
        protocol = _OPTIONAL.get(method)
        if store is not None and (protocol is None or isinstance(store, protocol)):
            found = _refusal(call, store, sanctum_namespace)
            if found is not None:
                wrong[f"{store_name}.{method}"] = found
    assert wrong == {}, (
        f"{explain('LIFE-003')} store calls on the closed adapter with namespace "
        f"{sanctum_namespace!r}: {wrong}"
    )


@contract("LIFE-003")
def test_a_closed_adapter_fails_every_facade_operation(
    sanctum_make_client: ClientMaker,
    sanctum_reopen: Callable[[], StorageAdapter],
    sanctum_namespace: str,
) -> None:
    """Every facade operation over a closed adapter raises a retryable BackendUnavailableError."""
    adapter = sanctum_reopen()
    client = sanctum_make_client(adapter=adapter)
    caps = adapter.capabilities
    adapter.close()
    wrong = {}
    for capability, op, call in _facade_calls(sanctum_namespace):
        if getattr(caps, capability):
            found = _refusal(call, client, sanctum_namespace)
            if found is not None:
                wrong[op] = found
    assert wrong == {}, f"{explain('LIFE-003')} operations over the closed adapter: {wrong}"
