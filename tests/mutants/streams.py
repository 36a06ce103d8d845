"""Mutants of the stream log and the consumer-group checkpoint store."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mutants.base import (
    Mutated,
    Wrap,
    adapter_mutant,
    basic_memory,
    swap,
    swap_full,
)
from pytest_sanctum.clock import Clock
from pytest_sanctum.types import (
    AppendResult,
    GroupCheckpoint,
    GroupPending,
    StoredMessage,
)
from reference_adapters.memory import (
    MemoryBatchStreamLog,
    MemoryCheckpointStore,
    MemoryGroupStore,
    MemoryServer,
    create_memory_adapter,
)

# -- streams ---------------------------------------------------------------------------


class _ReadReversed(Wrap):
    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        return self.inner.read(namespace, stream, after=after, limit=limit)[::-1]  # type: ignore[no-any-return]


class _ReadLosesEveryThird(Wrap):
    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        found = self.inner.read(namespace, stream, after=after, limit=limit)
        return [message for message in found if message.sequence % 3]


class _ReadDuplicates(Wrap):
    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        found = self.inner.read(namespace, stream, after=after, limit=limit)
        return [copy for message in found for copy in (message, message)][:limit]


class _ReadOffByOne(Wrap):
    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        return self.inner.read(namespace, stream, after=max(after - 1, 0), limit=limit)  # type: ignore[no-any-return]


@adapter_mutant("STR-001")
def stream_read_reversed(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stream reads return a batch newest first."""
    return swap(options, clock, _ReadReversed, "streams")


@adapter_mutant("STR-001", "PROP-003")
def stream_loses_every_third(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Every third message of a stream is never read back."""
    return swap(options, clock, _ReadLosesEveryThird, "streams")


@adapter_mutant("STR-001")
def stream_read_duplicates(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stream reads return every message twice."""
    return swap(options, clock, _ReadDuplicates, "streams")


@adapter_mutant("STR-001", "STR-002", "STR-004")
def stream_read_after_off_by_one(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``read(after=n)`` starts at sequence ``n`` instead of ``n + 1``."""
    return swap(options, clock, _ReadOffByOne, "streams")


class _IgnoresIdempotency(Wrap):
    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        options["idempotency_key"] = None
        return self.inner.append(namespace, stream, payload, **options)


class _DedupeForever(Wrap):
    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        options["dedupe_window_ms"] = math.inf
        return self.inner.append(namespace, stream, payload, **options)


class _DedupeByStream(Wrap):
    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        if options.get("idempotency_key") is not None:
            options["idempotency_key"] = "*"
        return self.inner.append(namespace, stream, payload, **options)


@adapter_mutant("STR-006")
def dedupe_ignores_the_key(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Any two keyed appends to a stream within the window are duplicates, whatever the key."""
    return swap(options, clock, _DedupeByStream, "streams")


@adapter_mutant("STR-006")
def ignores_idempotency_key(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Declares ``idempotent_append`` but appends every repeat."""
    return swap(options, clock, _IgnoresIdempotency, "streams")


@adapter_mutant("STR-006")
def dedupe_window_never_expires(options: Mapping[str, object], clock: Clock) -> Mutated:
    """An idempotency key deduplicates forever instead of for the window."""
    return swap(options, clock, _DedupeForever, "streams")


class _DedupeWindowPerStream(Wrap):
    """Keeps a stream's idempotency keys in one set whose expiry every new keyed append
    renews, as a Redis set refreshed with EXPIRE on each append would."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.keys: dict[tuple[str, str], tuple[dict[str, int], float]] = {}

    def append(
        self,
        namespace: str,
        stream: str,
        payload: bytes,
        *,
        idempotency_key: str | None = None,
        dedupe_window_ms: float = 0.0,
        now_ms: float = 0.0,
    ) -> AppendResult:
        if idempotency_key is None:
            return self.inner.append(namespace, stream, payload, now_ms=now_ms)  # type: ignore[no-any-return]
        seen, renewed_at = self.keys.get((namespace, stream), ({}, -math.inf))
        if now_ms - renewed_at >= dedupe_window_ms:
            seen = {}
        if idempotency_key in seen:
            sequence = seen[idempotency_key]
            return AppendResult(str(sequence), sequence, duplicate=True)
        result: AppendResult = self.inner.append(namespace, stream, payload, now_ms=now_ms)
        seen[idempotency_key] = result.sequence
        self.keys[(namespace, stream)] = (seen, now_ms)
        return result


@adapter_mutant("STR-020")
def dedupe_window_renewed_by_other_keys(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A stream's idempotency keys expire together, a window after the stream's latest keyed append."""
    return swap(options, clock, _DedupeWindowPerStream, "streams")


class _TrimmedTo256(Wrap):
    """Keeps only the latest 256 messages of each stream, as ``XADD ... MAXLEN 256`` would."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.last: dict[tuple[str, str], int] = {}

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> AppendResult:
        result: AppendResult = self.inner.append(namespace, stream, payload, **options)
        self.last[(namespace, stream)] = max(self.last.get((namespace, stream), 0), result.sequence)
        return result

    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        trimmed = self.last.get((namespace, stream), 0) - 256
        return self.inner.read(namespace, stream, after=max(after, trimmed), limit=limit)  # type: ignore[no-any-return]


@adapter_mutant("STR-021")
def stream_trimmed_to_256(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Each stream keeps its latest 256 messages: older ones are lost before any group read them."""
    return swap(options, clock, _TrimmedTo256, "streams")


# -- checkpoints -----------------------------------------------------------------------


class _NoCompareAndSet(Wrap):
    """Saves whatever revision it is given; loads take a network round trip."""

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        state: GroupCheckpoint = self.inner.load(namespace, stream, group)
        time.sleep(0.005)
        return state

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        stored = self.inner.load(namespace, stream, group).revision
        return self.inner.save(namespace, stream, group, checkpoint._replace(revision=stored))  # type: ignore[no-any-return]


class _DropsPending(Wrap):
    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        emptied = checkpoint._replace(pending=MappingProxyType({}))
        return self.inner.save(namespace, stream, group, emptied)  # type: ignore[no-any-return]


class _VisibleAtOnce(Wrap):
    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        pending = {
            sequence: GroupPending(entry.consumer, entry.deliveries, 0.0)
            for sequence, entry in checkpoint.pending.items()
        }
        return self.inner.save(  # type: ignore[no-any-return]
            namespace, stream, group, checkpoint._replace(pending=MappingProxyType(pending))
        )


class _NeverDue(Wrap):
    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        never = checkpoint._replace(next_visible_ms=math.inf)
        return self.inner.save(namespace, stream, group, never)  # type: ignore[no-any-return]


class _ForgetsAcks(Wrap):
    """Merges saved pending deliveries into every save, so acked ones come back."""

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        stored = self.inner.load(namespace, stream, group)
        pending = {**stored.pending, **checkpoint.pending}
        return self.inner.save(  # type: ignore[no-any-return]
            namespace, stream, group, checkpoint._replace(pending=MappingProxyType(pending))
        )


class _OneGroup(Wrap):
    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        return self.inner.load(namespace, stream, "*")  # type: ignore[no-any-return]

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        return self.inner.save(namespace, stream, "*", checkpoint)  # type: ignore[no-any-return]


@adapter_mutant("STR-007")
def checkpoint_without_cas(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoint saves ignore the revision (last writer wins)."""
    return swap(options, clock, _NoCompareAndSet, "checkpoints")


@adapter_mutant("STR-005", "PROP-003")
def checkpoint_not_durable(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Declares ``durable_checkpoints`` but keeps them in the adapter instance (lost on reopen)."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, checkpoints=MemoryCheckpointStore(MemoryServer("not-durable")))


@adapter_mutant("STR-002", "STR-005")
def checkpoint_drops_pending(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoint saves silently drop the pending deliveries (no redelivery)."""
    return swap(options, clock, _DropsPending, "checkpoints")


@adapter_mutant("STR-003", "STR-007")
def checkpoint_visible_at_once(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoint saves drop the visibility timeouts: pending messages are due at once."""
    return swap(options, clock, _VisibleAtOnce, "checkpoints")


@adapter_mutant("STR-002", "STR-003", "STR-005")
def checkpoint_never_due(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoint saves store ``next_visible_ms`` as infinity: the facade never looks for
    expired deliveries, so nothing is redelivered."""
    return swap(options, clock, _NeverDue, "checkpoints")


@adapter_mutant("STR-004")
def checkpoint_forgets_acks(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoint saves keep deliveries pending after they were acked."""
    return swap(options, clock, _ForgetsAcks, "checkpoints")


@adapter_mutant("STR-008")
def checkpoint_ignores_group(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Every consumer group of a stream shares one checkpoint."""
    return swap(options, clock, _OneGroup, "checkpoints")


# -- groups kept per delivery (GroupStore) ----------------------------------------------


class _ClaimFromAStaleCursor(Wrap):
    """Reads the group's cursor, waits a round trip, then claims from what it read: two
    consumers claiming together both take the messages after the same cursor."""

    def claim(self, namespace: str, stream: str, group: str, consumer: str, **options: Any) -> Any:
        cursor = self.inner.load(namespace, stream, group).cursor
        time.sleep(0.005)
        with self.inner._lock:
            found = self.inner._groups.get(namespace, {}).get((stream, group))
            if found is not None:
                found.cursor = cursor  # the blind write of a value read before
            return self.inner.claim(namespace, stream, group, consumer, **options)


class _ClaimKeepsNothingPending(Wrap):
    def claim(self, namespace: str, stream: str, group: str, consumer: str, **options: Any) -> Any:
        claimed = self.inner.claim(namespace, stream, group, consumer, **options)
        self.inner.ack(namespace, stream, group, [c.sequence for c in claimed])
        return claimed


class _ClaimVisibleAtOnce(Wrap):
    def claim(self, namespace: str, stream: str, group: str, consumer: str, **options: Any) -> Any:
        options["visible_at_ms"] = options["now_ms"]
        return self.inner.claim(namespace, stream, group, consumer, **options)


class _ClaimNeverRedelivers(Wrap):
    def claim(self, namespace: str, stream: str, group: str, consumer: str, **options: Any) -> Any:
        options["now_ms"] = -math.inf  # nothing is ever due
        return self.inner.claim(namespace, stream, group, consumer, **options)


class _AckKeepsPending(Wrap):
    def ack(self, namespace: str, stream: str, group: str, sequences: Any) -> int:
        pending = self.inner.load(namespace, stream, group).pending
        return sum(1 for sequence in set(sequences) if sequence in pending)


class _OneGroupStore(Wrap):
    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        return self.inner.load(namespace, stream, "*")  # type: ignore[no-any-return]

    def claim(self, namespace: str, stream: str, group: str, consumer: str, **options: Any) -> Any:
        return self.inner.claim(namespace, stream, "*", consumer, **options)

    def ack(self, namespace: str, stream: str, group: str, sequences: Any) -> int:
        return self.inner.ack(namespace, stream, "*", sequences)  # type: ignore[no-any-return]


@adapter_mutant("STR-007")
def group_claims_race(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Group claims are not atomic: a claim writes back a cursor it read a round trip ago."""
    return swap_full(options, clock, _ClaimFromAStaleCursor, "checkpoints")


@adapter_mutant("STR-005", "PROP-003")
def group_store_not_durable(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Declares ``durable_checkpoints`` but keeps groups in the adapter instance."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, checkpoints=MemoryGroupStore(MemoryServer("not-durable")))


@adapter_mutant("STR-002", "STR-005")
def group_claim_keeps_nothing_pending(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Claims hand messages out without keeping them pending (no redelivery)."""
    return swap_full(options, clock, _ClaimKeepsNothingPending, "checkpoints")


@adapter_mutant("STR-003", "STR-007")
def group_claim_visible_at_once(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Claims ignore the visibility deadline: a claimed message is due again at once."""
    return swap_full(options, clock, _ClaimVisibleAtOnce, "checkpoints")


@adapter_mutant("STR-002", "STR-003", "STR-005")
def group_claim_never_redelivers(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Claims never look at due deliveries: an unacked message is never delivered again."""
    return swap_full(options, clock, _ClaimNeverRedelivers, "checkpoints")


@adapter_mutant("STR-004")
def group_ack_keeps_pending(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Acks count what was pending but remove nothing, so acked messages come back."""
    return swap_full(options, clock, _AckKeepsPending, "checkpoints")


@adapter_mutant("STR-008")
def group_store_ignores_group(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Every consumer group of a stream shares one group state."""
    return swap_full(options, clock, _OneGroupStore, "checkpoints")


class _RevisionAdjusted(Wrap):
    """Shows each group's revision moved by ``adjust`` per call that ``counts``."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.moved: dict[tuple[str, str, str], int] = {}

    def note(self, namespace: str, stream: str, group: str, step: int) -> None:
        group_id = (namespace, stream, group)
        self.moved[group_id] = self.moved.get(group_id, 0) + step

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        found: GroupCheckpoint = self.inner.load(namespace, stream, group)
        return found._replace(
            revision=found.revision + self.moved.get((namespace, stream, group), 0)
        )


class _EveryClaimRaisesTheRevision(_RevisionAdjusted):
    """A claim raises the revision even when it hands nothing out (an unconditional
    ``SET revision = revision + 1``)."""

    def claim(self, namespace: str, stream: str, group: str, consumer: str, **options: Any) -> Any:
        claimed = self.inner.claim(namespace, stream, group, consumer, **options)
        if not claimed:
            self.note(namespace, stream, group, 1)
        return claimed


class _AckKeepsTheRevision(_RevisionAdjusted):
    """An ack removes pending deliveries without raising the revision."""

    def ack(self, namespace: str, stream: str, group: str, sequences: Any) -> int:
        done: int = self.inner.ack(namespace, stream, group, sequences)
        if done:
            self.note(namespace, stream, group, -1)
        return done


class _RedeliveryKeepsTheRevision(_RevisionAdjusted):
    """A claim that only hands out deliveries due again leaves the revision as it was
    (only a moved cursor raises it)."""

    def claim(self, namespace: str, stream: str, group: str, consumer: str, **options: Any) -> Any:
        claimed = self.inner.claim(namespace, stream, group, consumer, **options)
        if claimed and all(c.deliveries > 1 for c in claimed):
            self.note(namespace, stream, group, -1)
        return claimed


@adapter_mutant("STR-030")
def group_revision_kept_by_redeliveries(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Claims that only redeliver leave the group's revision as it was."""
    return swap_full(options, clock, _RedeliveryKeepsTheRevision, "checkpoints")


@adapter_mutant("STR-030")
def group_revision_raised_by_empty_claims(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Every claim raises the group's revision, even one with nothing to hand out."""
    return swap_full(options, clock, _EveryClaimRaisesTheRevision, "checkpoints")


@adapter_mutant("STR-030")
def group_revision_kept_by_acks(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Acks remove pending deliveries but leave the group's revision as it was."""
    return swap_full(options, clock, _AckKeepsTheRevision, "checkpoints")


class _DueScanWindow(Wrap):
    """Looks for due deliveries among the 32 lowest pending sequences only (a bounded scan
    in sequence order instead of an index on deadlines)."""

    def claim(self, namespace: str, stream: str, group: str, consumer: str, **options: Any) -> Any:
        pending = self.inner.load(namespace, stream, group).pending
        window = sorted(pending)[:32]
        if not any(pending[sequence].visible_at_ms <= options["now_ms"] for sequence in window):
            options["now_ms"] = -math.inf  # nothing due in the window: nothing is redelivered
        return self.inner.claim(namespace, stream, group, consumer, **options)


@adapter_mutant("STR-031")
def group_due_scan_window(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A claim finds due deliveries only among the 32 lowest pending sequences."""
    return swap_full(options, clock, _DueScanWindow, "checkpoints")


# -- batched log reads (BatchStreamLog) ------------------------------------------------


class _ReadSequencesLosesTheFirst(Wrap):
    def read_sequences(self, namespace: str, stream: str, sequences: Any) -> Any:
        return self.inner.read_sequences(namespace, stream, sequences)[1:]


@adapter_mutant("STR-002", "STR-003")
def read_sequences_loses_the_first(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A ``CheckpointStore`` adapter whose batched log read leaves out the first sequence
    asked for: that redelivery is dropped as if its message had left the log."""
    inner = basic_memory(options, clock)
    return Mutated(inner, streams=_ReadSequencesLosesTheFirst(MemoryBatchStreamLog(inner.server)))


# -- delivery details ------------------------------------------------------------------


class _ReadIgnoresLimit(Wrap):
    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        return self.inner.read(namespace, stream, after=after, limit=1 << 30)  # type: ignore[no-any-return]


class _DeliveryCountCapped(Wrap):
    """Stores "redelivered" as a flag: every delivery after the first counts 2."""

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        pending = {
            sequence: entry._replace(deliveries=min(entry.deliveries, 2))
            for sequence, entry in checkpoint.pending.items()
        }
        capped = checkpoint._replace(pending=MappingProxyType(pending))
        return self.inner.save(namespace, stream, group, capped)  # type: ignore[no-any-return]


class _PrunesByOwnWindow(Wrap):
    """Forgets idempotency keys older than the window of the append at hand."""

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        result = self.inner.append(namespace, stream, payload, **options)
        if options.get("idempotency_key") is not None:
            horizon = options.get("now_ms", 0.0) - options.get("dedupe_window_ms", 0.0)
            entries = self.inner._idempotency.entries
            for entry in [e for e, (_, first) in entries.items() if first <= horizon]:
                del entries[entry]
        return result


class _LongestWindowForAll(Wrap):
    """Judges every append by the longest dedupe window any append to the server has brought
    (which the memory index keeps to know when to forget keys)."""

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        longest = self.inner._idempotency.longest_window_ms
        options["dedupe_window_ms"] = max(longest, options.get("dedupe_window_ms", 0.0))
        return self.inner.append(namespace, stream, payload, **options)


@adapter_mutant("STR-009")
def stream_read_ignores_limit(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stream reads return every message after the cursor, whatever the limit."""
    return swap(options, clock, _ReadIgnoresLimit, "streams")


@adapter_mutant("STR-010")
def delivery_count_capped(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoints keep only whether a message was redelivered: counts stop at 2."""
    return swap(options, clock, _DeliveryCountCapped, "checkpoints")


@adapter_mutant("STR-013")
def dedupe_prunes_by_own_window(options: Mapping[str, object], clock: Clock) -> Mutated:
    """An append forgets every idempotency key older than its own client's window."""
    return swap(options, clock, _PrunesByOwnWindow, "streams")


@adapter_mutant("STR-013")
def dedupe_judged_by_longest_window(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Every append is judged by the longest window seen, not its own client's."""
    return swap(options, clock, _LongestWindowForAll, "streams")
