"""Checks a history of versioned-object operations against ADR-001, key by key.

Versions give every key's states a known total order (``v1 < deleted-after-v1 < v2 ...``),
so no search over interleavings is needed (Gibbons and Korach: with a known write order,
checking a register is polynomial). Each state's *cluster* is the operation that created
it and every operation that observed it. A history is linearizable for that order exactly
when no operation of a later cluster completed before an operation of an earlier cluster
was invoked, and no read completed before the write it observed was invoked: one pass
over the clusters in version order, keeping the latest invocation seen so far.

Relaxations, per read: a read that may be served from a cache has its invocation moved
earlier by the staleness it is allowed (Golab et al.'s Δ-atomicity: the staleness budget
for strong reads, the TTL for eventual ones, plus the *fill slack*: a fill is stamped after
the backend read that fetched it, so the value may be as old as the longest read on the
same node that could have fetched it, one invoked before a later state was known to exist
or one whose outcome is unknown). On an adapter without
``read_after_write`` reads may lag by any amount, and only a client's own writes bind its
strong reads. A read of a missing key cannot name the delete it saw, so it is accepted
when some absent state could have been current during it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable

from pytest_sanctum.kit.history.record import OBJECT_KINDS, History, HistorySettings, Operation
from pytest_sanctum.kit.history.verdict import Anomaly

State = tuple[int, int]
"""``(version, 0)``: version live; ``(version, 1)``: deleted after version; ``(0, 1)``: never written."""

_NEVER: State = (0, 1)
_INF = math.inf


def _ret(op: Operation) -> float:
    """When ``op`` completed; never, for an operation whose outcome is unknown."""
    return op.complete_ns if op.outcome == "ok" else _INF


def _describe_state(state: State) -> str:
    if state == _NEVER:
        return "never written"
    return f"v{state[0]}" if state[1] == 0 else f"deleted after v{state[0]}"


class _Slack:
    """How much earlier than its invocation a read may have observed its value (ns)."""

    def __init__(self, settings: HistorySettings) -> None:
        self.settings = settings
        self.reads: dict[tuple[str, State | None], list[Operation]] = defaultdict(list)
        """(node, state read) -> the reads on that node that returned that state."""
        self.unknown: dict[str, list[Operation]] = defaultdict(list)
        """node -> its reads whose outcome is unknown (they may have filled the cache)."""
        self.fills: dict[tuple[str, State | None], float] = {}
        """(node, state) -> the longest read on that node that may have filled the state."""

    def note_read(self, op: Operation, state: State | None) -> None:
        """Remember ``op`` as a read that may have filled its node's cache with ``state``."""
        self.reads[(op.node, state)].append(op)

    def note_unknown_read(self, op: Operation) -> None:
        """Remember ``op`` as a read that failed after it may have filled its node's cache."""
        self.unknown[op.node].append(op)

    def settle(self, superseded: dict[State, float]) -> None:
        """Work out the fills, once ``superseded`` gives, per state, when a later state was
        known to exist (the earliest completion of an operation that wrote or saw one).

        A read invoked after that could not have fetched the state from a backend with
        ``read_after_write``: it served a cached entry, and is no candidate for the fill.
        """
        for (node, state), ops in self.reads.items():
            limit = _INF if state is None else superseded.get(state, _INF)
            candidates = [*ops, *self.unknown.get(node, [])]
            self.fills[(node, state)] = max(
                (float(op.complete_ns - op.invoke_ns) for op in candidates if op.invoke_ns < limit),
                default=0.0,
            )

    def backend_only(self, op: Operation) -> bool:
        """Whether ``op`` certainly read the backend, never a cache entry."""
        if op.kind != "get":
            return True
        return (
            op.bypass
            or (op.level == "strong" and op.if_match is not None)
            or (not self.settings.cached)
        )

    def of(self, op: Operation, state: State | None = None) -> tuple[float, str]:
        """``(slack_ns, anomaly kind)`` of an observation ``op`` of ``state`` that is too stale.

        A cached entry is stamped when its fill is stored, after the read that fetched it
        from the backend: the value may be as old as the longest read on the node that
        returned the same state.
        """
        s = self.settings
        if not s.read_after_write:
            return _INF, "stale-read"
        if self.backend_only(op):
            return 0.0, "stale-read"
        if not s.real_clock:
            return _INF, "stale-read"
        fill = self.fills.get((op.node, state), 0.0)
        if op.level == "strong":
            return s.staleness_budget_ms * 1e6 + fill, "stale-read-beyond-delta"
        return s.ttl_ms * 1e6 + fill, "stale-read-beyond-ttl"


class _Key:
    """The operations of one key, sorted into states and observations."""

    def __init__(self, key: str, ops: list[Operation], slack: _Slack) -> None:
        self.key = key
        self.ops = ops
        self.slack = slack
        self.anomalies: list[Anomaly] = []
        self.creators: dict[State, list[Operation]] = defaultdict(list)
        self.observations: dict[State, list[Operation]] = defaultdict(list)
        self.absent: list[Operation] = []
        self.unknown_deletes: list[Operation] = []
        self.etags: dict[str, int] = {}

    def flag(self, kind: str, message: str, ops: Iterable[Operation]) -> None:
        self.anomalies.append(
            Anomaly(kind, self.key, message, tuple(sorted({op.index for op in ops})))
        )

    # -- sorting operations into states ------------------------------------------------

    def sort(self) -> None:
        written: dict[str, Operation] = {}
        for op in self.ops:
            if op.kind in ("put", "cas", "create") and op.tag is not None:
                written[op.tag] = op
        for op in self.ops:
            if op.kind in ("put", "cas", "create"):
                if op.outcome == "ok" and op.version is not None:
                    self.creators[(op.version, 0)].append(op)
                    if op.etag is not None:
                        self.etags[op.etag] = op.version
                elif op.outcome == "fail" and op.version is not None:
                    self.observations[(op.version, 0)].append(op)  # the refusal saw it
            elif op.kind == "delete":
                if op.outcome == "ok" and op.version is not None:
                    self.creators[(op.version, 1)].append(op)
                elif op.outcome == "ok" or op.outcome == "info":
                    self.unknown_deletes.append(op)
                elif op.error == "not_found":
                    self.absent.append(op)
                elif op.outcome == "fail" and op.version is not None:
                    self.observations[(op.version, 0)].append(op)
            elif op.kind == "get" and op.outcome == "ok":
                self._sort_read(op, written)
            elif op.kind == "get" and op.outcome == "info":
                self.slack.note_unknown_read(op)

    def _sort_read(self, op: Operation, written: dict[str, Operation]) -> None:
        if op.tag is None:
            self.absent.append(op)
            self.slack.note_read(op, None)
            return
        write = written.get(op.tag)
        if write is None or write.outcome == "fail":
            why = "no write" if write is None else f"only the refused write [{write.index}]"
            self.flag(
                "garbage-read",
                f"read [{op.index}] returned payload {op.tag}, which {why} carried",
                [op] + ([write] if write else []),
            )
            return
        if op.version is None:
            return
        if write.outcome == "ok" and (
            write.version != op.version or (op.etag is not None and write.etag != op.etag)
        ):
            self.flag(
                "garbage-read",
                f"read [{op.index}] returned {op.tag} as v{op.version} etag {op.etag}, but "
                f"write [{write.index}] was acknowledged as v{write.version} etag {write.etag}",
                [op, write],
            )
            return
        state = (op.version, 0)
        if write.outcome == "info" and write not in self.creators[state]:
            self.creators[state].append(write)  # an unknown write, now known to have applied
        self.observations[state].append(op)
        self.slack.note_read(op, state)
        if op.etag is not None:
            self.etags[op.etag] = op.version

    # -- the checks ----------------------------------------------------------------------

    def check_duplicates(self) -> None:
        for state, ops in self.creators.items():
            tags = {op.tag for op in ops if op.kind != "delete"}
            if state[1] == 0 and len(ops) > 1 and len(tags) > 1:
                self.flag(
                    "duplicate-version",
                    f"{len(ops)} writes were acknowledged as v{state[0]}: "
                    + ", ".join(f"[{op.index}] {op.tag}" for op in ops),
                    ops,
                )
            elif state[1] == 1 and len(ops) > 1:
                self.flag(
                    "lost-update",
                    f"{len(ops)} deletes each removed v{state[0]}: "
                    + ", ".join(f"[{op.index}]" for op in ops),
                    ops,
                )

    def check_order(self, states: list[State]) -> None:
        """One pass in version order: nothing of a later state may precede an earlier one."""
        best_inv = -_INF
        best_op: Operation | None = None
        best_kind = ""
        for state in states:
            creators = self.creators.get(state, [])
            observers = self.observations.get(state, [])
            for op in (*creators, *observers):
                if best_op is not None and _ret(op) < best_inv:
                    self._order_violation(best_op, best_kind, op, state)
                    break
            for writer in creators:
                for reader in observers:
                    if reader.complete_ns < writer.invoke_ns:
                        self.flag(
                            "future-read",
                            f"[{reader.index}] observed {_describe_state(state)} and completed "
                            f"before write [{writer.index}] of it was invoked",
                            [reader, writer],
                        )
            for op in creators:
                if op.invoke_ns > best_inv:
                    best_inv, best_op, best_kind = op.invoke_ns, op, "write"
            for op in observers:
                slack, kind = self.slack.of(op, state)
                if op.invoke_ns - slack > best_inv:
                    best_inv, best_op, best_kind = op.invoke_ns - slack, op, kind

    def _order_violation(
        self, earlier: Operation, kind: str, later: Operation, state: State
    ) -> None:
        before = self._state_of(earlier)
        if kind == "write":
            self.flag(
                "version-order",
                f"[{later.index}] {'wrote' if later in self.creators.get(state, []) else 'saw'} "
                f"{_describe_state(state)} and completed before [{earlier.index}], which "
                f"wrote the earlier {_describe_state(before)}, was invoked",
                [earlier, later],
            )
            return
        slack, _ = self.slack.of(earlier, before)
        allowed = f" (allowed staleness {slack / 1e6:.1f} ms)" if slack else ""
        self.flag(
            kind,
            f"[{earlier.index}] returned {_describe_state(before)} although [{later.index}] "
            f"had {'written' if later in self.creators.get(state, []) else 'seen'} the newer "
            f"{_describe_state(state)} and completed before [{earlier.index}] was "
            f"invoked{allowed}",
            [earlier, later, *self.creators.get(before, [])],
        )

    def _state_of(self, op: Operation) -> State:
        for table in (self.creators, self.observations):
            for state, ops in table.items():
                if op in ops:
                    return state
        return _NEVER

    def check_absent(self, states: list[State]) -> None:
        """A read of a missing key needs an absent state that could be current during it."""
        if not self.absent:
            return
        order = [_NEVER, *[s for s in states if s != _NEVER]]
        prefix_inv: list[float] = []
        running = -_INF
        for state in order:
            prefix_inv.append(running)
            for op in self.creators.get(state, []):
                running = max(running, op.invoke_ns)
            for op in self.observations.get(state, []):
                running = max(running, op.invoke_ns - self.slack.of(op, state)[0])
        suffix: list[tuple[float, Operation | None]] = [(_INF, None)] * len(order)
        best: tuple[float, Operation | None] = (_INF, None)
        for i in range(len(order) - 1, -1, -1):
            suffix[i] = best
            for op in (*self.creators.get(order[i], []), *self.observations.get(order[i], [])):
                if _ret(op) < best[0]:
                    best = (_ret(op), op)
        for read in self.absent:
            if any(d.invoke_ns <= read.complete_ns for d in self.unknown_deletes):
                continue
            slack, kind = self.slack.of(read, None)
            shifted = read.invoke_ns - slack
            latest: int | None = None
            for i, state in enumerate(order):
                starts = [float(op.invoke_ns) for op in self.creators.get(state, [])] or [-_INF]
                if state[1] != 1 or min(starts) > read.complete_ns:
                    continue
                if prefix_inv[i] > read.complete_ns:
                    continue
                latest = i
                if shifted <= suffix[i][0]:
                    break
            else:
                later = suffix[latest][1] if latest is not None else None
                if later is not None and latest is not None:
                    self._flag_absent(read, kind, later, order[latest])

    def _flag_absent(self, read: Operation, kind: str, later: Operation, state: State) -> None:
        seen = self._state_of(later)
        self.flag(
            kind,
            f"[{read.index}] found the key missing although [{later.index}] had "
            f"{'written' if later in self.creators.get(seen, []) else 'seen'} "
            f"{_describe_state(seen)} and completed before [{read.index}] was invoked",
            [read, later, *self.creators.get(state, [])],
        )

    def check_conditions(self, states: list[State]) -> None:
        """Conditional writes and deletes won only when their condition held."""
        by_etag: dict[str, list[Operation]] = defaultdict(list)
        for op in self.ops:
            if op.outcome == "ok" and op.kind == "cas" and op.if_match is not None:
                by_etag[op.if_match].append(op)
        for etag, winners in by_etag.items():
            if len(winners) > 1:
                self.flag(
                    "lost-update",
                    f"{len(winners)} writes with if_match={etag} all succeeded: "
                    + ", ".join(f"[{op.index}] -> v{op.version}" for op in winners),
                    winners,
                )
        for op in self.ops:
            if op.outcome != "ok" or op.version is None:
                continue
            if op.kind == "cas" and op.if_match in self.etags:
                self._check_predecessor(op, (self.etags[op.if_match], 0), states)
            elif op.kind == "create":
                self._check_create(op, states)
            elif op.kind == "delete" and op.if_match in self.etags:
                expected = self.etags[op.if_match]
                if op.version != expected:
                    self.flag(
                        "lost-update",
                        f"delete [{op.index}] with if_match of v{expected} removed v{op.version}",
                        [op, *self.creators.get((op.version, 0), [])],
                    )

    def _before(self, state: State, states: list[State]) -> State | None:
        i = bisect_left(states, state)
        return states[i - 1] if i > 0 else None

    def _check_predecessor(self, op: Operation, matched: State, states: list[State]) -> None:
        before = self._before((op.version or 0, 0), states)
        if before is not None and before != matched and before > matched:
            self.flag(
                "lost-update",
                f"write [{op.index}] with if_match of v{matched[0]} created v{op.version}, but "
                f"{_describe_state(before)} came in between",
                [op, *self.creators.get(before, []), *self.creators.get(matched, [])],
            )

    def _check_create(self, op: Operation, states: list[State]) -> None:
        before = self._before((op.version or 0, 0), states)
        if before is None or before[1] == 1:
            return
        if any(d.invoke_ns <= op.complete_ns for d in self.unknown_deletes):
            return
        self.flag(
            "lost-update",
            f"create-only write [{op.index}] created v{op.version} while "
            f"{_describe_state(before)} was live (no delete in between)",
            [op, *self.creators.get(before, [])],
        )

    def check_own_writes(self) -> None:
        """A client's strong backend read sees at least its own last completed write."""
        last: dict[str, tuple[int, State, Operation]] = {}
        events: list[tuple[int, int, Operation]] = []
        for op in self.ops:
            if op.outcome != "ok" or op.version is None:
                continue
            if op.kind in ("put", "cas", "create", "delete"):
                events.append((op.complete_ns, 0, op))
            elif op.kind == "get" and op.level == "strong" and self.slack.backend_only(op):
                events.append((op.invoke_ns, 1, op))
        events.sort(key=lambda e: (e[0], e[1]))
        for _, is_read, op in events:
            if not is_read:
                state = (op.version or 0, 1 if op.kind == "delete" else 0)
                known = last.get(op.client)
                if known is None or state > known[1]:
                    last[op.client] = (op.complete_ns, state, op)
                continue
            own = last.get(op.client)
            seen = (op.version or 0, 0)
            if own is not None and seen < own[1]:
                self.flag(
                    "read-your-writes",
                    f"strong read [{op.index}] by {op.client} returned v{op.version} after "
                    f"its own write [{own[2].index}] ({_describe_state(own[1])}) was "
                    "acknowledged",
                    [op, own[2]],
                )

    def superseded(self, states: list[State]) -> dict[State, float]:
        """Per state, the earliest completion of an operation that wrote or saw a later one."""
        found: dict[State, float] = {}
        earliest = _INF
        for state in reversed(states):
            found[state] = earliest
            for op in (*self.creators.get(state, []), *self.observations.get(state, [])):
                earliest = min(earliest, _ret(op))
        return found

    def run(self) -> list[Anomaly]:
        self.sort()
        self.check_duplicates()
        states = sorted({*self.creators, *self.observations})
        self.slack.settle(self.superseded(states))
        self.check_order(states)
        self.check_absent(states)
        self.check_conditions(states)
        self.check_own_writes()
        return self.anomalies


def check_objects(history: History) -> list[Anomaly]:
    """Every anomaly of the versioned-object operations of ``history``, key by key."""
    by_key: dict[str, list[Operation]] = defaultdict(list)
    for op in history.operations:
        if op.kind in OBJECT_KINDS:
            by_key[op.key].append(op)
    anomalies: list[Anomaly] = []
    for key, ops in by_key.items():
        anomalies += _Key(key, ops, _Slack(history.settings)).run()
    return anomalies
