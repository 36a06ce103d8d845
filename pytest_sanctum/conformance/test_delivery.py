"""Delivery details (STR-009, STR-010, STR-013): read batch sizes, delivery counts past the
second delivery, and idempotency keys shared by clients with different dedupe windows."""

from __future__ import annotations

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.fixtures import ClientMaker

TIMEOUT_MS = 1000.0


@contract("STR-009")
def test_a_read_returns_at_most_count_messages(
    sanctum_client: StorageClient, sanctum_namespace: str
) -> None:
    """count=1 and count=2 bound each read; the reads together deliver every message once."""
    streams, ns = sanctum_client.streams, sanctum_namespace
    sent = [streams.append(ns, "s", {"n": n}).message_id for n in range(5)]
    batches = []
    for count in (1, 2, 1, 2, 1, 2, 1):  # bounded: more reads than messages
        batch = streams.read(ns, "s", "g", "c", count=count)
        assert len(batch) <= count, (
            f"{explain('STR-009')} a read with count={count} delivered {len(batch)}: {batch}"
        )
        batches.append([d.message_id for d in batch])
    delivered = [message_id for batch in batches for message_id in batch]
    assert delivered == sent, (
        f"{explain('STR-009')} reads with counts 1, 2, 1, ... delivered {batches}, expected "
        f"{sent} once each, in order"
    )


@contract("STR-010")
def test_delivery_counts_count_every_delivery(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """An unacked message is delivered with counts 1, 2, 3, 4 as its timeout passes again and again."""
    streams, ns = sanctum_client.streams, sanctum_namespace
    sent = streams.append(ns, "s", {"n": 1}).message_id
    counts = []
    for round_ in range(4):
        if round_:
            sanctum_clock.advance(TIMEOUT_MS)
        deliveries = streams.read(ns, "s", "g", f"c{round_}", visibility_timeout_ms=TIMEOUT_MS)
        counts.append([(d.message_id, d.delivery_count) for d in deliveries])
    assert counts == [[(sent, n)] for n in (1, 2, 3, 4)], (
        f"{explain('STR-010')} four reads, each after the visibility timeout, delivered {counts}"
    )


@contract("STR-013")
def test_idempotency_keys_across_clients_with_different_windows(
    sanctum_make_client: ClientMaker, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """A short-window client's appends never make a long-window client lose its keys, and each
    client's repeats are judged by its own window."""
    ns = sanctum_namespace
    long_window = sanctum_make_client(dedupe_window_ms=120_000.0).streams
    short_window = sanctum_make_client.node(dedupe_window_ms=1_000.0).streams
    kept = long_window.append(ns, "s", {"client": "long"}, idempotency_key="long-key")
    short_window.append(ns, "s", {"client": "short"}, idempotency_key="short-key")
    sanctum_clock.advance(1_500.0)
    for n in range(3):  # appends that may prune keys older than the short window
        short_window.append(ns, "s", {"client": "short", "n": n}, idempotency_key=f"other-{n}")
        short_window.append(ns, "other", {"n": n}, idempotency_key=f"other-{n}")
    short_repeat = short_window.append(ns, "s", {"again": 1}, idempotency_key="short-key")
    long_repeat = long_window.append(ns, "s", {"again": 1}, idempotency_key="long-key")
    assert (long_repeat.message_id, long_repeat.duplicate) == (kept.message_id, True), (
        f"{explain('STR-013')} 1.5 s after the long-window client appended 'long-key' (window "
        f"120 s), and after appends by a 1 s-window client, repeating it returned {long_repeat}"
    )
    assert not short_repeat.duplicate, (
        f"{explain('STR-013')} the 1 s-window client repeated its key 1.5 s later and got "
        f"{short_repeat}: its own window had passed"
    )
