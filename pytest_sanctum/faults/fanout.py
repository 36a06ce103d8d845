"""``FaultyFanout``: wraps an invalidation fan-out and drops, duplicates or delays its events."""

from __future__ import annotations

import threading
from collections.abc import Callable

from pytest_sanctum.fanout import InvalidationFanout, InvalidationHandler
from pytest_sanctum.faults.plan import FaultPlan
from pytest_sanctum.types import InvalidationEvent


class FaultyFanout:
    """Publishes through ``inner`` with the plan's fan-out faults: a dropped event is never
    delivered, a duplicated one is delivered twice, a delayed one is held and delivered
    after the next event (or by ``flush``)."""

    def __init__(self, inner: InvalidationFanout, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan
        self._held: list[InvalidationEvent] = []
        self._lock = threading.Lock()

    def publish(self, event: InvalidationEvent) -> None:
        plan = self.plan
        if plan.roll("fanout_drop"):
            return
        if plan.roll("fanout_delay"):
            with self._lock:
                self._held.append(event)
            return
        self.inner.publish(event)
        if plan.roll("fanout_duplicate"):
            self.inner.publish(event)
        self.flush()

    def flush(self) -> int:
        """Deliver every held event; returns how many."""
        with self._lock:
            held, self._held = self._held, []
        for event in held:
            self.inner.publish(event)
        return len(held)

    def subscribe(self, handler: InvalidationHandler) -> Callable[[], None]:
        return self.inner.subscribe(handler)
