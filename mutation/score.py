"""Measure the kit's mutation score over the reference adapters.

Run from the repository root::

    python -m mutation.score                       # memory and sqlite, resuming, 2 jobs
    python -m mutation.score --write-docs          # ... then render docs/kit-strength.md
    python -m mutation.score sqlite --only survived   # re-run only last time's survivors
    python -m mutation.score memory --list         # print the mutants, run nothing

Every mutant of a target file is loaded as a module and run with the kit at the default
profile and a fixed seed (see ``mutation.runner``). Outcomes are saved after each run in
``mutation/results/<target>.json``, so an interrupted measurement resumes; outcomes
measured with another kit, seed or profile are measured again. Surviving mutants are
matched with the verdicts in ``mutation/survivors.toml``. See ``docs/kit-strength.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mutation.classification import Verdict, load_verdicts
from mutation.operators import Mutation, mutations
from mutation.report import Score, render_markdown, render_stubs, render_text, score
from mutation.results import Record, Results, fingerprint
from mutation.runner import Target, run_kit

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "mutation" / "results"
VERDICTS = ROOT / "mutation" / "survivors.toml"
DOCS = ROOT / "docs" / "kit-strength.md"

DEFAULT_SEED = 20240601
"""The seed of every measured run (the one the project's own kit tests use)."""

MAX_JOBS = 2
"""Parallel kit runs at most: the machine has two cores shared with others."""

TARGETS: dict[str, Target] = {
    "memory": Target("memory", ROOT / "reference_adapters/memory.py", "create_memory_adapter"),
    "sqlite": Target(
        "sqlite",
        ROOT / "reference_adapters/sqlite.py",
        "create_sqlite_adapter",
        lambda workdir: {"path": str(workdir / "kit.sqlite")},
    ),
}

DOCS_START = "<!-- mutation-score:start (generated: python -m mutation.score --write-docs) -->"
DOCS_END = "<!-- mutation-score:end -->"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mutation.score", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "targets", nargs="*", help=f"targets to measure: {', '.join(TARGETS)} (default: all)"
    )
    parser.add_argument("--file", type=Path, help="measure this adapter file instead")
    parser.add_argument("--factory", help="with --file: the factory function's name")
    parser.add_argument(
        "--options",
        default="{}",
        help='with --file: adapter options as JSON; "{tmp}" is the run\'s own directory',
    )
    parser.add_argument(
        "--only",
        choices=("all", "survived", "unclassified"),
        default="all",
        help="run every mutant not yet measured with this kit (all), or only last "
        "time's survivors (survived) or survivors without a verdict (unclassified); "
        "mutants never measured run in every case",
    )
    parser.add_argument("--id", action="append", default=[], help="run only this mutant id")
    parser.add_argument("--fresh", action="store_true", help="ignore recorded outcomes")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument(
        "--report",
        action="store_true",
        help="run nothing: score the recorded outcomes (after editing verdicts, say)",
    )
    parser.add_argument("--jobs", type=int, default=MAX_JOBS, help=f"parallel runs (1-{MAX_JOBS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--profile", default="default", help="the kit's hypothesis profile")
    parser.add_argument(
        "--timeout", type=float, help="seconds per run (default: 10x the original's, >= 60)"
    )
    parser.add_argument(
        "--kit-arg", action="append", default=[], help="extra pytest argument for every kit run"
    )
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="results directory")
    parser.add_argument("--verdicts", type=Path, default=VERDICTS, help="verdicts file")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the doc --write-docs renders into")
    parser.add_argument("--write-docs", action="store_true", help="render the score into --docs")
    parser.add_argument(
        "--stubs",
        action="store_true",
        help="print a survivors.toml entry to fill in for each survivor without a verdict",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 unless every target scores >= 90%% with no unclassified survivor",
    )
    return parser


def _targets(args: argparse.Namespace) -> list[Target]:
    if args.file is not None:
        if not args.factory:
            raise SystemExit("--file needs --factory")
        options_text: str = args.options

        def options(workdir: Path) -> dict[str, object]:
            loaded = json.loads(options_text.replace("{tmp}", str(workdir)))
            assert isinstance(loaded, dict), "--options must be a JSON object"
            return loaded

        return [Target(args.file.stem, args.file.resolve(), args.factory, options)]
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        raise SystemExit(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    return [TARGETS[name] for name in (args.targets or TARGETS)]


def _selected(
    all_mutants: list[Mutation],
    results: Results,
    args: argparse.Namespace,
    current: str,
    survivors_with_verdict: set[str],
) -> list[Mutation]:
    def wanted(mutation: Mutation) -> bool:
        record = results.records.get(mutation.id)
        if args.id:
            return mutation.id in args.id
        if record is None or record.outcome is None:
            return True
        if args.only == "survived":
            return record.outcome == "survived"
        if args.only == "unclassified":
            return record.outcome == "survived" and mutation.id not in survivors_with_verdict
        return record.fingerprint != current

    # In id order, which is random with respect to the file: an interrupted measurement has
    # measured a uniform sample, so its partial score estimates the whole file's.
    return sorted((mutation for mutation in all_mutants if wanted(mutation)), key=lambda m: m.id)


def measure(target: Target, args: argparse.Namespace) -> Score:
    """Run the selected mutants of ``target``, record their outcomes, and score it."""
    relative = _relative(target.path)
    source = target.path.read_text(encoding="utf-8")
    all_mutants = mutations(source, target.name)
    verdicts = load_verdicts(args.verdicts)
    path = args.results / f"{target.name}.json"
    results = Results(path, {}, []) if args.fresh else Results.load(path)
    current = fingerprint(ROOT, seed=args.seed, profile=args.profile, extra=args.kit_arg)
    results.records = {m.id: results.records.get(m.id) or Record.of(m) for m in all_mutants}
    if args.list:
        for m in all_mutants:
            print(
                f"{m.id} {m.line:>4} {m.operator:<18} {m.function}: {m.original}  =>  {m.mutated}"
            )
        return score(target.name, relative, results.records, verdicts)
    todo = [] if args.report else _selected(all_mutants, results, args, current, set(verdicts))
    if args.report:
        return _scored(target, relative, results, verdicts, current)
    results.header = {
        "target": target.name,
        "file": relative,
        "factory": target.factory,
        "profile": args.profile,
        "seed": args.seed,
        "kit_args": args.kit_arg,
        "fingerprint": current,
    }
    results.save()
    if todo:
        _run(target, source, todo, results, args, current)
    return _scored(target, relative, results, verdicts, current)


def _scored(
    target: Target,
    relative: str,
    results: Results,
    verdicts: dict[str, Verdict],
    current: str,
) -> Score:
    older = sum(1 for r in results.records.values() if r.outcome and r.fingerprint != current)
    if older:
        print(
            f"{target.name}: {older} outcomes were measured with another kit, seed or profile; "
            "measure again (without --only, --id or --report) to update them"
        )
    return score(target.name, relative, results.records, verdicts)


def _run(
    target: Target,
    source: str,
    todo: list[Mutation],
    results: Results,
    args: argparse.Namespace,
    current: str,
) -> None:
    settings = {"seed": args.seed, "profile": args.profile, "extra": args.kit_arg}
    reference = run_kit(target, source, timeout_s=args.timeout or 600.0, **settings)
    if reference.outcome != "survived":
        raise SystemExit(
            f"{target.name}: the kit does not pass the unmutated {_relative(target.path)} "
            f"({reference.outcome} {reference.failed} {reference.detail}); fix that first"
        )
    timeout = args.timeout or max(60.0, 10 * reference.seconds)
    results.header["reference_seconds"] = round(reference.seconds, 2)
    print(
        f"{target.name}: {len(todo)} mutants to run; the original passes in "
        f"{reference.seconds:.1f} s; timeout {timeout:.0f} s; {args.jobs} jobs",
        flush=True,
    )
    lock = threading.Lock()
    done = 0
    started = time.monotonic()

    def one(mutation: Mutation) -> None:
        nonlocal done
        result = run_kit(target, mutation.apply(source), timeout_s=timeout, **settings)
        with lock:
            done += 1
            results.update(results.records[mutation.id].measured(result, current))
            failed = ",".join(result.failed)
            print(
                f"[{done}/{len(todo)} {time.monotonic() - started:.0f}s] {result.outcome:<8} "
                f"{mutation.id} line {mutation.line} {mutation.operator} {failed}",
                flush=True,
            )

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(one, mutation) for mutation in todo]:
            future.result()


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def write_docs(path: Path, scores: list[Score]) -> None:
    """Replace the generated block of the docs' "Mutation score" section."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(DOCS_START) + ".*?" + re.escape(DOCS_END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no generated block ({DOCS_START} ... {DOCS_END})")
    block = f"{DOCS_START}\n{render_markdown(scores)}\n{DOCS_END}"
    path.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 1 <= args.jobs <= MAX_JOBS:
        raise SystemExit(f"--jobs must be 1 to {MAX_JOBS}")
    scores = [measure(target, args) for target in _targets(args)]
    for result in scores:
        print(render_text(result))
    if args.stubs:
        for result in scores:
            print(render_stubs(result))
    if args.write_docs and not args.list:
        write_docs(args.docs, scores)
    if args.check:
        failing = [s for s in scores if s.score < 0.9 or s.unclassified or s.not_run]
        return 1 if failing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
