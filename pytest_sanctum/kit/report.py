"""The conformance report: per-contract results, the terminal matrix, JSON and Markdown.

Test outcomes arrive as pytest reports (also from xdist workers, through
``user_properties``); a contract's result is the worst of its tests' results, and a
contract none of whose tests ran (deselected, or not collected) is ``not-run``. At the end
of the session the controller turns them into a ``ConformanceReportV1``
(``pytest_sanctum.kit.report_model``), the public format.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast, get_args

import pytest

from pytest_sanctum.kit.contracts import CATALOG, LAYERS
from pytest_sanctum.kit.report_model import (
    FORMAT_VERSION,
    ConformanceReportV1,
    ContractResult,
    Result,
)

if TYPE_CHECKING:
    from pytest_sanctum.kit.session import KitSession
    from pytest_sanctum.kit.verdict import Decision

CONTRACT_PROPERTY = "sanctum_contract"
"""The ``user_properties`` key carrying a test's contract id."""

EXAMPLES_PROPERTY = "sanctum_examples"
"""The ``user_properties`` key carrying how many generated examples a test ran."""

BACKDOOR_PROPERTY = "sanctum_backdoor"
"""The ``user_properties`` key saying how a test read the backend (``backdoor``, ``fallback``)."""

RESULTS: tuple[Result, ...] = get_args(Result)
"""Contract results, worst first; ``not-run``: no test of the contract ran. ``untested``:
a test could not check its contract because the adapter lacks the test support it needs
(a fault injector), so the contract is not passed. ``environment``: a test could not run
because the backend was unreachable (skipped, or failed when the backend is required)."""


@dataclass
class ContractTally:
    """What the tests of one contract did."""

    outcomes: list[str] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)
    tests: set[str] = field(default_factory=set)
    examples: int = 0
    """Generated examples its tests ran (generative contracts; 0 for the others)."""

    def result(self, stale: bool) -> Result:
        if "fail" in self.outcomes:
            return "fail"
        if stale:
            return "stale-baseline"
        for outcome in RESULTS[2:]:
            if outcome in self.outcomes:
                return outcome
        return "not-run"


def classify(report: pytest.TestReport) -> tuple[str, str | None] | None:
    """(outcome, reason) of a test phase that decides a result, or ``None`` for the rest;
    the reason is ``None`` for a pass."""
    if report.failed:
        if report.longreprtext.startswith("environment:"):
            return "environment", report.longreprtext.partition("\n")[0]
        return "fail", f"{report.nodeid} ({report.when})"
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return "expected-failure", str(report.wasxfail)
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        for outcome in ("unsupported", "environment", "untested"):
            if reason.startswith(f"{outcome}:"):
                return outcome, reason
        return "unsupported", reason
    if report.when == "call" and report.passed:
        return "pass", None
    return None


class ConformanceReport:
    """Collects outcomes by contract and renders them."""

    def __init__(self, baseline: Mapping[str, str], baseline_path: str | None) -> None:
        self.baseline = dict(baseline)
        self.baseline_path = baseline_path
        self.tallies: dict[str, ContractTally] = {}
        self.backdoor_use: set[str] = set()
        self.started_at = datetime.now(UTC)
        self._started = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Count a test phase's outcome under the test's contract (a pytest hook)."""
        self.add(report)

    def add(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        used = properties.get(BACKDOOR_PROPERTY)
        if isinstance(used, str):
            self.backdoor_use.update(used.split(","))
        contract_id = properties.get(CONTRACT_PROPERTY)
        if not isinstance(contract_id, str):
            return
        tally = self.tallies.setdefault(contract_id, ContractTally())
        tally.tests.add(report.nodeid)
        examples = properties.get(EXAMPLES_PROPERTY)
        if isinstance(examples, int):
            tally.examples += examples
        found = classify(report)
        if found is None:
            return
        tally.outcomes.append(found[0])
        if found[1] is not None:
            tally.reasons.add(found[1])

    def stale(self) -> list[str]:
        """Baseline entries whose contract ran and did not fail."""
        return [
            contract_id
            for contract_id in self.baseline
            if contract_id in self.tallies
            and "pass" in self.tallies[contract_id].outcomes
            and not {"fail", "expected-failure"} & set(self.tallies[contract_id].outcomes)
        ]

    def results(self) -> dict[str, Result]:
        """Contract id → result, for every contract of the catalogue."""
        stale = set(self.stale())
        empty = ContractTally()
        return {
            contract_id: self.tallies.get(contract_id, empty).result(contract_id in stale)
            for contract_id in CATALOG
        }

    def totals(self) -> dict[Result, int]:
        counts = dict.fromkeys(RESULTS, 0)
        for result in self.results().values():
            counts[result] += 1
        return counts

    def matrix_lines(self) -> list[str]:
        """The layer × contract matrix for the terminal; contracts that did not run are
        counted per layer (the report lists them)."""
        results = self.results()
        lines = []
        for layer in LAYERS:
            ids = [contract_id for contract_id, found in CATALOG.items() if found.layer == layer]
            cells = [f"{i} {results[i]}" for i in ids if results[i] != "not-run"]
            not_run = sum(results[i] == "not-run" for i in ids)
            if not_run:
                cells.append(f"{not_run} not-run")
            if cells:
                lines.append(f"{layer:<14} " + ", ".join(cells))
        totals = ", ".join(f"{count} {name}" for name, count in self.totals().items() if count)
        lines.append(f"contracts: {totals}")
        examples = [f"{cid} {t.examples}" for cid, t in self.tallies.items() if t.examples]
        if examples:
            lines.append("examples: " + ", ".join(examples))
        return lines

    def model(self, kit: KitSession, decision: Decision) -> ConformanceReportV1:
        """The report of the run, with its verdict, in the public format."""
        from pytest_sanctum.kit.report_facts import distribution_of, factory_name, versions

        problem = kit.environment_error
        offered = None if problem else set(kit.capabilities.names())
        found_versions = versions()
        package, package_version = distribution_of(kit.factory)
        backend = kit.backend_info
        results = self.results()
        return ConformanceReportV1(
            format_version=FORMAT_VERSION,
            verdict=decision.verdict.value,
            verdict_reasons=list(decision.reasons),
            started_at=self.started_at.isoformat(timespec="seconds"),
            duration_s=round(time.monotonic() - self._started, 3),
            kit_version=found_versions.kit,
            versions=found_versions,
            adapter=kit.choice.spec,
            adapter_source=kit.choice.source,
            adapter_factory=factory_name(kit.factory),
            adapter_package=package,
            adapter_package_version=package_version,
            backend=backend.name if backend else None,
            backend_version=backend.version if backend else None,
            capabilities=[] if problem else list(kit.declared.names()),
            mask=list(kit.mask),
            reference_cache=kit.reference_cache,
            backdoor_used="backdoor" in self.backdoor_use,
            backdoor_fallback_used="fallback" in self.backdoor_use,
            faults=list(kit.faults),
            profile=kit.profile,
            seed=kit.seed,
            baseline=self.baseline_path,
            environment_error=problem,
            totals=self.totals(),
            contracts=[
                self._row(kit, contract_id, result, offered)
                for contract_id, result in results.items()
            ],
        )

    def _row(
        self, kit: KitSession, contract_id: str, result: Result, offered: set[str] | None
    ) -> ContractResult:
        found = CATALOG[contract_id]
        tally = self.tallies.get(contract_id, ContractTally())
        return ContractResult(
            id=contract_id,
            layer=found.layer,
            title=found.title,
            statement=found.statement,
            requires=list(found.requires),
            result=result,
            missing_capabilities=[]
            if offered is None
            else [name for name in found.requires if name not in offered],
            tests=sorted(tally.tests),
            tests_run=len(tally.tests),
            examples=tally.examples,
            reasons=sorted(tally.reasons),
            baseline_reason=self.baseline.get(contract_id),
            reproduce=kit.reproduce_command(contract_id),
        )


def write_report(report: ConformanceReportV1, path: Path) -> None:
    """Write JSON (two-space indent, fields in the schema's order), or the Markdown
    certificate when the path ends in ``.md``."""
    if path.suffix == ".md":
        from pytest_sanctum.kit.report_markdown import render_markdown

        path.write_text(render_markdown(report), encoding="utf-8")
    else:
        data = cast("dict[str, object]", report.model_dump(mode="json"))
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
