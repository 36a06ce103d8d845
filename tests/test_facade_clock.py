"""The facade on the system clock under freezegun and time-machine: TTLs follow frozen time,
and a strong read against a lagging replica ends (``max_retries``) instead of hanging."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import freezegun
import pytest
import time_machine
from facade_helpers import NS, lagging_adapter, make_config

from pytest_sanctum.client import StorageClient, create_storage_client
from pytest_sanctum.clock import SystemClock, VirtualClock
from pytest_sanctum.errors import ConsistencyError
from pytest_sanctum.observability import RecordingMetrics
from reference_adapters.memory import create_memory_adapter

START = datetime(2030, 1, 1, tzinfo=UTC)
FAST_RETRIES = {
    "consistency": {
        "retry_initial_backoff_ms": 0.01,
        "retry_max_backoff_ms": 0.01,
        "max_retries": 20,
    }
}


Tick = Callable[[float], object]
"""Moves frozen time forward by some milliseconds."""


@contextmanager
def freeze(library: str) -> Iterator[Tick]:
    """Freeze wall-clock time at ``START`` with ``library``; yield a tick function."""
    if library == "freezegun":
        with freezegun.freeze_time(START) as frozen:
            yield lambda ms: frozen.tick(timedelta(milliseconds=ms))
    else:
        with time_machine.travel(START, tick=False) as traveller:
            yield lambda ms: traveller.shift(timedelta(milliseconds=ms))


@pytest.fixture(params=["freezegun", "time-machine"])
def library(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_system_clock_reads_frozen_time(library: str) -> None:
    with freeze(library) as tick:
        clock = SystemClock()
        start = clock.now_ms()
        assert start == START.timestamp() * 1000
        tick(250)
        assert clock.now_ms() - start == pytest.approx(250)
        clock.sleep_ms(0)  # no wait at all
        clock.sleep_ms(-1)


def test_ttl_expiry_follows_frozen_time(library: str, server_name: str) -> None:
    with freeze(library) as tick:
        client = create_storage_client(make_config(server_name, {"cache": {"ttl_ms": 1000}}))
        try:
            client.records.put(NS, "k", {"v": 1})
            client.records.get(NS, "k", level="eventual")
            backend = client.adapters["memory"].records
            assert backend is not None
            backend.put(NS, "k", b'{"v":2}')  # behind the facade: no purge

            tick(900)
            assert client.records.get(NS, "k", level="eventual").value == {"v": 1}
            tick(200)
            assert client.records.get(NS, "k", level="eventual").value == {"v": 2}
        finally:
            client.close()


def test_a_strong_read_on_a_lagging_replica_under_frozen_time_ends(
    library: str, server_name: str
) -> None:
    metrics = RecordingMetrics()
    with freeze(library):
        clock = SystemClock()
        adapter = lagging_adapter(create_memory_adapter({"server": server_name}, clock), clock, 50)
        client: StorageClient = create_storage_client(
            make_config(server_name, FAST_RETRIES),
            clock=clock,
            metrics=metrics,
            adapters={"memory": adapter},
        )
        try:
            client.records.put(NS, "k", {"v": 1})
            with pytest.raises(ConsistencyError) as info:
                client.records.get(NS, "k")  # the clock never reaches the window's end
        finally:
            client.close()

    assert (info.value.expected_version, info.value.observed_version) == (1, None)
    assert adapter.records.gets == 21
    assert metrics.value("retries_total", op="record.get") == 20


def test_the_virtual_clock_refuses_to_go_back() -> None:
    clock = VirtualClock(1000.0)
    clock.sleep_ms(5)
    assert clock.now_ms() == 1005.0
    clock.set(2000.0)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(1999.0)
