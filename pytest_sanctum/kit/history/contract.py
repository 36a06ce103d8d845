"""Runs one history contract: the workload on the run's adapter, the check, the explanation.

``run_scenario`` is what conformance tests (and this project's own tests of mutants and
of honest adapters) call; ``check_contract`` turns a failing verdict into a test failure
that names the anomaly, prints its sub-history, writes the HTML timeline and the history
as JSON next to the report, and prints the reproduce command.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from pytest_sanctum.adapters.base import AdapterFactory
from pytest_sanctum.faults import FaultPlan
from pytest_sanctum.kit.contracts import explain
from pytest_sanctum.kit.history.check import check_history
from pytest_sanctum.kit.history.explain import explain_verdict
from pytest_sanctum.kit.history.processes import UNSUPPORTED_REASON, opens_across_processes
from pytest_sanctum.kit.history.record import History
from pytest_sanctum.kit.history.rounds import CONTENTION_WINDOW_MS, ROUNDS_NEEDED, shortfall
from pytest_sanctum.kit.history.run import HistoryRun, OpenAdapter, RunSize
from pytest_sanctum.kit.history.scenarios import PROCESSES, SIZES, WORKLOADS
from pytest_sanctum.kit.history.timeline import write_timeline
from pytest_sanctum.kit.history.verdict import Verdict
from pytest_sanctum.kit.session import KitSession


def scenario_seed(seed: int, contract_id: str) -> int:
    """The seed of one contract's run: the kit's seed mixed with the contract id."""
    return (seed + zlib.crc32(contract_id.encode())) % 2**32


def run_scenario(
    open_adapter: OpenAdapter,
    contract_id: str,
    namespace: str,
    *,
    seed: int,
    size: RunSize | None = None,
    faults: tuple[str, ...] = (),
    spec: str = "kit",
    options: dict[str, object] | None = None,
    spawn: tuple[AdapterFactory, dict[str, object], tuple[str, ...]] | None = None,
) -> tuple[History, Verdict]:
    """Run contract ``contract_id``'s workload and check the history; with ``spawn`` (the
    factory, options and mask), its clients also run in child processes."""
    run_seed = scenario_seed(seed, contract_id)
    run = HistoryRun(
        open_adapter,
        WORKLOADS[contract_id],
        namespace,
        size=size or SIZES["default"],
        seed=run_seed,
        plan=FaultPlan(faults, seed=run_seed),
        spec=spec,
        options=options,
        processes=PROCESSES.get(contract_id, 0),
        spawn=spawn,
    )
    history = run.run()
    return history, check_history(history)


def artefact_dir(config: pytest.Config) -> Path:
    """Where failing histories are written: beside the report, else in pytest's temp dir."""
    report = config.getoption("sanctum_report", None)
    if report:
        return Path(report).resolve().parent / "sanctum-histories"
    factory = getattr(config, "_tmp_path_factory", None)
    base = factory.getbasetemp() if factory is not None else Path.cwd()
    return Path(base) / "sanctum-histories"


def check_contract(kit: KitSession, contract_id: str, namespace: str) -> Verdict:
    """Run the contract on the kit's adapter; fail the test with the explanation."""
    spawn = None
    if contract_id in PROCESSES:
        if not opens_across_processes(kit.factory):
            pytest.skip(UNSUPPORTED_REASON)
        spawn = (kit.factory, kit.options, kit.mask)
    history, verdict = run_scenario(
        kit.open_adapter,
        contract_id,
        namespace,
        seed=kit.seed,
        size=SIZES[kit.profile],
        faults=kit.faults,
        spec=kit.choice.spec,
        options=kit.options,
        spawn=spawn,
    )
    if verdict.valid:
        short = shortfall(history.contention)
        if short:
            pytest.skip(
                f"untested: {contract_id}: too few contention rounds sent two nodes' calls "
                f"into the adapter within {CONTENTION_WINDOW_MS:g} ms of each other (needed "
                f"{ROUNDS_NEEDED} of each kind; {'; '.join(short)}): the machine kept the "
                f"clients apart, so races could not show"
            )
        return verdict
    stem = f"{contract_id}-{kit.seed}-{kit.worker_id}"
    folder = artefact_dir(kit.config)
    page = write_timeline(history, verdict, folder / f"{stem}.html", f"{contract_id}: {stem}")
    (folder / f"{stem}.json").write_text(history.dumps(), encoding="utf-8")
    pytest.fail(
        f"{explain(contract_id)}\n{len(verdict.anomalies)} anomalies in "
        f"{len(history.operations)} operations (kinds: {', '.join(sorted(verdict.kinds()))})\n\n"
        f"{explain_verdict(history, verdict)}\n\ntimeline: {page}\n"
        f"reproduce: {kit.reproduce_command(contract_id)}",
        pytrace=False,
    )
