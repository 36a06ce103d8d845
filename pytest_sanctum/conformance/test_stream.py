"""Stream layer contracts (STR-*): ordered appends, at-least-once groups, durable checkpoints."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest

from pytest_sanctum.adapters.base import CheckpointStore, GroupStore, StorageAdapter
from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.consumer import IdempotentConsumer
from pytest_sanctum.errors import BackendUnavailableError, ConflictError
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.fixtures import ClientMaker
from pytest_sanctum.types import AppendResult, Delivery, GroupPending, JSONValue

TIMEOUT_MS = 30_000.0
"""The visibility timeout of the kit's clients (the facade default)."""

RACE_ROUNDS = 5
"""Rounds of the STR-007 race: a read-then-blind-save may win one round, rarely all of them."""


def _seen(deliveries: list[Delivery]) -> list[tuple[str, int]]:
    """(message id, delivery count) of each delivery, in delivery order."""
    return [(d.message_id, d.delivery_count) for d in deliveries]


@contract("STR-001")
@pytest.mark.parametrize("count", [None, 1], ids=["one-read", "read-by-one"])
def test_group_reads_appends_in_order(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
    count: int | None,
) -> None:
    """Appends get sequences 1, 2, 3 and a group reads them in that order, delivery_count 1."""
    payloads: list[JSONValue] = [{"n": 1}, {"n": "two", "list": [2]}, {"n": None}]
    appended = [sanctum_client.streams.append(sanctum_namespace, "s", p) for p in payloads]
    stored = sanctum_backdoor.stream_messages(sanctum_namespace, "s")
    # One read more than it takes to drain: bounded, so a group that keeps delivering fails.
    batches = [
        sanctum_client.streams.read(sanctum_namespace, "s", "g", "c1", count=count)
        for _ in range(len(payloads) + 1)
    ]
    read = [delivery for batch in batches for delivery in batch]
    assert [(a.sequence, a.message_id, a.duplicate) for a in appended] == [
        (1, "1", False),
        (2, "2", False),
        (3, "3", False),
    ], f"{explain('STR-001')} appends returned {appended}"
    assert [(m.sequence, json.loads(m.payload)) for m in stored] == list(
        enumerate(payloads, start=1)
    ), f"{explain('STR-001')} the backend holds {stored}"
    assert [(d.message_id, d.sequence, d.payload, d.delivery_count) for d in read] == [
        (a.message_id, a.sequence, p, 1) for a, p in zip(appended, payloads, strict=True)
    ], f"{explain('STR-001')} the group read {read}"
    assert {(d.stream, d.group, d.consumer) for d in read} == {("s", "g", "c1")}, (
        f"{explain('STR-001')} the deliveries are {read}"
    )


@contract("STR-002")
@pytest.mark.parametrize("second", ["c1", "c2"])
def test_unacked_message_comes_again_with_delivery_count_2(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    second: str,
) -> None:
    """An unacked message is delivered again after the visibility timeout, delivery_count 2."""
    sent = sanctum_client.streams.append(sanctum_namespace, "s", {"order": 7})
    first = sanctum_client.streams.read(sanctum_namespace, "s", "g", "c1")
    sanctum_clock.advance(TIMEOUT_MS)
    again = sanctum_client.streams.read(sanctum_namespace, "s", "g", second)
    assert _seen(first) == [(sent.message_id, 1)], f"{explain('STR-002')} first read {first}"
    assert [(d.message_id, d.delivery_count, d.payload, d.consumer) for d in again] == [
        (sent.message_id, 2, {"order": 7}, second)
    ], f"{explain('STR-002')} after the timeout the group read {again}"


@contract("STR-002")
@pytest.mark.parametrize("second", ["c1", "c2"])
def test_idempotent_consumer_handles_a_redelivered_message_once(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    second: str,
) -> None:
    """A message handled and marked by a consumer that died before acking is not handled again."""
    handled: list[Delivery] = []
    crashing, survivor = sanctum_make_client(), sanctum_make_client()
    sent = crashing.streams.append(sanctum_namespace, "s", {"order": 7})

    def lost_connection(*args: object, **kwargs: object) -> int:
        raise BackendUnavailableError("connection lost before the ack")

    monkeypatch.setattr(crashing.streams, "ack", lost_connection)
    with pytest.raises(BackendUnavailableError):
        IdempotentConsumer(crashing, sanctum_namespace, "s", "g", "c1", handled.append).poll()
    consumer = IdempotentConsumer(survivor, sanctum_namespace, "s", "g", second, handled.append)
    sanctum_clock.sleep_ms(TIMEOUT_MS)  # time passes: the marker reaches every replica too
    redelivered = consumer.poll()
    sanctum_clock.advance(TIMEOUT_MS)
    later = consumer.poll()
    assert _seen(handled) == [(sent.message_id, 1)], (
        f"{explain('STR-002')} the handler ran for {handled}"
    )
    assert (redelivered, later) == ((0, 1), (0, 0)), (
        f"{explain('STR-002')} polls after the crash returned (handled, skipped) = "
        f"{redelivered}, then {later}"
    )


@contract("STR-003")
@pytest.mark.parametrize("timeout_ms", [1_000.0, TIMEOUT_MS])
def test_no_redelivery_before_the_visibility_timeout(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    timeout_ms: float,
) -> None:
    """Nothing comes again at timeout - 1 ms; the message comes again at the timeout."""
    client = sanctum_make_client(visibility_timeout_ms=timeout_ms)
    sent = client.streams.append(sanctum_namespace, "s", {"n": 1})
    client.streams.read(sanctum_namespace, "s", "g", "c1")
    sanctum_clock.advance(timeout_ms - 1)
    early = [client.streams.read(sanctum_namespace, "s", "g", c) for c in ("c1", "c2")]
    sanctum_clock.advance(1)
    due = client.streams.read(sanctum_namespace, "s", "g", "c2")
    assert early == [[], []], f"{explain('STR-003')} 1 ms before the timeout: {early}"
    assert _seen(due) == [(sent.message_id, 2)], f"{explain('STR-003')} at the timeout: {due}"


@contract("STR-003")
def test_each_delivery_keeps_its_own_timeout(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """Messages delivered at different times come again each at its own timeout."""
    streams = sanctum_client.streams
    first, second = (streams.append(sanctum_namespace, "s", {"n": n}) for n in (1, 2))
    streams.read(sanctum_namespace, "s", "g", "c1", count=1)
    sanctum_clock.advance(TIMEOUT_MS / 2)
    streams.read(sanctum_namespace, "s", "g", "c1", count=1)
    sanctum_clock.advance(TIMEOUT_MS / 2)
    at_first = streams.read(sanctum_namespace, "s", "g", "c2")
    sanctum_clock.advance(TIMEOUT_MS / 2 - 1)
    before_second = streams.read(sanctum_namespace, "s", "g", "c2")
    sanctum_clock.advance(1)
    at_second = streams.read(sanctum_namespace, "s", "g", "c2")
    assert _seen(at_first) == [(first.message_id, 2)], (
        f"{explain('STR-003')} at the first delivery's timeout the group read {at_first}"
    )
    assert before_second == [], (
        f"{explain('STR-003')} 1 ms before the second delivery's timeout: {before_second}"
    )
    assert _seen(at_second) == [(second.message_id, 2)], (
        f"{explain('STR-003')} at the second delivery's timeout the group read {at_second}"
    )


@contract("STR-004")
def test_acked_message_is_never_delivered_again(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """An acked message never comes again, and acking it again counts zero."""
    streams = sanctum_client.streams
    first, second = (streams.append(sanctum_namespace, "s", {"n": n}) for n in (1, 2))
    streams.read(sanctum_namespace, "s", "g", "c1")
    counts = [streams.ack(sanctum_namespace, "s", "g", [first.message_id]) for _ in range(2)]
    sanctum_clock.advance(TIMEOUT_MS)
    again = streams.read(sanctum_namespace, "s", "g", "c1")
    both = streams.ack(sanctum_namespace, "s", "g", [first.message_id, second.message_id])
    sanctum_clock.advance(TIMEOUT_MS)
    later = streams.read(sanctum_namespace, "s", "g", "c1")
    assert counts == [1, 0], f"{explain('STR-004')} acking twice counted {counts}"
    assert _seen(again) == [(second.message_id, 2)], f"{explain('STR-004')} redelivered {again}"
    assert (both, later) == (1, []), (
        f"{explain('STR-004')} acking both counted {both}, then the group read {later}"
    )


@contract("STR-005")
def test_group_resumes_after_an_abrupt_restart(
    sanctum_make_client: ClientMaker,
    sanctum_reopen: Callable[[], StorageAdapter],
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
) -> None:
    """After a crash and restart, pending messages come again and acked ones never."""
    before = sanctum_make_client()
    sent = [before.streams.append(sanctum_namespace, "s", {"n": n}) for n in (1, 2, 3)]
    before.streams.read(sanctum_namespace, "s", "g", "c1")
    before.streams.ack(sanctum_namespace, "s", "g", [sent[0].message_id, sent[2].message_id])
    after = sanctum_make_client(adapter=sanctum_reopen())  # `before` is abandoned, not closed
    saved = after.streams.checkpoint(sanctum_namespace, "s", "g")
    newer = after.streams.append(sanctum_namespace, "s", {"n": 4})
    sanctum_clock.advance(TIMEOUT_MS)
    resumed = after.streams.read(sanctum_namespace, "s", "g", "c2")
    acked = after.streams.ack(sanctum_namespace, "s", "g", [d.message_id for d in resumed])
    final = after.streams.checkpoint(sanctum_namespace, "s", "g")
    assert (saved.floor, saved.cursor, set(saved.acked), set(saved.pending)) == (1, 3, {3}, {2}), (
        f"{explain('STR-005')} the restarted adapter loaded {saved}"
    )
    assert _seen(resumed) == [(sent[1].message_id, 2), (newer.message_id, 1)], (
        f"{explain('STR-005')} after the restart the group read {resumed}"
    )
    assert (acked, final.floor, set(final.pending)) == (2, 4, set()), (
        f"{explain('STR-005')} acking the resumed messages counted {acked} and left {final}"
    )


@contract("STR-006")
def test_repeated_idempotency_key_appends_once_per_window(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    sanctum_backdoor: Backdoor,
) -> None:
    """A repeated key inside the window returns the original id; after the window it appends."""
    window = 10_000.0
    streams = sanctum_make_client(dedupe_window_ms=window).streams
    original = streams.append(sanctum_namespace, "s", {"try": 1}, idempotency_key="pay-1")
    sanctum_clock.advance(window - 1)
    repeat = streams.append(sanctum_namespace, "s", {"try": 2}, idempotency_key="pay-1")
    inside = sanctum_backdoor.stream_messages(sanctum_namespace, "s")
    sanctum_clock.advance(2)
    late = streams.append(sanctum_namespace, "s", {"try": 3}, idempotency_key="pay-1")
    stored = sanctum_backdoor.stream_messages(sanctum_namespace, "s")
    assert (original, repeat) == (
        AppendResult("1", 1, duplicate=False),
        AppendResult("1", 1, duplicate=True),
    ), f"{explain('STR-006')} first append {original}, repeat inside the window {repeat}"
    assert [json.loads(m.payload) for m in inside] == [{"try": 1}], (
        f"{explain('STR-006')} inside the window the backend holds {inside}"
    )
    assert late == AppendResult("2", 2, duplicate=False), (
        f"{explain('STR-006')} an append after the window returned {late}"
    )
    assert [json.loads(m.payload) for m in stored] == [{"try": 1}, {"try": 3}], (
        f"{explain('STR-006')} after the window the backend holds {stored}"
    )


@contract("STR-006")
def test_other_keys_and_keyless_appends_are_not_duplicates(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor
) -> None:
    """Only the same idempotency key on the same stream makes an append a duplicate."""
    streams = sanctum_client.streams
    results = [
        streams.append(sanctum_namespace, "s", {"n": 1}, idempotency_key="a"),
        streams.append(sanctum_namespace, "s", {"n": 2}, idempotency_key="b"),
        streams.append(sanctum_namespace, "s", {"n": 3}),
        streams.append(sanctum_namespace, "s", {"n": 3}),
        streams.append(sanctum_namespace, "other", {"n": 1}, idempotency_key="a"),
    ]
    stored = sanctum_backdoor.stream_messages(sanctum_namespace, "s")
    assert [(r.sequence, r.duplicate) for r in results] == [
        (1, False),
        (2, False),
        (3, False),
        (4, False),
        (1, False),
    ], f"{explain('STR-006')} appends returned {results}"
    assert [m.sequence for m in stored] == [1, 2, 3, 4], (
        f"{explain('STR-006')} the backend holds {stored}"
    )


@contract("STR-020")
def test_each_idempotency_key_keeps_its_own_window(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    sanctum_backdoor: Backdoor,
) -> None:
    """Keys first appended at 0 and 600 ms, window 1 s: at 1100 ms the first has expired and
    the second has not; at 1700 ms both have. Appends after an expiry keep working."""
    streams = sanctum_make_client(dedupe_window_ms=1_000.0).streams
    ns = sanctum_namespace
    steps = [("a", 0.0), ("b", 600.0), ("c", 500.0), ("b", 0.0), ("a", 0.0), ("b", 600.0)]
    seen = []
    for key, wait_ms in steps:
        sanctum_clock.advance(wait_ms)
        result = streams.append(ns, "s", {"key": key}, idempotency_key=key)
        seen.append((key, result.sequence, result.duplicate))
    stored = [json.loads(m.payload)["key"] for m in sanctum_backdoor.stream_messages(ns, "s")]
    expected = [
        ("a", 1, False),
        ("b", 2, False),
        ("c", 3, False),
        ("b", 2, True),
        ("a", 4, False),
        ("b", 5, False),
    ]
    assert seen == expected, (
        f"{explain('STR-020')} keyed appends at 0, 600, 1100, 1100, 1100 and 1700 ms with a "
        f"1 s window returned (key, sequence, duplicate) {seen}, expected {expected}"
    )
    assert stored == ["a", "b", "c", "a", "b"], (
        f"{explain('STR-020')} the backend holds messages of keys {stored}"
    )


LONG_STREAM = 300
"""Messages in the STR-021 stream: past the 128 and 256 where backends page, trim or narrow."""


@contract("STR-021")
def test_a_long_stream_is_read_in_full(
    sanctum_client: StorageClient, sanctum_namespace: str
) -> None:
    """A group reads all 300 messages of a stream, each once and in append order."""
    streams, ns = sanctum_client.streams, sanctum_namespace
    for n in range(LONG_STREAM):
        streams.append(ns, "long", {"n": n})
    read: list[tuple[int, JSONValue, int]] = []
    for _ in range(LONG_STREAM):  # bounded: an adapter that keeps returning messages ends
        batch = streams.read(ns, "long", "g", "c", count=100)
        if not batch:
            break
        streams.ack(ns, "long", "g", [d.message_id for d in batch])
        read += [(d.sequence, d.payload, d.delivery_count) for d in batch]
    expected = [(n + 1, {"n": n}, 1) for n in range(LONG_STREAM)]
    missing = [s for s, _, _ in expected if s not in {r[0] for r in read}]
    assert read == expected, (
        f"{explain('STR-021')} reading a {LONG_STREAM}-message stream 100 at a time delivered "
        f"{len(read)} messages; missing sequences {missing[:10]}, first wrong delivery "
        f"{next((r for r, e in zip(read, expected, strict=False) if r != e), None)}"
    )


@contract("STR-007")
@pytest.mark.parametrize("count", [1, 2])
def test_consumers_of_a_group_never_hold_the_same_message(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock, count: int
) -> None:
    """Two consumers of one group never both hold a message before its visibility timeout."""
    streams = sanctum_client.streams
    sent = [streams.append(sanctum_namespace, "s", {"n": n}).message_id for n in range(4)]
    held: dict[str, list[Delivery]] = {"c1": [], "c2": []}
    for _round in range(3):
        for consumer, deliveries in held.items():
            deliveries += streams.read(sanctum_namespace, "s", "g", consumer, count=count)
    sanctum_clock.advance(TIMEOUT_MS - 1)
    early = [streams.read(sanctum_namespace, "s", "g", consumer) for consumer in held]
    ids = sorted((d.message_id for d in held["c1"] + held["c2"]), key=int)
    assert ids == sent, f"{explain('STR-007')} {sent} were appended, the consumers held {held}"
    assert all(held.values()), f"{explain('STR-007')} a consumer got nothing: {held}"
    assert early == [[], []], f"{explain('STR-007')} before the timeout the consumers read {early}"


@contract("STR-007")
def test_checkpoint_save_with_a_stale_revision_is_refused(
    sanctum_adapter: StorageAdapter, sanctum_namespace: str
) -> None:
    """Saving a checkpoint loaded before another save raises ConflictError and changes nothing."""
    store = sanctum_adapter.checkpoints
    assert store is not None, f"{explain('STR-007')} the adapter has no checkpoint store"
    if not isinstance(store, CheckpointStore):
        pytest.skip(
            "unsupported: the adapter keeps groups per delivery (GroupStore), which has no "
            "save to refuse; test_group_store_claims_never_share_a_message covers it"
        )
    loaded = store.load(sanctum_namespace, "s", "g")
    mine, theirs = (
        loaded._replace(cursor=1, pending=MappingProxyType({1: GroupPending(c, 1, TIMEOUT_MS)}))
        for c in ("c1", "c2")
    )
    saved = store.save(sanctum_namespace, "s", "g", mine)
    with pytest.raises(ConflictError):
        store.save(sanctum_namespace, "s", "g", theirs)
    stored = store.load(sanctum_namespace, "s", "g")
    assert saved.revision == loaded.revision + 1, (
        f"{explain('STR-007')} saving revision {loaded.revision} returned {saved}"
    )
    assert (stored.cursor, dict(stored.pending), stored.revision) == (
        1,
        {1: ("c1", 1, TIMEOUT_MS)},
        saved.revision,
    ), f"{explain('STR-007')} after a refused stale save the store holds {stored}"


@contract("STR-007")
def test_group_store_claims_never_share_a_message(
    sanctum_adapter: StorageAdapter, sanctum_make_client: ClientMaker, sanctum_namespace: str
) -> None:
    """Claims made at one instant from several threads hand each message to one consumer."""
    store = sanctum_adapter.checkpoints
    if not isinstance(store, GroupStore):
        pytest.skip(
            "unsupported: the adapter keeps groups in a CheckpointStore; "
            "test_checkpoint_save_with_a_stale_revision_is_refused covers it"
        )
    writer = sanctum_make_client()
    sent = [writer.streams.append(sanctum_namespace, "s", {"n": n}).sequence for n in range(8)]
    barrier = threading.Barrier(4, timeout=30)
    claimed: dict[str, list[int]] = {}

    def claim(consumer: str) -> None:
        barrier.wait()
        got: list[int] = []
        for _ in range(3):
            got += [
                c.sequence
                for c in store.claim(
                    sanctum_namespace,
                    "s",
                    "g",
                    consumer,
                    limit=1,
                    now_ms=0.0,
                    visible_at_ms=TIMEOUT_MS,
                )
            ]
        claimed[consumer] = got

    threads = [threading.Thread(target=claim, args=(f"c{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = sorted(s for got in claimed.values() for s in got)
    state = store.load(sanctum_namespace, "s", "g")
    assert everything == sent, (
        f"{explain('STR-007')} {sent} were appended; four consumers claiming at one instant "
        f"got {claimed}"
    )
    assert {s: p.consumer for s, p in state.pending.items()} == {
        s: consumer for consumer, got in claimed.items() for s in got
    }, f"{explain('STR-007')} consumers claimed {claimed}, the store records {state}"


def _read_together(
    readers: dict[str, StorageClient], namespace: str
) -> dict[str, list[Delivery] | BaseException]:
    """Each consumer reads one message of group ``g`` through its client, all at one moment."""
    barrier = threading.Barrier(len(readers), timeout=30)
    outcomes: dict[str, list[Delivery] | BaseException] = {}

    def read(consumer: str, client: StorageClient) -> None:
        try:
            barrier.wait()
            outcomes[consumer] = client.streams.read(namespace, "s", "g", consumer, count=1)
        except BaseException as error:
            outcomes[consumer] = error

    threads = [threading.Thread(target=read, args=item) for item in readers.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@contract("STR-007")
def test_consumers_racing_on_two_nodes_get_different_messages(
    sanctum_make_client: ClientMaker, sanctum_namespace: str
) -> None:
    """Consumers on two nodes reading one group at the same moment never get the same message."""
    readers = {"c1": sanctum_make_client(), "c2": sanctum_make_client.node()}
    sent = [
        readers["c1"].streams.append(sanctum_namespace, "s", {"n": n}).message_id
        for n in range(2 * RACE_ROUNDS)
    ]
    rounds = [_read_together(readers, sanctum_namespace) for _ in range(RACE_ROUNDS)]
    got = [
        (consumer, [d.message_id for d in outcome] if isinstance(outcome, list) else outcome)
        for outcome_by_consumer in rounds
        for consumer, outcome in sorted(outcome_by_consumer.items())
    ]
    ids = sorted((mid for _, held in got if isinstance(held, list) for mid in held), key=int)
    assert all(isinstance(held, list) and len(held) == 1 for _, held in got), (
        f"{explain('STR-007')} each racing read should get one message: {got}"
    )
    assert ids == sent, f"{explain('STR-007')} {sent} were appended, the racing reads got {got}"


@contract("STR-008")
def test_every_group_receives_every_message(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """A group acking everything changes nothing for other groups, old or new."""
    streams = sanctum_client.streams
    sent = [streams.append(sanctum_namespace, "s", {"n": n}).message_id for n in range(3)]
    shipping = streams.read(sanctum_namespace, "s", "shipping", "c1", count=1)
    billing = streams.read(sanctum_namespace, "s", "billing", "c1")
    streams.ack(sanctum_namespace, "s", "billing", sent)
    sanctum_clock.advance(TIMEOUT_MS)
    shipping += streams.read(sanctum_namespace, "s", "shipping", "c1")
    audit = streams.read(sanctum_namespace, "s", "audit", "c1")
    assert _seen(billing) == [(m, 1) for m in sent], f"{explain('STR-008')} billing read {billing}"
    assert _seen(shipping) == [(sent[0], 1), (sent[0], 2), (sent[1], 1), (sent[2], 1)], (
        f"{explain('STR-008')} after billing acked everything, shipping read {shipping}"
    )
    assert _seen(audit) == [(m, 1) for m in sent], f"{explain('STR-008')} a new group read {audit}"


@contract("STR-030")
def test_the_group_revision_counts_changes(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """The revision of a group's state rises by one with each read that hands out
    deliveries (new or due again) and each ack that removes some, and with nothing else."""
    streams, ns = sanctum_client.streams, sanctum_namespace
    for n in range(3):
        streams.append(ns, "s", {"n": n})

    def redeliver() -> object:
        sanctum_clock.advance(60_000.0)  # past the visibility timeout of every delivery
        return streams.read(ns, "s", "g", "c", count=1)

    steps: list[tuple[str, Callable[[], object], int]] = [
        ("a read of two new messages", lambda: streams.read(ns, "s", "g", "c", count=2), 1),
        ("an ack of one delivery", lambda: streams.ack(ns, "s", "g", ["1"]), 1),
        ("an ack of a delivery already acked", lambda: streams.ack(ns, "s", "g", ["1"]), 0),
        ("a read of the last message", lambda: streams.read(ns, "s", "g", "c"), 1),
        ("a read with nothing to hand out", lambda: streams.read(ns, "s", "g", "c"), 0),
        ("a read handing out a delivery due again", redeliver, 1),
        ("an ack of a sequence never delivered", lambda: streams.ack(ns, "s", "g", ["9"]), 0),
        ("an ack of the two pending", lambda: streams.ack(ns, "s", "g", ["2", "3"]), 1),
    ]
    wrong = []
    before = streams.checkpoint(ns, "s", "g").revision
    for what, step, rise in steps:
        step()
        after = streams.checkpoint(ns, "s", "g").revision
        if after != before + rise:
            wrong.append(f"{what}: revision {before} -> {after}, expected {before + rise}")
        before = after
    assert wrong == [], f"{explain('STR-030')} {wrong}"


def _read_all(streams: Any, namespace: str, **options: Any) -> list[Delivery]:
    """Every delivery the group hands out now, read in batches until one comes back empty."""
    found: list[Delivery] = []
    while batch := streams.read(namespace, "s", "g", "c", count=100, **options):
        found += batch
    return found


@contract("STR-031")
def test_a_large_group_redelivers_on_schedule(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """With 240 deliveries of two deadlines, two thirds acked out of order, each unacked
    one comes again once its deadline has passed, lowest sequence first, and none before."""
    streams, ns = sanctum_client.streams, sanctum_namespace
    for n in range(240):
        streams.append(ns, "s", {"n": n})
    late = _read_all_count(streams, ns, 120, 50_000.0)  # due again at 50 s
    early = _read_all_count(streams, ns, 120, 10_000.0)  # due again at 10 s
    acked = [d.message_id for d in [*late, *early] if int(d.message_id) % 3]
    for start in range(0, len(acked), 7):  # many small acks, in an order of their own
        streams.ack(ns, "s", "g", acked[start : start + 7][::-1])
    unacked = [d.message_id for d in [*late, *early] if not int(d.message_id) % 3]
    wrong = []
    sanctum_clock.advance(20_000.0)
    first = [d.message_id for d in _read_all(streams, ns, visibility_timeout_ms=100_000.0)]
    if first != [m for m in unacked if int(m) > 120]:
        wrong.append(f"at 20 s, after the 10 s deadline only: redelivered {first}")
    sanctum_clock.advance(40_000.0)
    second = [d.message_id for d in _read_all(streams, ns, visibility_timeout_ms=100_000.0)]
    if second != [m for m in unacked if int(m) <= 120]:
        wrong.append(f"at 60 s, after the 50 s deadline: redelivered {second}")
    assert wrong == [], f"{explain('STR-031')} {wrong}"


def _read_all_count(streams: Any, namespace: str, count: int, timeout_ms: float) -> list[Delivery]:
    """``count`` new deliveries, read in batches of at most 100 with ``timeout_ms``."""
    found: list[Delivery] = []
    while len(found) < count:
        found += streams.read(
            namespace,
            "s",
            "g",
            "c",
            count=min(100, count - len(found)),
            visibility_timeout_ms=timeout_ms,
        )
    return found
