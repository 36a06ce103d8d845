"""The verdict of a kit run and the exit status it gives, decided from per-contract results.

One pure function, ``decide``, turns the result of every contract of the catalogue (the
statuses of ``pytest_sanctum.kit.report``, with ``not-run`` for a contract no test of the
run checked) into a ``Decision``: the verdict, the exit status and the reasons. The rules,
also in docs/adapter-authors.md ("The verdict"):

- **not conformant** (exit 1): a contract failed, or a baseline entry is stale.
- **incomplete** (exit 1): no contract was tested at all; or a contract could not be
  checked: the backend was unreachable (``environment``), the adapter lacks the test
  support a contract needs (``untested``), or no test of it ran (``not-run``).
- **conformant** (exit 0): otherwise. ``unsupported`` contracts (a capability the adapter
  does not declare) and known failures listed in the baseline (``expected-failure``) do
  not stand in the way; the report lists both.

Two incompleteness causes are ones the user chose, and do not fail the run on their own:
``not-run`` contracts of a run the user narrowed (``--sanctum-contracts``, ``-k``, node ids),
and ``environment`` skips when the backend is not required (``--sanctum-require-backend=no``).
The verdict stays ``incomplete`` in both cases: only the exit status is relaxed. A run in
which no contract was tested exits 1 whatever was asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import pytest

FAILING = frozenset({"fail", "stale-baseline"})
"""Statuses that make the adapter not conformant."""

TESTED = frozenset({"pass", "expected-failure", *FAILING})
"""Statuses of a contract whose tests ran against the adapter."""

UNCHECKED = ("environment", "untested", "not-run")
"""Statuses of a contract that applies but was not checked: the run is incomplete."""

ACCEPTED = frozenset({"pass", "expected-failure", "unsupported"})
"""Statuses that leave a run conformant."""

STATUSES = frozenset({*TESTED, *UNCHECKED, *ACCEPTED})
"""Every per-contract status ``decide`` understands."""

_WHY = {
    "fail": "failed",
    "stale-baseline": "listed in the baseline but passed (stale baseline)",
    "environment": "could not run: the backend was unreachable (environment)",
    "untested": "could not be checked: the adapter lacks the test support they need (untested)",
    "not-run": "had no test run (not-run: deselected or never collected)",
}


class Verdict(StrEnum):
    """What a kit run says about the adapter."""

    CONFORMANT = "conformant"
    NOT_CONFORMANT = "not conformant"
    INCOMPLETE = "incomplete"


@dataclass(frozen=True, slots=True)
class Decision:
    """A run's verdict, the exit status it gives, and why (one line per cause)."""

    verdict: Verdict
    exit_status: pytest.ExitCode
    reasons: tuple[str, ...]


def decide(
    results: Mapping[str, str], *, narrowed: bool = False, require_backend: bool = True
) -> Decision:
    """Decide the verdict of a run from ``results`` (contract id → status, every contract of
    the catalogue included, ``not-run`` for one no test checked).

    ``narrowed``: the user selected part of the suite, so ``not-run`` contracts alone do not
    fail the run. ``require_backend``: an unreachable backend fails the run (the default);
    when false, ``environment`` contracts alone do not.
    """
    unknown = sorted(set(results.values()) - STATUSES)
    if unknown:
        raise ValueError(f"unknown contract statuses {unknown}")
    by_status: dict[str, list[str]] = {}
    for contract_id, status in results.items():
        by_status.setdefault(status, []).append(contract_id)
    reasons = tuple(
        _reason(status, by_status[status])
        for status in ("fail", "stale-baseline", *UNCHECKED)
        if status in by_status
    )
    if FAILING & by_status.keys():
        return Decision(Verdict.NOT_CONFORMANT, pytest.ExitCode.TESTS_FAILED, reasons)
    if not TESTED & by_status.keys():
        return Decision(
            Verdict.INCOMPLETE, pytest.ExitCode.TESTS_FAILED, ("no contract was tested", *reasons)
        )
    unchecked = set(UNCHECKED) & by_status.keys()
    if not unchecked:
        return Decision(Verdict.CONFORMANT, pytest.ExitCode.OK, reasons)
    chosen = {"not-run"} if narrowed else set()
    if not require_backend:
        chosen.add("environment")
    exit_status = pytest.ExitCode.OK if unchecked <= chosen else pytest.ExitCode.TESTS_FAILED
    return Decision(Verdict.INCOMPLETE, exit_status, reasons)


def _reason(status: str, contract_ids: list[str]) -> str:
    count = len(contract_ids)
    shown = ", ".join(sorted(contract_ids)[:10]) + (", ..." if count > 10 else "")
    noun = "contract" if count == 1 else "contracts"
    return f"{count} {noun} {_WHY[status]}: {shown}"
