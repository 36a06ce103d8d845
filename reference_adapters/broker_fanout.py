"""What every broker fan-out shares: a sender thread, a listener thread, reconnection.

A broker fan-out (``postgres``, ``redis``) carries invalidations between processes:

- ``publish`` only queues the event: a sender thread drains the queue and hands each
  batch to the broker in one round trip, over a connection of its own, so a write never
  waits for the broker.
- A listener thread holds a connection subscribed to the channel and hands each event
  to the subscribers (the clients, which purge their local caches) as it arrives.

Both threads reconnect by themselves, with exponential backoff, when their connection
breaks (a restarted broker, a killed connection). Delivery is at most once: an event
the broker passes on while a listener is disconnected never reaches it, and events still
queued when the process dies are never sent. A lost event leaves the entry in that
process's cache until its TTL, which ADR-001 bounds. A batch that fails to send stays
queued and is sent again once the sender has reconnected (a purge applied twice is
harmless), unless the queue overflowed meanwhile: then the oldest events are dropped
and counted.

A subclass says how to connect, send a batch and listen (``_connect_sender``,
``_send``, ``_close_sender``, ``_listen``) and which exceptions mean a broken
connection (``_broker_errors``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from pytest_sanctum.errors import ConfigError
from pytest_sanctum.fanout import Subscribers
from pytest_sanctum.types import InvalidationEvent, Layer

__all__ = [
    "BATCH",
    "POLL_S",
    "Backoff",
    "FanoutOptions",
    "ThreadedFanout",
    "decode_event",
    "encode_event",
    "parse_fanout_options",
]

log = logging.getLogger(__name__)

POLL_S = 0.1
"""How often the threads look at the stop flag while idle: the longest ``close`` waits."""

BATCH = 500
"""Events handed to the broker per round trip."""


@dataclass(frozen=True, slots=True)
class FanoutOptions:
    """The options every broker fan-out has. Times are milliseconds."""

    queue_limit: int = 10_000
    """Events waiting to be sent; beyond it the oldest are dropped (and left to their TTL)."""
    reconnect_initial_ms: float = 50.0
    """The first wait before reconnecting; it doubles after each failed attempt."""
    reconnect_max_ms: float = 2000.0
    """The longest wait between reconnection attempts."""
    close_timeout_ms: float = 2000.0
    """How long ``close`` waits for queued events to be sent."""


Options = TypeVar("Options", bound=FanoutOptions)


def parse_fanout_options(
    cls: type[Options],
    options: Mapping[str, object],
    kind: str,
    check: Callable[[str, object, str], None],
) -> Options:
    """Validate ``options`` into ``cls``: unknown names are refused with ``ConfigError``,
    ``queue_limit`` is an integer >= 1, every ``*_ms`` a finite number > 0, and ``check``
    (name, value, field) validates the rest."""
    found: dict[str, object] = {}
    known = cls.__dataclass_fields__
    for name, value in options.items():
        field = f"options.{name}"
        if name not in known:
            raise ConfigError(
                f"unknown {kind} fan-out option {name!r} (known: {', '.join(sorted(known))})",
                field=field,
            )
        if name == "queue_limit":
            if type(value) is not int or value < 1:
                raise ConfigError(
                    f"'queue_limit' must be an integer >= 1, got {value!r}", field=field
                )
        elif name.endswith("_ms"):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(
                    f"{name!r} must be a finite number > 0, got {value!r}", field=field
                )
        else:
            check(name, value, field)
        found[name] = value
    parsed = cls(**found)  # type: ignore[arg-type]
    if parsed.reconnect_max_ms < parsed.reconnect_initial_ms:
        raise ConfigError(
            "'reconnect_max_ms' is below 'reconnect_initial_ms'", field="options.reconnect_max_ms"
        )
    return parsed


def encode_event(event: InvalidationEvent) -> str:
    """The payload of ``event``: compact JSON, at most a few kilobytes (keys are at most
    1024 UTF-8 bytes), below every broker's message limit (``NOTIFY``'s is 8000 bytes)."""
    return json.dumps(
        [event.layer.value, event.namespace, event.key, event.version, event.origin],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_event(payload: str) -> InvalidationEvent | None:
    """The event of a payload, or ``None`` for a payload no fan-out of this project sent."""
    try:
        layer, namespace, key, version, origin = json.loads(payload)
        return InvalidationEvent(Layer(layer), namespace, key, int(version), origin)
    except (ValueError, TypeError):
        return None


class Backoff:
    """Exponential waits between reconnection attempts, interrupted by ``stop``."""

    def __init__(self, options: FanoutOptions, stop: threading.Event) -> None:
        self._initial = options.reconnect_initial_ms / 1000.0
        self._max = options.reconnect_max_ms / 1000.0
        self._next = self._initial
        self._stop = stop

    def wait(self) -> None:
        self._stop.wait(self._next)
        self._next = min(self._next * 2, self._max)

    def reset(self) -> None:
        self._next = self._initial


Conn = TypeVar("Conn")


class ThreadedFanout(Subscribers, Generic[Options, Conn]):
    """A ``BrokerFanout`` run by a sender and a listener thread. Thread-safe.

    A subclass sets ``_broker_errors``, implements the four hooks and calls ``_start``
    at the end of its ``__init__``.
    """

    _broker_errors: ClassVar[tuple[type[Exception], ...]]
    """Exceptions that mean the broker or the connection failed (the thread reconnects)."""

    def __init__(self, options: Options, kind: str) -> None:
        super().__init__()
        self.options = options
        self._kind = kind
        self._queue: deque[InvalidationEvent] = deque()
        self._queued = threading.Condition()
        self._stop = threading.Event()
        self._listening = threading.Event()
        self.dropped = 0
        """Events dropped because the queue overflowed."""
        self.sent = 0
        """Events the broker accepted."""
        self.reconnects = 0
        """How often the listener subscribed again after losing its connection."""
        self._sender = threading.Thread(
            target=self._send_loop, name=f"sanctum-fanout-{kind}-send", daemon=True
        )
        self._listener = threading.Thread(
            target=self._listen_loop, name=f"sanctum-fanout-{kind}-listen", daemon=True
        )

    def _start(self) -> None:
        self._sender.start()
        self._listener.start()

    # -- what a broker implements ------------------------------------------------------

    def _connect_sender(self) -> Conn:
        """A new connection for the sender thread."""
        raise NotImplementedError

    def _send(self, conn: Conn, payloads: list[str]) -> None:
        """Hand ``payloads`` to the broker, in order, in one round trip."""
        raise NotImplementedError

    def _close_sender(self, conn: Conn) -> None:
        """Close a sender connection (it may be broken already)."""
        raise NotImplementedError

    def _listen(self, subscribed: Callable[[], None]) -> None:
        """Connect, subscribe, call ``subscribed`` once the broker confirmed it, then pass
        every payload to ``_receive`` until ``_stop`` is set; close the connection on the
        way out. A broken connection raises one of ``_broker_errors``."""
        raise NotImplementedError

    # -- publishing ------------------------------------------------------------------

    def publish(self, event: InvalidationEvent) -> None:
        """Queue ``event`` for the sender thread; never blocks on the broker."""
        with self._queued:
            if len(self._queue) >= self.options.queue_limit:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(event)
            self._queued.notify()

    def _send_loop(self) -> None:
        conn: Conn | None = None
        backoff = Backoff(self.options, self._stop)
        while True:
            with self._queued:
                while not self._queue and not self._stop.is_set():
                    self._queued.wait(POLL_S)
                if not self._queue:
                    break  # stopped with nothing left to send
                batch = [self._queue[i] for i in range(min(BATCH, len(self._queue)))]
            try:
                if conn is None:
                    conn = self._connect_sender()
                self._send(conn, [encode_event(e) for e in batch])
            except self._broker_errors as error:
                log.warning(
                    "sanctum %s fan-out: sending invalidations failed: %s", self._kind, error
                )
                if conn is not None:
                    self._close_sender(conn)
                    conn = None
                if self._stop.is_set():
                    break  # closing: what is left is lost, as a dead process's would be
                backoff.wait()
                continue
            backoff.reset()
            with self._queued:
                self.sent += len(batch)
                for event in batch:  # the queue may have dropped some of them meanwhile
                    if self._queue and self._queue[0] is event:
                        self._queue.popleft()
                self._queued.notify_all()  # ``close`` waits for the queue to drain
        if conn is not None:
            self._close_sender(conn)

    # -- listening -------------------------------------------------------------------

    def _listen_loop(self) -> None:
        backoff = Backoff(self.options, self._stop)
        first = True

        def subscribed() -> None:
            nonlocal first
            if not first:
                self.reconnects += 1
            first = False
            self._listening.set()
            backoff.reset()

        while not self._stop.is_set():
            try:
                self._listen(subscribed)
            except self._broker_errors as error:
                if not self._stop.is_set():
                    log.warning(
                        "sanctum %s fan-out: listener connection lost: %s", self._kind, error
                    )
            finally:
                self._listening.clear()
            if not self._stop.is_set():
                backoff.wait()

    def _receive(self, payload: str) -> None:
        """Hand the event of ``payload`` to every subscriber."""
        event = decode_event(payload)
        if event is None:
            log.warning(
                "sanctum %s fan-out: ignored a message it cannot read: %r", self._kind, payload
            )
            return
        for handler in self.handlers():
            try:
                handler(event)
            except Exception:  # a failing subscriber must not stop the others or the listener
                log.exception("sanctum %s fan-out: a subscriber failed on %r", self._kind, event)

    # -- state and lifecycle ---------------------------------------------------------

    def wait_listening(self, timeout_s: float) -> bool:
        """Wait until the listener is connected and subscribed; whether it is."""
        return self._listening.wait(timeout_s)

    @property
    def listening(self) -> bool:
        """Whether the listener is connected and subscribed now."""
        return self._listening.is_set()

    def close(self) -> None:
        """Send what is queued (for at most ``close_timeout_ms``), then stop both threads."""
        deadline = time.monotonic() + self.options.close_timeout_ms / 1000.0
        with self._queued:
            while self._queue and time.monotonic() < deadline and self._sender.is_alive():
                self._queued.wait(POLL_S)
        self._stop.set()
        with self._queued:
            self._queued.notify_all()
        self._sender.join()
        self._listener.join()
