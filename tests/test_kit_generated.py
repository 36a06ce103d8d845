"""The differential tier kills every generated lossy adapter and passes the honest ones.

``mutants/generated.py`` produces lossy variants of the memory adapter mechanically; the
``DIFF-*`` contracts, at the ``default`` profile, must fail each of them with any seed.
A run of this module checks a sample of those killed with every seed when last measured
(``PARTIAL`` lists the others), a different sample each day, with one seed. The full measurement, every generated mutant and every
honest adapter with ten seeds each, runs when ``SANCTUM_KILL_RATES=1``::

    SANCTUM_KILL_RATES=1 python -m pytest tests/test_kit_generated.py -n 2 -q -p no:cacheprovider

A failed case names the mutant (or honest adapter) and the seed it survived (or failed).
"""

from __future__ import annotations

import datetime
import json
import os
import random

import pytest
from kit_helpers import preload_suite, run_kit
from mutants.generated import GENERATED, PARTIAL
from test_kit_honest import HONEST

from pytest_sanctum.kit import property_runs

DIFFERENTIAL = "DIFF-001,DIFF-002,DIFF-003"
SEEDS = tuple(
    int(s) for s in os.environ.get("SANCTUM_KILL_SEEDS", "1,2,3,4,5,6,7,8,9,10").split(",")
)
"""The seeds of the full measurement: ten unless ``SANCTUM_KILL_SEEDS`` names others."""

SAMPLE = 6
"""Generated mutants checked on an ordinary run."""

FULL = os.environ.get("SANCTUM_KILL_RATES") == "1"


@pytest.fixture(scope="module", autouse=True)
def _suite_loaded() -> None:
    preload_suite()


def _sample() -> list[str]:
    day = datetime.date.today().toordinal()
    reliable = sorted(set(GENERATED) - set(PARTIAL))
    return sorted(random.Random(day).sample(reliable, SAMPLE))


def _killed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, seed: int
) -> tuple[bool, str]:
    """Whether a ``DIFF-*`` contract fails against mutant ``name``: the run stops at the
    first failure and does not shrink it (only whether it fails matters here)."""
    monkeypatch.setattr(property_runs, "SHRINK_SECONDS", 0.0)
    run = run_kit(
        pytester,
        f"--sanctum-adapter=mutants:{name}",
        f"--sanctum-contracts={DIFFERENTIAL}",
        f"--sanctum-seed={seed}",
        "-x",
        profile="default",
    )
    return "fail" in run.results.values(), run.output


def test_there_are_at_least_forty_generated_mutants() -> None:
    assert len(GENERATED) >= 40


@pytest.mark.parametrize("name", _sample())
def test_the_tier_kills_a_generated_mutant(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A sampled generated mutant fails a ``DIFF-*`` contract at the default profile."""
    seed = datetime.date.today().toordinal() % 1000
    killed, output = _killed(pytester, monkeypatch, name, seed)
    assert killed, f"{name} ({GENERATED[name].__doc__}) survived the differential tier\n{output}"


@pytest.mark.skipif(not FULL, reason="full kill-rate measurement: set SANCTUM_KILL_RATES=1")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(GENERATED))
def test_kill_rate(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, seed: int
) -> None:
    killed, output = _killed(pytester, monkeypatch, name, seed)
    assert killed, f"{name} survived with seed {seed}\n{output[-3000:]}"


@pytest.mark.skipif(not FULL, reason="full kill-rate measurement: set SANCTUM_KILL_RATES=1")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_adapters_pass_with_every_seed(
    pytester: pytest.Pytester, tmp_path: object, name: str, seed: int
) -> None:
    honest = HONEST[name]
    options = {
        key: value.format(tmp=tmp_path) if isinstance(value, str) else value
        for key, value in honest.options.items()
    }
    args = [
        f"--sanctum-adapter={honest.spec}",
        f"--sanctum-adapter-options={json.dumps(options)}",
        f"--sanctum-contracts={DIFFERENTIAL}",
        f"--sanctum-seed={seed}",
    ]
    if honest.reference_cache:
        args.append("--sanctum-reference-cache")
    run = run_kit(pytester, *args, profile="default")
    assert set(run.results.values()) == {"pass"}, run.output[-5000:]


def test_the_report_counts_the_examples_of_each_contract(pytester: pytest.Pytester) -> None:
    """Each ``DIFF-*`` row of the report says how many examples ran; the summary too."""
    run = run_kit(pytester, "--sanctum-adapter=memory", "--sanctum-contracts=DIFF-002")
    assert run.report is not None
    rows = {row["id"]: row for row in run.report["contracts"]}
    assert rows["DIFF-002"]["examples"] >= 1, rows
    assert any(line.startswith("examples: DIFF-002 ") for line in run.result.outlines), run.output
