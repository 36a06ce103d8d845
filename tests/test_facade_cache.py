"""The cache layer: direct key-value access with a TTL on the facade clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from facade_helpers import NS, AdapterDouble, MakeClient

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import CacheMissError, InvalidRequestError, UnsupportedOperationError
from pytest_sanctum.observability import OperationLabels, RecordingMetrics
from reference_adapters.memory import MemoryAdapter

OpenAdapter = Callable[..., MemoryAdapter]


def test_set_get_delete(client: StorageClient) -> None:
    client.cache.set(NS, "k", b"value")
    assert client.cache.get(NS, "k") == b"value"
    client.cache.delete(NS, "k")
    with pytest.raises(CacheMissError) as info:
        client.cache.get(NS, "k")
    assert (info.value.op, info.value.key) == ("cache.get", "k")
    client.cache.delete(NS, "k")  # deleting an absent entry is fine


def test_entries_live_for_the_namespace_ttl_by_default(
    make_client: MakeClient, clock: VirtualClock
) -> None:
    client = make_client({"cache": {"ttl_ms": 200}})
    client.cache.set(NS, "k", b"v")
    clock.advance(199)
    assert client.cache.get(NS, "k") == b"v"
    clock.advance(1)
    with pytest.raises(CacheMissError):
        client.cache.get(NS, "k")


def test_a_shorter_ttl_can_be_asked_for(client: StorageClient, clock: VirtualClock) -> None:
    client.cache.set(NS, "longest", b"v", ttl_ms=5000)
    client.cache.set(NS, "default", b"v", ttl_ms=None)
    client.cache.set(NS, "k", b"v", ttl_ms=10)
    clock.advance(9.9)
    assert client.cache.get(NS, "k") == b"v"
    clock.advance(0.1)
    with pytest.raises(CacheMissError):
        client.cache.get(NS, "k")


@pytest.mark.parametrize(
    "ttl", [0, -1, 5000.5, 10_000, "100", True, float("inf"), float("nan")], ids=repr
)
def test_bad_ttls_are_refused(client: StorageClient, ttl: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        client.cache.set(NS, "k", b"v", ttl_ms=ttl)
    assert info.value.argument == "ttl_ms"
    with pytest.raises(CacheMissError):
        client.cache.get(NS, "k")


@pytest.mark.parametrize("value", ["text", 1, None], ids=repr)
def test_values_must_be_bytes(client: StorageClient, value: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        client.cache.set(NS, "k", value)
    assert info.value.argument == "value"


def test_buffers_are_copied(client: StorageClient) -> None:
    buffer = bytearray(b"abc")
    client.cache.set(NS, "k", buffer)  # type: ignore[arg-type]
    buffer[0] = ord("X")
    assert client.cache.get(NS, "k") == b"abc"


def test_cache_keys_do_not_collide_with_cached_records_and_blobs(client: StorageClient) -> None:
    client.records.put(NS, "k", {"v": 1})
    client.blobs.put(NS, "k", b"blob")
    client.records.get(NS, "k")
    client.blobs.get(NS, "k")
    client.cache.set(NS, "k", b"kv")

    assert client.records.get(NS, "k", level="cache_only").value == {"v": 1}
    assert client.blobs.get(NS, "k", level="cache_only").data == b"blob"
    assert client.cache.get(NS, "k") == b"kv"
    client.cache.delete(NS, "k")
    assert client.blobs.get(NS, "k", level="cache_only").data == b"blob"


def test_a_shared_cache_is_seen_by_every_node(make_client: MakeClient) -> None:
    shared: dict[str, Any] = {"adapters": {"memory": {"options": {"shared_cache": True}}}}
    node_a = make_client(shared)
    node_b = make_client(shared)
    node_a.cache.set(NS, "k", b"v")
    assert node_b.cache.get(NS, "k") == b"v"


def test_a_local_cache_is_private_to_its_node(make_client: MakeClient) -> None:
    node_a = make_client()
    node_b = make_client()
    node_a.cache.set(NS, "k", b"v")
    with pytest.raises(CacheMissError):
        node_b.cache.get(NS, "k")


def test_cache_reads_record_hits_misses_and_bytes(
    client: StorageClient, metrics: RecordingMetrics
) -> None:
    client.cache.set(NS, "k", b"1234")
    client.cache.get(NS, "k")
    with pytest.raises(CacheMissError):
        client.cache.get(NS, "other")

    assert metrics.samples("cache_hit_ratio", op="cache.get") == [1.0, 0.0]
    ok = OperationLabels("cache.get", "cache", NS, "memory", "ok", "")
    set_ok = OperationLabels("cache.set", "cache", NS, "memory", "ok", "")
    assert metrics.series("payload_bytes") == {set_ok: [4], ok: [4]}
    assert metrics.value("errors_total", op="cache.get", error_code="cache_miss") == 1


def test_a_disabled_cache_is_unsupported(make_client: MakeClient) -> None:
    client = make_client({"cache": {"enabled": False}})
    with pytest.raises(UnsupportedOperationError) as info:
        client.cache.set(NS, "k", b"v")
    assert info.value.capability == "cache"


def test_a_separate_cache_adapter_serves_a_namespace_whose_adapter_has_no_cache(
    make_client: MakeClient, open_adapter: OpenAdapter, server_name: str
) -> None:
    no_cache = AdapterDouble(open_adapter(), capabilities={"cache": False}, cache=None)
    client = make_client(
        {
            "adapters": {
                "cachebox": {"kind": "memory", "options": {"server": f"{server_name}-cache"}}
            },
            "cache": {"adapter": "cachebox"},
        },
        adapter=no_cache,
    )
    client.records.put(NS, "r", {"v": 1})
    client.records.get(NS, "r")
    assert client.records.get(NS, "r", level="cache_only").version == 1
    cachebox = client.adapters["cachebox"].cache
    assert cachebox is not None
    assert cachebox.get(NS, "record/r") is not None

    client.cache.set(NS, "k", b"v")
    assert client.cache.get(NS, "k") == b"v"
