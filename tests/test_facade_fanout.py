"""The fan-out implementations: immediate local delivery and a queue tests deliver by hand."""

from __future__ import annotations

from pytest_sanctum.fanout import InvalidationFanout, LocalFanout, QueuedFanout
from pytest_sanctum.types import InvalidationEvent, Layer

EVENTS = [InvalidationEvent(Layer.RECORD, "ns", f"k{n}", n, "origin") for n in range(3)]


def test_both_implement_the_protocol() -> None:
    assert isinstance(LocalFanout(), InvalidationFanout)
    assert isinstance(QueuedFanout(), InvalidationFanout)


def test_local_fanout_delivers_at_once_to_every_subscriber_until_unsubscribed() -> None:
    fanout = LocalFanout()
    first: list[InvalidationEvent] = []
    second: list[InvalidationEvent] = []
    unsubscribe = fanout.subscribe(first.append)
    fanout.subscribe(second.append)

    fanout.publish(EVENTS[0])
    unsubscribe()
    unsubscribe()  # a second call is harmless
    fanout.publish(EVENTS[1])

    assert first == [EVENTS[0]]
    assert second == EVENTS[:2]


def test_queued_fanout_holds_events_until_told() -> None:
    fanout = QueuedFanout()
    received: list[InvalidationEvent] = []
    fanout.subscribe(received.append)
    for event in EVENTS:
        fanout.publish(event)
    assert received == []
    assert fanout.pending == tuple(EVENTS)

    assert fanout.deliver_next() == EVENTS[0]
    assert fanout.drop_next() == EVENTS[1]  # a lost message
    assert fanout.deliver_all() == 1

    assert received == [EVENTS[0], EVENTS[2]]
    assert fanout.pending == ()
    assert fanout.deliver_next() is None
    assert fanout.drop_next() is None
    assert fanout.deliver_all() == 0
