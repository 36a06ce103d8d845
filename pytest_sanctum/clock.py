"""Injectable time: every TTL, staleness budget, retry window and visibility timeout reads it.

``SystemClock`` is the default; ``VirtualClock`` is the deterministic clock the kit and
unit tests drive by hand (``sleep_ms`` advances it instantly).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of time in milliseconds since the epoch, and a way to wait."""

    def now_ms(self) -> float:
        """The current time in milliseconds."""
        ...

    def sleep_ms(self, ms: float) -> None:
        """Wait ``ms`` milliseconds on this clock."""
        ...


class SystemClock:
    """Wall-clock time (``time.time``), so freezegun and time-machine control it too."""

    __slots__ = ()

    def now_ms(self) -> float:
        return time.time() * 1000.0

    def sleep_ms(self, ms: float) -> None:
        if ms > 0:
            time.sleep(ms / 1000.0)


class VirtualClock:
    """A clock that moves only when told: ``advance``, ``set`` or ``sleep_ms``. Thread-safe."""

    __slots__ = ("_lock", "_now")

    def __init__(self, start_ms: float = 1_700_000_000_000.0) -> None:
        self._now = float(start_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> float:
        return self._now

    def sleep_ms(self, ms: float) -> None:
        self.advance(ms)

    def advance(self, ms: float) -> float:
        """Move forward by ``ms`` (negative values are refused) and return the new time."""
        if ms < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {ms} ms)")
        with self._lock:
            self._now += ms
            return self._now

    def set(self, now_ms: float) -> None:
        """Jump to ``now_ms``, which must not be earlier than the current time."""
        with self._lock:
            if now_ms < self._now:
                raise ValueError(f"a clock cannot go backwards ({now_ms} < {self._now})")
            self._now = float(now_ms)
