"""The verdict rules: ``decide`` turns per-contract results into a verdict and exit status."""

from __future__ import annotations

import pytest

from pytest_sanctum.kit.verdict import Verdict, decide

OK = pytest.ExitCode.OK
FAILED = pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    ("results", "verdict", "status"),
    [
        ({"A-001": "pass", "A-002": "unsupported"}, Verdict.CONFORMANT, OK),
        ({"A-001": "pass", "A-002": "expected-failure"}, Verdict.CONFORMANT, OK),
        ({"A-001": "expected-failure"}, Verdict.CONFORMANT, OK),
        ({"A-001": "pass", "A-002": "fail"}, Verdict.NOT_CONFORMANT, FAILED),
        ({"A-001": "pass", "A-002": "stale-baseline"}, Verdict.NOT_CONFORMANT, FAILED),
        ({"A-001": "fail", "A-002": "environment"}, Verdict.NOT_CONFORMANT, FAILED),
        ({"A-001": "pass", "A-002": "environment"}, Verdict.INCOMPLETE, FAILED),
        ({"A-001": "pass", "A-002": "untested"}, Verdict.INCOMPLETE, FAILED),
        ({"A-001": "pass", "A-002": "not-run"}, Verdict.INCOMPLETE, FAILED),
        ({"A-001": "environment", "A-002": "environment"}, Verdict.INCOMPLETE, FAILED),
        ({"A-001": "unsupported", "A-002": "not-run"}, Verdict.INCOMPLETE, FAILED),
        ({}, Verdict.INCOMPLETE, FAILED),
    ],
    ids=[
        "pass-and-unsupported",
        "known-failure-accepted",
        "only-known-failures",
        "a-failure",
        "a-stale-baseline",
        "a-failure-beats-incomplete",
        "unreachable-backend",
        "untested",
        "never-collected",
        "nothing-reachable",
        "nothing-tested",
        "empty",
    ],
)
def test_the_verdict_of_a_full_run(results: dict[str, str], verdict: Verdict, status: int) -> None:
    decision = decide(results)
    assert (decision.verdict, decision.exit_status) == (verdict, status)


def test_a_narrowed_run_is_incomplete_but_exits_0() -> None:
    """Contracts the user did not select are not-run: the verdict says so, the run passes."""
    decision = decide({"A-001": "pass", "A-002": "not-run"}, narrowed=True)
    assert (decision.verdict, decision.exit_status) == (Verdict.INCOMPLETE, OK)
    assert decision.reasons == (
        "1 contract had no test run (not-run: deselected or never collected): A-002",
    )


def test_a_narrowed_run_that_tested_nothing_fails() -> None:
    decision = decide({"A-001": "unsupported", "A-002": "not-run"}, narrowed=True)
    assert (decision.verdict, decision.exit_status) == (Verdict.INCOMPLETE, FAILED)
    assert decision.reasons[0] == "no contract was tested"


def test_environment_skips_pass_only_when_the_backend_is_not_required() -> None:
    results = {"A-001": "pass", "A-002": "environment"}
    relaxed = decide(results, require_backend=False)
    assert (relaxed.verdict, relaxed.exit_status) == (Verdict.INCOMPLETE, OK)
    assert decide(results, narrowed=True).exit_status == FAILED


def test_untested_contracts_fail_even_when_the_user_relaxed_the_rest() -> None:
    decision = decide(
        {"A-001": "pass", "A-002": "untested", "A-003": "not-run", "A-004": "environment"},
        narrowed=True,
        require_backend=False,
    )
    assert (decision.verdict, decision.exit_status) == (Verdict.INCOMPLETE, FAILED)


def test_the_reasons_name_the_contracts_worst_first() -> None:
    decision = decide(
        {f"A-{n:03}": "fail" for n in range(12)} | {"B-001": "stale-baseline", "C-001": "pass"}
    )
    assert decision.reasons == (
        "12 contracts failed: A-000, A-001, A-002, A-003, A-004, A-005, A-006, A-007, A-008, "
        "A-009, ...",
        "1 contract listed in the baseline but passed (stale baseline): B-001",
    )


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown contract statuses"):
        decide({"A-001": "passed"})


def test_the_verdict_is_a_string() -> None:
    assert Verdict.NOT_CONFORMANT == "not conformant"
    assert [str(v) for v in Verdict] == ["conformant", "not conformant", "incomplete"]
