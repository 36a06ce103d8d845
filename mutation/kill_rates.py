"""Measure the differential tier's kill rates: every generated mutant and every honest
adapter against the ``DIFF-*`` contracts, with several seeds each.

Run from the repository root::

    python -m mutation.kill_rates                   # 10 seeds, 2 parallel runs, resuming
    python -m mutation.kill_rates --write-docs      # ... then render docs/kit-strength.md
    python -m mutation.kill_rates --seeds 3 gen-blob-keys-nfc paged-list
    python -m mutation.kill_rates --report --write-docs   # run nothing: render again

A generated mutant is killed by a run when a ``DIFF-*`` contract fails; an honest adapter
must pass every run (``mutation.kill_runs``). Outcomes are saved after each run in
``mutation/results/kill-rates.json`` with a fingerprint of the kit, the adapters and the
tests' subjects, so an interrupted measurement resumes and a changed kit is measured again.
The exit status is 0 when every mutant was killed with every seed and every honest
adapter passed every run, else 1. See ``docs/kit-strength.md``.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mutation.kill_runs import (
    SOURCES,
    RunRecord,
    Subject,
    load_records,
    load_subjects,
    run_subject,
    save_records,
)
from mutation.results import fingerprint

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "mutation" / "results" / "kill-rates.json"
DOCS = ROOT / "docs" / "kit-strength.md"

SEEDS = 10
"""Seeds per subject by default: 1 to 10."""

MAX_JOBS = 2
"""Parallel runs at most: the machine has two cores shared with others."""

DOCS_START = "<!-- kill-rates:start (generated: python -m mutation.kill_rates --write-docs) -->"
DOCS_END = "<!-- kill-rates:end -->"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mutation.kill_rates", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "subjects", nargs="*", help="generated mutants or honest adapters to run (default: all)"
    )
    parser.add_argument("--seeds", type=int, default=SEEDS, help="seeds 1 to N per subject")
    parser.add_argument("--jobs", type=int, default=MAX_JOBS, help=f"parallel runs (1-{MAX_JOBS})")
    parser.add_argument("--profile", default="default", help="the kit's hypothesis profile")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--fresh", action="store_true", help="ignore recorded outcomes")
    parser.add_argument(
        "--report", action="store_true", help="run nothing: render the recorded outcomes"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the doc --write-docs renders into")
    parser.add_argument("--write-docs", action="store_true", help="render the table into --docs")
    return parser


@dataclass(frozen=True, slots=True)
class Tally:
    """What the recorded runs of one subject say, over the seeds asked for."""

    subject: Subject
    runs: tuple[RunRecord, ...]
    seeds: int

    @property
    def wanted(self) -> str:
        """The outcome each run should have: a mutant killed, an honest adapter surviving."""
        return "killed" if self.subject.kind == "mutant" else "survived"

    @property
    def good(self) -> int:
        """Runs that went the right way: kills of a mutant, passes of an honest adapter."""
        return sum(run.outcome == self.wanted for run in self.runs)

    @property
    def bad(self) -> tuple[RunRecord, ...]:
        """Measured runs that went the wrong way."""
        return tuple(run for run in self.runs if run.outcome != self.wanted)

    @property
    def missing(self) -> int:
        return self.seeds - len(self.runs)

    def has(self, seed: int) -> bool:
        """Whether the subject was measured with ``seed``."""
        return any(run.seed == seed for run in self.runs)


def tallies(
    subjects: Mapping[str, Subject], records: Mapping[str, RunRecord], seeds: int
) -> list[Tally]:
    """Each subject's recorded runs with seeds 1 to ``seeds``."""
    return [
        Tally(
            subject,
            tuple(
                records[key]
                for seed in range(1, seeds + 1)
                if (key := f"{subject.name}@{seed}") in records
            ),
            seeds,
        )
        for subject in subjects.values()
    ]


def measured_seeds(records: Mapping[str, RunRecord]) -> list[int]:
    """The seeds every recorded subject was run with (all of them, in a full measurement)."""
    seeds: dict[str, set[int]] = {}
    for record in records.values():
        seeds.setdefault(record.subject, set()).add(record.seed)
    return sorted(set.intersection(*seeds.values())) if seeds else []


def always_killed(records: Mapping[str, RunRecord], seeds: Sequence[int]) -> list[str]:
    """The generated mutants the recorded runs show killed with every one of ``seeds``."""
    names = {record.subject for record in records.values() if record.kind == "mutant"}
    return sorted(
        name
        for name in names
        if all(
            (found := records.get(f"{name}@{seed}")) is not None and found.outcome == "killed"
            for seed in seeds
        )
    )


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "—"


def render_markdown(found: list[Tally], seeds: int, profile: str) -> str:
    """The generated part of the docs' "Kill rates" section."""
    mutants = [t for t in found if t.subject.kind == "mutant"]
    honest = [t for t in found if t.subject.kind == "honest"]
    runs = sum(len(t.runs) for t in mutants)
    kills = sum(t.good for t in mutants)
    every = sum(bool(t.runs) and not t.bad for t in mutants)
    missing = sum(t.missing for t in found)
    measured = [seed for seed in range(1, seeds + 1) if all(t.has(seed) for t in found)]
    span = f"{measured[0]} to {measured[-1]}" if measured else "none"
    out = [
        f"Measured at the `{profile}` profile with seeds {span}"
        + (f" of 1 to {seeds}: {missing} runs not measured." if missing else "."),
        "",
        f"**Generated mutants: {len(mutants)}. Runs: {runs}. Kills: {kills} "
        f"({_percent(kills, runs)}). Killed with every measured seed: {every} of {len(mutants)}.**",
    ]
    partial = [t for t in mutants if t.bad]
    if partial:
        out += ["", "Killed with some seeds only, or none:", ""]
        out += ["| mutant | what it breaks | kills |", "| --- | --- | ---: |"]
        out += [
            f"| `{t.subject.name}` | {t.subject.doc} | {t.good}/{len(t.runs)} |" for t in partial
        ]
    passes = sum(t.good for t in honest)
    honest_runs = sum(len(t.runs) for t in honest)
    out += [
        "",
        f"**Honest adapters: {len(honest)}. Runs: {honest_runs}. Passed: {passes} "
        f"({_percent(passes, honest_runs)}).**",
        "",
        "| honest adapter | passed | runs that did not pass |",
        "| --- | ---: | --- |",
    ]
    for tally in honest:
        bad = ", ".join(f"seed {run.seed}: {run.outcome}" for run in tally.bad) or "—"
        out.append(f"| `{tally.subject.name}` | {tally.good}/{len(tally.runs)} | {bad} |")
    return "\n".join(out)


def render_text(found: list[Tally]) -> str:
    """The kill table for the terminal: every subject, then what went the wrong way."""
    width = max(len(t.subject.name) for t in found)
    lines = []
    for tally in found:
        verb = "killed" if tally.subject.kind == "mutant" else "passed"
        lines.append(
            f"{tally.subject.name:<{width}}  {verb} {tally.good}/{len(tally.runs)}"
            + (f"  ({tally.missing} not measured)" if tally.missing else "")
        )
    for tally in found:
        for run in tally.bad:
            lines.append(f"\n{run.key}: {run.outcome} {','.join(run.failed)}\n{run.detail}")
    return "\n".join(lines)


def write_docs(path: Path, block: str) -> None:
    """Replace the generated block of the docs' "Kill rates" section."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(DOCS_START) + ".*?" + re.escape(DOCS_END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no generated block ({DOCS_START} ... {DOCS_END})")
    path.write_text(pattern.sub(lambda _: f"{DOCS_START}\n{block}\n{DOCS_END}", text), "utf-8")


def measure(
    subjects: Mapping[str, Subject], records: dict[str, RunRecord], args: argparse.Namespace
) -> None:
    """Run every (subject, seed) not yet measured with this kit, saving after each run."""
    current = fingerprint(ROOT, seed=0, profile=args.profile, extra=(), also=SOURCES)
    header = {"profile": args.profile, "fingerprint": current}
    todo = [
        (subject, seed)
        for seed in range(1, args.seeds + 1)
        for subject in subjects.values()
        if (found := records.get(f"{subject.name}@{seed}")) is None or found.fingerprint != current
    ]
    print(f"{len(todo)} runs to measure, {args.jobs} at a time", flush=True)
    lock = threading.Lock()
    started = time.monotonic()
    done = 0

    def one(subject: Subject, seed: int) -> None:
        nonlocal done
        run = run_subject(subject, seed, profile=args.profile, timeout_s=args.timeout)
        record = RunRecord(
            subject.name,
            subject.kind,
            seed,
            run.outcome,
            round(run.seconds, 2),
            run.failed,
            run.detail,
            current,
        )
        with lock:
            done += 1
            records[record.key] = record
            save_records(args.results, header, records.values())
            print(
                f"[{done}/{len(todo)} {time.monotonic() - started:.0f}s] {record.key} "
                f"{run.outcome} {','.join(run.failed)} ({run.seconds:.1f} s)",
                flush=True,
            )

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(one, subject, seed) for subject, seed in todo]:
            future.result()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 1 <= args.jobs <= MAX_JOBS:
        raise SystemExit(f"--jobs must be 1 to {MAX_JOBS}")
    subjects = load_subjects()
    unknown = sorted(set(args.subjects) - set(subjects))
    if unknown:
        raise SystemExit(f"unknown subjects {unknown}")
    chosen = {name: s for name, s in subjects.items() if not args.subjects or name in args.subjects}
    records = {} if args.fresh else load_records(args.results)
    if not args.report:
        measure(chosen, records, args)
    found = tallies(chosen, records, args.seeds)
    print(render_text(found))
    if args.write_docs:
        write_docs(args.docs, render_markdown(found, args.seeds, args.profile))
    return 0 if all(not t.bad and not t.missing for t in found) else 1


if __name__ == "__main__":
    sys.exit(main())
