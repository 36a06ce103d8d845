"""``create_storage_client``: defaults, refused arguments, adapter ownership, close."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import facade_helpers
import pytest
from facade_helpers import NS, AdapterDouble, MakeClient, make_config
from pydantic import ValidationError

from pytest_sanctum.client import DEFAULT_PRINCIPAL, StorageClient, create_storage_client
from pytest_sanctum.clock import SystemClock, VirtualClock
from pytest_sanctum.config import default_config, parse_config
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConfigError,
    InvalidRequestError,
    NotFoundError,
)
from pytest_sanctum.observability import RecordingMetrics
from reference_adapters.memory import MemoryAdapter

OpenAdapter = Callable[..., MemoryAdapter]


def test_no_arguments_give_an_in_memory_client_serving_any_namespace() -> None:
    namespace = f"facade-client-{uuid.uuid4().hex[:12]}"
    key = f"k-{uuid.uuid4().hex}"
    with create_storage_client() as client:
        try:
            assert client.config == default_config()
            assert isinstance(client.clock, SystemClock)
            assert not client.metrics.enabled
            assert client.principal == DEFAULT_PRINCIPAL
            assert len(client.node_id) == 12
            assert client.records.put(namespace, key, {"v": 1}).version == 1
            assert client.records.get(namespace, key).value == {"v": 1}
            client.blobs.put("default", key, b"x")
            assert client.blobs.get("default", key).data == b"x"
        finally:
            client.adapters["memory"].reset(namespace)
            client.blobs.delete("default", key)


def test_client_properties(make_client: MakeClient, clock: VirtualClock) -> None:
    metrics = RecordingMetrics()
    client = make_client(metrics=metrics, node_id="node-7", principal="svc")
    assert client.clock is clock
    assert client.metrics is metrics
    assert client.node_id == "node-7"
    assert client.principal == "svc"
    assert set(client.adapters) == {"memory"}


def test_a_raw_mapping_instead_of_a_parsed_config_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        create_storage_client({"schema_version": 1})  # type: ignore[arg-type]
    assert "parse_config" in info.value.message


def test_adapters_for_an_unknown_name_are_refused(server_name: str, clock: VirtualClock) -> None:
    with pytest.raises(ConfigError) as info:
        create_storage_client(
            make_config(server_name),
            clock=clock,
            adapters={"other": object()},  # type: ignore[dict-item]
        )
    assert info.value.field == "adapters"


class NotAnAdapter:
    name = "broken"


@pytest.mark.parametrize(
    ("make_adapter", "message"),
    [
        (lambda inner: NotAnAdapter(), "does not implement"),
        (lambda inner: AdapterDouble(inner, checkpoints=None), "no checkpoint store"),
        (lambda inner: AdapterDouble(inner, blobs=None), "no blobs store"),
        (lambda inner: AdapterDouble(inner, cache=None), "no cache store"),
    ],
    ids=["not-an-adapter", "streams-without-checkpoints", "blobs-without-store", "no-cache"],
)
def test_given_adapters_that_break_the_protocol_are_refused(
    server_name: str,
    clock: VirtualClock,
    open_adapter: OpenAdapter,
    make_adapter: Callable[[MemoryAdapter], Any],
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        create_storage_client(
            make_config(server_name), clock=clock, adapters={"memory": make_adapter(open_adapter())}
        )
    assert info.value.field == "adapters.memory"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no-such-adapter", "no adapter named"),
        ("facade_helpers:not_an_adapter_factory", "does not implement"),
        ("facade_helpers:missing_factory", "has no attribute"),
        ("no_such_module_xyz:factory", "cannot import"),
    ],
)
def test_adapters_built_before_a_failing_one_are_closed(
    server_name: str, clock: VirtualClock, kind: str, message: str
) -> None:
    config = parse_config(
        {
            "schema_version": 1,
            "adapters": {
                "first": {
                    "kind": "facade_helpers:recording_memory_factory",
                    "options": {"server": server_name},
                },
                "second": {"kind": kind},
            },
            "namespaces": {"*": {"adapter": "first"}},
        }
    )
    facade_helpers.BUILT.clear()

    with pytest.raises(ConfigError, match=message) as info:
        create_storage_client(config, clock=clock)

    assert info.value.field == "adapters.second.kind"
    [first] = facade_helpers.BUILT
    with pytest.raises(BackendUnavailableError):
        first.records.get(NS, "k")


def test_an_invalid_principal_is_refused_before_any_adapter_is_built(
    server_name: str, clock: VirtualClock
) -> None:
    config = make_config(
        server_name,
        {"adapters": {"memory": {"kind": "facade_helpers:recording_memory_factory"}}},
    )
    facade_helpers.BUILT.clear()
    with pytest.raises(InvalidRequestError) as info:
        create_storage_client(config, clock=clock, principal=5)  # type: ignore[arg-type]
    assert info.value.argument == "principal"
    assert facade_helpers.BUILT == []


def test_close_closes_built_adapters_and_refuses_later_operations(
    make_client: MakeClient,
) -> None:
    client = make_client()
    client.records.put(NS, "k", {"v": 1})
    view = client.as_principal("other")
    owned = client.adapters["memory"]

    client.close()
    client.close()  # idempotent

    calls: list[Callable[[], object]] = [
        lambda: client.records.get(NS, "k"),
        lambda: client.blobs.put(NS, "k", b"x"),
        lambda: client.streams.append(NS, "s", 1),
        lambda: client.cache.get(NS, "k"),
        lambda: view.records.get(NS, "k"),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailableError):
            call()
    with pytest.raises(BackendUnavailableError):
        owned.records.get(NS, "k")  # type: ignore[union-attr]


def test_close_leaves_given_adapters_open(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    adapter = AdapterDouble(open_adapter())
    client = make_client(adapter=adapter)
    client.records.put(NS, "k", {"v": 1})
    client.close()
    assert adapter.closed == 0
    assert adapter.records.get(NS, "k").version == 1


def test_the_context_manager_closes_the_client(server_name: str, clock: VirtualClock) -> None:
    with create_storage_client(make_config(server_name), clock=clock) as client:
        client.records.put(NS, "k", {"v": 1})
    with pytest.raises(BackendUnavailableError):
        client.records.get(NS, "k")
    with create_storage_client(make_config(server_name), clock=clock) as reopened:
        assert reopened.records.get(NS, "k").version == 1  # the data is durable


def test_the_config_is_frozen(client: StorageClient) -> None:
    with pytest.raises(ValidationError):
        client.config.schema_version = 2  # type: ignore[assignment]
    with pytest.raises(ValidationError):
        client.config.cache.ttl_ms = 1
    with pytest.raises(TypeError):
        client.config.namespaces["x"] = client.config.namespaces["*"]  # type: ignore[index]
    with pytest.raises(TypeError):
        client.adapters["x"] = client.adapters["memory"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        client.config = default_config()  # type: ignore[misc]


def test_principal_views_share_everything_but_the_principal(client: StorageClient) -> None:
    view = client.as_principal("svc")
    client.records.put(NS, "k", {"v": 1})
    client.records.get(NS, "k")  # fills the cache the view reads
    assert view.records.get(NS, "k", level="cache_only").version == 1
    assert (view.config, view.clock, view.metrics) == (client.config, client.clock, client.metrics)
    view.records.delete(NS, "k")
    with pytest.raises(NotFoundError):
        client.records.get(NS, "k")
