"""The kill-rate measurement (``python -m mutation.kill_rates``): a small measurement end to
end, how it renders kills and false failures, and the committed table in
``docs/kit-strength.md``.

The full measurement (every generated mutant and honest adapter with ten seeds) takes the
better part of an hour and is not run here; ``test_kit_generated.py`` checks a fixed part
of it on every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mutation import kill_rates as tool
from mutation.kill_runs import RunRecord, Subject, load_records, load_subjects
from mutation.runner import Outcome


def _doc(tmp_path: Path) -> Path:
    docs = tmp_path / "doc.md"
    docs.write_text(f"# Doc\n\n{tool.DOCS_START}\nold\n{tool.DOCS_END}\n", encoding="utf-8")
    return docs


def test_a_mutant_and_an_honest_adapter_are_measured_and_rendered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "kill-rates.json"
    docs = _doc(tmp_path)
    argv = ["gen-blob-keys-fold-case", "random-etags", "--seeds=1", f"--results={results}"]
    assert tool.main([*argv, f"--docs={docs}", "--write-docs"]) == 0
    out = capsys.readouterr().out
    assert "gen-blob-keys-fold-case  killed 1/1" in out, out
    assert "random-etags             passed 1/1" in out, out
    records = load_records(results)
    assert {key: r.outcome for key, r in records.items()} == {
        "gen-blob-keys-fold-case@1": "killed",
        "random-etags@1": "survived",
    }
    text = docs.read_text(encoding="utf-8")
    assert "Killed with every measured seed: 1 of 1.**" in text, text
    assert "| `random-etags` | 1/1 | — |" in text, text
    # Measured again, nothing runs: the outcomes were recorded with this kit.
    assert tool.main([*argv, "--jobs=1"]) == 0
    assert "0 runs to measure" in capsys.readouterr().out


def _record(subject: Subject, seed: int, outcome: Outcome) -> RunRecord:
    return RunRecord(subject.name, subject.kind, seed, outcome, 1.0, (), "", "f")


def test_a_surviving_mutant_and_a_failing_honest_adapter_are_shown_and_fail_the_check() -> None:
    mutant = Subject("gen-x", "mutant", "mutants:gen-x", {}, doc="Folds keys.")
    honest = Subject("evicting", "honest", "h:e", {})
    runs = [
        _record(mutant, 1, "killed"),
        _record(mutant, 2, "survived"),
        _record(honest, 1, "survived"),
        _record(honest, 2, "killed"),
    ]
    records = {run.key: run for run in runs}
    found = tool.tallies({"gen-x": mutant, "evicting": honest}, records, 2)
    text = tool.render_markdown(found, 2, "default")
    assert text.startswith("Measured at the `default` profile with seeds 1 to 2.\n"), text
    assert "Kills: 1 (50.0%). Killed with every measured seed: 0 of 1.**" in text, text
    subjects = {"gen-x": mutant, "evicting": honest}
    partial = tool.render_markdown(tool.tallies(subjects, records, 3), 3, "default")
    assert partial.startswith("Measured at the `default` profile with seeds 1 to 2 of 1 to 3: 2 ")
    assert "| `gen-x` | Folds keys. | 1/2 |" in text, text
    assert "| `evicting` | 1/2 | seed 2: killed |" in text, text
    assert tool.measured_seeds(records) == [1, 2]
    assert tool.measured_seeds({**records, "late@3": _record(mutant, 3, "killed")}) == [1, 2]
    assert tool.always_killed(records, [1]) == ["gen-x"]
    assert tool.always_killed(records, [1, 2]) == []
    assert any(t.bad for t in found)


def test_the_docs_show_the_recorded_kill_rates() -> None:
    """docs/kit-strength.md renders the committed outcomes
    (``python -m mutation.kill_rates --write-docs`` after a measurement)."""
    found = tool.tallies(load_subjects(), load_records(tool.RESULTS), tool.SEEDS)
    block = f"{tool.DOCS_START}\n{tool.render_markdown(found, tool.SEEDS, 'default')}\n"
    assert block in tool.DOCS.read_text(encoding="utf-8")
