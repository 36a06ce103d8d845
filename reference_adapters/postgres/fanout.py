"""Cache invalidation across processes over PostgreSQL ``LISTEN``/``NOTIFY``.

Every process that builds a ``PostgresFanout`` on the same server and channel receives
every invalidation any of them publishes, and purges its local cache:

- ``publish`` only queues the event: a sender thread drains the queue and sends each
  batch as one ``SELECT pg_notify(...)`` statement over a connection of its own, so a
  write never waits for the broker.
- A listener thread holds a connection that ``LISTEN``s on the channel and hands each
  notification to the subscribers as it arrives.

Both threads reconnect by themselves, with exponential backoff, when their connection
breaks (a restarted server, a terminated backend). Delivery is at most once: a
notification sent while a listener is disconnected never reaches it, and events still
queued when the process dies are never sent. A lost event leaves the entry in that
process's cache until its TTL, which ADR-001 bounds. A batch that fails to send is sent
again after the sender reconnects (a purge applied twice is harmless), unless the queue
overflowed meanwhile: then the oldest events are dropped and counted.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pytest_sanctum.errors import ConfigError
from pytest_sanctum.fanout import Subscribers
from pytest_sanctum.types import InvalidationEvent, Layer

__all__ = ["PostgresFanout", "PostgresFanoutOptions", "create_postgres_fanout"]

log = logging.getLogger(__name__)

CHANNEL_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""A channel the fan-out accepts: a lower-case identifier, as ``LISTEN`` takes it unquoted."""

_POLL_S: Final = 0.1
"""How often the threads look at the stop flag while idle: the longest ``close`` waits."""

_BATCH: Final = 500
"""Events per ``pg_notify`` statement (each notification carries one event)."""


@dataclass(frozen=True, slots=True)
class PostgresFanoutOptions:
    """The fan-out's options. Times are milliseconds."""

    conninfo: str = ""
    """A libpq connection string or URL; empty: libpq's defaults."""
    channel: str = "sanctum_invalidation"
    """The ``LISTEN``/``NOTIFY`` channel; processes share invalidations on one channel."""
    queue_limit: int = 10_000
    """Events waiting to be sent; beyond it the oldest are dropped (and left to their TTL)."""
    reconnect_initial_ms: float = 50.0
    """The first wait before reconnecting; it doubles after each failed attempt."""
    reconnect_max_ms: float = 2000.0
    """The longest wait between reconnection attempts."""
    close_timeout_ms: float = 2000.0
    """How long ``close`` waits for queued events to be sent."""
    application_name: str = "pytest-sanctum-fanout"
    """Shown in ``pg_stat_activity`` (the listener adds ``-listen``, the sender ``-notify``)."""


def parse_fanout_options(options: Mapping[str, object]) -> PostgresFanoutOptions:
    """Validate the fan-out's options; unknown names are refused with ``ConfigError``."""
    found: dict[str, object] = {}
    known = PostgresFanoutOptions.__dataclass_fields__
    for name, value in options.items():
        field = f"options.{name}"
        if name not in known:
            raise ConfigError(
                f"unknown postgres fan-out option {name!r} (known: {', '.join(known)})",
                field=field,
            )
        if name in ("conninfo", "application_name"):
            if not isinstance(value, str):
                raise ConfigError(f"{name!r} must be a string, got {value!r}", field=field)
        elif name == "channel":
            if not isinstance(value, str) or not CHANNEL_NAME.fullmatch(value):
                raise ConfigError(
                    "'channel' must be a lower-case identifier of at most 63 characters"
                    f" (letters, digits, '_'; not starting with a digit), got {value!r}",
                    field=field,
                )
        elif name == "queue_limit":
            if type(value) is not int or value < 1:
                raise ConfigError(
                    f"'queue_limit' must be an integer >= 1, got {value!r}", field=field
                )
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ConfigError(f"{name!r} must be a finite number > 0, got {value!r}", field=field)
        found[name] = value
    parsed = PostgresFanoutOptions(**found)  # type: ignore[arg-type]
    if parsed.reconnect_max_ms < parsed.reconnect_initial_ms:
        raise ConfigError(
            "'reconnect_max_ms' is below 'reconnect_initial_ms'", field="options.reconnect_max_ms"
        )
    try:
        conninfo_to_dict(parsed.conninfo)
    except psycopg.ProgrammingError as error:
        raise ConfigError(
            f"'conninfo' is not a connection string: {error}", field="options.conninfo"
        ) from error
    return parsed


def encode_event(event: InvalidationEvent) -> str:
    """The notification payload of ``event`` (compact JSON, far below NOTIFY's 8000 bytes:
    keys are at most 1024 UTF-8 bytes)."""
    return json.dumps(
        [event.layer.value, event.namespace, event.key, event.version, event.origin],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_event(payload: str) -> InvalidationEvent | None:
    """The event of a notification, or ``None`` for a payload this fan-out did not send."""
    try:
        layer, namespace, key, version, origin = json.loads(payload)
        return InvalidationEvent(Layer(layer), namespace, key, int(version), origin)
    except (ValueError, TypeError):
        return None


class _Backoff:
    """Exponential waits between reconnection attempts, interrupted by ``stop``."""

    def __init__(self, options: PostgresFanoutOptions, stop: threading.Event) -> None:
        self._initial = options.reconnect_initial_ms / 1000.0
        self._max = options.reconnect_max_ms / 1000.0
        self._next = self._initial
        self._stop = stop

    def wait(self) -> None:
        self._stop.wait(self._next)
        self._next = min(self._next * 2, self._max)

    def reset(self) -> None:
        self._next = self._initial


class PostgresFanout(Subscribers):
    """A ``BrokerFanout`` over one PostgreSQL channel. Thread-safe."""

    def __init__(self, options: PostgresFanoutOptions) -> None:
        super().__init__()
        self.options = options
        base = conninfo_to_dict(options.conninfo)
        self._listen_conninfo = make_conninfo(
            "", **{**base, "application_name": f"{options.application_name}-listen"}
        )
        self._notify_conninfo = make_conninfo(
            "", **{**base, "application_name": f"{options.application_name}-notify"}
        )
        self._queue: deque[InvalidationEvent] = deque()
        self._queued = threading.Condition()
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._listener_pid: int | None = None
        self.dropped = 0
        """Events dropped because the queue overflowed."""
        self.reconnects = 0
        """How often the listener connected again after losing its connection."""
        self._sender = threading.Thread(
            target=self._send_loop, name="sanctum-fanout-notify", daemon=True
        )
        self._listener = threading.Thread(
            target=self._listen_loop, name="sanctum-fanout-listen", daemon=True
        )
        self._sender.start()
        self._listener.start()

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
        conn: psycopg.Connection[Any] | None = None
        backoff = _Backoff(self.options, self._stop)
        while True:
            with self._queued:
                while not self._queue and not self._stop.is_set():
                    self._queued.wait(_POLL_S)
                if not self._queue:
                    break  # stopped with nothing left to send
                batch = [self._queue[i] for i in range(min(_BATCH, len(self._queue)))]
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._notify_conninfo, autocommit=True)
                conn.execute(
                    "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
                    (self.options.channel, [encode_event(e) for e in batch]),
                )
            except psycopg.Error as error:
                log.warning("sanctum fan-out: sending invalidations failed: %s", error)
                if conn is not None:
                    conn.close()
                    conn = None
                if self._stop.is_set():
                    break  # closing: what is left is lost, as a dead process's would be
                backoff.wait()
                continue
            backoff.reset()
            with self._queued:
                for event in batch:  # the queue may have dropped some of them meanwhile
                    if self._queue and self._queue[0] is event:
                        self._queue.popleft()
                self._queued.notify_all()  # ``close`` waits for the queue to drain
        if conn is not None:
            conn.close()

    # -- listening -------------------------------------------------------------------

    def _listen_loop(self) -> None:
        backoff = _Backoff(self.options, self._stop)
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._listen_conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.options.channel}")
                    self._listener_pid = conn.info.backend_pid
                    if not first:
                        self.reconnects += 1
                    first = False
                    self._listening.set()
                    backoff.reset()
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=_POLL_S):
                            self._receive(notify.payload)
            except psycopg.Error as error:
                if not self._stop.is_set():
                    log.warning("sanctum fan-out: listener connection lost: %s", error)
            finally:
                self._listening.clear()
            if not self._stop.is_set():
                backoff.wait()

    def _receive(self, payload: str) -> None:
        event = decode_event(payload)
        if event is None:
            log.warning("sanctum fan-out: ignored a notification it cannot read: %r", payload)
            return
        for handler in self.handlers():
            try:
                handler(event)
            except Exception:  # a failing subscriber must not stop the others or the listener
                log.exception("sanctum fan-out: a subscriber failed on %r", event)

    # -- state and lifecycle ---------------------------------------------------------

    @property
    def listener_pid(self) -> int | None:
        """The server process id of the listener's connection (``None`` before the first)."""
        return self._listener_pid

    def wait_listening(self, timeout_s: float) -> bool:
        """Wait until the listener is connected and listening; whether it is."""
        return self._listening.wait(timeout_s)

    @property
    def listening(self) -> bool:
        """Whether the listener is connected now."""
        return self._listening.is_set()

    def close(self) -> None:
        """Send what is queued (for at most ``close_timeout_ms``), then stop both threads."""
        deadline = time.monotonic() + self.options.close_timeout_ms / 1000.0
        with self._queued:
            while self._queue and time.monotonic() < deadline and self._sender.is_alive():
                self._queued.wait(_POLL_S)
        self._stop.set()
        with self._queued:
            self._queued.notify_all()
        self._sender.join()
        self._listener.join()


def create_postgres_fanout(options: Mapping[str, object]) -> PostgresFanout:
    """The ``postgres`` fan-out factory (the ``postgres`` entry point of
    ``pytest_sanctum.fanouts``). Options: ``conninfo``, ``channel``
    (default ``sanctum_invalidation``), ``queue_limit`` (10000), ``reconnect_initial_ms``
    (50), ``reconnect_max_ms`` (2000), ``close_timeout_ms`` (2000), ``application_name``.
    """
    return PostgresFanout(parse_fanout_options(options))
