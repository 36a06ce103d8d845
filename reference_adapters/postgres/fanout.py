"""Cache invalidation across processes over PostgreSQL ``LISTEN``/``NOTIFY``.

Every process that builds a ``PostgresFanout`` on the same server and channel receives
every invalidation any of them publishes, and purges its local cache. The sender thread
(see ``reference_adapters.broker_fanout``) sends each batch as one
``SELECT pg_notify(...)`` statement over a connection of its own; the listener thread
holds a connection that ``LISTEN``s on the channel.

Delivery is at most once: a notification sent while a listener is disconnected never
reaches it (``NOTIFY`` keeps nothing for a session that is not listening), and events
still queued when the process dies are never sent. A lost event leaves the entry in that
process's cache until its TTL, which ADR-001 bounds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pytest_sanctum.errors import ConfigError
from reference_adapters.broker_fanout import (
    POLL_S,
    FanoutOptions,
    ThreadedFanout,
    decode_event,
    encode_event,
    parse_fanout_options,
)

__all__ = [
    "PostgresFanout",
    "PostgresFanoutOptions",
    "create_postgres_fanout",
    "decode_event",
    "encode_event",
    "parse_postgres_fanout_options",
]

CHANNEL_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""A channel the fan-out accepts: a lower-case identifier, as ``LISTEN`` takes it unquoted."""


@dataclass(frozen=True, slots=True)
class PostgresFanoutOptions(FanoutOptions):
    """The fan-out's options (and the shared ones of ``FanoutOptions``)."""

    conninfo: str = ""
    """A libpq connection string or URL; empty: libpq's defaults."""
    channel: str = "sanctum_invalidation"
    """The ``LISTEN``/``NOTIFY`` channel; processes share invalidations on one channel."""
    application_name: str = "pytest-sanctum-fanout"
    """Shown in ``pg_stat_activity`` (the listener adds ``-listen``, the sender ``-notify``)."""


def _check_option(name: str, value: object, field: str) -> None:
    if name in ("conninfo", "application_name"):
        if not isinstance(value, str):
            raise ConfigError(f"{name!r} must be a string, got {value!r}", field=field)
    elif not isinstance(value, str) or not CHANNEL_NAME.fullmatch(value):  # channel
        raise ConfigError(
            "'channel' must be a lower-case identifier of at most 63 characters"
            f" (letters, digits, '_'; not starting with a digit), got {value!r}",
            field=field,
        )


def parse_postgres_fanout_options(options: Mapping[str, object]) -> PostgresFanoutOptions:
    """Validate the fan-out's options; unknown names are refused with ``ConfigError``."""
    parsed = parse_fanout_options(PostgresFanoutOptions, options, "postgres", _check_option)
    try:
        conninfo_to_dict(parsed.conninfo)
    except psycopg.ProgrammingError as error:
        raise ConfigError(
            f"'conninfo' is not a connection string: {error}", field="options.conninfo"
        ) from error
    return parsed


class PostgresFanout(ThreadedFanout[PostgresFanoutOptions, "psycopg.Connection[Any]"]):
    """A ``BrokerFanout`` over one PostgreSQL channel. Thread-safe."""

    _broker_errors: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)

    def __init__(self, options: PostgresFanoutOptions) -> None:
        super().__init__(options, "postgres")
        base = conninfo_to_dict(options.conninfo)
        self._listen_conninfo = make_conninfo(
            "", **{**base, "application_name": f"{options.application_name}-listen"}
        )
        self._notify_conninfo = make_conninfo(
            "", **{**base, "application_name": f"{options.application_name}-notify"}
        )
        self._listener_pid: int | None = None
        self._start()

    def _connect_sender(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._notify_conninfo, autocommit=True)

    def _send(self, conn: psycopg.Connection[Any], payloads: list[str]) -> None:
        conn.execute(
            "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
            (self.options.channel, payloads),
        )

    def _close_sender(self, conn: psycopg.Connection[Any]) -> None:
        conn.close()

    def _listen(self, subscribed: Callable[[], None]) -> None:
        with psycopg.connect(self._listen_conninfo, autocommit=True) as conn:
            conn.execute(f"LISTEN {self.options.channel}")
            self._listener_pid = conn.info.backend_pid
            subscribed()
            while not self._stop.is_set():
                for notify in conn.notifies(timeout=POLL_S):
                    self._receive(notify.payload)

    @property
    def listener_pid(self) -> int | None:
        """The server process id of the listener's connection (``None`` before the first)."""
        return self._listener_pid


def create_postgres_fanout(options: Mapping[str, object]) -> PostgresFanout:
    """The ``postgres`` fan-out factory (the ``postgres`` entry point of
    ``pytest_sanctum.fanouts``). Options: ``conninfo``, ``channel``
    (default ``sanctum_invalidation``), ``queue_limit`` (10000), ``reconnect_initial_ms``
    (50), ``reconnect_max_ms`` (2000), ``close_timeout_ms`` (2000), ``application_name``.
    """
    return PostgresFanout(parse_postgres_fanout_options(options))
