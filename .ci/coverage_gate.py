"""Fail when any file of the gated packages has less than the minimum coverage.

coverage.py only has a global ``fail_under``; the seed's gate is per file, so this reads
the JSON report (``coverage json``) and checks each file under the gated paths.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GATED = ("pytest_sanctum/errors.py", "pytest_sanctum/observability/")
MINIMUM = 90.0


def main(report_path: str = "coverage.json") -> int:
    files = json.loads(Path(report_path).read_text(encoding="utf-8"))["files"]
    checked = 0
    failures = []
    for name, data in sorted(files.items()):
        if not name.startswith(GATED):
            continue
        checked += 1
        percent = float(data["summary"]["percent_covered"])
        status = "ok" if percent >= MINIMUM else "FAIL"
        print(f"{status:4} {percent:6.2f}%  {name}")
        if percent < MINIMUM:
            failures.append(name)
    if checked == 0:
        print("no gated file was measured")
        return 1
    if failures:
        print(f"{len(failures)} file(s) below {MINIMUM}% coverage")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
