"""Mutants of the cache store."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from mutants.base import (
    VERSIONED,
    Mutated,
    Wrap,
    adapter_mutant,
    basic_memory,
    swap,
    swap_full,
)
from pytest_sanctum.clock import Clock
from pytest_sanctum.types import (
    Blob,
    CacheEntry,
    CacheFill,
    WriteResult,
)
from reference_adapters.memory import (
    create_memory_adapter,
)

# -- cache -----------------------------------------------------------------------------


class _SetIfAbsent(Wrap):
    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        if self.inner.get(namespace, key) is None:
            self.inner.set(namespace, key, entry, ttl_ms)


class _NeverHits(Wrap):
    def get(self, namespace: str, key: str) -> CacheEntry | None:
        return None


class _DeleteIgnored(Wrap):
    def delete(self, namespace: str, key: str) -> None:
        return None


class _NeverExpires(Wrap):
    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        forever = dataclasses.replace(entry, expires_at_ms=math.inf)
        self.inner.set(namespace, key, forever, 1e15)


class _OneSlotPerLayer(Wrap):
    """Keys collide: the cache keeps one entry per layer prefix (``record/``, ``kv/``...)."""

    @staticmethod
    def _slot(key: str) -> str:
        return key.partition("/")[0]

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        return self.inner.get(namespace, self._slot(key))  # type: ignore[no-any-return]

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        self.inner.set(namespace, self._slot(key), entry, ttl_ms)

    def delete(self, namespace: str, key: str) -> None:
        self.inner.delete(namespace, self._slot(key))


@adapter_mutant("CACHE-001")
def cache_set_keeps_old_entry(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``cache.set`` does not replace a live entry (set-if-absent)."""
    return swap(options, clock, _SetIfAbsent, "cache")


@adapter_mutant("CACHE-002")
def cache_never_hits(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``cache.get`` always misses."""
    return swap(options, clock, _NeverHits, "cache")


@adapter_mutant("CACHE-003", "CACHE-004", "CACHE-006", "CACHE-008")
def cache_delete_ignored(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``cache.delete`` does nothing, so no purge happens."""
    return swap(options, clock, _DeleteIgnored, "cache")


@adapter_mutant("CACHE-005", "CACHE-006")
def cache_never_expires(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``cache.set`` stores entries without expiry."""
    return swap(options, clock, _NeverExpires, "cache")


@adapter_mutant("CACHE-006")
def cache_keys_collide(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``cache.get`` serves another key's entry (keys truncated at the first ``/``)."""
    return swap(options, clock, _OneSlotPerLayer, "cache")


@adapter_mutant("CACHE-007")
def fake_distributed_cache(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Declares ``distributed_cache`` while every instance has its own cache."""
    return Mutated(create_memory_adapter(options, clock), capabilities={"distributed_cache": True})


# -- versioned stores that purge and fill the cache themselves (CachingVersionedStore) ---


class _PutAndPurgeKeepsTheEntry(Wrap):
    def put_and_purge(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        options.pop("purge")
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]


class _DeleteAndPurgeKeepsTheEntry(Wrap):
    def delete_and_purge(self, namespace: str, key: str, **options: Any) -> int:
        options.pop("purge")
        return self.inner.delete(namespace, key, **options)  # type: ignore[no-any-return]


class _GetAndFillNeverFills(Wrap):
    def get_and_fill(self, namespace: str, key: str, fill: CacheFill) -> Blob:
        return self.inner.get(namespace, key)  # type: ignore[no-any-return]


class _GetAndFillStampsItNew(Wrap):
    """Fills entries that look a second newer than they are: too young for their age."""

    def get_and_fill(self, namespace: str, key: str, fill: CacheFill) -> Blob:
        later = fill._replace(stored_at_ms=fill.stored_at_ms + 1000.0)
        return self.inner.get_and_fill(namespace, key, later)  # type: ignore[no-any-return]


class _PutAndPurgeIgnoresIfMatch(Wrap):
    def put_and_purge(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        options["if_match"] = None
        return self.inner.put_and_purge(namespace, key, data, **options)  # type: ignore[no-any-return]


@adapter_mutant("CACHE-003")
def put_and_purge_keeps_the_entry(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A store's purging write writes but leaves the cache entry in place."""
    return swap_full(options, clock, _PutAndPurgeKeepsTheEntry, *VERSIONED)


@adapter_mutant("CACHE-004")
def delete_and_purge_keeps_the_entry(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A store's purging delete deletes but leaves the cache entry in place."""
    return swap_full(options, clock, _DeleteAndPurgeKeepsTheEntry, *VERSIONED)


@adapter_mutant("CACHE-002")
def get_and_fill_never_fills(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A store's filling read reads and stores nothing in the cache."""
    return swap_full(options, clock, _GetAndFillNeverFills, *VERSIONED)


@adapter_mutant("CONS-006")
def get_and_fill_stamps_entries_new(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A store's filling read stamps entries a second later than the read: strong reads
    then serve them beyond the staleness budget."""
    return swap_full(options, clock, _GetAndFillStampsItNew, *VERSIONED)


@adapter_mutant("REC-003", "REC-009", "PROP-002")
def put_and_purge_ignores_if_match(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A store's purging write ignores ``if_match``."""
    return swap_full(options, clock, _PutAndPurgeIgnoresIfMatch, *VERSIONED)


class _DropsContentType(Wrap):
    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        self.inner.set(namespace, key, dataclasses.replace(entry, content_type=None), ttl_ms)


class _QuotesEtags(Wrap):
    def get(self, namespace: str, key: str) -> CacheEntry | None:
        entry: CacheEntry | None = self.inner.get(namespace, key)
        return None if entry is None else dataclasses.replace(entry, etag=f'"{entry.etag}"')


@adapter_mutant("BLOB-008")
def cache_drops_content_type(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Cache entries lose their content type (not in the cached hash)."""
    return swap(options, clock, _DropsContentType, "cache")


@adapter_mutant("REC-013", "BLOB-008")
def cache_quotes_etags(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Cache entries come back with their etag in quotes."""
    return swap(options, clock, _QuotesEtags, "cache")


class _Restamped(Wrap):
    """Every entry read looks freshly stored: its age on the facade clock is always zero."""

    def __init__(self, inner: Any, clock: Clock) -> None:
        super().__init__(inner)
        self.clock = clock

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        entry = self.inner.get(namespace, key)
        if entry is None:
            return None
        now = self.clock.now_ms()
        return dataclasses.replace(entry, stored_at_ms=now, expires_at_ms=now + 1.0)


@adapter_mutant("HIST-004")
def cache_restamps_entries(options: Mapping[str, object], clock: Clock) -> Mutated:
    """The cache reports every entry as just stored, so an old entry passes any staleness budget."""
    inner = basic_memory(options, clock)
    return Mutated(inner, cache=_Restamped(inner.cache, clock))


class _FullAfter256Writes(Wrap):
    """Refuses every write once 256 have been made, as a cache that fails when full
    instead of evicting."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.writes = 0

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        self.writes += 1
        if self.writes > 256:
            raise RuntimeError("SERVER_ERROR out of memory storing object")
        self.inner.set(namespace, key, entry, ttl_ms)


class _GenerationSaturates(Wrap):
    """Keeps an 8-bit write generation per key that stops at 255: later rewrites of the key
    are taken for stale ones and dropped."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.generations: dict[tuple[str, str], int] = {}

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        generation = self.generations.get((namespace, key), 0)
        if generation == 255:
            return
        self.generations[(namespace, key)] = generation + 1
        self.inner.set(namespace, key, entry, ttl_ms)


@adapter_mutant("CACHE-030")
def cache_fails_when_full(options: Mapping[str, object], clock: Clock) -> Mutated:
    """The cache refuses writes after 256 of them instead of evicting entries."""
    return swap(options, clock, _FullAfter256Writes, "cache")


@adapter_mutant("CACHE-030")
def cache_generation_saturates(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A key rewritten more than 255 times keeps serving its 255th value."""
    return swap(options, clock, _GenerationSaturates, "cache")
