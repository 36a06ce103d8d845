"""Cache-invalidation fan-out: how a write's purge reaches the caches of other clients.

The writing client purges its own cache synchronously; every other client sharing the
fan-out purges when the event is delivered. ``LocalFanout`` delivers at once in-process;
``QueuedFanout`` holds events until told, so tests control delivery order and timing
(the window in which other nodes may serve a purged entry). Fan-outs over a broker reach
other processes; they are ``BrokerFanout`` objects, built from the configuration's
``fanout`` section by a factory registered under the ``pytest_sanctum.fanouts``
entry-point group (see ``pytest_sanctum.fanout_registry``).
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


@runtime_checkable
class BrokerFanout(InvalidationFanout, Protocol):
    """A fan-out over a broker: its connections live until ``close``.

    A client built from a configuration with a ``fanout`` section builds one and closes it
    with itself. Delivery is at most once: an event lost on the way (a broken connection,
    a process that exits with events unsent) leaves the entry in other clients' caches
    until its TTL, as ADR-001 allows.
    """

    def close(self) -> None:
        """Stop delivering and release the broker connections (pending events are sent first,
        within a bounded time)."""
        ...


class Subscribers:
    """A thread-safe list of handlers: the subscriber side every fan-out shares."""

    def __init__(self) -> None:
        self._handlers: list[InvalidationHandler] = []
        self._lock = threading.Lock()

    def subscribe(self, handler: InvalidationHandler) -> Callable[[], None]:
        """Add ``handler``; returns a function that removes it."""
        with self._lock:
            self._handlers.append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers:
                    self._handlers.remove(handler)

        return unsubscribe

    def handlers(self) -> tuple[InvalidationHandler, ...]:
        """The handlers subscribed now, in subscription order."""
        with self._lock:
            return tuple(self._handlers)

    def deliver(self, event: InvalidationEvent) -> None:
        """Call every handler with ``event``, in subscription order (an error propagates)."""
        for handler in self.handlers():
            handler(event)


class LocalFanout(Subscribers):
    """Delivers each event to every subscriber immediately, in the publishing thread."""

    def publish(self, event: InvalidationEvent) -> None:
        self.deliver(event)


class QueuedFanout(Subscribers):
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
