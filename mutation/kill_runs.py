"""One run of the differential tier against a generated mutant or an honest adapter, and
the recorded outcome of every run of the kill-rate measurement.

The subjects come from the project's tests, the registries the test suite uses:
``GENERATED`` of ``tests/mutants/generated.py`` (lossy variants of the memory adapter,
which the ``DIFF-*`` contracts must fail) and ``HONEST`` of ``tests/test_kit_honest.py``
(correct but unusual adapters, which they must pass). A run is
``pytest --sanctum-contracts=DIFF-001,DIFF-002,DIFF-003`` with one seed, in a fresh
directory and a process of its own (``mutation.runner.run_pytest``). A failing example is
not shrunk: only whether a contract fails matters here, and the reproduce command a
failure prints shrinks it when run.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from mutation.results import write_json
from mutation.runner import Outcome, RunResult, failed_contracts, measured_run, run_pytest

__all__ = ["DIFFERENTIAL", "RunRecord", "Subject", "load_subjects", "run_subject"]

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

DIFFERENTIAL = "DIFF-001,DIFF-002,DIFF-003"
"""The contracts every run checks."""

SOURCES = ("tests/mutants", "tests/honest_adapters.py", "tests/test_kit_honest.py")
"""The test files defining the subjects: a change to them is measured again."""

NO_SHRINK = '''"""A kill-rate run reports a failing example without shrinking it."""
from pytest_sanctum.kit import property_runs

property_runs.SHRINK_SECONDS = 0.0
'''

Kind = Literal["mutant", "honest"]


@dataclass(frozen=True, slots=True)
class Subject:
    """A generated mutant or an honest adapter, and how to name it to the kit."""

    name: str
    kind: Kind
    spec: str
    options: Mapping[str, object]
    """Adapter options; ``{tmp}`` in a string stands for the run's own directory."""
    reference_cache: bool = False
    doc: str = ""

    def arguments(self, workdir: Path) -> list[str]:
        """The kit's adapter arguments for a run in ``workdir``."""
        arguments = [f"--sanctum-adapter={self.spec}"]
        if self.options:
            options = {
                key: value.format(tmp=workdir) if isinstance(value, str) else value
                for key, value in self.options.items()
            }
            arguments.append(f"--sanctum-adapter-options={json.dumps(options)}")
        if self.reference_cache:
            arguments.append("--sanctum-reference-cache")
        return arguments


def load_subjects() -> dict[str, Subject]:
    """Every generated mutant and honest adapter of the tests, by name (mutants first)."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    generated: Any = importlib.import_module("mutants.generated")
    honest: Any = importlib.import_module("test_kit_honest")
    found = {
        name: Subject(name, "mutant", f"mutants:{name}", {}, doc=str(factory.__doc__ or ""))
        for name, factory in sorted(generated.GENERATED.items())
    }
    for name, adapter in honest.HONEST.items():
        found[name] = Subject(
            name, "honest", adapter.spec, dict(adapter.options), adapter.reference_cache
        )
    return found


def run_subject(subject: Subject, seed: int, *, profile: str, timeout_s: float) -> RunResult:
    """Run the ``DIFF-*`` contracts once against ``subject`` with ``seed``: ``killed`` when
    one failed, ``survived`` when every one passed (an honest adapter must), ``timeout``,
    or ``error`` for anything else (a usage error, an unreachable backend): neither."""
    with tempfile.TemporaryDirectory(prefix="sanctum-kill-") as tmp:
        workdir = Path(tmp)
        (workdir / "sanctum_no_shrink.py").write_text(NO_SHRINK, encoding="utf-8")
        arguments = [
            *subject.arguments(workdir),
            f"--sanctum-contracts={DIFFERENTIAL}",
            *measured_run(seed=seed, profile=profile),
            "-p",
            "sanctum_no_shrink",
        ]
        run = run_pytest(arguments, workdir, timeout_s=timeout_s, pythonpath=[tmp, str(TESTS)])
        tail = "\n".join(run.output.strip().splitlines()[-12:])
        if run.returncode is None:
            return RunResult("timeout", run.seconds, detail=tail)
        if run.returncode == 0:
            return RunResult("survived", run.seconds)
        failed = failed_contracts(workdir / "report.json")
        if run.returncode == 1 and failed:
            return RunResult("killed", run.seconds, failed, tail)
        return RunResult("error", run.seconds, detail=f"exit {run.returncode}: {tail}")


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One measured run, with the fingerprint of what it was measured with."""

    subject: str
    kind: Kind
    seed: int
    outcome: Outcome
    seconds: float
    failed: tuple[str, ...]
    detail: str
    fingerprint: str

    @property
    def key(self) -> str:
        return f"{self.subject}@{self.seed}"


def load_records(path: Path) -> dict[str, RunRecord]:
    """The runs recorded in ``path`` by ``subject@seed`` (none when it does not exist)."""
    if not path.exists():
        return {}
    rows = json.loads(path.read_text(encoding="utf-8"))["runs"]
    records = [RunRecord(**{**row, "failed": tuple(row["failed"])}) for row in rows]
    return {record.key: record for record in records}


def save_records(path: Path, header: Mapping[str, object], records: Iterable[RunRecord]) -> None:
    """Write the runs atomically (a crash mid-write keeps the previous file)."""
    rows = sorted(records, key=lambda r: (r.kind, r.subject, r.seed))
    write_json(path, {"header": dict(header), "runs": [asdict(row) for row in rows]})
