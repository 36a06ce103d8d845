"""Test children in separate OS processes: races released together, and writers killed
with SIGKILL after their first acknowledgements (the adapters' durability tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any


def run_children(script: str, args: list[list[str]], tmp_path: Path) -> list[Any]:
    """Run ``script`` once per argument list as separate OS processes, released together.

    Each child prepares, prints ``READY``, waits for a line on its standard input, does
    its work and prints one JSON line as its result. The parent releases them all once
    every one is ready, so slow starts on a busy machine cannot serialise the race.
    Returns the results in order.
    """
    path = tmp_path / f"child_{uuid.uuid4().hex[:8]}.py"
    path.write_text(script)
    children = [
        subprocess.Popen(
            [sys.executable, str(path), *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for arguments in args
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line == "READY\n", (line, child.stderr.read() if child.stderr else "")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("GO\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, err = child.communicate(timeout=300)
            assert child.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def kill_after_acks(
    script: str, arguments: list[str], tmp_path: Path, acks: int = 5
) -> tuple[dict[str, Any], list[list[str]]]:
    """Run ``script`` as a writer and SIGKILL it once it has acknowledged ``acks`` writes.

    The writer prints ``READY <json>`` when set up, then one ``DONE <fields...>`` line per
    acknowledged write. Returns the JSON it announced and the fields of every complete
    acknowledgement line, including those printed between the last read and the kill.
    """
    path = tmp_path / f"durable_{uuid.uuid4().hex[:8]}.py"
    path.write_text(script)
    child = subprocess.Popen(
        [sys.executable, str(path), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    try:
        ready = child.stdout.readline()
        assert ready.startswith("READY "), child.stderr.read() if child.stderr else ready
        done = [child.stdout.readline() for _ in range(acks)]
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        rest, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    lines = [line for line in [*done, *rest.splitlines(keepends=True)] if line.endswith("\n")]
    acknowledged = [line.split()[1:] for line in lines]
    assert len(acknowledged) >= acks
    return json.loads(ready.removeprefix("READY ")), acknowledged
