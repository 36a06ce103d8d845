"""Writes purge caches: synchronous local purge, fan-out events, failures logged not raised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from facade_helpers import (
    NS,
    AdapterDouble,
    Faulty,
    Hooked,
    MakeClient,
    RaisingFanout,
    lagging_adapter,
)

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import (
    BackendUnavailableError,
    CacheMissError,
    ConsistencyError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.fanout import LocalFanout, QueuedFanout
from pytest_sanctum.observability import EVENT_FANOUT_ERROR, EVENT_FIELDS, capture_logs
from pytest_sanctum.types import InvalidationEvent, Layer
from reference_adapters.memory import MemoryAdapter

OpenAdapter = Callable[..., MemoryAdapter]


def delete_record(client: StorageClient) -> int:
    client.records.delete(NS, "k")
    return 1  # the version deleted


def delete_blob(client: StorageClient) -> int:
    client.blobs.delete(NS, "k")
    return 1


WRITES: dict[str, Callable[[StorageClient], int]] = {
    "record.put": lambda c: c.records.put(NS, "k", {"v": 2}).version,
    "record.delete": delete_record,
    "blob.put": lambda c: c.blobs.put(NS, "k", b"2").version,
    "blob.delete": delete_blob,
}


def seed(client: StorageClient, layer: Layer) -> None:
    """Write version 1 of ``k`` and read it so that it is cached."""
    if layer is Layer.RECORD:
        client.records.put(NS, "k", {"v": 1})
        client.records.get(NS, "k")
    else:
        client.blobs.put(NS, "k", b"1")
        client.blobs.get(NS, "k")


@pytest.mark.parametrize("op", WRITES)
def test_a_write_purges_the_local_cache_before_returning_and_publishes_an_event(
    make_client: MakeClient, op: str
) -> None:
    fanout = QueuedFanout()
    client = make_client(fanout=fanout, node_id="node-1")
    layer = Layer(op.partition(".")[0])
    seed(client, layer)
    cache = client.adapters["memory"].cache
    assert cache is not None
    assert cache.get(NS, f"{layer.value}/k") is not None
    fanout.deliver_all()

    version = WRITES[op](client)

    assert cache.get(NS, f"{layer.value}/k") is None
    assert fanout.pending == (InvalidationEvent(layer, NS, "k", version, "node-1"),)


def test_a_failed_write_neither_purges_nor_publishes(make_client: MakeClient) -> None:
    fanout = QueuedFanout()
    client = make_client(fanout=fanout)
    seed(client, Layer.RECORD)
    fanout.deliver_all()

    with pytest.raises(PreconditionFailedError):
        client.records.put(NS, "k", {"v": 2}, if_match="stale")
    with pytest.raises(NotFoundError):
        client.records.delete(NS, "missing")

    assert fanout.pending == ()
    assert client.records.get(NS, "k", level="cache_only").version == 1


def test_a_client_ignores_its_own_events_and_applies_everyone_elses(
    make_client: MakeClient,
) -> None:
    fanout = LocalFanout()
    client = make_client(fanout=fanout, node_id="self")
    seed(client, Layer.RECORD)

    fanout.publish(InvalidationEvent(Layer.RECORD, NS, "k", 1, "self"))
    assert client.records.get(NS, "k", level="cache_only").version == 1
    fanout.publish(InvalidationEvent(Layer.BLOB, NS, "k", 1, "other"))
    assert client.records.get(NS, "k", level="cache_only").version == 1  # other layer
    fanout.publish(InvalidationEvent(Layer.RECORD, NS, "k", 1, "other"))
    assert client.adapters["memory"].cache.get(NS, "record/k") is None  # type: ignore[union-attr]


@pytest.mark.parametrize("namespace", ["unconfigured", "bad namespace"])
def test_events_for_namespaces_the_client_does_not_serve_are_ignored(
    make_client: MakeClient, namespace: str
) -> None:
    fanout = LocalFanout()
    make_client({"namespaces": {"*": None, NS: {"adapter": "memory"}}}, fanout=fanout)
    with capture_logs() as logs:
        fanout.publish(InvalidationEvent(Layer.RECORD, namespace, "k", 1, "other"))
    assert logs.events == []


@pytest.mark.parametrize("memory_interface", ["basic"])  # a purge separate from the write
def test_a_failing_local_purge_does_not_fail_the_write(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    inner = open_adapter()
    fanout = QueuedFanout()
    adapter = AdapterDouble(inner, cache=Faulty(inner.cache, delete=RuntimeError("cache down")))
    client = make_client(adapter=adapter, fanout=fanout)

    with capture_logs() as logs:
        written = client.records.put(NS, "k", {"v": 1})

    assert written.version == 1
    [event] = logs.of(EVENT_FANOUT_ERROR)
    assert event["level"] == "ERROR"
    assert set(event) == {"event", "level", *EVENT_FIELDS[EVENT_FANOUT_ERROR]}
    assert (event["namespace"], event["key"]) == (NS, "k")
    assert "local purge failed" in str(event["message"])
    assert "cache down" in str(event["message"])
    assert len(fanout.pending) == 1  # the event is still published


def test_a_failing_publish_does_not_fail_the_write(make_client: MakeClient) -> None:
    client = make_client(fanout=RaisingFanout())
    client.blobs.put(NS, "k", b"1")
    client.blobs.get(NS, "k")

    with capture_logs() as logs:
        written = client.blobs.put(NS, "k", b"2")
        client.blobs.delete(NS, "k")

    assert written.version == 2
    events = logs.of(EVENT_FANOUT_ERROR)
    assert len(events) == 2
    assert all("fan-out publish failed" in str(e["message"]) for e in events)
    assert client.adapters["memory"].cache.get(NS, "blob/k") is None  # type: ignore[union-attr]


def test_a_failing_remote_purge_is_logged_and_does_not_stop_delivery(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    fanout = QueuedFanout()
    writer = make_client(fanout=fanout, node_id="writer")
    inner = open_adapter()
    broken = AdapterDouble(inner, cache=Faulty(inner.cache, delete=ConnectionError("down")))
    reader = make_client(adapter=broken, fanout=fanout, node_id="reader")
    healthy = make_client(fanout=fanout, node_id="healthy")
    writer.records.put(NS, "k", {"v": 1})
    reader.records.get(NS, "k")
    healthy.records.get(NS, "k")

    with capture_logs() as logs:
        assert fanout.deliver_all() == 1

    [event] = logs.of(EVENT_FANOUT_ERROR)
    assert "remote purge failed" in str(event["message"])
    assert event["correlation_id"]
    with pytest.raises(CacheMissError):
        healthy.records.get(NS, "k", level="cache_only")


def test_a_shared_cache_is_not_purged_again_by_the_other_nodes(make_client: MakeClient) -> None:
    fanout = QueuedFanout()
    shared: dict[str, Any] = {"adapters": {"memory": {"options": {"shared_cache": True}}}}
    node_a = make_client(shared, fanout=fanout, node_id="a")
    node_b = make_client(shared, fanout=fanout, node_id="b")
    node_a.records.put(NS, "k", {"v": 1})
    node_b.records.get(NS, "k")
    node_a.records.put(NS, "k", {"v": 2})  # purges the shared cache synchronously
    with pytest.raises(CacheMissError):
        node_b.records.get(NS, "k", level="cache_only")
    node_b.records.get(NS, "k")  # refills the shared cache with v2

    fanout.deliver_all()

    assert node_a.records.get(NS, "k", level="cache_only").version == 2


def test_a_separate_local_cache_adapter_is_purged_by_remote_events(
    make_client: MakeClient, server_name: str
) -> None:
    # The records live on an adapter with a shared (distributed) cache, but reads are
    # cached by a second adapter whose cache is local to each node: remote purges apply.
    fanout = QueuedFanout()
    config = {
        "adapters": {
            "memory": {"options": {"shared_cache": True}},
            "local": {"kind": "memory", "options": {"server": f"{server_name}-cache"}},
        },
        "cache": {"adapter": "local"},
    }
    node_a = make_client(config, fanout=fanout, node_id="a")
    node_b = make_client(config, fanout=fanout, node_id="b")
    node_a.records.put(NS, "k", {"v": 1})
    node_b.records.get(NS, "k", level="eventual")
    node_a.records.put(NS, "k", {"v": 2})
    assert node_b.records.get(NS, "k", level="eventual").version == 1

    fanout.deliver_all()

    assert node_b.records.get(NS, "k", level="eventual").version == 2


def test_a_closed_client_ignores_invalidations(make_client: MakeClient) -> None:
    fanout = RaisingFanout()
    client = make_client(fanout=fanout)
    client.close()
    with capture_logs() as logs:
        fanout.handlers[0](InvalidationEvent(Layer.RECORD, NS, "k", 1, "other"))
    assert logs.events == []
    with pytest.raises(BackendUnavailableError):
        client.records.get(NS, "k")


# --- fills never go back behind this client's own writes ---------------------------------


def test_a_fill_never_stores_a_version_older_than_this_clients_last_write(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    adapter = lagging_adapter(open_adapter(), clock, 500)
    client = make_client(adapter=adapter)
    cache = adapter.inner.cache
    client.records.put(NS, "k", {"v": 1})
    clock.advance(1000)
    client.records.put(NS, "k", {"v": 2})

    assert client.records.get(NS, "k", level="eventual").version == 1  # the lagging replica
    assert cache.get(NS, "record/k") is None  # ... is not cached

    clock.advance(500)
    assert client.records.get(NS, "k", level="eventual").version == 2
    entry = cache.get(NS, "record/k")
    assert entry is not None
    assert entry.version == 2


def test_a_fill_never_stores_the_ghost_of_this_clients_own_delete(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    adapter = lagging_adapter(open_adapter(), clock, 500)
    client = make_client({"cache": {"staleness_budget_ms": 1000}}, adapter=adapter)
    client.records.put(NS, "k", {"v": 1})
    clock.advance(1000)
    client.records.delete(NS, "k")

    assert client.records.get(NS, "k", level="eventual").version == 1  # a ghost, allowed
    assert adapter.inner.cache.get(NS, "record/k") is None
    with pytest.raises(ConsistencyError):
        client.records.get(NS, "k")  # strong never returns the deleted version


@pytest.mark.parametrize("memory_interface", ["basic"])  # a fill separate from the read
@pytest.mark.parametrize(
    ("store", "method", "before"),
    [("records", "get", False), ("cache", "set", True)],
    ids=["write-after-backend-read", "write-between-check-and-fill"],
)
def test_a_read_racing_this_clients_write_never_caches_the_older_version(
    make_client: MakeClient, open_adapter: OpenAdapter, store: str, method: str, before: bool
) -> None:
    inner = open_adapter()
    hooked = Hooked(getattr(inner, store), method, before=before)
    swaps: dict[str, Any] = {store: hooked}
    client = make_client(adapter=AdapterDouble(inner, **swaps))
    client.records.put(NS, "k", {"v": 1})
    hooked.hook = lambda: client.records.put(NS, "k", {"v": 2})  # lands mid-read

    assert client.records.get(NS, "k").version == 1  # read before the write: fine

    assert inner.cache.get(NS, "record/k") is None
    assert client.records.get(NS, "k").version == 2  # same instant, budget 0
