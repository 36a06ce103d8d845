"""The mutation-score tool (``python -m mutation.score``): its operators, a measurement of a
tiny adapter end to end, and the committed score in ``docs/kit-strength.md``.

The measurement of the reference adapters takes the better part of an hour and is not run
here; this checks the tool that takes it, and that the docs show what was recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mutation import score as tool
from mutation.classification import load_verdicts
from mutation.operators import mutations
from mutation.report import render_markdown, score
from mutation.results import Results

SNIPPET = '''"""Module docstring: never mutated."""
__all__ = ["f"]

def f(items: list[int], limit: int = 10) -> int:
    """Docstring."""
    if not items or limit <= 0:
        raise ValueError("message text is not mutated")
    total = 0
    for item in items:
        if item > limit:
            break
        total += item
    sink.append(total, flag=True)
    return total
'''


def changes(text: str) -> set[tuple[str, str]]:
    return {(m.operator, m.mutated) for m in mutations(text, "snippet")}


def test_the_classic_operators_each_change_one_point() -> None:
    found = changes(SNIPPET)
    expected = {
        ("not-removed", "if items or limit <= 0:"),
        ("boolean", "if not items and limit <= 0:"),
        ("compare", "if not items or limit < 0:"),
        ("compare", "if not items or limit > 0:"),
        ("constant", "if not items or limit <= 1:"),
        ("constant", "if not items or limit <= -1:"),
        ("negate-condition", "if not (not items or limit <= 0):"),
        ("statement-removed", "pass"),
        ("break-continue", "continue"),
        ("arithmetic", "total -= item"),
        ("keyword-removed", "sink.append(total)"),
        ("constant", "sink.append(total, flag=False)"),
        ("return-none", "return None"),
        ("constant", "def f(items: list[int], limit: int = 11) -> int:"),
    }
    assert expected <= found, sorted(expected - found)
    # The only strings are docstrings, __all__ and an exception's message: none is mutated.
    assert not [line for _, line in found if "XX" in line]


def test_sql_strings_get_sql_mutations_but_set_clauses_keep_their_assignments() -> None:
    text = (
        "def q(conn):\n"
        '    conn.execute("UPDATE t SET live = 0"\n'
        '                 " WHERE ns = ? AND seq >= ? ORDER BY seq")\n'
    )
    found = changes(text)
    assert ("sql-compare", '" WHERE ns != ? AND seq >= ? ORDER BY seq")') in found
    assert ("sql-compare", '" WHERE ns = ? AND seq > ? ORDER BY seq")') in found
    assert ("sql-logic", '" WHERE ns = ? OR seq >= ? ORDER BY seq")') in found
    assert ("sql-order", '" WHERE ns = ? AND seq >= ? ORDER BY seq DESC")') in found
    assert ("sql-literal", 'conn.execute("UPDATE t SET live = 1"') in found
    assert not any("live != 0" in line for _, line in found)


def test_ids_survive_edits_elsewhere_in_the_file() -> None:
    before = {m.id: m.mutated for m in mutations(SNIPPET, "snippet")}
    after = {m.id: m.mutated for m in mutations("# a new first line\n" + SNIPPET, "snippet")}
    assert before == after


TINY_ADAPTER = '''"""A tiny adapter with three mutants: one the kit kills, one it cannot see, one that errors."""
from reference_adapters.memory import create_memory_adapter


def create_tiny_adapter(options, clock):
    adapter = create_memory_adapter(options, clock)
    if options:
        adapter.close()
    return adapter
'''


def test_a_tiny_adapter_is_measured_classified_and_rendered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    adapter = tmp_path / "tiny.py"
    adapter.write_text(TINY_ADAPTER, encoding="utf-8")
    by_change = {m.mutated: m.id for m in mutations(TINY_ADAPTER, "tiny")}
    assert set(by_change) == {"if not (options):", "pass", "return None"}
    docs = tmp_path / "doc.md"
    docs.write_text(f"# Doc\n\n{tool.DOCS_START}\nold\n{tool.DOCS_END}\n", encoding="utf-8")
    verdicts = tmp_path / "survivors.toml"
    argv = [
        f"--file={adapter}",
        "--factory=create_tiny_adapter",
        "--kit-arg=--sanctum-contracts=BLOB-001",
        f"--results={tmp_path / 'results'}",
        f"--verdicts={verdicts}",
        f"--docs={docs}",
        "--check",
    ]
    assert tool.main(argv) == 1, "a survivor without a verdict fails --check"
    recorded = json.loads((tmp_path / "results" / "tiny.json").read_text(encoding="utf-8"))
    outcomes = {row["mutated"]: row["outcome"] for row in recorded["mutants"]}
    assert outcomes == {"if not (options):": "killed", "pass": "survived", "return None": "error"}
    assert f"unclassified survivor {by_change['pass']}" in capsys.readouterr().out

    verdicts.write_text(
        "[[survivor]]\n"
        f'id = "{by_change["pass"]}"\n'
        'target = "tiny"\nfunction = "create_tiny_adapter"\n'
        'original = "adapter.close()"\nmutated = "pass"\n'
        'verdict = "equivalent"\nwhy = "the kit gives no options"\n',
        encoding="utf-8",
    )
    # Nothing changed in the kit: the run resumes with nothing to measure.
    assert tool.main([*argv, "--write-docs"]) == 0
    output = capsys.readouterr().out
    assert "mutants to run" not in output
    assert "score: 2/2 non-equivalent mutants detected = 100.0%" in output
    assert "| `adapter.close()` → `pass` | the kit gives no options |" in docs.read_text()

    # --only survived measures the survivor again, and only it.
    assert tool.main([*argv, "--only=survived"]) == 0
    assert "1 mutants to run" in capsys.readouterr().out


def test_the_docs_show_the_recorded_score() -> None:
    """docs/kit-strength.md renders the committed results and verdicts
    (``python -m mutation.score --write-docs`` after a measurement)."""
    verdicts = load_verdicts(tool.VERDICTS)
    scores = []
    for name in tool.TARGETS:
        results = Results.load(tool.RESULTS_DIR / f"{name}.json")
        assert results.records, f"no recorded results for {name}"
        scores.append(score(name, results.header["file"], results.records, verdicts))
    block = f"{tool.DOCS_START}\n{render_markdown(scores)}\n{tool.DOCS_END}"
    assert block in tool.DOCS.read_text(encoding="utf-8")
    assert not [s.unclassified for s in scores if s.unclassified], "classify every survivor"
    assert not [s.stale_verdicts for s in scores if s.stale_verdicts], "verdicts out of date"
