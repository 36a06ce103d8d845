"""Which faults to inject, how often, and the seeded dice that decide each one."""

from __future__ import annotations

import random
import threading
from collections.abc import Collection
from dataclasses import dataclass, field

FAULT_KINDS: dict[str, str] = {
    "latency": "a store call is delayed by a few milliseconds",
    "error_before": "a store call fails with BackendUnavailableError before reaching the backend",
    "error_after": "a store call reaches the backend, applies, then fails with "
    "BackendUnavailableError (the caller cannot know it applied)",
    "fanout_drop": "an invalidation event is lost",
    "fanout_duplicate": "an invalidation event is delivered twice",
    "fanout_delay": "an invalidation event is held back and delivered after a later one",
    "cache_evict": "a cache entry is evicted just before it is read",
    "crash": "the node's adapter is closed and reopened (a crash and restart): the call in "
    "flight fails before reaching the backend and the node's local cache is lost",
}
"""Every fault kind, with what it does."""


def parse_faults(text: str) -> tuple[str, ...]:
    """Fault kinds from ``"latency,crash"``, ``"all"`` or ``"none"``/``""``; ``ValueError`` if unknown."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names == ["all"]:
        return tuple(FAULT_KINDS)
    if names in ([], ["none"]):
        return ()
    unknown = sorted(set(names) - set(FAULT_KINDS))
    if unknown:
        raise ValueError(
            f"unknown fault kinds {unknown}; known: all, none, {', '.join(FAULT_KINDS)}"
        )
    return tuple(kind for kind in FAULT_KINDS if kind in names)


@dataclass
class FaultPlan:
    """The fault kinds enabled, the probability of each per call, and the seeded dice.

    Thread-safe. ``paused`` switches every fault off (for a quiescent drain after a run);
    ``injected`` counts what was injected, by kind.
    """

    kinds: Collection[str] = ()
    rate: float = 0.05
    latency_ms: tuple[float, float] = (0.5, 3.0)
    seed: int = 0
    paused: bool = False
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}")
        self.kinds = frozenset(self.kinds)
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        """Picklable (for a history run's child processes): the dice restart from the seed."""
        return {name: getattr(self, name) for name in ("kinds", "rate", "latency_ms", "seed")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(**state, paused=False, injected={})  # type: ignore[misc]

    def roll(self, kind: str) -> bool:
        """Whether to inject ``kind`` now."""
        if self.paused or kind not in self.kinds:
            return False
        with self._lock:
            hit = self._rng.random() < self.rate
            if hit:
                self.injected[kind] = self.injected.get(kind, 0) + 1
        return hit

    def delay_s(self) -> float:
        """A latency to inject, in seconds."""
        with self._lock:
            return self._rng.uniform(*self.latency_ms) / 1000.0
