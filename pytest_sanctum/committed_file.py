"""Generated files committed to the repository, and the ``--write`` / ``--check`` command
that keeps each one current (the config schema, the report schema)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def maintain(
    argv: Sequence[str] | None, *, prog: str, path: Path, expected: str, stale_hint: str
) -> int:
    """Write ``expected`` to ``path`` (``--write``) or verify that ``path`` holds it
    (``--check``: exit status 1 and ``stale_hint`` on stderr when it does not)."""
    parser = argparse.ArgumentParser(prog=prog, description=f"Maintain {path.name}.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate the committed file")
    action.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    if args.write:
        path.write_text(expected, encoding="utf-8")
        print(f"wrote {path}")
        return 0
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current == expected:
        return 0
    print(f"{path} is out of date: {stale_hint}", file=sys.stderr)
    return 1
