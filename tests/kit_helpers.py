"""Running the conformance kit inside a test with ``pytester``, and reading its report.

``run_kit`` runs pytest in-process in the pytester directory with the sanctum plugin, a
JSON report and a fixed seed, so a run is reproducible and its contract results can be
checked one by one.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_sanctum.kit.contracts import CATALOG
from pytest_sanctum.types import Capabilities
from reference_adapters.memory import create_memory_adapter

TESTS_DIR = Path(__file__).parent
"""This directory: ``mutants`` and ``facade_helpers`` are imported from here."""

SEED = 20240601
"""The seed of every kit run in these tests (property tests are then deterministic)."""

REPORT = "report.json"

KIT_ENV = (
    "SANCTUM_ADAPTER",
    "SANCTUM_ADAPTER_OPTIONS",
    "SANCTUM_PROFILE",
    "SANCTUM_SEED",
    "SANCTUM_REQUIRE_BACKEND",
)
"""The kit's variables: tests running the kit clear them, so the calling shell's never leak."""

DOWN = """
from pytest_sanctum.errors import BackendUnavailableError


def factory(options, clock):
    raise BackendUnavailableError("connection refused by db:5432")
"""
"""A module whose adapter factory finds its backend unreachable (``down:factory``)."""


@dataclass
class KitRun:
    """One pytest run of the kit: the pytester result and the parsed JSON report."""

    result: pytest.RunResult
    report: dict[str, Any] | None

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    @property
    def results(self) -> dict[str, str]:
        """Contract id → result, for every contract with a test in the run (the report also
        lists the others, as ``not-run``)."""
        assert self.report is not None, f"no report written:\n{self.output}"
        return {
            row["id"]: row["result"]
            for row in self.report["contracts"]
            if row["result"] != "not-run"
        }

    @property
    def output(self) -> str:
        return "\n".join(self.result.outlines + self.result.errlines)

    def details(self, contract_id: str) -> list[str]:
        """The report's reasons for a contract (skip reasons, failing tests)."""
        assert self.report is not None
        for row in self.report["contracts"]:
            if row["id"] == contract_id:
                return list(row["reasons"])
        raise KeyError(contract_id)


def only_line(output: str, prefix: str) -> str:
    """The one line of ``output`` starting with ``prefix``."""
    lines = [line for line in output.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, output
    return lines[0]


def preload_suite() -> None:
    """Import the conformance modules once in this process, so in-process kit runs reuse
    them instead of importing the suite again for every run (pytester forgets modules a
    run imports). They are imported here under pytest's assertion rewriting, as a run would.
    ``multiprocessing.connection`` too: imported first inside a run (by a contract spawning
    processes) and then forgotten, its pickling reducers would no longer match the module."""
    import multiprocessing.connection  # noqa: F401

    from pytest_sanctum import conformance

    for path in sorted(Path(conformance.__file__).parent.glob("test_*.py")):
        importlib.import_module(f"pytest_sanctum.conformance.{path.stem}")


def run_kit(
    pytester: pytest.Pytester,
    *args: str,
    report: bool = True,
    seed: bool = True,
    profile: str | None = "ci",
) -> KitRun:
    """Run pytest in-process with ``args``, no cache provider, and unless told otherwise the
    fixed seed, the ``ci`` hypothesis profile and a JSON report.

    The ``ci`` profile is derandomised and keeps no example database, so a property test
    finds the same failures in every run and no run replays examples another one saved.
    Runs that only need the reference to pass may take the quicker ``default`` profile.
    """
    pytester.syspathinsert(TESTS_DIR)
    extra = ["-p", "no:cacheprovider"]
    given = {arg.partition("=")[0] for arg in args}
    if seed and "--sanctum-seed" not in given:
        extra.append(f"--sanctum-seed={SEED}")
    if profile is not None and "--sanctum-profile" not in given:
        extra.append(f"--sanctum-profile={profile}")
    if report:
        extra.append(f"--sanctum-report={REPORT}")
    result = pytester.runpytest_inprocess(*extra, *args)
    path = pytester.path / REPORT
    data = json.loads(path.read_text(encoding="utf-8")) if report and path.exists() else None
    return KitRun(result, data)


def declared(
    options: Mapping[str, object] | None = None,
    factory: Callable[..., Any] = create_memory_adapter,
) -> frozenset[str]:
    """The capabilities the adapter ``factory`` builds (the reference) declares with ``options``."""
    from pytest_sanctum.clock import VirtualClock

    adapter = factory(options or {}, VirtualClock())
    try:
        return frozenset(adapter.capabilities.names())
    finally:
        adapter.close()


CROSS_PROCESS_CONTRACTS = frozenset({"HIST-008"})
"""Contracts that need an adapter another process can open (not the memory adapter)."""


def expected_results(capabilities: frozenset[str], cross_process: bool = False) -> dict[str, str]:
    """What a correct adapter declaring ``capabilities`` gets for every contract (contracts
    running clients in other processes are unsupported unless ``cross_process``)."""
    return {
        contract_id: "pass"
        if set(found.requires) <= capabilities
        and (cross_process or contract_id not in CROSS_PROCESS_CONTRACTS)
        else "unsupported"
        for contract_id, found in CATALOG.items()
    }


def skip_reason(contract_id: str, capabilities: frozenset[str]) -> str:
    """The skip reason of a contract whose needs ``capabilities`` do not cover."""
    from pytest_sanctum.kit.history.processes import UNSUPPORTED_REASON

    if set(CATALOG[contract_id].requires) <= capabilities:
        return UNSUPPORTED_REASON
    missing = next(name for name in CATALOG[contract_id].requires if name not in capabilities)
    return f"unsupported: {missing}: {Capabilities.doc(missing)}"
