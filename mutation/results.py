"""The recorded outcome of every mutant of a target, kept in ``mutation/results/<target>.json``.

A record carries the fingerprint of what it was measured with (kit, adapters, seed,
profile, kit arguments), so an interrupted measurement resumes where it stopped and a
changed kit is measured again instead of reusing outcomes it did not produce.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mutation.operators import Mutation
from mutation.runner import Outcome, RunResult

__all__ = ["Record", "Results", "fingerprint", "write_json"]

_MEASURED_PACKAGES = ("pytest_sanctum", "reference_adapters")
"""The kit, its suite, and the adapters (the kit may compare a target with the reference)."""


def fingerprint(
    root: Path, *, seed: int, profile: str, extra: Sequence[str], also: Sequence[str] = ()
) -> str:
    """A hash of every source file the outcome of a kit run depends on (the kit and the
    adapters, and the files or folders ``also`` names), and the run's settings."""
    digest = hashlib.sha256(repr((seed, profile, tuple(extra))).encode())
    for name in (*_MEASURED_PACKAGES, *also):
        top = root / name
        for path in [top] if top.is_file() else sorted(top.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Record:
    """One mutant and, once run, its outcome."""

    id: str
    operator: str
    function: str
    line: int
    original: str
    mutated: str
    outcome: Outcome | None = None
    seconds: float = 0.0
    failed: tuple[str, ...] = ()
    detail: str = ""
    fingerprint: str = ""

    @classmethod
    def of(cls, mutation: Mutation) -> Record:
        return cls(
            mutation.id,
            mutation.operator,
            mutation.function,
            mutation.line,
            mutation.original,
            mutation.mutated,
        )

    def measured(self, result: RunResult, fingerprint: str) -> Record:
        return Record(
            self.id,
            self.operator,
            self.function,
            self.line,
            self.original,
            self.mutated,
            result.outcome,
            round(result.seconds, 2),
            result.failed,
            result.detail,
            fingerprint,
        )


class Results:
    """Every mutant of one target with its latest outcome, saved after each change."""

    def __init__(self, path: Path, header: dict[str, Any], records: Iterable[Record]) -> None:
        self.path = path
        self.header = header
        self.records = {record.id: record for record in records}

    @classmethod
    def load(cls, path: Path) -> Results:
        """The file's results (empty when it does not exist)."""
        if not path.exists():
            return cls(path, {}, [])
        data = json.loads(path.read_text(encoding="utf-8"))
        records = [
            Record(**{**row, "failed": tuple(row.get("failed", ()))}) for row in data["mutants"]
        ]
        return cls(path, data["header"], records)

    def update(self, record: Record) -> None:
        self.records[record.id] = record
        self.save()

    def save(self) -> None:
        """Write the file atomically (a crash mid-write keeps the previous version)."""
        rows = sorted(self.records.values(), key=lambda r: (r.line, r.operator, r.id))
        write_json(self.path, {"header": self.header, "mutants": [asdict(row) for row in rows]})


def write_json(path: Path, data: object) -> None:
    """Write ``data`` to ``path`` atomically (a crash mid-write keeps the previous file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)
