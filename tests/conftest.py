"""Fixtures shared by the tests: a virtual clock, an isolated memory server, client builders."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from facade_helpers import MakeClient, make_config
from kit_helpers import KIT_ENV, preload_suite

from pytest_sanctum.client import StorageClient, create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.observability import RecordingMetrics
from reference_adapters.memory import MemoryAdapter, create_memory_adapter, drop_server


@pytest.fixture
def clock() -> VirtualClock:
    """A clock that moves only when a test (or a facade sleep) advances it."""
    return VirtualClock()


@pytest.fixture
def server_name() -> Iterator[str]:
    """A memory server of this test alone, dropped afterwards."""
    name = f"facade-test-{uuid.uuid4().hex}"
    yield name
    drop_server(name)


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


@pytest.fixture
def memory_interface() -> str:
    """The memory adapter's ``interface`` option: ``full`` (every optional one-call
    protocol). A test of the facade's base-protocol path parametrizes it as ``basic``."""
    return "full"


@pytest.fixture
def open_adapter(
    server_name: str, clock: VirtualClock, memory_interface: str
) -> Callable[..., MemoryAdapter]:
    """Open a new memory adapter (a new node or a reconnect) on the test's server."""

    def open_(**options: Any) -> MemoryAdapter:
        return create_memory_adapter(
            {"server": server_name, "interface": memory_interface, **options}, clock
        )

    return open_


@pytest.fixture
def make_client(
    server_name: str, clock: VirtualClock, metrics: RecordingMetrics, memory_interface: str
) -> Iterator[MakeClient]:
    """Build clients on the test's server and clock (recording metrics); closed afterwards."""
    clients: list[StorageClient] = []

    def make(
        overrides: Mapping[str, Any] | None = None,
        *,
        adapter: Any = None,
        fanout: Any = None,
        principal: str = "anonymous",
        node_id: str | None = None,
        metrics: Any = metrics,
    ) -> StorageClient:
        client = create_storage_client(
            make_config(server_name, overrides, interface=memory_interface),
            clock=clock,
            metrics=metrics,
            fanout=fanout,
            adapters={"memory": adapter} if adapter is not None else None,
            principal=principal,
            node_id=node_id,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> StorageClient:
    """A client with the default configuration on the test's memory server."""
    result: StorageClient = make_client()
    return result


@pytest.fixture
def clean_kit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No kit variable of the calling shell leaks into the kit runs of a test."""
    for name in KIT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def suite_loaded() -> None:
    """The conformance suite imported once per test module (``preload_suite``)."""
    preload_suite()
