"""What every broker fan-out shares (``reference_adapters.broker_fanout``), shown on each:
an unreachable broker loses only what overflows the queue, and ``close`` does not hang."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from pytest_sanctum.types import InvalidationEvent, Layer
from reference_adapters.broker_fanout import ThreadedFanout
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
