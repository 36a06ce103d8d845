"""Cache-invalidation fan-out: how a write's purge reaches the caches of other clients.

The writing client purges its own cache synchronously; every other client sharing the
fan-out purges when the event is delivered. ``LocalFanout`` delivers at once in-process;
``QueuedFanout`` holds events until told, so tests control delivery order and timing
(the window in which other nodes may serve a purged entry).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from pytest_sanctum.types import InvalidationEvent

InvalidationHandler = Callable[[InvalidationEvent], None]


@runtime_checkable
class InvalidationFanout(Protocol):
    """Carries invalidation events from the writing client to every subscribed client."""

    def publish(self, event: InvalidationEvent) -> None:
        """Hand over an event; may deliver later (asynchronously)."""
        ...

    def subscribe(self, handler: InvalidationHandler) -> Callable[[], None]:
        """Register a handler for delivered events; returns a function that unsubscribes it."""
        ...


class _Subscribers:
    """A thread-safe list of handlers shared by the fan-out implementations."""

    def __init__(self) -> None:
        self._handlers: list[InvalidationHandler] = []
        self._lock = threading.Lock()

    def subscribe(self, handler: InvalidationHandler) -> Callable[[], None]:
        with self._lock:
            self._handlers.append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers:
                    self._handlers.remove(handler)

        return unsubscribe

    def deliver(self, event: InvalidationEvent) -> None:
        with self._lock:
            handlers = tuple(self._handlers)
        for handler in handlers:
            handler(event)


class LocalFanout(_Subscribers):
    """Delivers each event to every subscriber immediately, in the publishing thread."""

    def publish(self, event: InvalidationEvent) -> None:
        self.deliver(event)


class QueuedFanout(_Subscribers):
    """Holds events until ``deliver_all``, ``deliver_next`` or ``drop_next`` is called."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: list[InvalidationEvent] = []

    def publish(self, event: InvalidationEvent) -> None:
        with self._lock:
            self._queue.append(event)

    @property
    def pending(self) -> tuple[InvalidationEvent, ...]:
        """Events published and not yet delivered or dropped, oldest first."""
        with self._lock:
            return tuple(self._queue)

    def deliver_next(self) -> InvalidationEvent | None:
        """Deliver the oldest pending event; ``None`` when there is none."""
        with self._lock:
            event = self._queue.pop(0) if self._queue else None
        if event is not None:
            self.deliver(event)
        return event

    def deliver_all(self) -> int:
        """Deliver every pending event in publication order; returns how many."""
        count = 0
        while self.deliver_next() is not None:
            count += 1
        return count

    def drop_next(self) -> InvalidationEvent | None:
        """Discard the oldest pending event (a lost message); ``None`` when there is none."""
        with self._lock:
            return self._queue.pop(0) if self._queue else None
