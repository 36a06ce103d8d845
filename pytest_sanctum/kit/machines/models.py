"""Shared pieces of the machines: the operation-log helpers and the plain-Python models
of versioned keys, cache entries and stream queues the machines check answers against."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from hypothesis import strategies as st

from pytest_sanctum.errors import (
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
)
from pytest_sanctum.types import CacheEntry, JSONValue, WriteResult

_T = TypeVar("_T")

NODES = ("A", "B")
"""The two nodes (clients over their own adapter instances) of the multi-node machines."""

KEYS = ("k1", "k2")
"""Few keys, so operations collide on them."""

KEY_CHOICE = st.sampled_from(["k1", "k1", "k1", "k2"])
"""Mostly ``k1``: sequences on one key find more bugs; ``k2`` checks that keys stay apart."""

NODE_CHOICE = st.sampled_from(["A", "A", "B"])
"""Mostly ``A``: same-node sequences (fill, write, read) are as telling as cross-node ones."""


# -- the reference model ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    """One version of a key as a read shows it. ``payload`` is a dict (record) or bytes (blob)."""

    version: int
    payload: object
    etag: str

    def __str__(self) -> str:
        return f"v{self.version} {self.payload!r} etag={self.etag}"


Outcome = Seen | None
"""What a read of a key can find: a version, or ``None`` for NotFound."""


@dataclass(frozen=True, slots=True)
class Span:
    """An interval of model time during which ``outcome`` was the key's current state."""

    outcome: Outcome
    start: float
    end: float | None = None


class KeyModel:
    """The history of one key: every version and deletion with the times it was current."""

    def __init__(self) -> None:
        self.spans: list[Span] = [Span(None, -math.inf)]
        self.high = 0
        """The highest version ever issued for the key (kept across deletes)."""
        self.issued: list[str] = []
        """Every etag ever issued for the key, oldest first."""

    @property
    def current(self) -> Outcome:
        """The key's state now."""
        return self.spans[-1].outcome

    def _close(self, outcome: Outcome, now_ms: float) -> None:
        last = self.spans[-1]
        self.spans[-1] = Span(last.outcome, last.start, now_ms)
        self.spans.append(Span(outcome, now_ms))

    def write(self, seen: Seen, now_ms: float) -> None:
        """A write of ``seen`` was acknowledged at ``now_ms``."""
        self._close(seen, now_ms)
        self.high = seen.version
        self.issued.append(seen.etag)

    def delete(self, now_ms: float) -> None:
        """A delete was acknowledged at ``now_ms``."""
        self._close(None, now_ms)

    def outcomes(self) -> list[Outcome]:
        """Every state the key ever had (NotFound included), oldest first, without repeats."""
        found: list[Outcome] = []
        for span in self.spans:
            if span.outcome not in found:
                found.append(span.outcome)
        return found

    def current_within(self, outcome: Outcome, since_ms: float) -> bool:
        """Whether ``outcome`` was current at some moment of ``[since_ms, now]``."""
        return any(
            span.outcome == outcome and (span.end is None or span.end >= since_ms)
            for span in self.spans
        )

    def current_after(self, outcome: Outcome, after_ms: float) -> bool:
        """Whether ``outcome`` was current at some moment later than ``after_ms``."""
        return any(
            span.outcome == outcome and (span.end is None or span.end > after_ms)
            for span in self.spans
        )

    def older(self) -> list[Seen]:
        """The key's earlier versions (not the current one), oldest first."""
        current = self.current
        return [
            span.outcome
            for span in self.spans
            if span.outcome is not None and span.outcome != current
        ]


@dataclass(frozen=True, slots=True)
class Cached:
    """A cache entry as the model expects it. ``poisoned`` marks entries the machine planted."""

    seen: Seen
    stored_at_ms: float
    expires_at_ms: float
    poisoned: bool = False

    def live(self, now_ms: float) -> bool:
        """Whether the facade may serve it (``now < expires_at``)."""
        return now_ms < self.expires_at_ms

    def matches(self, entry: CacheEntry, decode: Callable[[bytes], object]) -> bool:
        """Whether a stored entry holds this payload, version, etag and stamps."""
        try:
            payload = decode(entry.data)
        except ValueError:
            return False
        return (payload, entry.version, entry.etag, entry.stored_at_ms, entry.expires_at_ms) == (
            self.seen.payload,
            self.seen.version,
            self.seen.etag,
            self.stored_at_ms,
            self.expires_at_ms,
        )

    def show(self, t0: float = 0.0) -> str:
        """The entry for the log, with its stamps relative to ``t0``."""
        kind = "poisoned " if self.poisoned else ""
        return (
            f"{kind}entry {self.seen} stored_at=t{self.stored_at_ms - t0:+g} "
            f"expires_at=t{self.expires_at_ms - t0:+g}"
        )

    def __str__(self) -> str:
        return self.show()


@dataclass(slots=True)
class Held:
    """A delivered, unacknowledged stream message: who holds it, how often sent, until when."""

    consumer: str
    deliveries: int
    visible_at_ms: float


@dataclass(slots=True)
class QueueModel:
    """Jepsen total-queue accounting for one consumer group."""

    appended: dict[str, JSONValue] = field(default_factory=dict)
    """Message id -> payload, in append order (payloads are unique)."""
    sequences: dict[str, int] = field(default_factory=dict)
    idempotency: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> the message id its first append created."""
    pending: dict[str, Held] = field(default_factory=dict)
    delivered: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    ack_total: int = 0
    """Sum of what the acks returned: each id must count once over the whole run."""

    def available(self, now_ms: float) -> list[str]:
        """Ids a read may deliver now: expired pending ones and never delivered ones."""
        expired = [mid for mid, held in self.pending.items() if held.visible_at_ms <= now_ms]
        fresh = [mid for mid in self.appended if mid not in self.delivered]
        return expired + fresh


# -- small helpers ---------------------------------------------------------------------


def attempt(call: Callable[[], _T]) -> _T | SanctumError:
    """Run ``call``; a ``SanctumError`` is returned as the outcome instead of raised."""
    try:
        return call()
    except SanctumError as error:
        return error


def describe(result: object) -> str:
    """A short text of an operation's outcome for the operation log."""
    if isinstance(result, PreconditionFailedError):
        if result.current_version is None and result.current_etag is None:
            return "PreconditionFailedError(key absent)"
        return (
            f"PreconditionFailedError(current v{result.current_version} etag={result.current_etag})"
        )
    if isinstance(result, SanctumError):
        return type(result).__name__
    if isinstance(result, WriteResult):
        return f"v{result.version} etag={result.etag}"
    if result is None:
        return "NotFound"
    return str(result)


def decode_record(data: bytes) -> object:
    return json.loads(data)


def decode_blob(data: bytes) -> object:
    return bytes(data)


def read_outcome(result: object) -> Outcome | SanctumError:
    """A read's answer as the model compares it: a version, None (NotFound) or the error."""
    if isinstance(result, NotFoundError):
        return None
    if isinstance(result, SanctumError | Seen):
        return result
    raise TypeError(f"not a read outcome: {result!r}")
