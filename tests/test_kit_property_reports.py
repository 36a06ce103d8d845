"""A failing property test reports fast and leads with its root cause.

The kit bounds how long hypothesis works on a failure (no explain phase, one bug, a shrink
budget), and when hypothesis cannot replay a failure it reports the adapter's failing
read and the operation log of the failing example, not hypothesis's ``Flaky`` wrapper.
These tests check the structure of what a failing run prints; how long it takes is
bounded by the settings checked here (``SHRINK_SECONDS``), not asserted.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase
from hypothesis.internal.conjecture import engine
from kit_helpers import preload_suite, run_kit

from pytest_sanctum.kit.property_runs import SHRINK_SECONDS, FailureWitness, shrink_budget
from pytest_sanctum.kit.session import PROFILES


@pytest.fixture(scope="module", autouse=True)
def _suite_loaded() -> None:
    preload_suite()


def _failures(run_result: pytest.RunResult) -> list[pytest.TestReport]:
    return [report for report in run_result.reprec.getfailures() if report.when == "call"]  # type: ignore[attr-defined]


def test_a_failure_hypothesis_cannot_replay_is_reported_by_its_root_cause(
    pytester: pytest.Pytester,
) -> None:
    """The first read of the run misses an existing key, and no replay fails again: the
    report leads with the failing read and its operation log, and names the Flaky only
    in a note."""
    run = run_kit(
        pytester, "--sanctum-adapter=mutants:stale_once_a_run", "--sanctum-contracts=PROP-001"
    )

    assert run.results == {"PROP-001": "fail"}, run.output
    [failure] = _failures(run.result)
    crash = failure.longrepr.reprcrash.message  # type: ignore[union-attr]
    assert crash.startswith("AssertionError: [PROP-001]"), crash
    assert "returned NotFound" in crash.splitlines()[0], crash
    log = crash.split("sanctum: operation log of the smallest failing example:\n", 1)[1]
    steps = [line.strip() for line in log.splitlines() if line.startswith("  ")]
    assert steps[0].startswith("world: budget"), steps
    assert steps[-1].endswith("-> NotFound"), steps
    assert "sanctum: hypothesis could not replay this failure (FlakyFailure" in crash
    [summary] = [line for line in run.result.outlines if line.startswith("FAILED ")]
    assert " - AssertionE" in summary, summary  # the short summary names the root cause too


def test_a_replayable_failure_reports_one_shrunk_example_without_explanation(
    pytester: pytest.Pytester,
) -> None:
    """A deterministic bug is reported once, shrunk, with hypothesis's operation log and
    no explain-phase section."""
    run = run_kit(
        pytester, "--sanctum-adapter=mutants:put_ignores_if_match", "--sanctum-contracts=PROP-002"
    )

    assert run.results == {"PROP-002": "fail"}, run.output
    [failure] = _failures(run.result)
    crash = failure.longrepr.reprcrash.message  # type: ignore[union-attr]
    assert crash.startswith("AssertionError: [PROP-002]"), crash
    assert "if_match=<" in crash, crash
    assert "Explanation:" not in run.output
    assert "distinct failures" not in run.output
    assert "sanctum: hypothesis could not replay" not in crash


def test_a_failure_still_shrinking_at_the_budget_is_reported_with_what_it_has(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no shrinking time left, the first failing example is reported at once, and a
    note says its log may hold steps the failure does not need."""
    monkeypatch.setattr("pytest_sanctum.kit.property_runs.SHRINK_SECONDS", 0.0)
    run = run_kit(
        pytester, "--sanctum-adapter=mutants:put_ignores_if_match", "--sanctum-contracts=PROP-002"
    )

    assert run.results == {"PROP-002": "fail"}, run.output
    [failure] = _failures(run.result)
    crash = failure.longrepr.reprcrash.message  # type: ignore[union-attr]
    assert crash.startswith("AssertionError: [PROP-002]"), crash
    assert "sanctum: shrinking stopped after the kit's 0 s budget" in crash, crash


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_profile_reports_one_bug_without_the_explain_phase(
    pytester: pytest.Pytester, profile: str
) -> None:
    """The settings behind every profile skip the explain phase and stop at one bug."""
    from pytest_sanctum.plugin import kit_session

    config = pytester.parseconfigure(f"--sanctum-profile={profile}")
    settings = kit_session(config).settings()

    assert Phase.explain not in settings.phases
    assert Phase.shrink in settings.phases
    assert settings.report_multiple_bugs is False


def test_the_shrink_budget_applies_only_during_a_run() -> None:
    before = engine.MAX_SHRINKING_SECONDS
    with shrink_budget(SHRINK_SECONDS):
        during = engine.MAX_SHRINKING_SECONDS
    assert (during, engine.MAX_SHRINKING_SECONDS) == (int(SHRINK_SECONDS), before)


def test_the_witness_keeps_the_smallest_failing_example() -> None:
    witness = FailureWitness()
    first, smaller, same_length = ValueError("a"), ValueError("b"), ValueError("c")
    witness.saw(first, ["put", "get", "get"])
    witness.saw(smaller, ["put", "get"])
    witness.saw(ValueError("longer"), ["put", "get", "get", "get"])
    witness.saw(same_length, ["put", "read"])

    assert witness.smallest is not None
    assert (witness.smallest.error, witness.smallest.steps) == (same_length, ("put", "read"))
