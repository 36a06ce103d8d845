"""``RealClock``: a facade clock that moves with real time and never goes backwards.

History runs give it to the facade and the adapters so that staleness budgets, TTLs and
visibility timeouts pass as real time does: the checker can then bound staleness in real
time. It reads ``time.monotonic_ns``, anchored to the wall clock once, so it looks like
epoch milliseconds without following the wall clock's jumps.
"""

from __future__ import annotations

import time


class RealClock:
    """Monotonic real time in epoch-like milliseconds; ``sleep_ms`` really sleeps."""

    __slots__ = ("_offset_ms",)

    def __init__(self, offset_ms: float | None = None) -> None:
        if offset_ms is None:
            offset_ms = time.time() * 1000.0 - time.monotonic_ns() / 1e6
        self._offset_ms = offset_ms

    @property
    def offset_ms(self) -> float:
        """What is added to monotonic milliseconds (give it to a child process's clock)."""
        return self._offset_ms

    def now_ms(self) -> float:
        return self._offset_ms + time.monotonic_ns() / 1e6

    def sleep_ms(self, ms: float) -> None:
        if ms > 0:
            time.sleep(ms / 1000.0)
