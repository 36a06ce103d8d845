"""Mutants at real backend boundaries: multipart uploads that lose or reorder parts, and
times kept in whole seconds."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mutants.base import Mutated, Wrap, adapter_mutant, swap
from pytest_sanctum.clock import Clock
from pytest_sanctum.types import CacheEntry, GroupCheckpoint, WriteResult

MIB = 1 << 20
PART = 5 * MIB
"""The part size of the multipart mutants (S3's minimum)."""


class _DropsLastPart(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        if len(data) > 8 * MIB:
            data = bytes(data)[: len(data) - (len(data) - 1) % PART - 1]
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


class _PartsReordered(Wrap):
    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        parts = [bytes(data)[start : start + PART] for start in range(0, len(data), PART)]
        if len(parts) > 1:
            parts[-2], parts[-1] = parts[-1], parts[-2]
        return self.inner.put(namespace, key, b"".join(parts), **options)  # type: ignore[no-any-return]


@adapter_mutant("BLOB-009")
def multipart_drops_last_part(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Payloads above 8 MiB lose their last 5 MiB part (an upload completed one part short)."""
    return swap(options, clock, _DropsLastPart, "blobs")


@adapter_mutant("BLOB-009")
def multipart_parts_reordered(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Payloads above 5 MiB have their last two parts swapped (parts completed out of order)."""
    return swap(options, clock, _PartsReordered, "blobs")


def _whole_seconds(ms: float) -> float:
    return math.floor(ms / 1000.0) * 1000.0


class _TtlInWholeSeconds(Wrap):
    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        self.inner.set(namespace, key, entry, _whole_seconds(ttl_ms))


class _RealTimeWholeSeconds(Wrap):
    """Expires entries in real time, as Redis does, after the TTL rounded down to whole
    seconds (``EX`` instead of ``PX``), whatever the facade clock says."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.deadlines: dict[tuple[str, str], float] = {}

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        self.deadlines[(namespace, key)] = time.monotonic() + _whole_seconds(ttl_ms) / 1000.0
        self.inner.set(namespace, key, entry, ttl_ms)

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        if time.monotonic() >= self.deadlines.get((namespace, key), 0.0):
            return None
        return self.inner.get(namespace, key)  # type: ignore[no-any-return]


class _DeadlineRoundedUp(Wrap):
    """Stores the entry's expiry rounded up to the next whole second (``EXPIREAT`` in seconds)."""

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        later = math.ceil(entry.expires_at_ms / 1000.0) * 1000.0
        rounded = dataclasses.replace(entry, expires_at_ms=later)
        self.inner.set(namespace, key, rounded, math.ceil(ttl_ms / 1000.0) * 1000.0)


class _VisibilityInWholeSeconds(Wrap):
    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        pending = {
            sequence: entry._replace(visible_at_ms=_whole_seconds(entry.visible_at_ms))
            for sequence, entry in checkpoint.pending.items()
        }
        due = checkpoint.next_visible_ms
        rounded = checkpoint._replace(
            pending=MappingProxyType(pending),
            next_visible_ms=_whole_seconds(due) if math.isfinite(due) else due,
        )
        return self.inner.save(namespace, stream, group, rounded)  # type: ignore[no-any-return]


class _DedupeClockInWholeSeconds(Wrap):
    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        options["now_ms"] = _whole_seconds(options.get("now_ms", 0.0))
        return self.inner.append(namespace, stream, payload, **options)


@adapter_mutant("CACHE-009")
def cache_ttl_in_whole_seconds(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Cache TTLs are rounded down to whole seconds (``EX`` instead of ``PX``): 1.5 s is 1 s,
    1 ms is nothing."""
    return swap(options, clock, _TtlInWholeSeconds, "cache")


@adapter_mutant("CACHE-009")
def cache_real_time_whole_seconds(options: Mapping[str, object], clock: Clock) -> Mutated:
    """The cache expires entries in real time after the TTL rounded down to whole seconds:
    the facade clock cannot tell, only real time can."""
    return swap(options, clock, _RealTimeWholeSeconds, "cache")


@adapter_mutant("CACHE-009")
def cache_expiry_rounded_up(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Cache entries keep their expiry rounded up to the next whole second."""
    return swap(options, clock, _DeadlineRoundedUp, "cache")


@adapter_mutant("STR-011")
def visibility_in_whole_seconds(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Checkpoints store visibility deadlines in whole seconds (rounded down)."""
    return swap(options, clock, _VisibilityInWholeSeconds, "checkpoints")


@adapter_mutant("STR-012")
def dedupe_clock_in_whole_seconds(options: Mapping[str, object], clock: Clock) -> Mutated:
    """The idempotency index keeps times in whole seconds (rounded down)."""
    return swap(options, clock, _DedupeClockInWholeSeconds, "streams")
