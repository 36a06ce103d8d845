"""Helpers for adapters that store consumer-group checkpoints as text.

A backend without a native place for group state (a SQL row, a Redis hash, an object)
can store a ``GroupCheckpoint`` as JSON with these two functions; the revision is kept
apart, where the backend's compare-and-set can see it.
"""

from __future__ import annotations

import json
import math
from types import MappingProxyType

from pytest_sanctum.types import GroupCheckpoint, GroupPending


def checkpoint_to_json(checkpoint: GroupCheckpoint) -> str:
    """The checkpoint's group fields (everything but ``revision``) as compact JSON.

    Infinite times are written as ``Infinity`` and ``-Infinity``, which ``json`` reads back.
    """
    return json.dumps(
        {
            "floor": checkpoint.floor,
            "cursor": checkpoint.cursor,
            "acked": sorted(checkpoint.acked),
            "pending": {
                str(sequence): [entry.consumer, entry.deliveries, entry.visible_at_ms]
                for sequence, entry in sorted(checkpoint.pending.items())
            },
            "next_visible_ms": checkpoint.next_visible_ms,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def checkpoint_from_json(text: str | bytes, revision: int) -> GroupCheckpoint:
    """The checkpoint ``checkpoint_to_json`` wrote, with ``revision``.

    A text without ``next_visible_ms`` loads with ``-inf`` (unknown).
    """
    state = json.loads(text)
    pending = {
        int(sequence): GroupPending(str(consumer), int(deliveries), float(visible_at_ms))
        for sequence, (consumer, deliveries, visible_at_ms) in state["pending"].items()
    }
    return GroupCheckpoint(
        int(state["floor"]),
        int(state["cursor"]),
        frozenset(int(sequence) for sequence in state["acked"]),
        MappingProxyType(pending),
        revision,
        float(state.get("next_visible_ms", -math.inf)),
    )
