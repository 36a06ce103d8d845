"""The committed verdicts on mutants that survive the kit (``mutation/survivors.toml``).

Every surviving mutant is either ``equivalent`` (no test of the adapter interface can
tell it from the original: say concretely why) or a ``gap`` (it breaks a rule the kit
should check: name the rule and the contract that should catch it). A ``gap`` may name
the work expected to close it (``closed_by``). Entries are keyed by the mutant's stable id
and repeat its change, so a reader of the file needs no tool, and so an entry whose code
has changed since it was written is noticed instead of silently reused.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Verdict", "load_verdicts"]

VerdictKind = Literal["equivalent", "gap"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What is known about one surviving mutant."""

    id: str
    target: str
    function: str
    original: str
    mutated: str
    verdict: VerdictKind
    why: str
    contract: str = ""
    """For a gap: the contract (existing or to be written) that should catch it."""
    closed_by: str = ""
    """For a gap: the work expected to close it, when it is not closed yet."""


_REQUIRED = ("id", "target", "function", "original", "mutated", "verdict", "why")


def load_verdicts(path: Path) -> dict[str, Verdict]:
    """Every verdict of the file by mutant id; a malformed entry raises ``ValueError``."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    verdicts: dict[str, Verdict] = {}
    for number, entry in enumerate(data.get("survivor", []), start=1):
        missing = [name for name in _REQUIRED if not entry.get(name)]
        if missing:
            raise ValueError(f"{path}: survivor #{number} lacks {', '.join(missing)}")
        if entry["verdict"] not in ("equivalent", "gap"):
            raise ValueError(f"{path}: survivor {entry['id']}: verdict must be equivalent or gap")
        if entry["verdict"] == "gap" and not entry.get("contract"):
            raise ValueError(f"{path}: survivor {entry['id']}: a gap names its contract")
        if entry["id"] in verdicts:
            raise ValueError(f"{path}: survivor {entry['id']} is listed twice")
        unknown = set(entry) - {*_REQUIRED, "contract", "closed_by"}
        if unknown:
            raise ValueError(f"{path}: survivor {entry['id']}: unknown fields {sorted(unknown)}")
        verdicts[entry["id"]] = Verdict(**entry)
    return verdicts
