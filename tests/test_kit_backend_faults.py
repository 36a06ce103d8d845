"""Fault injection: the reference adapters' injectors provoke real faults and end them, and
an adapter without an injector gets ``untested`` for ERR-006 and ERR-007, never ``pass``."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from facade_helpers import AdapterDouble
from kit_helpers import preload_suite, run_kit

from pytest_sanctum.clock import Clock, VirtualClock
from pytest_sanctum.errors import BackendUnavailableError, ConflictError
from pytest_sanctum.kit import backend_faults
from pytest_sanctum.kit.backend_faults import FaultInjector
from reference_adapters.memory import create_memory_adapter, drop_server
from reference_adapters.sqlite import create_sqlite_adapter

FAULT_CONTRACTS = "ERR-006,ERR-007"


@pytest.fixture(scope="module", autouse=True)
def _suite_loaded() -> None:
    preload_suite()


def without_fault_injector(options: Mapping[str, object], clock: Clock) -> AdapterDouble:
    """The memory adapter behind a wrapper offering no ``fault_injector()``: a correct
    adapter whose test support cannot provoke faults."""
    return AdapterDouble(create_memory_adapter(options, clock))


def test_an_adapter_without_injector_is_untested_not_passed(pytester: pytest.Pytester) -> None:
    run = run_kit(
        pytester,
        "--sanctum-adapter=test_kit_backend_faults:without_fault_injector",
        f"--sanctum-contracts={FAULT_CONTRACTS}",
    )
    assert run.results == {"ERR-006": "untested", "ERR-007": "untested"}, run.output
    assert all(
        reason.startswith("untested: no fault injector") for reason in run.details("ERR-006")
    ), run.details("ERR-006")
    assert "ERR-006 untested" in run.output


def test_the_hook_supplies_an_injector(pytester: pytest.Pytester) -> None:
    """A ``pytest_sanctum_fault_injector`` implementation in a conftest is used."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_sanctum_fault_injector(config, adapter):
            return adapter.inner.fault_injector()
        """
    )
    run = run_kit(
        pytester,
        "--sanctum-adapter=test_kit_backend_faults:without_fault_injector",
        f"--sanctum-contracts={FAULT_CONTRACTS}",
    )
    assert run.results == {"ERR-006": "pass", "ERR-007": "pass"}, run.output


@pytest.fixture
def memory_server() -> Iterator[str]:
    name = f"faults-{uuid.uuid4().hex}"
    yield name
    drop_server(name)


def test_memory_locked_blocks_writes_not_reads(memory_server: str) -> None:
    adapter = create_memory_adapter({"server": memory_server}, VirtualClock())
    adapter.records.put("ns", "k", b"{}")
    injector: FaultInjector = adapter.fault_injector()
    with injector.provoke(backend_faults.LOCKED):
        assert adapter.records.get("ns", "k").version == 1
        with pytest.raises(BackendUnavailableError, match="locked"):
            adapter.records.put("ns", "k", b"{}")
    assert adapter.records.put("ns", "k", b"{}").version == 2


@pytest.mark.parametrize("fault", [backend_faults.UNREACHABLE, backend_faults.TIMEOUT])
def test_memory_unreachable_and_timeout_fail_every_call(memory_server: str, fault: str) -> None:
    adapter = create_memory_adapter({"server": memory_server}, VirtualClock())
    with adapter.fault_injector().provoke(fault):
        for call in (
            lambda: adapter.records.get("ns", "k"),
            lambda: adapter.streams.read("ns", "s", after=0, limit=1),
            lambda: adapter.cache.get("ns", "k"),
        ):
            with pytest.raises(BackendUnavailableError):
                call()
    assert adapter.cache.get("ns", "k") is None


def test_memory_serialization_fails_writes_with_conflict(memory_server: str) -> None:
    adapter = create_memory_adapter({"server": memory_server}, VirtualClock())
    with adapter.fault_injector().provoke(backend_faults.SERIALIZATION):
        with pytest.raises(ConflictError):
            adapter.blobs.put("ns", "k", b"x")
        assert adapter.blobs.list("ns") == []


def test_memory_close_during_a_fault_stays_closed(memory_server: str) -> None:
    adapter = create_memory_adapter({"server": memory_server}, VirtualClock())
    with adapter.fault_injector().provoke(backend_faults.LOCKED):
        adapter.close()
    with pytest.raises(BackendUnavailableError, match="closed"):
        adapter.records.get("ns", "k")


def test_injectors_refuse_unknown_faults(memory_server: str, tmp_path: Path) -> None:
    memory = create_memory_adapter({"server": memory_server}, VirtualClock())
    sqlite = create_sqlite_adapter({"path": str(tmp_path / "db.sqlite")}, VirtualClock())
    try:
        with pytest.raises(ValueError, match="unknown fault"), memory.fault_injector().provoke("x"):
            pass
        injector = sqlite.fault_injector()
        with pytest.raises(ValueError, match="cannot provoke"), injector.provoke("serialization"):
            pass
    finally:
        sqlite.close()


def test_sqlite_locked_is_a_real_lock_and_ends(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    adapter = create_sqlite_adapter({"path": path}, VirtualClock())
    try:
        injector = adapter.fault_injector()
        assert injector.faults == frozenset({backend_faults.LOCKED})
        adapter.records.put("ns", "k", b"{}")
        with injector.provoke(backend_faults.LOCKED):
            assert adapter.records.get("ns", "k").version == 1  # WAL readers are not blocked
            with pytest.raises(BackendUnavailableError, match="busy"):
                adapter.records.put("ns", "k", b"{}")
        assert adapter.records.put("ns", "k", b"{}").version == 2
    finally:
        adapter.close()


@pytest.mark.skipif(importlib.util.find_spec("lupa") is None, reason="needs fakeredis[lua]")
@pytest.mark.parametrize("fault", [backend_faults.UNREACHABLE, backend_faults.TIMEOUT])
def test_redis_faults_cut_only_the_adapter_and_end(fault: str) -> None:
    from reference_adapters.redis_adapter import create_fakeredis_adapter

    options = {"server": f"faults-{uuid.uuid4().hex}"}
    adapter = create_fakeredis_adapter(options, VirtualClock())
    other = create_fakeredis_adapter(options, VirtualClock())
    try:
        adapter.records.put("ns", "k", b"{}")
        with adapter.fault_injector().provoke(fault):
            with pytest.raises(BackendUnavailableError):
                adapter.records.get("ns", "k")
            assert other.records.get("ns", "k").version == 1
        assert adapter.records.put("ns", "k", b"{}").version == 2
    finally:
        adapter.close()
        other.close()
