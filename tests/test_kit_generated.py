"""The differential tier kills generated lossy adapters and passes the honest ones.

``mutants/generated.py`` produces lossy variants of the memory adapter mechanically; the
``DIFF-*`` contracts, at the ``default`` profile, must fail each of them. The full
measurement, every generated mutant and every honest adapter with seeds 1 to 10, is a
command (``python -m mutation.kill_rates``, ``docs/kit-strength.md``) whose outcomes are
committed in ``mutation/results/kill-rates.json``. Every run of this module checks the
same fixed part of it, whatever the day: a sample of the mutants that measurement shows
killed with every seed, each with its own seed of ``SEEDS`` in turn, and every honest
adapter with two seeds. A failed case names the mutant (or honest adapter) and the seed.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from kit_helpers import SEED, preload_suite, run_kit
from mutants.generated import GENERATED
from test_kit_honest import HONEST

from mutation.kill_rates import RESULTS, always_killed, measured_seeds
from mutation.kill_runs import DIFFERENTIAL, load_records
from pytest_sanctum.kit import property_runs

MEASURED = load_records(RESULTS)
"""The committed outcomes of ``python -m mutation.kill_rates``."""

SEEDS = tuple(measured_seeds(MEASURED))
"""The seeds every subject was measured with (1 to 10 after a full measurement)."""

SAMPLE = 10
"""Generated mutants checked on every run, each with the next seed of ``SEEDS``."""


@pytest.fixture(scope="module", autouse=True)
def _suite_loaded() -> None:
    preload_suite()


def _sample() -> list[tuple[str, int]]:
    """A fixed sample of the mutants killed with every measured seed, spread evenly over
    them in name order, each paired with the next seed of ``SEEDS`` in turn."""
    reliable = [name for name in always_killed(MEASURED, SEEDS) if name in GENERATED]
    assert SEEDS, f"{RESULTS}: no seed was measured with every subject"
    assert len(reliable) >= SAMPLE, f"{RESULTS}: too few mutants killed with every seed"
    picked = [reliable[i * len(reliable) // SAMPLE] for i in range(SAMPLE)]
    return [(name, SEEDS[i % len(SEEDS)]) for i, name in enumerate(picked)]


def _honest_runs() -> list[tuple[str, int]]:
    """Every honest adapter with two seeds, the seeds rotating over ``SEEDS``."""
    return [
        (name, SEEDS[(2 * index + turn) % len(SEEDS)])
        for index, name in enumerate(HONEST)
        for turn in (0, 1)
    ]


def test_there_are_at_least_forty_generated_mutants() -> None:
    assert len(GENERATED) >= 40


def test_the_sample_is_the_same_on_every_run() -> None:
    """The sample depends on the committed measurement alone (not on the date): a run on
    any day checks the same mutants with the same seeds."""
    assert _sample() == _sample()
    assert [seed for _, seed in _sample()] == [SEEDS[i % len(SEEDS)] for i in range(SAMPLE)]


@pytest.mark.parametrize(("name", "seed"), _sample())
def test_the_tier_kills_a_generated_mutant(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, seed: int
) -> None:
    """A sampled generated mutant fails a ``DIFF-*`` contract at the default profile. The run
    stops at the first failure and does not shrink it (only whether it fails matters)."""
    monkeypatch.setattr(property_runs, "SHRINK_SECONDS", 0.0)
    run = run_kit(
        pytester,
        f"--sanctum-adapter=mutants:{name}",
        f"--sanctum-contracts={DIFFERENTIAL}",
        f"--sanctum-seed={seed}",
        "-x",
        profile="default",
    )
    assert "fail" in run.results.values(), (
        f"{name} ({GENERATED[name].__doc__}) survived the differential tier with seed {seed}\n"
        f"{run.output}"
    )


@pytest.mark.parametrize(("name", "seed"), _honest_runs())
def test_an_honest_adapter_passes_the_tier(
    pytester: pytest.Pytester, tmp_path: Path, name: str, seed: int
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
    assert set(run.results.values()) == {"pass"}, f"{name}, seed {seed}\n{run.output[-5000:]}"


def test_the_report_counts_the_examples_of_each_contract(pytester: pytest.Pytester) -> None:
    """Each ``DIFF-*`` row of the JSON report and the certificate says how many examples ran,
    and so do the terminal summary and the test case's JUnit properties."""
    run = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        "--sanctum-contracts=DIFF-002",
        "--junitxml=junit.xml",
        profile="default",
    )
    assert run.report is not None
    rows = {row["id"]: row for row in run.report["contracts"]}
    examples = rows["DIFF-002"]["examples"]
    assert examples >= 25, rows["DIFF-002"]  # the default profile's max_examples
    assert rows["BLOB-001"]["examples"] == 0
    assert f"examples: DIFF-002 {examples}" in run.result.outlines, run.output
    junit = ET.parse(pytester.path / "junit.xml")
    found = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert found["sanctum_examples"] == str(examples), found
    certificate = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        "--sanctum-contracts=DIFF-002",
        "--sanctum-report=report.md",
        profile="default",
        report=False,
    )
    text = (pytester.path / "report.md").read_text(encoding="utf-8")
    assert re.search(r"\| `DIFF-002` \| .* \| passed \| 1 \(\d+ examples\) \|", text), (
        certificate.output
    )


def test_a_failure_prints_a_shrunk_step_list_and_the_reproduce_command(
    pytester: pytest.Pytester,
) -> None:
    """A ``DIFF-*`` failure is shrunk (within the kit's shrinking budget) to the few steps it
    needs, printed as an operation log, followed by the command that replays it."""
    run = run_kit(
        pytester,
        "--sanctum-adapter=mutants:gen-blob-keys-fold-case",
        "--sanctum-contracts=DIFF-001",
        profile="default",
    )
    assert run.results == {"DIFF-001": "fail"}, run.output
    steps = [line for line in run.result.outlines if re.match(r"E +state\.\w+\(", line)]
    assert "state.teardown()" in steps[-1], steps
    assert 1 <= len(steps) - 1 <= 3, "\n".join(steps)
    assert any(re.match(r"E +state = FacadeDifferential\(\)", line) for line in run.result.outlines)
    run.result.stdout.fnmatch_lines(
        [
            "*- sanctum: reproduce -*",
            "pytest --sanctum-adapter=mutants:gen-blob-keys-fold-case --sanctum-profile=default "
            f"--sanctum-seed={SEED} --sanctum-contracts=DIFF-001",
        ]
    )
