"""The public fault-injection wrapper: each fault kind does what it says, and only when on."""

from __future__ import annotations

import pytest

from pytest_sanctum import create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import BackendUnavailableError
from pytest_sanctum.fanout import QueuedFanout
from pytest_sanctum.faults import FAULT_KINDS, FaultPlan, FaultyAdapter, FaultyFanout, parse_faults
from pytest_sanctum.types import CacheEntry, InvalidationEvent, Layer
from reference_adapters.memory import create_memory_adapter, drop_server

SERVER = "faults-test"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(autouse=True)
def _fresh_server() -> object:
    yield
    drop_server(SERVER)


def _node(clock: VirtualClock, *kinds: str, rate: float = 1.0) -> FaultyAdapter:
    plan = FaultPlan(kinds, rate=rate, seed=1)
    return FaultyAdapter(
        create_memory_adapter({"server": SERVER}, clock),
        plan,
        reopen=lambda: create_memory_adapter({"server": SERVER}, clock),
    )


def test_parse_faults() -> None:
    assert parse_faults("all") == tuple(FAULT_KINDS)
    assert parse_faults("none") == () == parse_faults(" ")
    assert parse_faults("crash, latency") == ("latency", "crash")
    with pytest.raises(ValueError, match="unknown fault kinds"):
        parse_faults("latency,meteor")
    with pytest.raises(ValueError, match="meteor"):
        FaultPlan(("meteor",))


def test_no_fault_when_off_or_paused(clock: VirtualClock) -> None:
    node = _node(clock)
    assert node.records.put("ns", "k", b"1").version == 1
    plan = FaultPlan(tuple(FAULT_KINDS), rate=1.0, paused=True)
    assert not any(plan.roll(kind) for kind in FAULT_KINDS)
    assert plan.injected == {}


def test_error_before_changes_nothing(clock: VirtualClock) -> None:
    node = _node(clock, "error_before")
    with pytest.raises(BackendUnavailableError, match=r"before records\.put"):
        node.records.put("ns", "k", b"1")
    node.plan.paused = True
    assert node.records.list("ns") == []
    assert node.plan.injected == {"error_before": 1}


def test_error_after_applies_then_fails(clock: VirtualClock) -> None:
    node = _node(clock, "error_after")
    with pytest.raises(BackendUnavailableError, match="applied"):
        node.records.put("ns", "k", b"1")
    assert node.records.get("ns", "k").data == b"1"  # reads are never failed after the call


def test_crash_reopens_and_loses_the_local_cache(clock: VirtualClock) -> None:
    node = _node(clock, "crash")
    node.plan.paused = True
    node.records.put("ns", "k", b"1")
    node.cache.set("ns", "record/k", CacheEntry(b"1", 1, "e", clock.now_ms()), 1000)
    first = node.inner
    node.plan.paused = False
    with pytest.raises(BackendUnavailableError, match="crashed"):
        node.records.get("ns", "k")
    node.plan.paused = True
    assert node.inner is not first
    assert node.records.get("ns", "k").data == b"1"
    assert node.cache.get("ns", "record/k") is None


def test_crash_needs_a_reopen_function(clock: VirtualClock) -> None:
    node = FaultyAdapter(
        create_memory_adapter({"server": SERVER}, clock), FaultPlan(("crash",), rate=1.0)
    )
    assert node.records.put("ns", "k", b"1").version == 1
    with pytest.raises(RuntimeError, match="reopen"):
        node.crash()


def test_cache_evict(clock: VirtualClock) -> None:
    node = _node(clock, "cache_evict")
    node.plan.paused = True
    node.cache.set("ns", "x", CacheEntry(b"1", 1, "e", clock.now_ms()), 1000)
    node.plan.paused = False
    assert node.cache.get("ns", "x") is None
    node.plan.paused = True
    assert node.cache.get("ns", "x") is None


def test_latency_waits(clock: VirtualClock) -> None:
    node = _node(clock, "latency")
    node.plan.latency_ms = (1.0, 1.0)
    node.records.put("ns", "k", b"1")
    assert node.plan.injected == {"latency": 1}


def _event(key: str) -> InvalidationEvent:
    return InvalidationEvent(Layer.RECORD, "ns", key, 1, "origin")


def test_fanout_drop_duplicate_delay() -> None:
    inner = QueuedFanout()
    dropping = FaultyFanout(inner, FaultPlan(("fanout_drop",), rate=1.0))
    dropping.publish(_event("a"))
    assert inner.pending == ()
    duplicating = FaultyFanout(inner, FaultPlan(("fanout_duplicate",), rate=1.0))
    duplicating.publish(_event("b"))
    assert [e.key for e in inner.pending] == ["b", "b"]
    inner.deliver_all()
    delaying = FaultyFanout(inner, FaultPlan(("fanout_delay",), rate=1.0))
    delaying.publish(_event("c"))
    assert inner.pending == ()
    delaying.plan.paused = True
    delaying.publish(_event("d"))
    assert [e.key for e in inner.pending] == ["d", "c"]
    assert delaying.flush() == 0


def test_an_app_team_wraps_its_client(clock: VirtualClock) -> None:
    """The wrapper goes around any adapter given to ``create_storage_client``."""
    node = _node(clock, "error_before", rate=1.0)
    client = create_storage_client(clock=clock, adapters={"memory": node})
    with pytest.raises(BackendUnavailableError):
        client.records.put("ns", "k", {"a": 1})
    node.plan.paused = True
    assert client.records.put("ns", "k", {"a": 1}).version == 1
    assert node.name == "memory"
    assert node.capabilities.records
    node.reset("ns")
    assert node.backdoor() is not None
    client.close()
    node.close()
