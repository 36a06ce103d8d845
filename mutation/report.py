"""The score of one target, and its rendering as text and as the Markdown of the docs.

The score is the share of non-equivalent mutants the kit detects:
``(killed + timeouts + errors) / (mutants - equivalent)``. A surviving mutant without a
verdict counts as not detected and is flagged, as is a verdict whose mutant is gone or
now detected (an ``equivalent`` mutant that the kit fails means a wrong verdict or a
false failure of the kit; a ``gap`` that is now detected is closed).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from mutation.classification import Verdict
from mutation.results import Record
from mutation.runner import DETECTED

__all__ = ["Score", "render_markdown", "render_stubs", "render_text", "score"]


@dataclass(frozen=True, slots=True)
class Score:
    target: str
    file: str
    mutants: int
    outcomes: Counter[str]
    equivalent: list[tuple[Record, Verdict]] = field(default_factory=list)
    gaps: list[tuple[Record, Verdict]] = field(default_factory=list)
    unclassified: list[Record] = field(default_factory=list)
    not_run: int = 0
    stale_verdicts: list[Verdict] = field(default_factory=list)
    """Verdicts whose mutant no longer exists (its code changed) or is now detected."""

    @property
    def detected(self) -> int:
        return sum(self.outcomes[o] for o in DETECTED)

    @property
    def score(self) -> float:
        """Detected share of the non-equivalent mutants (0 when nothing was measured)."""
        relevant = self.mutants - self.not_run - len(self.equivalent)
        return self.detected / relevant if relevant else 0.0


def score(
    target: str, file: str, records: Mapping[str, Record], verdicts: Mapping[str, Verdict]
) -> Score:
    """The score of ``target`` from its records and the verdicts on its survivors."""
    outcomes: Counter[str] = Counter()
    equivalent: list[tuple[Record, Verdict]] = []
    gaps: list[tuple[Record, Verdict]] = []
    unclassified: list[Record] = []
    stale: list[Verdict] = []
    not_run = 0
    for record in sorted(records.values(), key=lambda r: (r.line, r.operator, r.id)):
        if record.outcome is None:
            not_run += 1
            continue
        outcomes[record.outcome] += 1
        verdict = verdicts.get(record.id)
        if record.outcome != "survived":
            if verdict is not None:
                stale.append(verdict)
        elif verdict is None:
            unclassified.append(record)
        elif verdict.verdict == "equivalent":
            equivalent.append((record, verdict))
        else:
            gaps.append((record, verdict))
    stale += [v for v in verdicts.values() if v.target == target and v.id not in records]
    return Score(
        target, file, len(records), outcomes, equivalent, gaps, unclassified, not_run, stale
    )


def render_text(result: Score) -> str:
    """A few lines for the terminal: counts, score, and what needs a look."""
    o = result.outcomes
    lines = [
        f"{result.target} ({result.file}): {result.mutants} mutants; "
        f"killed {o['killed']}, timeouts {o['timeout']}, errors {o['error']}, "
        f"survived {o['survived']} (equivalent {len(result.equivalent)}, "
        f"gaps {len(result.gaps)}, unclassified {len(result.unclassified)})"
        + (f", not run {result.not_run}" if result.not_run else ""),
        f"  score: {result.detected}/{result.mutants - result.not_run - len(result.equivalent)}"
        f" non-equivalent mutants detected = {result.score:.1%}",
    ]
    for record in result.unclassified:
        lines.append(
            f"  unclassified survivor {record.id} line {record.line} {record.function} "
            f"[{record.operator}]: {record.original}  =>  {record.mutated}"
        )
    for verdict in result.stale_verdicts:
        lines.append(
            f"  stale verdict {verdict.id} ({verdict.verdict}, {verdict.function}): its mutant "
            "is gone or now detected; remove or rewrite the entry"
        )
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _change(record: Record) -> str:
    return f"`{_cell(record.original)}` → `{_cell(record.mutated)}`"


def render_markdown(results: list[Score]) -> str:
    """The generated part of the docs' "Mutation score" section."""
    out = [
        "| file | mutants | not measured | killed | timeouts | errors | survived: equivalent "
        "| gaps | unclassified | score |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        o = r.outcomes
        out.append(
            f"| `{r.file}` | {r.mutants} | {r.not_run} | {o['killed']} | {o['timeout']} "
            f"| {o['error']} | {len(r.equivalent)} | {len(r.gaps)} | {len(r.unclassified)} "
            f"| **{r.score:.1%}** ({r.detected}/{r.mutants - r.not_run - len(r.equivalent)}) |"
        )
    for r in results:
        if r.gaps or r.unclassified:
            out += ["", f"#### `{r.file}`: surviving mutants that are gaps", ""]
            out += ["| line | function | change | rule broken | should be caught by |"]
            out += ["| ---: | --- | --- | --- | --- |"]
            for record, verdict in r.gaps:
                by = verdict.contract + (f" ({verdict.closed_by})" if verdict.closed_by else "")
                out.append(
                    f"| {record.line} | `{record.function}` | {_change(record)} "
                    f"| {_cell(verdict.why)} | {_cell(by)} |"
                )
            for record in r.unclassified:
                out.append(
                    f"| {record.line} | `{record.function}` | {_change(record)} "
                    "| not classified yet | — |"
                )
        if r.equivalent:
            out += ["", f"#### `{r.file}`: equivalent mutants", ""]
            out += ["| line | function | change | why no test can tell it apart |"]
            out += ["| ---: | --- | --- | --- |"]
            for record, verdict in r.equivalent:
                out.append(
                    f"| {record.line} | `{record.function}` | {_change(record)} "
                    f"| {_cell(verdict.why)} |"
                )
    return "\n".join(out)


def render_stubs(result: Score) -> str:
    """A ``survivors.toml`` entry for each survivor without a verdict, to be filled in."""
    entries = []
    for record in result.unclassified:
        entries.append(
            "[[survivor]]\n"
            f"id = {json.dumps(record.id)}\n"
            f"target = {json.dumps(result.target)}\n"
            f"function = {json.dumps(record.function)}\n"
            f"original = {json.dumps(record.original, ensure_ascii=False)}\n"
            f"mutated = {json.dumps(record.mutated, ensure_ascii=False)}\n"
            'verdict = ""  # equivalent or gap\n'
            'why = ""\n'
        )
    return "\n".join(entries)
