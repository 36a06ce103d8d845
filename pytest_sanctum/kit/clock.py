"""``KitClock``: the virtual clock of the kit's tests, which lets real time pass where the
facade waits for a backend.

Every TTL, budget and timeout of a conformance test follows a virtual clock, so runs are
fast and a seeded run draws the same examples. The facade waits on its clock in exactly
one place: between the read-after-write retries of a strong read, on an adapter that does
not declare ``read_after_write``. A replica that lags in real time would never catch up
in a wait that takes no real time, so for such an adapter the kit's clock also sleeps
(at most ``MAX_REAL_WAIT_MS`` per wait). Tests call ``sleep_ms`` themselves where they
give a replica time to catch up. An adapter that declares ``read_after_write`` never
waits.
"""

from __future__ import annotations

import time

from pytest_sanctum.clock import VirtualClock

MAX_REAL_WAIT_MS = 100.0
"""The longest real wait of one ``sleep_ms``: ADR-001's default read-after-write window."""


class KitClock(VirtualClock):
    """A ``VirtualClock`` whose ``sleep_ms`` also waits real time when ``real_waits`` is set.

    ``advance`` and ``set`` move virtual time only, as on a ``VirtualClock``.
    """

    __slots__ = ("real_waits",)

    def __init__(self, *, real_waits: bool, start_ms: float = 1_700_000_000_000.0) -> None:
        super().__init__(start_ms)
        self.real_waits = real_waits

    def sleep_ms(self, ms: float) -> None:
        """Advance by ``ms``; with ``real_waits``, also sleep ``min(ms, MAX_REAL_WAIT_MS)``."""
        self.advance(ms)
        if self.real_waits and ms > 0:
            time.sleep(min(ms, MAX_REAL_WAIT_MS) / 1000.0)
