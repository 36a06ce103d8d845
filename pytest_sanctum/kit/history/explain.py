"""Explains an anomaly: its name, the smallest sub-history that proves it, as a text timeline.

The sub-history is the anomaly's own operations (the ones its sentence names); the
timeline lists them in invoke order with their times relative to the first, one lane
character per client, and a bar that spans each operation's interval.
"""

from __future__ import annotations

from pytest_sanctum.kit.history.record import History, Operation
from pytest_sanctum.kit.history.verdict import ANOMALIES, Anomaly, Verdict

BAR_WIDTH = 40
"""Columns of the interval bars."""


def sub_history(history: History, anomaly: Anomaly) -> list[Operation]:
    """The operations that prove ``anomaly``, in invoke order."""
    wanted = set(anomaly.operations)
    return [op for op in history.operations if op.index in wanted]


def text_timeline(ops: list[Operation]) -> list[str]:
    """One line per operation: times in ms from the first invoke, an interval bar, the op."""
    if not ops:
        return []
    start = min(op.invoke_ns for op in ops)
    end = max((op.complete_ns if op.outcome == "ok" else op.invoke_ns) for op in ops)
    span = max(end - start, 1)
    lines = []
    for op in ops:
        finish = op.complete_ns if op.outcome == "ok" else end
        left = int((op.invoke_ns - start) * (BAR_WIDTH - 1) / span)
        right = max(left, int((finish - start) * (BAR_WIDTH - 1) / span))
        bar = " " * left + "=" * (right - left + 1)
        if op.outcome != "ok":
            bar = bar[:-1] + "?"
        lines.append(
            f"  [{op.index:>4}] {(op.invoke_ns - start) / 1e6:8.3f}..{(finish - start) / 1e6:8.3f}"
            f" ms |{bar:<{BAR_WIDTH}}| {op.describe()}"
        )
    return lines


def explain(history: History, anomaly: Anomaly) -> str:
    """The anomaly named and defined, its sentence, and its sub-history as a timeline."""
    lines = [
        f"{anomaly.kind} on {anomaly.key}: {ANOMALIES[anomaly.kind]}",
        f"  {anomaly.message}",
        *text_timeline(sub_history(history, anomaly)),
    ]
    return "\n".join(lines)


def explain_verdict(history: History, verdict: Verdict, limit: int = 3) -> str:
    """The first ``limit`` anomalies explained, and how many more there are."""
    parts = [explain(history, anomaly) for anomaly in verdict.anomalies[:limit]]
    more = len(verdict.anomalies) - limit
    if more > 0:
        parts.append(f"... and {more} more anomalies")
    return "\n\n".join(parts)
