"""Known-failures baselines: contracts an adapter is expected to fail, with reasons.

The file has one entry per line, ``CONTRACT-ID: reason``; blank lines and lines starting
with ``#`` are ignored. A listed contract that fails is reported as an expected failure;
one that passes makes the run fail as a stale baseline; an unknown id is a usage error.
"""

from __future__ import annotations

import re
from pathlib import Path

from pytest_sanctum.kit.contracts import CATALOG

_LINE = re.compile(r"(?P<id>[A-Z]+-\d{3})\s*:\s*(?P<reason>\S.*)")


class BaselineError(ValueError):
    """The baseline file cannot be used; the message says which line and why."""


def load_baseline(path: Path) -> dict[str, str]:
    """Contract id → reason, from ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BaselineError(f"cannot read baseline {path}: {error.strerror}") from None
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise BaselineError(f"{path}:{number}: expected 'CONTRACT-ID: reason', got {line!r}")
        contract_id = match["id"]
        if contract_id not in CATALOG:
            raise BaselineError(f"{path}:{number}: unknown contract id {contract_id}")
        if contract_id in entries:
            raise BaselineError(f"{path}:{number}: {contract_id} is listed twice")
        entries[contract_id] = match["reason"]
    return entries
