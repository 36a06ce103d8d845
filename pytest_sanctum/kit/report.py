"""The conformance report: per-contract results, the terminal matrix, JSON and Markdown.

Test outcomes arrive as pytest reports (also from xdist workers, through
``user_properties``); a contract's result is the worst of its tests' results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_sanctum.kit.contracts import CATALOG, LAYERS

CONTRACT_PROPERTY = "sanctum_contract"
"""The ``user_properties`` key carrying a test's contract id."""

EXAMPLES_PROPERTY = "sanctum_examples"
"""The ``user_properties`` key carrying how many generated examples a test ran."""

RESULTS = (
    "fail",
    "stale-baseline",
    "expected-failure",
    "untested",
    "pass",
    "unsupported",
    "environment",
)
"""Contract results, worst first; a contract with no test run is ``not-run``. ``untested``:
a test could not check its contract because the adapter lacks the test support it needs
(a fault injector), so the contract is not passed."""


@dataclass
class ContractTally:
    """What the tests of one contract did."""

    outcomes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    examples: int = 0
    """Generated examples its tests ran (generative contracts; 0 for the others)."""

    def result(self, stale: bool) -> str:
        if "fail" in self.outcomes:
            return "fail"
        if stale:
            return "stale-baseline"
        for outcome in RESULTS[2:]:
            if outcome in self.outcomes:
                return outcome
        return "not-run"


def classify(report: pytest.TestReport) -> tuple[str, str] | None:
    """(outcome, detail) of a test phase that decides a result, or ``None`` for the rest."""
    if report.failed:
        return "fail", f"{report.nodeid} ({report.when})"
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return "expected-failure", str(report.wasxfail)
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith("unsupported:"):
            return "unsupported", reason
        if reason.startswith("environment:"):
            return "environment", reason
        if reason.startswith("untested:"):
            return "untested", reason
        return "unsupported", reason
    if report.when == "call" and report.passed:
        return "pass", report.nodeid
    return None


class ConformanceReport:
    """Collects outcomes by contract and renders them."""

    def __init__(self, header: Mapping[str, object], baseline: Mapping[str, str]) -> None:
        self.header = dict(header)
        self.baseline = dict(baseline)
        self.tallies: dict[str, ContractTally] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Count a test phase's outcome under the test's contract (a pytest hook)."""
        self.add(report)

    def add(self, report: pytest.TestReport) -> None:
        contract_id = dict(report.user_properties).get(CONTRACT_PROPERTY)
        if not isinstance(contract_id, str):
            return
        found = classify(report)
        if found is None:
            return
        tally = self.tallies.setdefault(contract_id, ContractTally())
        examples = dict(report.user_properties).get(EXAMPLES_PROPERTY)
        if isinstance(examples, int):
            tally.examples += examples
        tally.outcomes.append(found[0])
        tally.details.append(found[1])

    def stale(self) -> list[str]:
        """Baseline entries whose contract ran and did not fail."""
        return [
            contract_id
            for contract_id in self.baseline
            if contract_id in self.tallies
            and "pass" in self.tallies[contract_id].outcomes
            and not {"fail", "expected-failure"} & set(self.tallies[contract_id].outcomes)
        ]

    def results(self) -> dict[str, str]:
        """Contract id → result, for every contract that had a test in this run."""
        stale = set(self.stale())
        return {
            contract_id: self.tallies[contract_id].result(contract_id in stale)
            for contract_id in CATALOG
            if contract_id in self.tallies
        }

    def totals(self) -> dict[str, int]:
        counts = dict.fromkeys((*RESULTS, "not-run"), 0)
        for result in self.results().values():
            counts[result] += 1
        return counts

    def matrix_lines(self) -> list[str]:
        """The layer × contract matrix for the terminal."""
        results = self.results()
        lines = []
        for layer in LAYERS:
            cells = [
                f"{contract_id} {results[contract_id]}"
                for contract_id, found in CATALOG.items()
                if found.layer == layer and contract_id in results
            ]
            if cells:
                lines.append(f"{layer:<14} " + ", ".join(cells))
        totals = ", ".join(f"{count} {name}" for name, count in self.totals().items() if count)
        lines.append(f"contracts: {totals}")
        examples = [f"{cid} {t.examples}" for cid, t in self.tallies.items() if t.examples]
        if examples:
            lines.append("examples: " + ", ".join(examples))
        return lines

    def to_json(self) -> dict[str, object]:
        results = self.results()
        return {
            **self.header,
            "totals": self.totals(),
            "contracts": [
                {
                    "id": contract_id,
                    "layer": CATALOG[contract_id].layer,
                    "title": CATALOG[contract_id].title,
                    "requires": list(CATALOG[contract_id].requires),
                    "result": result,
                    "baseline_reason": self.baseline.get(contract_id),
                    "tests": sorted(set(self.tallies[contract_id].details)),
                    "examples": self.tallies[contract_id].examples,
                }
                for contract_id, result in results.items()
            ],
        }

    def to_markdown(self) -> str:
        data = self.to_json()
        lines = ["# Conformance report", ""]
        for key, value in self.header.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
            lines.append(f"- **{key}**: {shown}")
        lines += ["", "| layer | contract | title | result |", "| --- | --- | --- | --- |"]
        for row in data["contracts"]:  # type: ignore[attr-defined]
            lines.append(f"| {row['layer']} | `{row['id']}` | {row['title']} | {row['result']} |")
        totals = data["totals"]
        lines += ["", "Totals: " + ", ".join(f"{v} {k}" for k, v in totals.items() if v), ""]  # type: ignore[attr-defined]
        return "\n".join(lines)

    def write(self, path: Path) -> None:
        """Write JSON, or Markdown when the path ends in ``.md``."""
        if path.suffix == ".md":
            path.write_text(self.to_markdown(), encoding="utf-8")
        else:
            path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
