"""Staleness probes: a cached entry another node superseded, read once the budget has passed.

ADR-001 lets a strong read on one node serve a cached entry at most the staleness budget
old, whatever the fan-out does: an invalidation may come late or never. The random walk
only sometimes reads a superseded entry after the budget and before its purge arrives;
on a loaded machine, the threads may never do so within the fan-out's delay. A probe does
it on purpose, in one thread, on a fresh key:

1. with the fan-out held, the writer's node writes the key; the reader's node reads it
   from the backend (``bypass_cache``), which fills the reader's cache;
2. the writer writes the key again;
3. the probe waits until the budget, plus how long the filling read took, has passed
   since the second write was acknowledged;
4. the reader reads the key at level ``strong``, then the fan-out is released.

The entry on the reader's node is older than the budget allows, so an honest client
reads the backend and returns the second write; a cache that makes old entries look new
returns the first, and the checker names it ``stale-read-beyond-delta``. Nothing in the
probe depends on how fast the machine runs: the wait is measured, and the fan-out holds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Protocol

from pytest_sanctum.errors import SanctumError
from pytest_sanctum.kit.history.client import RecordingClient

PROBE_PREFIX = "p"
"""Keys of probes (never a walk's ``k`` or a round's ``r``)."""

MARGIN_MS = 1.0
"""Waited beyond the budget and the filling read, so the entry is surely too old."""


class HoldingFanout(Protocol):
    """A fan-out whose deliveries can be held back and released."""

    def hold(self) -> None: ...

    def release(self) -> None: ...


@contextmanager
def _held(fanout: HoldingFanout) -> Iterator[None]:
    fanout.hold()
    try:
        yield
    finally:
        fanout.release()


def _wait_until(deadline_ns: int) -> None:
    while (left := deadline_ns - time.monotonic_ns()) > 0:
        time.sleep(left / 1e9)


def probe_staleness(
    writer: RecordingClient,
    reader: RecordingClient,
    fanout: HoldingFanout,
    namespace: str,
    budget_ms: float,
    count: int,
) -> None:
    """Run ``count`` probes on fresh keys; the checker judges what the reads returned."""
    for index in range(count):
        key = f"{PROBE_PREFIX}{index}"
        with suppress(SanctumError), _held(fanout):  # the history decides if it was allowed
            writer.records.put(namespace, key, {"tag": f"{writer.name}-{key}-1"})
            started = time.monotonic_ns()
            reader.records.get(namespace, key, level="strong", bypass_cache=True)
            fill_ns = time.monotonic_ns() - started
            writer.records.put(namespace, key, {"tag": f"{writer.name}-{key}-2"})
            written = time.monotonic_ns()
            _wait_until(written + int((budget_ms + MARGIN_MS) * 1e6) + fill_ns)
            reader.records.get(namespace, key, level="strong")
