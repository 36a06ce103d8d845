"""The ``sanctum_history`` fixture for app teams, the kit's ``--sanctum-faults`` option, and
how the kit reports history contracts (failures, rounds that never contended)."""

from __future__ import annotations

import contextlib
import threading

import pytest
from kit_helpers import preload_suite, run_kit

from pytest_sanctum import create_storage_client
from pytest_sanctum.errors import PreconditionFailedError
from pytest_sanctum.kit.history import rounds
from pytest_sanctum.kit.history.app import HistoryRecorder
from reference_adapters.memory import create_memory_adapter, drop_server


@pytest.fixture(scope="module", autouse=True)
def _suite_loaded() -> None:
    preload_suite()


def test_an_app_records_its_threads_and_the_history_checks(
    sanctum_history: HistoryRecorder,
) -> None:
    """Threads doing read-modify-write with if_match over two clients: a valid history."""
    clients = [
        sanctum_history.record(create_storage_client(), name=f"worker-{i}") for i in range(2)
    ]
    clients[0].records.put("orders", "o-1", {"total": 0})

    def work(client: object) -> None:
        for _ in range(20):
            current = client.records.get("orders", "o-1")  # type: ignore[attr-defined]
            with contextlib.suppress(PreconditionFailedError):
                client.records.put(  # type: ignore[attr-defined]
                    "orders", "o-1", {"total": current.value["total"] + 1}, if_match=current.etag
                )

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    verdict = sanctum_history.assert_valid()
    assert verdict.operations > 40


def test_a_lost_update_in_app_code_is_explained(sanctum_history: HistoryRecorder) -> None:
    """Two clients whose adapter ignores if_match: the recorder names the lost update."""
    drop_server("fixture-lost-update")
    clock = sanctum_history.recorder.clock
    # The base protocols only: a wrapper that breaks put must not be routed around.
    adapter = create_memory_adapter({"server": "fixture-lost-update", "interface": "basic"}, clock)

    class IgnoresIfMatch:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def put(self, namespace: str, key: str, data: bytes, **options: object) -> object:
            options["if_match"] = None
            return self.inner.put(namespace, key, data, **options)  # type: ignore[attr-defined]

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

    from facade_helpers import AdapterDouble

    broken = AdapterDouble(adapter, records=IgnoresIfMatch(adapter.records))
    client = sanctum_history.record(create_storage_client(adapters={"memory": broken}), "app")
    first = client.records.put("ns", "k", {"tag": "a"})
    client.records.put("ns", "k", {"tag": "b"}, if_match=first.etag)
    client.records.put("ns", "k", {"tag": "c"}, if_match=first.etag)
    with pytest.raises(AssertionError, match="lost-update") as raised:
        sanctum_history.assert_valid()
    assert "timeline:" in str(raised.value)
    assert (sanctum_history.artefacts / "history.html").exists()
    drop_server("fixture-lost-update")


def test_faults_option_reaches_header_report_and_reproduce_command(
    pytester: pytest.Pytester,
) -> None:
    run = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        "--sanctum-faults=latency,crash",
        "--sanctum-contracts=HIST-001",
        "-v",
    )
    assert run.report is not None
    assert run.report["faults"] == ["latency", "crash"]
    assert "sanctum: faults: latency, crash (history contracts)" in run.output
    assert run.results == {"HIST-001": "pass"}


def test_unknown_fault_kinds_are_a_usage_error(pytester: pytest.Pytester) -> None:
    run = run_kit(pytester, "--sanctum-adapter=memory", "--sanctum-faults=meteor")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown fault kinds ['meteor']" in run.output


def test_a_failing_history_contract_writes_its_timeline_beside_the_report(
    pytester: pytest.Pytester,
) -> None:
    run = run_kit(
        pytester,
        "--sanctum-adapter=mutants:create_only_check_then_act",
        "--sanctum-contracts=HIST-002",
    )
    assert run.results == {"HIST-002": "fail"}
    assert "lost-update on records:" in run.output
    assert "reproduce: pytest --sanctum-adapter=mutants:create_only_check_then_act" in run.output
    pages = list((pytester.path / "sanctum-histories").glob("HIST-002-*.html"))
    assert len(pages) == 1
    assert pages[0].with_suffix(".json").exists()


def test_a_history_contract_whose_rounds_never_contend_is_untested(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine that keeps the clients apart in every contention round cannot show a race:
    the contract is reported untested and the run incomplete, never passed."""
    monkeypatch.setattr(rounds, "CONTENTION_WINDOW_MS", -1.0)
    monkeypatch.setattr(rounds, "ROUNDS_AT_MOST", 3)
    run = run_kit(
        pytester, "--sanctum-adapter=memory", "--sanctum-contracts=HIST-002,HIST-004", "-rs"
    )
    assert run.results == {"HIST-002": "untested", "HIST-004": "pass"}
    assert "create: 0 of 3 rounds contended" in run.output
    assert run.ret == pytest.ExitCode.TESTS_FAILED
