"""What a checker concludes: the anomalies it found, each with the operations that prove it."""

from __future__ import annotations

from dataclasses import dataclass, field

ANOMALIES: dict[str, str] = {
    "duplicate-version": "two writes of one key were acknowledged with the same version",
    "version-order": "a key's versions do not increase in the real-time order of its writes",
    "lost-update": "a conditional write or delete won although its condition no longer held",
    "garbage-read": "a read returned a payload, version or etag no write produced",
    "future-read": "a read returned a write that had not started yet",
    "stale-read": "a read returned a value already overwritten before the read began",
    "stale-read-beyond-delta": "a read returned a value older than the staleness budget allows",
    "stale-read-beyond-ttl": "an eventual read returned a value older than the cache TTL allows",
    "read-your-writes": "a strong read did not see the client's own acknowledged write",
    "duplicate-sequence": "two appends were acknowledged with the same sequence",
    "sequence-gap": "a stream's sequences are not 1, 2, 3, ... without gaps",
    "lost-message": "an acknowledged append was never delivered to a group",
    "garbage-message": "a delivery carried a payload no append produced at that sequence",
    "duplicate-idempotent-append": "one idempotency key appended two messages in one window",
    "double-delivery": "two consumers held one message before its visibility timeout",
    "redelivered-after-ack": "a message was delivered again after its ack was acknowledged",
}
"""Every anomaly a checker names, with what it means."""


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One violation: its kind, the key or stream, a sentence, and the proving operations."""

    kind: str
    key: str
    message: str
    operations: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.kind not in ANOMALIES:
            raise ValueError(f"unknown anomaly kind {self.kind!r}")


@dataclass
class Verdict:
    """The result of checking a history: valid when no anomaly was found."""

    anomalies: list[Anomaly] = field(default_factory=list)
    operations: int = 0

    @property
    def valid(self) -> bool:
        return not self.anomalies

    def kinds(self) -> set[str]:
        return {anomaly.kind for anomaly in self.anomalies}
