"""Streams: ordered at-least-once delivery to consumer groups over a compare-and-set checkpoint."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest
from facade_helpers import NS, AdapterDouble, CountingStore, Faulty, MakeClient

from pytest_sanctum import streams as streams_module
from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import ConflictError, InvalidRequestError, UnsupportedOperationError
from pytest_sanctum.observability import RecordingMetrics
from pytest_sanctum.types import AppendResult, Delivery, GroupCheckpoint, GroupPending
from reference_adapters.memory import MemoryAdapter, MemoryBatchStreamLog

OpenAdapter = Callable[..., MemoryAdapter]
TIMEOUT = 30_000.0

BASIC_ONLY = pytest.mark.parametrize("memory_interface", ["basic"])
"""For tests of the facade's own group logic over a ``CheckpointStore`` (the base path)."""


@pytest.fixture(params=["full", "basic"])
def memory_interface(request: pytest.FixtureRequest) -> str:
    """Every stream test runs over a ``GroupStore`` and over a ``CheckpointStore``."""
    return str(request.param)


def append_all(client: StorageClient, count: int, stream: str = "s") -> None:
    for n in range(1, count + 1):
        client.streams.append(NS, stream, {"n": n})


def ids(deliveries: list[Delivery]) -> list[str]:
    return [d.message_id for d in deliveries]


def test_append_returns_sequential_ids(client: StorageClient) -> None:
    assert client.streams.append(NS, "s", {"n": 1}) == AppendResult("1", 1)
    assert client.streams.append(NS, "s", [1, "two", None]) == AppendResult("2", 2)
    assert client.streams.append(NS, "other", "x") == AppendResult("1", 1)


def test_a_group_receives_messages_in_order_with_their_payloads(client: StorageClient) -> None:
    append_all(client, 5)

    first = client.streams.read(NS, "s", "g", "c", count=3)
    rest = client.streams.read(NS, "s", "g", "c")

    assert first[0] == Delivery("s", "g", "c", "1", 1, {"n": 1}, 1)
    assert ids(first) == ["1", "2", "3"]
    assert ids(rest) == ["4", "5"]
    assert [d.payload for d in rest] == [{"n": 4}, {"n": 5}]
    assert client.streams.read(NS, "s", "g", "c") == []


def test_an_empty_read_saves_nothing(client: StorageClient) -> None:
    assert client.streams.read(NS, "s", "g", "c") == []
    assert client.streams.checkpoint(NS, "s", "g").revision == 0


def test_redelivery_happens_exactly_at_the_visibility_timeout(
    client: StorageClient, clock: VirtualClock
) -> None:
    append_all(client, 2)
    client.streams.read(NS, "s", "g", "c1")

    clock.advance(TIMEOUT - 1)
    assert client.streams.read(NS, "s", "g", "c2") == []
    clock.advance(1)
    again = client.streams.read(NS, "s", "g", "c2")

    assert ids(again) == ["1", "2"]
    assert [d.delivery_count for d in again] == [2, 2]
    assert {d.consumer for d in again} == {"c2"}
    clock.advance(TIMEOUT)
    assert [d.delivery_count for d in client.streams.read(NS, "s", "g", "c1")] == [3, 3]


@BASIC_ONLY
def test_the_group_keeps_a_lower_bound_on_its_next_redelivery(
    client: StorageClient, clock: VirtualClock
) -> None:
    start = clock.now_ms()
    append_all(client, 2)
    client.streams.read(NS, "s", "g", "c", count=1)
    assert client.streams.checkpoint(NS, "s", "g").next_visible_ms == start + TIMEOUT
    clock.advance(10)
    client.streams.read(NS, "s", "g", "c", count=1)
    client.streams.ack(NS, "s", "g", ["1"])
    # still a lower bound (message 2 is due at start + TIMEOUT + 10); no rescan on ack
    assert client.streams.checkpoint(NS, "s", "g").next_visible_ms == start + TIMEOUT
    client.streams.ack(NS, "s", "g", ["2"])
    assert client.streams.checkpoint(NS, "s", "g").next_visible_ms == math.inf


@BASIC_ONLY
def test_pending_is_scanned_only_once_something_may_be_due(
    client: StorageClient, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans: list[float] = []
    real = streams_module._redeliver

    def counting(*args: Any) -> float:
        scans.append(clock.now_ms())
        return real(*args)

    monkeypatch.setattr(streams_module, "_redeliver", counting)
    append_all(client, 3)
    client.streams.read(NS, "s", "g", "c", count=1)
    clock.advance(TIMEOUT - 1)
    assert ids(client.streams.read(NS, "s", "g", "c", count=1)) == ["2"]
    assert scans == []
    clock.advance(1)
    assert ids(client.streams.read(NS, "s", "g", "c", count=5)) == ["1", "3"]
    assert scans == [clock.now_ms()]
    assert client.streams.checkpoint(NS, "s", "g").next_visible_ms == clock.now_ms() - 1 + TIMEOUT


@BASIC_ONLY
def test_redeliveries_beyond_count_stay_due(client: StorageClient, clock: VirtualClock) -> None:
    append_all(client, 3)
    client.streams.read(NS, "s", "g", "c")
    clock.advance(TIMEOUT)
    assert ids(client.streams.read(NS, "s", "g", "c", count=1)) == ["1"]
    assert client.streams.checkpoint(NS, "s", "g").next_visible_ms == clock.now_ms()
    again = client.streams.read(NS, "s", "g", "c", count=5)
    assert [(d.message_id, d.delivery_count) for d in again] == [("2", 2), ("3", 2)]


@BASIC_ONLY
def test_a_checkpoint_without_the_bound_is_scanned(
    client: StorageClient, clock: VirtualClock
) -> None:
    # A store may drop next_visible_ms (it loads as -inf): reads then scan every time.
    append_all(client, 1)
    checkpoints = client.adapters["memory"].checkpoints
    assert checkpoints is not None
    due = GroupCheckpoint(cursor=1, pending=MappingProxyType({1: GroupPending("c", 1, 0.0)}))
    checkpoints.save(NS, "s", "g", due)
    [delivery] = client.streams.read(NS, "s", "g", "c2")
    assert (delivery.message_id, delivery.delivery_count) == ("1", 2)


def test_a_custom_visibility_timeout(client: StorageClient, clock: VirtualClock) -> None:
    append_all(client, 1)
    client.streams.read(NS, "s", "g", "c", visibility_timeout_ms=10)
    clock.advance(9.5)
    assert client.streams.read(NS, "s", "g", "c") == []
    clock.advance(0.5)
    assert ids(client.streams.read(NS, "s", "g", "c", visibility_timeout_ms=5)) == ["1"]


def test_expired_deliveries_come_first_and_count_caps_them(
    client: StorageClient, clock: VirtualClock
) -> None:
    append_all(client, 3)
    client.streams.read(NS, "s", "g", "c")
    append_all(client, 2)  # messages 4 and 5 are new
    clock.advance(TIMEOUT)

    assert ids(client.streams.read(NS, "s", "g", "c", count=2)) == ["1", "2"]
    assert ids(client.streams.read(NS, "s", "g", "c", count=2)) == ["3", "4"]
    assert ids(client.streams.read(NS, "s", "g", "c")) == ["5"]


def test_expired_deliveries_come_earliest_expired_first(
    client: StorageClient, clock: VirtualClock
) -> None:
    append_all(client, 2)
    client.streams.read(NS, "s", "g", "c")  # 1 and 2, both visible again at +TIMEOUT
    clock.advance(TIMEOUT)
    assert ids(client.streams.read(NS, "s", "g", "c", count=1)) == ["1"]  # a tie: lowest first
    clock.advance(TIMEOUT)

    assert ids(client.streams.read(NS, "s", "g", "c")) == ["2", "1"]  # 2 expired first


def test_ack_counts_what_was_pending_and_advances_the_floor(
    client: StorageClient, clock: VirtualClock
) -> None:
    append_all(client, 3)
    client.streams.read(NS, "s", "g", "c")

    assert client.streams.ack(NS, "s", "g", ["2"]) == 1
    state = client.streams.checkpoint(NS, "s", "g")
    assert (state.floor, state.acked, set(state.pending)) == (0, frozenset({2}), {1, 3})

    assert client.streams.ack(NS, "s", "g", ("1", "3", "3")) == 2
    state = client.streams.checkpoint(NS, "s", "g")
    assert (state.floor, state.acked, dict(state.pending)) == (3, frozenset(), {})
    assert state.cursor == 3

    assert client.streams.ack(NS, "s", "g", ["1", "2"]) == 0  # repeats
    assert client.streams.ack(NS, "s", "g", ["99"]) == 0  # never delivered
    assert client.streams.ack(NS, "s", "g", []) == 0
    clock.advance(TIMEOUT)
    assert client.streams.read(NS, "s", "g", "c") == []  # acked: never redelivered


def test_two_consumers_of_one_group_share_the_messages(client: StorageClient) -> None:
    append_all(client, 4)
    one = client.streams.read(NS, "s", "g", "c1", count=2)
    two = client.streams.read(NS, "s", "g", "c2", count=5)
    assert (ids(one), ids(two)) == (["1", "2"], ["3", "4"])
    pending = client.streams.checkpoint(NS, "s", "g").pending
    assert {s: p.consumer for s, p in pending.items()} == {1: "c1", 2: "c1", 3: "c2", 4: "c2"}


def test_groups_are_independent(client: StorageClient) -> None:
    append_all(client, 3)
    assert ids(client.streams.read(NS, "s", "billing", "c")) == ["1", "2", "3"]
    client.streams.ack(NS, "s", "billing", ["1", "2", "3"])
    assert ids(client.streams.read(NS, "s", "audit", "c")) == ["1", "2", "3"]
    assert client.streams.checkpoint(NS, "s", "audit").floor == 0


def test_a_group_survives_reopening_the_adapter(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    before = make_client(adapter=open_adapter())
    append_all(before, 3)
    before.streams.read(NS, "s", "g", "c1")
    before.streams.ack(NS, "s", "g", ["1"])
    before.close()

    after = make_client(adapter=open_adapter())  # a new MemoryAdapter on the same server
    state = after.streams.checkpoint(NS, "s", "g")
    assert (state.floor, state.cursor, set(state.pending)) == (1, 3, {2, 3})
    assert after.streams.read(NS, "s", "g", "c2") == []
    clock.advance(TIMEOUT)
    again = after.streams.read(NS, "s", "g", "c2")
    assert [(d.message_id, d.delivery_count) for d in again] == [("2", 2), ("3", 2)]


@pytest.mark.parametrize(
    "payload",
    [1.5, [1.5, {"a": [None, True]}], {"nested": {"list": [1, 2.5, "x"]}}, "é", None],
    ids=repr,
)
def test_any_json_value_is_a_payload(client: StorageClient, payload: Any) -> None:
    client.streams.append(NS, "s", payload)
    [delivery] = client.streams.read(NS, "s", "g", "c")
    assert delivery.payload == payload


@BASIC_ONLY
def test_redeliveries_are_read_in_one_call_when_the_log_offers_it(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    inner = open_adapter()
    log = CountingStore(MemoryBatchStreamLog(inner.server))
    client = make_client(adapter=AdapterDouble(inner, streams=log))
    append_all(client, 3)
    client.streams.read(NS, "s", "g", "c")
    clock.advance(TIMEOUT)
    log.calls.clear()

    assert ids(client.streams.read(NS, "s", "g", "c")) == ["1", "2", "3"]
    assert log.calls == {"read_sequences": 1, "read": 1}  # the batch, then the new ones


@BASIC_ONLY
def test_a_pending_entry_whose_message_is_gone_is_dropped(
    client: StorageClient, clock: VirtualClock
) -> None:
    checkpoints = client.adapters["memory"].checkpoints
    assert checkpoints is not None
    stale = GroupCheckpoint(cursor=7, pending=MappingProxyType({7: GroupPending("c", 1, 0.0)}))
    checkpoints.save(NS, "s", "g", stale)

    assert client.streams.read(NS, "s", "g", "c") == []

    state = client.streams.checkpoint(NS, "s", "g")
    assert (dict(state.pending), set(state.acked), state.revision) == ({}, {7}, 2)


# --- idempotent appends -------------------------------------------------------------------


def test_idempotency_key_inside_and_outside_the_dedupe_window(
    make_client: MakeClient, clock: VirtualClock
) -> None:
    client = make_client({"streams": {"dedupe_window_ms": 1000}})
    original = client.streams.append(NS, "s", {"n": 1}, idempotency_key="order-1")
    clock.advance(999)

    repeat = client.streams.append(NS, "s", {"n": 1}, idempotency_key="order-1")
    other = client.streams.append(NS, "s", {"n": 2}, idempotency_key="order-2")
    clock.advance(1)
    late = client.streams.append(NS, "s", {"n": 1}, idempotency_key="order-1")

    assert original == AppendResult("1", 1)
    assert repeat == AppendResult("1", 1, duplicate=True)
    assert other == AppendResult("2", 2)
    assert late == AppendResult("3", 3)
    assert ids(client.streams.read(NS, "s", "g", "c")) == ["1", "2", "3"]


def test_idempotent_append_needs_the_capability(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    adapter = AdapterDouble(open_adapter(), capabilities={"idempotent_append": False})
    client = make_client(adapter=adapter)
    with pytest.raises(UnsupportedOperationError) as info:
        client.streams.append(NS, "s", 1, idempotency_key="k")
    assert info.value.capability == "idempotent_append"
    assert client.streams.append(NS, "s", 1) == AppendResult("1", 1)


@pytest.mark.parametrize("key", ["", "a\nb", 5, "x" * 257, "é" * 129])
def test_bad_idempotency_keys_are_refused(client: StorageClient, key: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        client.streams.append(NS, "s", 1, idempotency_key=key)
    assert info.value.argument == "idempotency_key"
    assert client.streams.read(NS, "s", "g", "c") == []


def test_longest_idempotency_key_is_accepted(client: StorageClient) -> None:
    assert client.streams.append(NS, "s", 1, idempotency_key="é" * 128).sequence == 1


# --- compare-and-set conflicts ------------------------------------------------------------


@BASIC_ONLY
def test_a_checkpoint_conflict_is_retried_without_metrics(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    inner = open_adapter()
    checkpoints = Faulty(inner.checkpoints, save=[ConflictError("first save loses")])
    client = make_client(adapter=AdapterDouble(inner, checkpoints=checkpoints), metrics=None)
    append_all(client, 1)
    assert ids(client.streams.read(NS, "s", "g", "c")) == ["1"]
    assert checkpoints.calls["save"] == 2


@BASIC_ONLY
@pytest.mark.parametrize("op", ["read", "ack"])
def test_a_checkpoint_conflict_is_retried(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    metrics: RecordingMetrics,
    op: str,
) -> None:
    inner = open_adapter()
    checkpoints = Faulty(inner.checkpoints, save=[])
    client = make_client(adapter=AdapterDouble(inner, checkpoints=checkpoints))
    append_all(client, 2)
    if op == "ack":
        client.streams.read(NS, "s", "g", "c")
    checkpoints.faults["save"] = [ConflictError("another consumer saved first")]

    if op == "read":
        assert ids(client.streams.read(NS, "s", "g", "c")) == ["1", "2"]
    else:
        assert client.streams.ack(NS, "s", "g", ["1", "2"]) == 2

    assert metrics.value("retries_total", op=f"stream.{op}") == 1
    assert metrics.value("errors_total") == 0


@BASIC_ONLY
@pytest.mark.parametrize("op", ["read", "ack"])
def test_a_checkpoint_that_always_conflicts_raises_conflict_error(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    metrics: RecordingMetrics,
    op: str,
) -> None:
    inner = open_adapter()
    checkpoints = Faulty(inner.checkpoints, save=[])
    client = make_client(adapter=AdapterDouble(inner, checkpoints=checkpoints))
    append_all(client, 1)
    if op == "ack":
        client.streams.read(NS, "s", "g", "c")
    checkpoints.faults["save"] = ConflictError("always")

    call: Callable[[], object] = (
        (lambda: client.streams.read(NS, "s", "g", "c"))
        if op == "read"
        else (lambda: client.streams.ack(NS, "s", "g", ["1"]))
    )

    with pytest.raises(ConflictError) as info:
        call()

    assert info.value.retryable
    assert info.value.op == f"stream.{op}"
    assert metrics.value("retries_total", op=f"stream.{op}") == 16


# --- argument checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"count": 0}, "count"),
        ({"count": -1}, "count"),
        ({"count": 101}, "count"),
        ({"count": True}, "count"),
        ({"count": "1"}, "count"),
        ({"count": 1.0}, "count"),
        ({"visibility_timeout_ms": 0}, "visibility_timeout_ms"),
        ({"visibility_timeout_ms": -5}, "visibility_timeout_ms"),
        ({"visibility_timeout_ms": 86_400_001}, "visibility_timeout_ms"),
        ({"visibility_timeout_ms": "5"}, "visibility_timeout_ms"),
        ({"visibility_timeout_ms": True}, "visibility_timeout_ms"),
        ({"visibility_timeout_ms": float("nan")}, "visibility_timeout_ms"),
    ],
)
def test_read_options_are_checked(
    client: StorageClient, options: dict[str, Any], argument: str
) -> None:
    append_all(client, 1)
    with pytest.raises(InvalidRequestError) as info:
        client.streams.read(NS, "s", "g", "c", **options)
    assert info.value.argument == argument
    assert client.streams.checkpoint(NS, "s", "g").revision == 0


def test_count_up_to_max_batch(make_client: MakeClient) -> None:
    client = make_client({"streams": {"max_batch": 3}})
    append_all(client, 5)
    assert len(client.streams.read(NS, "s", "g", "c", count=3)) == 3
    assert len(client.streams.read(NS, "s", "g", "c")) == 2
    with pytest.raises(InvalidRequestError):
        client.streams.read(NS, "s", "g", "c", count=4)


@pytest.mark.parametrize(
    "message_ids",
    ["1", b"1", ["abc"], ["-1"], ["1.0"], [" 1"], [1], [None], ["²"], ["١"], ["9" * 20], 5, None],
    ids=repr,
)
def test_ack_refuses_malformed_message_ids(client: StorageClient, message_ids: Any) -> None:
    append_all(client, 1)
    client.streams.read(NS, "s", "g", "c")
    with pytest.raises(InvalidRequestError) as info:
        client.streams.ack(NS, "s", "g", message_ids)
    assert info.value.argument == "message_ids"
    assert set(client.streams.checkpoint(NS, "s", "g").pending) == {1}


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda c: c.streams.append(NS, "", 1), "stream"),
        (lambda c: c.streams.append(NS, "s", {1: 2}), "payload"),
        (lambda c: c.streams.append(NS, "s", float("nan")), "payload"),
        (lambda c: c.streams.append(NS, "s", b"bytes"), "payload"),
        (lambda c: c.streams.append(NS, "s", [1.5, {"x": [float("inf")]}]), "payload"),
        (lambda c: c.streams.append(NS, "s", float("-inf")), "payload"),
        (lambda c: c.streams.read(NS, "s\x00", "g", "c"), "stream"),
        (lambda c: c.streams.read(NS, "s", "", "c"), "group"),
        (lambda c: c.streams.read(NS, "s", "g", 7), "consumer"),
        (lambda c: c.streams.ack(NS, "s", None, ["1"]), "group"),
        (lambda c: c.streams.ack(NS, 3, "g", ["1"]), "stream"),
        (lambda c: c.streams.checkpoint(NS, "s", ""), "group"),
        (lambda c: c.streams.checkpoint("bad ns", "s", "g"), "namespace"),
    ],
)
def test_stream_arguments_are_checked(
    client: StorageClient, call: Callable[[StorageClient], object], argument: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        call(client)
    assert info.value.argument == argument
    assert client.streams.read(NS, "s", "g", "c") == []
