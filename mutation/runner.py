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

__all__ = ["Outcome", "RunResult", "Target", "run_kit"]

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


def _command(
    target: Target, workdir: Path, *, seed: int, profile: str, extra: Sequence[str]
) -> list[str]:
    options = json.dumps(dict(target.options(workdir)))
    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--sanctum-adapter={target.module}:{target.factory}",
        f"--sanctum-adapter-options={options}",
        f"--sanctum-profile={profile}",
        f"--sanctum-seed={seed}",
        "--sanctum-report=report.json",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        *extra,
    ]
    nice = shutil.which("nice")
    return [nice, "-n", "10", *command] if nice else command


def _failed_contracts(workdir: Path) -> tuple[str, ...]:
    try:
        report = json.loads((workdir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    return tuple(row["id"] for row in report.get("contracts", []) if row.get("result") == "fail")


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
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_")},
            "PYTHONPATH": os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")])),
            "PYTHONDONTWRITEBYTECODE": "1",
            "SANCTUM_REQUIRE_BACKEND": "1",  # as in vendor CI: an adapter that cannot open fails
        }
        command = _command(target, workdir, seed=seed, profile=profile, extra=extra)
        started = time.monotonic()
        process = subprocess.Popen(
            command,
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
            process.communicate()
            return RunResult("timeout", time.monotonic() - started)
        seconds = time.monotonic() - started
        if process.returncode == 0:
            return RunResult("survived", seconds)
        if process.returncode == 1:
            return RunResult("killed", seconds, _failed_contracts(workdir))
        tail = "\n".join(output.strip().splitlines()[-8:])
        return RunResult("error", seconds, detail=f"exit {process.returncode}: {tail}")
