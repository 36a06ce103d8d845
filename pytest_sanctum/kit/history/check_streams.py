"""Checks a history of stream operations: appends, group reads and acks (ADR-001 Streams).

The accounting follows Jepsen's total-queue checker, per stream and group: every
acknowledged append must be delivered to every group that read the stream (lost
otherwise), every delivery must carry the payload appended at its sequence (garbage
otherwise), and duplicates are allowed only as ADR-001 allows them: a redelivery after the
visibility timeout, never two holders at once and never after an acknowledged ack.
Sequences must be unique and, over the run, 1, 2, 3, ... without gaps; one idempotency
key appends one message per dedupe window. Appends and reads whose outcome is unknown
may or may not have happened.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from pytest_sanctum.kit.history.record import STREAM_KINDS, History, Operation
from pytest_sanctum.kit.history.verdict import Anomaly


class _Stream:
    """The operations of one stream."""

    def __init__(self, stream: str, ops: list[Operation], history: History) -> None:
        self.stream = stream
        self.ops = ops
        self.settings = history.settings
        self.anomalies: list[Anomaly] = []
        self.appends = [op for op in ops if op.kind == "append"]
        self.reads = [op for op in ops if op.kind == "read" and op.outcome == "ok"]
        self.acks = [op for op in ops if op.kind == "ack" and op.outcome == "ok"]

    def flag(self, kind: str, message: str, ops: list[Operation]) -> None:
        self.anomalies.append(
            Anomaly(kind, self.stream, message, tuple(sorted({op.index for op in ops})))
        )

    def check_sequences(self) -> dict[int, Operation]:
        """Acknowledged appends have unique sequences; returns sequence → its append."""
        by_sequence: dict[int, Operation] = {}
        for op in self.appends:
            if op.outcome != "ok" or op.duplicate or op.sequence is None:
                continue
            other = by_sequence.get(op.sequence)
            if other is not None:
                self.flag(
                    "duplicate-sequence",
                    f"appends [{other.index}] {other.tag} and [{op.index}] {op.tag} were both "
                    f"acknowledged as sequence {op.sequence}",
                    [other, op],
                )
                continue
            by_sequence[op.sequence] = op
        return by_sequence

    def check_payloads(self, by_sequence: dict[int, Operation]) -> None:
        """A delivery carries the payload appended at its sequence (or an unknown append's)."""
        tags = {op.tag: op for op in self.appends if op.outcome != "fail"}
        for read in self.reads:
            for sequence, tag, _count in read.deliveries:
                append = by_sequence.get(sequence)
                own = tags.get(tag)
                if own is None:
                    problem = "which no append carried"
                elif append is not None and append is not own and not _same_key(append, own):
                    problem = f"but [{append.index}] appended {append.tag} there"
                elif own.outcome == "ok" and not own.duplicate and own.sequence != sequence:
                    problem = f"but [{own.index}] appended it as sequence {own.sequence}"
                else:
                    continue
                self.flag(
                    "garbage-message",
                    f"read [{read.index}] got {tag} at sequence {sequence}, {problem}",
                    [read, *[op for op in (append, own) if op is not None]],
                )
                return

    def check_gaps(self) -> None:
        """The sequences seen over the run are 1..max."""
        seen = {op.sequence for op in self.appends if op.outcome == "ok" and op.sequence}
        for read in self.reads:
            seen.update(sequence for sequence, _, _ in read.deliveries)
        if not seen:
            return
        missing = sorted(set(range(1, max(seen) + 1)) - seen)
        drained = [r for r in self.reads if r.client == "drain"]
        if missing and drained:
            self.flag(
                "sequence-gap",
                f"sequences {missing[:10]} of 1..{max(seen)} were never appended or delivered",
                drained[:1],
            )

    def check_delivered(self) -> None:
        """Every acknowledged append reached every group that drained the stream."""
        groups = sorted({r.group for r in self.reads if r.client == "drain" and r.group})
        tags: dict[str, set[str | None]] = defaultdict(set)
        sequences: dict[str, set[int]] = defaultdict(set)
        for read in self.reads:
            for sequence, tag, _ in read.deliveries:
                tags[read.group or ""].add(tag)
                sequences[read.group or ""].add(sequence)
        for group in groups:
            for op in self.appends:
                if op.outcome != "ok" or op.sequence is None:
                    continue
                # A duplicate's own payload was never stored: its original's sequence counts.
                if (op.sequence if op.duplicate else op.tag) not in (
                    sequences[group] if op.duplicate else tags[group]
                ):
                    self.flag(
                        "lost-message",
                        f"append [{op.index}] {op.tag} (sequence {op.sequence}) was "
                        f"acknowledged but group {group} never received it",
                        [op],
                    )
                    break

    def check_idempotency(self) -> None:
        """One message per idempotency key per dedupe window, whichever node appended."""
        by_key: dict[str, list[Operation]] = defaultdict(list)
        for op in self.appends:
            if op.idempotency_key is not None and op.outcome != "fail":
                by_key[op.idempotency_key].append(op)
        delivered: dict[str | None, set[int]] = defaultdict(set)
        for read in self.reads:
            for sequence, tag, _ in read.deliveries:
                delivered[tag].add(sequence)
        window = self.settings.dedupe_window_ms
        for key, ops in by_key.items():
            ops.sort(key=lambda op: op.invoke_ms)
            first = ops[0]
            within = [op for op in ops if op.complete_ms - first.invoke_ms < window]
            sequences: dict[int, Operation] = {}
            for op in within:
                found = set(delivered.get(op.tag, set()))
                if op.outcome == "ok" and op.sequence is not None:
                    found.add(op.sequence)
                for sequence in found:
                    sequences.setdefault(sequence, op)
            if len(sequences) > 1:
                self.flag(
                    "duplicate-idempotent-append",
                    f"idempotency key {key} appended {len(sequences)} messages within one "
                    f"dedupe window: sequences {sorted(sequences)}",
                    list(sequences.values()),
                )

    def check_holders(self) -> None:
        """No message is held twice before its timeout, nor delivered after an ack."""
        timeout = self.settings.visibility_timeout_ms
        held: dict[tuple[str, int], list[tuple[int, Operation]]] = defaultdict(list)
        for read in self.reads:
            for sequence, _, count in read.deliveries:
                held[(read.group or "", sequence)].append((count, read))
        for (group, sequence), deliveries in held.items():
            deliveries.sort(key=lambda item: (item[0], item[1].invoke_ns))
            for (count1, first), (count2, second) in itertools.pairwise(deliveries):
                if count1 == count2:
                    why = "with the same delivery count"
                elif second.complete_ms < first.invoke_ms + timeout:
                    why = f"before its {timeout:g} ms visibility timeout had passed"
                else:
                    continue
                self.flag(
                    "double-delivery",
                    f"group {group} got sequence {sequence} in read [{first.index}] "
                    f"(delivery {count1}) and in read [{second.index}] (delivery {count2}) {why}",
                    [first, second],
                )
                break
        acked: dict[tuple[str, int], Operation] = {}
        for ack in self.acks:
            if ack.count and ack.sequence is not None:
                slot = (ack.group or "", ack.sequence)
                if slot not in acked or ack.complete_ns < acked[slot].complete_ns:
                    acked[slot] = ack
        for read in self.reads:
            for sequence, _, _ in read.deliveries:
                first_ack = acked.get((read.group or "", sequence))
                if first_ack is not None and first_ack.complete_ns < read.invoke_ns:
                    self.flag(
                        "redelivered-after-ack",
                        f"read [{read.index}] got sequence {sequence} of group {read.group} "
                        f"after ack [{first_ack.index}] of it had been acknowledged",
                        [first_ack, read],
                    )
                    return

    def run(self) -> list[Anomaly]:
        by_sequence = self.check_sequences()
        self.check_payloads(by_sequence)
        self.check_gaps()
        self.check_delivered()
        self.check_idempotency()
        self.check_holders()
        return self.anomalies


def _same_key(one: Operation, other: Operation) -> bool:
    """Whether two appends carried the same idempotency key (one may be the other's repeat)."""
    return one.idempotency_key is not None and one.idempotency_key == other.idempotency_key


def check_streams(history: History) -> list[Anomaly]:
    """Every anomaly of the stream operations of ``history``, stream by stream."""
    by_stream: dict[str, list[Operation]] = defaultdict(list)
    for op in history.operations:
        if op.kind in STREAM_KINDS:
            by_stream[op.key].append(op)
    anomalies: list[Anomaly] = []
    for stream, ops in by_stream.items():
        anomalies += _Stream(stream, ops, history).run()
    return anomalies
