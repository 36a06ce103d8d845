"""Run the conformance kit against one mutant of an adapter file, in a subprocess.

Each run gets a fresh temporary directory holding the mutant as module ``mutant_<target>``
(on ``PYTHONPATH``), the adapter's data (a SQLite file, say), the kit's JSON report and
hypothesis' example database, so no run sees another's state. The kit runs as a vendor
would run it: ``pytest --sanctum-adapter=mutant_<target>:<factory>`` with a fixed seed and
profile, stopping at the first failure (``-x``), under ``nice`` and a timeout, with
``SANCTUM_REQUIRE_BACKEND=1`` as vendor CI sets it: an adapter whose factory raises
``BackendUnavailableError`` then fails the run instead of skipping every test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "Finished",
    "Outcome",
    "RunResult",
    "Target",
    "failed_contracts",
    "run_kit",
    "run_pytest",
]

Outcome = Literal["killed", "timeout", "error", "survived"]
"""``killed``: the kit's verdict failed the run (exit 1: a test failed, or the run was
incomplete, e.g. a contract the mutant left ``untested``). ``timeout``: the run hung past the timeout.
``error``: pytest stopped otherwise (usage error, internal error, no tests), so the vendor
sees no green run either. ``survived``: the whole kit passed (exit 0)."""

DETECTED: frozenset[str] = frozenset({"killed", "timeout", "error"})
"""Outcomes that count as the kit detecting the mutant."""


@dataclass(frozen=True, slots=True)
class Target:
    """An adapter file to mutate: how to name its factory and build its options for a run."""

    name: str
    path: Path
    factory: str
    options: Callable[[Path], Mapping[str, object]] = field(default=lambda _: {})
    """The adapter options of one run, given the run's own temporary directory."""

    @property
    def module(self) -> str:
        return f"mutant_{self.name}"


@dataclass(frozen=True, slots=True)
class RunResult:
    outcome: Outcome
    seconds: float
    failed: tuple[str, ...] = ()
    """Contracts the kit reported as failing (with ``-x``, the first one found)."""
    detail: str = ""
    """The last lines of output when pytest stopped with an error."""


def _arguments(
    target: Target, workdir: Path, *, seed: int, profile: str, extra: Sequence[str]
) -> list[str]:
    options = json.dumps(dict(target.options(workdir)))
    return [
        f"--sanctum-adapter={target.module}:{target.factory}",
        f"--sanctum-adapter-options={options}",
        *measured_run(seed=seed, profile=profile),
        *extra,
    ]


def measured_run(*, seed: int, profile: str) -> list[str]:
    """The kit arguments of a measured run: the seed and profile, a JSON report
    (``report.json``, read by ``failed_contracts``), stopping at the first failure."""
    return [
        f"--sanctum-profile={profile}",
        f"--sanctum-seed={seed}",
        "--sanctum-report=report.json",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
    ]


def failed_contracts(report_path: Path) -> tuple[str, ...]:
    """The contracts a run's JSON report says failed (none when it wrote no report)."""
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    return tuple(row["id"] for row in report.get("contracts", []) if row.get("result") == "fail")


@dataclass(frozen=True, slots=True)
class Finished:
    """How a pytest subprocess ended: its exit status (``None`` after a timeout), output
    and duration."""

    returncode: int | None
    output: str
    seconds: float


def run_pytest(
    arguments: Sequence[str],
    workdir: Path,
    *,
    timeout_s: float,
    pythonpath: Sequence[str] = (),
) -> Finished:
    """Run ``python -m pytest arguments`` in ``workdir`` under ``nice`` and a timeout, with
    ``pythonpath`` first on ``PYTHONPATH``, no ``SANCTUM_*`` variable of the caller's
    except ``SANCTUM_REQUIRE_BACKEND=1``, as vendor CI sets it: an adapter whose factory
    raises ``BackendUnavailableError`` then fails the run instead of skipping every test.
    A timeout kills the run and everything it started."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_")},
        "PYTHONPATH": os.pathsep.join(filter(None, [*pythonpath, os.environ.get("PYTHONPATH")])),
        "PYTHONDONTWRITEBYTECODE": "1",
        "SANCTUM_REQUIRE_BACKEND": "1",
    }
    command = [sys.executable, "-m", "pytest", *arguments]
    nice = shutil.which("nice")
    started = time.monotonic()
    process = subprocess.Popen(
        [nice, "-n", "10", *command] if nice else command,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a timeout kills the run and anything it started
    )
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return Finished(None, output, time.monotonic() - started)
    return Finished(process.returncode, output, time.monotonic() - started)


def run_kit(
    target: Target,
    source: str,
    *,
    seed: int,
    profile: str,
    timeout_s: float,
    extra: Sequence[str] = (),
) -> RunResult:
    """Run the kit once against ``source`` loaded as the target's adapter module."""
    with tempfile.TemporaryDirectory(prefix="sanctum-mutant-") as tmp:
        workdir = Path(tmp)
        (workdir / f"{target.module}.py").write_text(source, encoding="utf-8")
        arguments = _arguments(target, workdir, seed=seed, profile=profile, extra=extra)
        run = run_pytest(arguments, workdir, timeout_s=timeout_s, pythonpath=[tmp])
        if run.returncode is None:
            return RunResult("timeout", run.seconds)
        if run.returncode == 0:
            return RunResult("survived", run.seconds)
        if run.returncode == 1:
            return RunResult("killed", run.seconds, failed_contracts(workdir / "report.json"))
        tail = "\n".join(run.output.strip().splitlines()[-8:])
        return RunResult("error", run.seconds, detail=f"exit {run.returncode}: {tail}")
