"""Cache invalidation across processes over Redis pub/sub (redis-py).

Every process that builds a ``RedisFanout`` on the same server and channel receives
every invalidation any of them publishes, and purges its local cache. The sender thread
(see ``reference_adapters.broker_fanout``) sends each batch as one pipeline of
``PUBLISH`` commands, one round trip; the listener thread holds a connection of its own
in subscribed mode.

The listener notices a broken connection when the socket reports it (a restarted or
killed server, ``CLIENT KILL``), and a silent one by its health check: after
``health_check_ms`` without a word from the server it sends ``PING``, and a server that
does not answer within ``socket_timeout_ms`` counts as gone. It then connects and
subscribes again, with backoff.

Delivery is at most once: Redis hands a published message to the subscribers connected
at that moment and keeps nothing for the others, so a listener that is reconnecting
misses what is published meanwhile; events still queued when the process dies are never
sent. A lost event leaves the entry in that process's cache until its TTL, which
ADR-001 bounds. Pub/sub channels are server-wide: the database number in ``url`` does
not separate them, the channel name does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from pytest_sanctum.errors import ConfigError
from reference_adapters.broker_fanout import (
    POLL_S,
    FanoutOptions,
    ThreadedFanout,
    parse_fanout_options,
)

__all__ = ["RedisFanout", "RedisFanoutOptions", "create_redis_fanout", "parse_redis_fanout_options"]


@dataclass(frozen=True, slots=True)
class RedisFanoutOptions(FanoutOptions):
    """The fan-out's options (and the shared ones of ``FanoutOptions``)."""

    url: str = "redis://127.0.0.1:6379/0"
    """The server: ``redis://``, ``rediss://`` or ``unix://`` URL, as redis-py reads it."""
    channel: str = "sanctum:invalidation"
    """The pub/sub channel; processes share invalidations on one channel."""
    client_name: str = "pytest-sanctum-fanout"
    """Shown in ``CLIENT LIST`` (the listener adds ``-listen``, the sender ``-publish``)."""
    socket_timeout_ms: float = 5000.0
    """How long connecting, a command, or the answer to a health-check ``PING`` may take."""
    health_check_ms: float = 5000.0
    """How long the listener hears nothing before it checks the connection with ``PING``."""


def _check_option(name: str, value: object, field: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name!r} must be a non-empty string, got {value!r}", field=field)
    if name == "client_name" and not all("!" <= c <= "~" for c in value):
        raise ConfigError(
            f"'client_name' must be printable ASCII without spaces, got {value!r}", field=field
        )


def parse_redis_fanout_options(options: Mapping[str, object]) -> RedisFanoutOptions:
    """Validate the fan-out's options; unknown names are refused with ``ConfigError``."""
    parsed = parse_fanout_options(RedisFanoutOptions, options, "redis", _check_option)
    try:
        redis.ConnectionPool.from_url(parsed.url)
    except ValueError as error:
        raise ConfigError(f"'url' is not a Redis URL: {error}", field="options.url") from error
    return parsed


class RedisFanout(ThreadedFanout[RedisFanoutOptions, redis.Redis]):
    """A ``BrokerFanout`` over one Redis pub/sub channel. Thread-safe."""

    _broker_errors: ClassVar[tuple[type[Exception], ...]] = (RedisError, OSError)

    def __init__(self, options: RedisFanoutOptions) -> None:
        super().__init__(options, "redis")
        timeout = options.socket_timeout_ms / 1000.0
        self._settings: dict[str, object] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),  # the threads reconnect, with their backoff
        }
        self._start()

    def _pool(self, role: str) -> redis.ConnectionPool:
        return redis.ConnectionPool.from_url(
            self.options.url, client_name=f"{self.options.client_name}-{role}", **self._settings
        )

    def _connect_sender(self) -> redis.Redis:
        return redis.Redis(connection_pool=self._pool("publish"))

    def _send(self, conn: redis.Redis, payloads: list[str]) -> None:
        pipe = conn.pipeline(transaction=False)
        for payload in payloads:
            pipe.publish(self.options.channel, payload)
        pipe.execute()

    def _close_sender(self, conn: redis.Redis) -> None:
        conn.close()
        conn.connection_pool.disconnect()

    def _listen(self, subscribed: Callable[[], None]) -> None:
        pool = self._pool("listen")
        settings = {  # without redis-py's maintenance notifications, which need RESP3
            name: value
            for name, value in pool.connection_kwargs.items()
            if not name.startswith("maint_notifications")
        }
        settings["protocol"] = 2  # messages as plain replies, whatever the URL asks for
        settings["decode_responses"] = False  # payloads are decoded here
        conn: Any = pool.connection_class(**settings)
        try:
            conn.connect()
            conn.send_command("SUBSCRIBE", self.options.channel)
            reply = conn.read_response()
            if not (isinstance(reply, list) and reply[:1] == [b"subscribe"]):
                raise redis.ResponseError(f"unexpected answer to SUBSCRIBE: {reply!r}")
            subscribed()
            self._receive_until_stopped(conn)
        finally:
            conn.disconnect()

    def _receive_until_stopped(self, conn: Any) -> None:
        """Pass on every message; ``PING`` after ``health_check_ms`` of silence and give
        up on the connection when the answer is ``socket_timeout_ms`` late."""
        quiet_s = self.options.health_check_ms / 1000.0
        answer_s = self.options.socket_timeout_ms / 1000.0
        heard = time.monotonic()
        pinged: float | None = None
        while not self._stop.is_set():
            if conn.can_read(timeout=POLL_S):
                reply = conn.read_response()
                heard, pinged = time.monotonic(), None
                if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                    self._receive(bytes(reply[2]).decode("utf-8", "replace"))
                continue
            now = time.monotonic()
            if pinged is not None and now - pinged > answer_s:
                raise RedisTimeoutError(f"no answer to PING within {answer_s:g} s")
            if pinged is None and now - heard > quiet_s:
                conn.send_command("PING")
                pinged = now


def create_redis_fanout(options: Mapping[str, object]) -> RedisFanout:
    """The ``redis`` fan-out factory (the ``redis`` entry point of
    ``pytest_sanctum.fanouts``). Options: ``url`` (default ``redis://127.0.0.1:6379/0``),
    ``channel`` (``sanctum:invalidation``), ``client_name``, ``socket_timeout_ms`` (5000),
    ``health_check_ms`` (5000), ``queue_limit`` (10000), ``reconnect_initial_ms`` (50),
    ``reconnect_max_ms`` (2000), ``close_timeout_ms`` (2000).
    """
    return RedisFanout(parse_redis_fanout_options(options))
