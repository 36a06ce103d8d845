"""``StreamMachine`` (PROP-003) and ``IdempotentConsumerMachine`` (PROP-005): appends,
reads, acks, clock advances and crashes checked against ``QueueModel``."""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from collections.abc import Iterable
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    invariant,
    precondition,
    rule,
)

from pytest_sanctum.client import StorageClient
from pytest_sanctum.consumer import IdempotentConsumer
from pytest_sanctum.kit.machines.base import KitMachine
from pytest_sanctum.kit.machines.models import Held, QueueModel
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.streams import StreamLayer
from pytest_sanctum.types import Delivery, JSONValue


class ConsumerCrash(Exception):
    """The simulated death of a consumer process (raised instead of an ack)."""


class _CrashBeforeAck(StreamLayer):
    """A stream layer whose acks never happen: the process dies after handling and marking."""

    def __init__(self, inner: StreamLayer) -> None:
        super().__init__(inner._core, inner._principal)

    def ack(self, namespace: str, stream: str, group: str, message_ids: Iterable[str]) -> int:
        raise ConsumerCrash(f"crashed before acking {list(message_ids)}")


class StreamMachine(KitMachine):
    """PROP-003: at-least-once delivery under duplicates, timeouts and crash-restarts.

    Consumers c1 and c2 of group ``g`` read and ack by hand, and the model does Jepsen
    total-queue accounting. At teardown the machine waits out the visibility timeout and
    drains the group: nothing acknowledged is lost, nothing unexpected arrives, every
    message is acknowledged once. ``IdempotentConsumerMachine`` adds the consumer helper.
    """

    contract = "PROP-003"
    WITH_CONSUMER: ClassVar[bool] = False
    """Whether an ``IdempotentConsumer`` on group ``h`` also runs (PROP-005)."""
    STREAM = "s"
    GROUP = "g"
    IDEMPOTENT_GROUP = "h"
    TIMEOUT_MS = 1000.0
    MAX_RESTARTS = 3

    def __init__(self, kit: KitSession) -> None:
        super().__init__(kit)
        self.adapter = self.open_adapter()
        caps = self.adapter.capabilities
        self.idempotent_append = caps.idempotent_append
        self.markers = self.WITH_CONSUMER
        self.client = self._connect()
        self.queue = QueueModel()
        self.handled: Counter[str] = Counter()
        self.restarts = 0
        self._payloads = itertools.count(1)

    def _connect(self) -> StorageClient:
        return self.make_client(self.adapter, visibility_timeout_ms=self.TIMEOUT_MS)

    def _restart(self, why: str) -> None:
        """Abandon the adapter instance and client without closing them; open new ones."""
        self.restarts += 1
        self.adapter = self.open_adapter()
        self.client = self._connect()
        self.log(f"restart after {why}: new adapter instance and client")

    # -- checks --------------------------------------------------------------------------

    def check_delivery(self, delivery: Delivery, consumer: str, group: str) -> None:
        """Unexpected = 0 and the payload is the appended one."""
        mid = delivery.message_id
        self.expect(
            mid in self.queue.appended,
            f"{consumer} of {group} got message {mid!r}, which was never appended "
            f"(unexpected message: {delivery})",
        )
        self.expect(
            delivery.payload == self.queue.appended[mid]
            and delivery.sequence == self.queue.sequences[mid],
            f"{consumer} of {group} got {mid} as seq {delivery.sequence} with payload "
            f"{delivery.payload!r}; it was appended as seq {self.queue.sequences[mid]} with "
            f"{self.queue.appended[mid]!r}",
        )
        self.expect(
            (delivery.stream, delivery.group, delivery.consumer) == (self.STREAM, group, consumer),
            f"the delivery names stream/group/consumer {delivery.stream}/{delivery.group}/"
            f"{delivery.consumer}, read as {self.STREAM}/{group}/{consumer}",
        )

    def read_and_check(self, consumer: str, count: int) -> list[Delivery]:
        """A group read by ``consumer``, checked and applied to the model."""
        queue = self.queue
        now = self.now()
        available = queue.available(now)
        batch = self.client.streams.read(self.ns, self.STREAM, self.GROUP, consumer, count=count)
        self.log(
            f"{consumer}.read {self.GROUP} count={count} -> "
            f"{[(d.message_id, d.payload, d.delivery_count) for d in batch]}"
        )
        self.expect(
            len(batch) <= count, f"{consumer} asked for {count} messages and got {len(batch)}"
        )
        self.expect(
            bool(batch) or not available,
            f"{consumer}.read returned nothing although {available} were deliverable "
            "(never delivered, or pending past their visibility timeout)",
        )
        ids = [d.message_id for d in batch]
        self.expect(len(set(ids)) == len(ids), f"one read delivered a message twice: {ids}")
        for delivery in batch:
            self.check_delivery(delivery, consumer, self.GROUP)
            mid = delivery.message_id
            self.expect(
                mid not in queue.acked,
                f"{mid} was acknowledged and must never be delivered again, but {consumer} "
                f"got it (delivery {delivery.delivery_count})",
            )
            held = queue.pending.get(mid)
            self.expect(
                held is None or held.visible_at_ms <= now,
                f"{mid} is held by {held.consumer if held else ''} until "
                f"{self.at(held.visible_at_ms if held else 0)}, yet {consumer} got it at "
                f"{self.at(now)} "
                "(delivered before its visibility timeout)",
            )
            previous = queue.counts.get(mid, 0)
            self.expect(
                delivery.delivery_count == previous + 1,
                f"{mid} came with delivery_count {delivery.delivery_count}; it was delivered "
                f"{previous} times before (the count rises by one per delivery)",
            )
            if mid not in queue.delivered:
                undelivered = [m for m in queue.appended if m not in queue.delivered]
                self.expect(
                    mid == undelivered[0],
                    f"{consumer} got {mid} first-time while {undelivered[0]} was appended "
                    "earlier and never delivered (messages are delivered in append order)",
                )
            queue.delivered.add(mid)
            queue.counts[mid] = delivery.delivery_count
            queue.pending[mid] = Held(consumer, delivery.delivery_count, now + self.TIMEOUT_MS)
        return batch

    def ack_and_check(self, ids: list[str]) -> None:
        queue = self.queue
        wanted = len({mid for mid in ids if mid in queue.pending})
        acked = self.client.streams.ack(self.ns, self.STREAM, self.GROUP, ids)
        self.log(f"ack {self.GROUP} {ids} -> {acked}")
        self.expect(
            acked == wanted,
            f"ack of {ids} returned {acked}; {wanted} of them were delivered and unacknowledged "
            "(repeats and never-delivered ids count zero)",
        )
        for mid in ids:
            if mid in queue.pending:
                del queue.pending[mid]
                queue.acked.add(mid)
        queue.ack_total += acked

    # -- rules -------------------------------------------------------------------------

    def _append(self, idempotency_key: str | None) -> None:
        queue = self.queue
        payload: JSONValue = {"n": next(self._payloads)}
        result = self.client.streams.append(
            self.ns, self.STREAM, payload, idempotency_key=idempotency_key
        )
        label = f" idempotency_key={idempotency_key}" if idempotency_key else ""
        self.log(
            f"append {payload}{label} -> id {result.message_id}"
            f"{' (duplicate)' if result.duplicate else ''}"
        )
        original = queue.idempotency.get(idempotency_key) if idempotency_key else None
        if original is not None:
            self.expect(
                result.duplicate and result.message_id == original,
                f"a repeat of idempotency key {idempotency_key!r} inside the dedupe window must "
                f"return the original id {original} with duplicate=True, got {result}",
            )
            return
        self.expect(
            not result.duplicate and result.message_id not in queue.appended,
            f"a new append returned {result}; ids already used: {list(queue.appended)}",
        )
        queue.appended[result.message_id] = payload
        queue.sequences[result.message_id] = result.sequence
        if idempotency_key:
            queue.idempotency[idempotency_key] = result.message_id

    @rule()
    def append(self) -> None:
        self._append(None)

    @precondition(lambda self: self.idempotent_append)
    @rule(idempotency_key=st.sampled_from(["i1", "i2", "i3"]))
    def append_keyed(self, idempotency_key: str) -> None:
        self._append(idempotency_key)

    @rule(consumer=st.sampled_from(["c1", "c2"]), count=st.integers(1, 3))
    def read(self, consumer: str, count: int) -> None:
        self.read_and_check(consumer, count)

    @precondition(lambda self: bool(self.queue.appended))
    @rule(
        source=st.sampled_from(["pending", "pending", "any"]),
        picks=st.lists(st.integers(0, 15), min_size=1, max_size=3),
    )
    def ack(self, source: str, picks: list[int]) -> None:
        order = self.queue.sequences
        pool = sorted(self.queue.pending if source == "pending" else order, key=order.__getitem__)
        if not pool:
            pool = list(order)
        self.ack_and_check(sorted({pool[i % len(pool)] for i in picks}, key=order.__getitem__))

    @precondition(lambda self: self.spaced("advance", 0))
    @rule(ms=st.sampled_from([1, 999, 1000, 1001]) | st.integers(1, 1500))
    def advance(self, ms: int) -> None:
        self.advance_clock(ms)

    @precondition(lambda self: self.restarts < self.MAX_RESTARTS)
    @rule()
    def crash_restart(self) -> None:
        self._restart("a crash (adapter abandoned, not closed)")

    def _handle(self, delivery: Delivery) -> None:
        self.check_delivery(delivery, delivery.consumer, self.IDEMPOTENT_GROUP)
        self.handled[delivery.message_id] += 1
        self.log(f"  handler({delivery.message_id}) call {self.handled[delivery.message_id]}")
        self.expect(
            self.handled[delivery.message_id] == 1,
            f"the idempotent consumer ran the handler {self.handled[delivery.message_id]} "
            f"times for {delivery.message_id}",
        )

    def poll(self, consumer: str, count: int, crash: bool) -> tuple[int, int] | None:
        """One ``IdempotentConsumer.poll`` on group h; ``crash`` dies before the first ack."""
        view = self.client.as_principal(self.client.principal)
        if crash:
            view.streams = _CrashBeforeAck(view.streams)
        helper = IdempotentConsumer(
            view, self.ns, self.STREAM, self.IDEMPOTENT_GROUP, consumer, self._handle
        )
        before = sum(self.handled.values())
        try:
            ran, skipped = helper.poll(count)
        except ConsumerCrash as crashed:
            self.log(f"{consumer}.poll {self.IDEMPOTENT_GROUP} count={count} -> {crashed}")
            self._restart(f"{consumer} died between marking and acking")
            return None
        self.log(
            f"{consumer}.poll {self.IDEMPOTENT_GROUP} count={count} -> ran {ran}, skipped {skipped}"
        )
        calls = sum(self.handled.values()) - before
        self.expect(ran == calls, f"poll reported {ran} handled, the handler ran {calls} times")
        return ran, skipped

    @precondition(lambda self: self.markers)
    @rule(
        consumer=st.sampled_from(["c1", "c2"]),
        count=st.integers(1, 3),
        crash=st.booleans(),
    )
    def idempotent_poll(self, consumer: str, count: int, crash: bool) -> None:
        self.poll(consumer, count, crash and self.restarts < self.MAX_RESTARTS)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def log_holds_every_append(self) -> None:
        stored = self.kit.backdoor(self.adapter).stream_messages(self.ns, self.STREAM)
        found = [(m.sequence, json.loads(m.payload)) for m in stored]
        wanted = [(self.queue.sequences[mid], p) for mid, p in self.queue.appended.items()]
        self.expect(
            found == wanted,
            f"the stream log holds {found}; the acknowledged appends were {wanted}",
        )

    @invariant()
    def checkpoint_matches_model(self) -> None:
        state = self.client.streams.checkpoint(self.ns, self.STREAM, self.GROUP)
        queue = self.queue
        pending = {
            seq: Held(p.consumer, p.deliveries, p.visible_at_ms) for seq, p in state.pending.items()
        }
        wanted = {queue.sequences[mid]: held for mid, held in queue.pending.items()}
        self.expect(
            pending == wanted,
            f"the durable checkpoint holds pending {self._pending_text(pending)}, the model "
            f"expects {self._pending_text(wanted)} (seq: holder, deliveries, visible again at)",
        )
        acked = set(range(1, state.floor + 1)) | set(state.acked)
        wanted_acked = {queue.sequences[mid] for mid in queue.acked}
        self.expect(
            acked == wanted_acked,
            f"the durable checkpoint records acked sequences {sorted(acked)}, the model "
            f"expects {sorted(wanted_acked)}",
        )

    def _pending_text(self, pending: dict[int, Held]) -> str:
        return str(
            {
                seq: f"{held.consumer}, {held.deliveries}, {self.at(held.visible_at_ms)}"
                for seq, held in sorted(pending.items())
            }
        )

    # -- the final accounting ------------------------------------------------------------

    def teardown(self) -> None:
        try:
            if sys.exc_info()[1] is None:
                self.drain_and_account()
        finally:
            super().teardown()

    def drain_and_account(self) -> None:
        """Wait out the visibility timeout, drain both groups, and check the totals."""
        queue = self.queue
        self.clock.advance(self.TIMEOUT_MS)
        self.log(f"final drain: clock +{self.TIMEOUT_MS:g} ms -> {self.at(self.now())}")
        for _ in range(2 * len(queue.appended) + 2):
            batch = self.read_and_check("c1", 10)
            if not batch:
                break
            self.ack_and_check([d.message_id for d in batch])
        lost = [mid for mid in queue.appended if mid not in queue.delivered]
        self.expect(not lost, f"lost messages (appended, never delivered): {lost}")
        unacked = [mid for mid in queue.appended if mid not in queue.acked]
        self.expect(not unacked, f"the drain left messages unacknowledged: {unacked}")
        self.expect(
            queue.ack_total == len(queue.appended),
            f"acks returned {queue.ack_total} in total for {len(queue.appended)} messages "
            "(each message is acknowledged exactly once)",
        )
        if not self.markers:
            return
        for _ in range(2 * len(queue.appended) + 2):
            outcome = self.poll("c1", 10, False)
            if outcome == (0, 0):
                break
        calls = {mid: self.handled[mid] for mid in queue.appended}
        self.expect(
            all(n == 1 for n in calls.values()) and set(self.handled) <= set(queue.appended),
            f"the idempotent consumer must handle every message once; handler calls: {calls}",
        )


class IdempotentConsumerMachine(StreamMachine):
    """PROP-005: the stream machine plus an ``IdempotentConsumer`` on group ``h`` whose
    handler must run once per message id through crashes between handling and acking."""

    contract = "PROP-005"
    WITH_CONSUMER = True
