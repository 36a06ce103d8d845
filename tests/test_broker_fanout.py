"""What every broker fan-out shares (``reference_adapters.broker_fanout``): shown on each,
an unreachable broker loses only what overflows the queue and ``close`` does not hang;
shown on an in-process broker, what the listener does with what it receives."""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from pytest_sanctum.types import InvalidationEvent, Layer
from reference_adapters.broker_fanout import POLL_S, FanoutOptions, ThreadedFanout
from reference_adapters.postgres.fanout import create_postgres_fanout
from reference_adapters.redis_fanout import create_redis_fanout

UNREACHABLE: dict[
    str, tuple[Callable[[Mapping[str, object]], ThreadedFanout[Any, Any]], dict[str, str]]
] = {
    "postgres": (create_postgres_fanout, {"conninfo": "host=127.0.0.1 port=1 dbname=test"}),
    "redis": (create_redis_fanout, {"url": "redis://127.0.0.1:1/0"}),
}
"""Each fan-out, and options naming a port nothing listens on."""


@pytest.mark.parametrize("kind", sorted(UNREACHABLE))
def test_an_unreachable_broker_drops_the_oldest_events_and_close_is_bounded(kind: str) -> None:
    factory, where = UNREACHABLE[kind]
    fanout = factory(
        {
            **where,
            "queue_limit": 3,
            "close_timeout_ms": 200,
            "reconnect_initial_ms": 10,
            "reconnect_max_ms": 20,
        }
    )
    for n in range(5):
        fanout.publish(InvalidationEvent(Layer.RECORD, "app", f"k{n}", n, "o"))
    assert fanout.dropped == 2
    assert not fanout.listening
    started = time.monotonic()
    fanout.close()
    assert time.monotonic() - started < 5
    assert fanout.sent == 0


class LoopbackFanout(ThreadedFanout[FanoutOptions, None]):
    """A broker fan-out whose broker is a queue in this process."""

    _broker_errors = (OSError,)

    def __init__(self) -> None:
        super().__init__(FanoutOptions(), "loopback")
        self.broker: queue.Queue[str] = queue.Queue()
        self._start()

    def _connect_sender(self) -> None:
        return None

    def _send(self, conn: None, payloads: list[str]) -> None:
        for payload in payloads:
            self.broker.put(payload)

    def _close_sender(self, conn: None) -> None:
        pass

    def _listen(self, subscribed: Callable[[], None]) -> None:
        subscribed()
        while not self._stop.is_set():
            with contextlib.suppress(queue.Empty):
                self._receive(self.broker.get(timeout=POLL_S))


def test_unreadable_payloads_and_failing_subscribers_do_not_stop_delivery() -> None:
    fanout = LoopbackFanout()
    got: list[InvalidationEvent] = []

    def failing(event: InvalidationEvent) -> None:
        raise RuntimeError("broken subscriber")

    fanout.subscribe(failing)
    fanout.subscribe(got.append)
    try:
        assert fanout.wait_listening(20)
        events = [InvalidationEvent(Layer.RECORD, "app", f"k{n}", n, "o") for n in range(3)]
        fanout.broker.put("not an event")
        fanout.broker.put('["nolayer", "n", "k", 1, "o"]')
        for event in events:
            fanout.publish(event)
        deadline = time.monotonic() + 20
        while len(got) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got == events
        assert (fanout.sent, fanout.dropped, fanout.reconnects) == (3, 0, 0)
    finally:
        fanout.close()
