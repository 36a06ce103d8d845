"""Expired cache entries are evicted without being read, so cache churn holds no memory.

The memory adapter evicts every expired entry on each cache write (a heap of deadlines);
SQLite deletes up to ``EVICT_BATCH`` expired rows in each cache write's transaction.
Also: what a tombstone of a deleted key costs in the memory adapter.
"""

from __future__ import annotations

import gc
import sqlite3
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from facade_helpers import NS, MakeClient

import pytest_sanctum.validation
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.types import CacheEntry
from reference_adapters.memory import MemoryAdapter, create_memory_adapter
from reference_adapters.sqlite import EVICT_BATCH, SqliteAdapter, cache_path, create_sqlite_adapter

CHURN = 100_000


def traced_bytes() -> int:
    """Bytes traced now, after emptying the facade's memo of checked keys (at most 4,096
    keys, kept whatever the cache does)."""
    pytest_sanctum.validation._VALID_KEYS.clear()
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


@pytest.fixture
def tracing() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def test_memory_returns_after_churning_short_lived_entries(
    make_client: MakeClient, clock: VirtualClock, tracing: None
) -> None:
    # Issue 11: 100,000 sets with a 10 ms TTL held 28.5 MB until each key was read.
    client = make_client(metrics=None)  # recording metrics keep every sample
    for i in range(2000):  # warm up: every structure the churn uses exists
        client.cache.set(NS, f"warm-{i}", b"v" * 64, ttl_ms=10)
    clock.advance(10)
    client.cache.set(NS, "warm", b"v" * 64, ttl_ms=10)
    start = traced_bytes()
    for i in range(CHURN):
        client.cache.set(NS, f"churn-{i}", b"v" * 64, ttl_ms=10)
    clock.advance(10)  # time passes: every churned entry has expired
    client.cache.set(NS, "warm", b"v" * 64, ttl_ms=10)  # the next write evicts them
    held = traced_bytes()
    assert held <= start * 1.10, f"held {held} bytes after the churn, {start} before"


def test_churn_spread_over_time_holds_only_the_live_entries(
    open_adapter: type[MemoryAdapter], clock: VirtualClock, tracing: None
) -> None:
    cache = open_adapter().cache
    entry = CacheEntry(b"v" * 64, 1, "e", 0.0)
    for i in range(100):
        cache.set(NS, f"warm-{i}", entry, 10)
    start = traced_bytes()
    for i in range(CHURN // 5):  # one set per ms, each living 10 ms: about 10 entries are live
        cache.set(NS, f"churn-{i}", entry, 10)
        clock.advance(1)
    assert cache._table.size <= 10
    clock.advance(10)
    cache.set(NS, "warm-0", entry, 10)
    held = traced_bytes()
    assert held <= start * 1.10, f"held {held} bytes after the churn, {start} before"


def test_a_write_evicts_every_expired_entry_of_every_namespace(
    open_adapter: type[MemoryAdapter], clock: VirtualClock
) -> None:
    cache = open_adapter().cache
    entry = CacheEntry(b"v", 1, "e", 0.0)
    for i in range(300):
        cache.set(f"ns{i % 3}", f"k{i}", entry, 10)
    cache.set("ns0", "long", entry, 1000)
    clock.advance(10)
    cache.delete("other", "nothing")  # a purge is a write too
    assert cache._table.size == 1
    assert list(cache._table.namespaces) == ["ns0"]
    assert cache.get("ns0", "long") == entry


def test_rewritten_keys_do_not_grow_the_heap_of_deadlines(
    open_adapter: type[MemoryAdapter],
) -> None:
    cache = open_adapter().cache
    entry = CacheEntry(b"v", 1, "e", 0.0)
    for _ in range(10_000):  # the clock never moves: nothing expires
        cache.set(NS, "same", entry, 10)
    assert len(cache._table.deadlines) <= 2 * cache._table.size + 64


def test_shared_caches_evict_through_any_adapter(server_name: str, clock: VirtualClock) -> None:
    first = create_memory_adapter({"server": server_name, "shared_cache": True}, clock)
    second = create_memory_adapter({"server": server_name, "shared_cache": True}, clock)
    first.cache.set(NS, "k", CacheEntry(b"v", 1, "e", 0.0), 10)
    clock.advance(10)
    second.cache.set(NS, "other", CacheEntry(b"v", 1, "e", 0.0), 10)
    assert first.server.shared_cache.size == 1


# --- SQLite -----------------------------------------------------------------------------


@pytest.fixture
def sqlite_adapter(tmp_path: Path, clock: VirtualClock) -> Iterator[SqliteAdapter]:
    adapter = create_sqlite_adapter(
        {"path": str(tmp_path / "cache.db"), "synchronous": "NORMAL"}, clock
    )
    yield adapter
    adapter.close()


def cache_rows(adapter: SqliteAdapter) -> int:
    with sqlite3.connect(cache_path(adapter.path)) as conn:  # the cache's own file
        return int(conn.execute("SELECT count(*) FROM entries").fetchall()[0][0])


def test_sqlite_deletes_expired_rows_in_bounded_batches_on_write(
    sqlite_adapter: SqliteAdapter, clock: VirtualClock
) -> None:
    # Issue 11: SQLite kept expired rows until each was read.
    cache = sqlite_adapter.cache
    entry = CacheEntry(b"v", 1, "e", 0.0)
    expired = 3 * EVICT_BATCH + 10
    for i in range(expired):
        cache.set(f"ns{i % 2}", f"k{i}", entry, 10)
    clock.advance(10)
    cache.set(NS, "live", entry, 1000)
    assert cache_rows(sqlite_adapter) == expired + 1 - EVICT_BATCH
    for _ in range(3):
        cache.delete(NS, "absent")  # a purge is not a cache write: it evicts nothing
        cache.set(NS, "live", entry, 1000)
    assert cache_rows(sqlite_adapter) == 1
    assert cache.get(NS, "live") == entry


def test_sqlite_index_finds_expired_rows_without_a_scan(sqlite_adapter: SqliteAdapter) -> None:
    with sqlite3.connect(cache_path(sqlite_adapter.path)) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT ns, key FROM entries WHERE evict_at_ms <= 0"
            " ORDER BY evict_at_ms LIMIT 64"
        ).fetchall()
    assert any("entries_by_eviction" in str(row) for row in plan), plan


# --- tombstones -------------------------------------------------------------------------


def test_a_tombstone_costs_about_its_key_plus_50_bytes_in_memory(
    make_client: MakeClient, tracing: None
) -> None:
    client = make_client({"namespaces": {"*": {"adapter": "memory", "cache": False}}}, metrics=None)
    count, key_length = 5_000, 16
    client.records.put(NS, "warm", {"a": 1})
    client.records.delete(NS, "warm")
    start = traced_bytes()
    for i in range(count):
        key = f"tombstone-{i:06d}"
        client.records.put(NS, key, {"a": 1})
        client.records.delete(NS, key)
    client._core._written.clear()  # the client's bounded read-after-write memo, not the adapter's
    per_key = (traced_bytes() - start) / count
    assert per_key <= 49 + key_length + 64, f"{per_key:.0f} bytes per tombstone"
