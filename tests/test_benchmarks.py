"""The benchmark command runs end to end, and its ratios pair the repeats as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import run


def subject(name: str, samples: list[float]) -> run.Subject:
    return run.Subject(name, name, lambda: None, 1, samples_ns=samples)


def test_a_ratio_is_the_median_of_per_repeat_ratios() -> None:
    # Repeat 2 ran in a slow spell that doubled both sides: paired, it changes nothing.
    facade = subject("facade", [10.0, 20.0, 10.0])
    baseline = subject("baseline", [100.0, 200.0, 120.0])
    target = run.Target("t", "t", "baseline", "facade", 10.0, at_most=False)
    results = {"facade": facade, "baseline": baseline}
    assert target.ratios(results) == [10.0, 10.0, 12.0]
    assert target.ratio(results) == 10.0
    assert target.passed(results)


def test_pairs_must_come_from_one_run() -> None:
    with pytest.raises(ValueError, match="shorter"):
        run.paired_ratios(subject("a", [1.0, 2.0]), subject("b", [1.0]))


def test_the_middle_half_is_the_interquartile_range() -> None:
    assert run.middle_half([4.0]) == (4.0, 4.0)
    assert run.middle_half([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 4.0)


def test_the_quick_run_measures_every_target_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    assert run.main(["--quick", "--repeats", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert [t["id"] for t in report["targets"]] == [t.id for t in run.TARGETS]
    for target in report["targets"]:
        assert len(target["repeat_ratios"]) == 2
        assert target["ratio"] > 0
        assert f"{target['id']:<3} {target['description']}" in printed
    assert all(len(m["repeats_us"]) == 2 for m in report["measurements"].values())
