"""Cache layer contracts (CACHE-*): read-through fills, purges, expiry and fan-out.

The cache is observed directly in the adapter's cache store, under the facade's cache key
(``cache_key(Layer.RECORD, key)``), and through ``cache_only`` reads, which never reach
the backend. A cache may evict any entry at any moment, so a test that needs an entry to
stay runs its scenario ``despite_eviction``: a missing entry sends it round again on
fresh keys (``pytest_sanctum.kit.eviction``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.core import cache_key
from pytest_sanctum.errors import CacheMissError
from pytest_sanctum.fanout import QueuedFanout
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.eviction import Attempt, despite_eviction, kept
from pytest_sanctum.kit.fixtures import ClientMaker
from pytest_sanctum.kit.spy import SpyAdapter
from pytest_sanctum.types import Blob, CacheEntry, InvalidationEvent, Layer, ReadLevel, RecordValue

TTL_MS = 5000.0
"""The cache TTL of the kit's clients (the facade maximum)."""

RAW_WINDOW_MS = 100.0
"""ADR-001's read-after-write window. Before an eventual read or a read by another node,
which the window's retries do not cover, a test waits it out with ``sleep_ms``: an adapter
without read_after_write has had the window to replicate the write (the kit's clock then
waits in real time too, for a replica lagging in real time); one with read_after_write
needs no wait."""

BUDGET_MS = 1000.0
"""A staleness budget under which a strong read would serve a 1 ms old entry: only a read that
really bypasses the cache reaches the backend."""


def _cached(adapter: StorageAdapter, namespace: str, key: str) -> CacheEntry | None:
    """The entry the adapter's cache holds for record ``key``."""
    cache = adapter.cache
    assert cache is not None, f"adapter {adapter.name!r} declares 'cache' but has no cache store"
    return cache.get(namespace, cache_key(Layer.RECORD, key))


def _poison(
    adapter: StorageAdapter,
    clock: VirtualClock,
    namespace: str,
    key: str,
    state: tuple[bytes, int, str] = (b'{"poison": true}', 99, "poison-etag"),
) -> CacheEntry:
    """Put an entry for record ``key`` into the adapter's cache: by default, garbage."""
    now = clock.now_ms()
    entry = CacheEntry(*state, now, None, now + TTL_MS)
    cache = adapter.cache
    assert cache is not None, f"adapter {adapter.name!r} declares 'cache' but has no cache store"
    cache.set(namespace, cache_key(Layer.RECORD, key), entry, TTL_MS)
    return entry


def _cache_only(client: StorageClient, namespace: str, key: str) -> RecordValue | None:
    """A cache_only read of record ``key``, or ``None`` when it misses."""
    try:
        return client.records.get(namespace, key, level="cache_only")
    except CacheMissError:
        return None


def _direct(client: StorageClient, namespace: str, key: str) -> bytes | None:
    """``cache.get`` of ``key``, or ``None`` when it misses."""
    try:
        return client.cache.get(namespace, key)
    except CacheMissError:
        return None


def _state(entry: CacheEntry | Blob | None) -> tuple[bytes, int, str] | None:
    """Payload, version and etag of a cache entry or a stored record."""
    return None if entry is None else (entry.data, entry.version, entry.etag)


@contract("CACHE-001")
@pytest.mark.parametrize(
    "poison",
    [(b'{"poison": true}', 99, "newer"), (b'{"n": 1}', 1, "older"), (b"\xff\x00", 2, "garbled")],
    ids=["newer-version", "older-version", "same-version-garbled"],
)
def test_bypass_read_replaces_the_cache_entry(
    sanctum_make_client: ClientMaker,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    sanctum_backdoor: Backdoor,
    poison: tuple[bytes, int, str],
) -> None:
    """A bypass read stores what the backend returned in the cache, whatever was there."""
    client = sanctum_make_client(staleness_budget_ms=BUDGET_MS)  # the entry is fresh enough

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("k")
        client.records.put(sanctum_namespace, key, {"n": 1})
        client.records.put(sanctum_namespace, key, {"n": 2})
        _poison(sanctum_adapter, sanctum_clock, sanctum_namespace, key, poison)
        sanctum_clock.advance(1)
        read = client.records.get(sanctum_namespace, key, bypass_cache=True)
        stored = sanctum_backdoor.read_object(Layer.RECORD, sanctum_namespace, key)
        found = _cached(sanctum_adapter, sanctum_namespace, key)
        assert (read.value, read.version) == ({"n": 2}, 2), (
            f"{explain('CACHE-001')} the bypass read returned {read}"
        )
        assert found is None or _state(found) == _state(stored), (
            f"{explain('CACHE-001')} after the bypass read the cache holds {found}, "
            f"the backend {stored}"
        )
        entry = kept(found, "the entry the bypass read stored")
        assert entry.stored_at_ms == sanctum_clock.now_ms(), (
            f"{explain('CACHE-001')} the refreshed entry is stamped {entry.stored_at_ms}, "
            f"the read was at {sanctum_clock.now_ms()}"
        )

    despite_eviction("CACHE-001", scenario)


@contract("CACHE-002")
@pytest.mark.parametrize("history", ["never-written", "written", "deleted"])
def test_cache_only_miss_makes_no_backend_call(
    sanctum_make_client: ClientMaker,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    history: str,
) -> None:
    """An uncached key is a CacheMissError from a cache_only read, with zero backend calls."""
    spy = SpyAdapter(sanctum_adapter)
    client = sanctum_make_client(adapter=spy)
    if history != "never-written":
        client.records.put(sanctum_namespace, "k", {"n": 1})
    if history == "deleted":
        client.records.delete(sanctum_namespace, "k")
    spy.calls.clear()
    with pytest.raises(CacheMissError) as raised:
        client.records.get(sanctum_namespace, "k", level="cache_only")
    assert (raised.value.namespace, raised.value.key) == (sanctum_namespace, "k"), (
        f"{explain('CACHE-002')} the miss names {raised.value}"
    )
    assert spy.backend_calls() == 0, (
        f"{explain('CACHE-002')} the cache_only read called {dict(spy.calls)}"
    )


@contract("CACHE-002")
@pytest.mark.parametrize("level", [ReadLevel.STRONG, ReadLevel.EVENTUAL])
def test_cache_only_serves_what_a_read_filled(
    sanctum_make_client: ClientMaker,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    level: ReadLevel,
) -> None:
    """After a read fills the cache, a cache_only read serves it without a backend call."""
    spy = SpyAdapter(sanctum_adapter)
    client = sanctum_make_client(adapter=spy)

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("k")
        written = client.records.put(sanctum_namespace, key, {"n": 1})
        sanctum_clock.sleep_ms(RAW_WINDOW_MS)
        filled = client.records.get(sanctum_namespace, key, level=level)
        spy.calls.clear()
        found = _cache_only(client, sanctum_namespace, key)
        assert spy.backend_calls() == 0, (
            f"{explain('CACHE-002')} the cache_only read called {dict(spy.calls)}"
        )
        served = kept(found, f"the entry a {level} read filled")
        assert (served.value, served.version, served.etag) == ({"n": 1}, 1, written.etag), (
            f"{explain('CACHE-002')} a {level} read returned {filled}, cache_only then {served}"
        )

    despite_eviction("CACHE-002", scenario)


@contract("CACHE-003")
@pytest.mark.parametrize("before", ["filled", "poisoned"])
def test_write_purges_the_writers_cache(
    sanctum_client: StorageClient,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    before: str,
) -> None:
    """After a write, the writing client's cache has no entry for the key."""

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("k")
        first = sanctum_client.records.put(sanctum_namespace, key, {"n": 1})
        if before == "filled":
            sanctum_client.records.get(sanctum_namespace, key)
        else:
            _poison(sanctum_adapter, sanctum_clock, sanctum_namespace, key)
        held = kept(_cached(sanctum_adapter, sanctum_namespace, key), f"the {before} entry")
        sanctum_client.records.put(sanctum_namespace, key, {"n": 2})
        after = _cached(sanctum_adapter, sanctum_namespace, key)
        assert held.version == (first.version if before == "filled" else 99), (
            f"{explain('CACHE-003')} before the write the cache held {held}"
        )
        assert after is None, f"{explain('CACHE-003')} after the write the cache holds {after}"
        with pytest.raises(CacheMissError):
            sanctum_client.records.get(sanctum_namespace, key, level="cache_only")

    despite_eviction("CACHE-003", scenario)


@contract("CACHE-004")
@pytest.mark.parametrize("before", ["filled", "poisoned"])
def test_delete_purges_the_writers_cache(
    sanctum_client: StorageClient,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    before: str,
) -> None:
    """After a delete, the deleting client's cache has no entry for the key."""

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("k")
        written = sanctum_client.records.put(sanctum_namespace, key, {"n": 1})
        if before == "filled":
            sanctum_client.records.get(sanctum_namespace, key)
        else:
            _poison(sanctum_adapter, sanctum_clock, sanctum_namespace, key)
        held = kept(_cached(sanctum_adapter, sanctum_namespace, key), f"the {before} entry")
        sanctum_client.records.delete(sanctum_namespace, key)
        after = _cached(sanctum_adapter, sanctum_namespace, key)
        assert held.version == (written.version if before == "filled" else 99), (
            f"{explain('CACHE-004')} before the delete the cache held {held}"
        )
        assert after is None, f"{explain('CACHE-004')} after the delete the cache holds {after}"
        with pytest.raises(CacheMissError):
            sanctum_client.records.get(sanctum_namespace, key, level="cache_only")

    despite_eviction("CACHE-004", scenario)


@contract("CACHE-005")
@pytest.mark.parametrize("ttl_ms", [1000.0, TTL_MS])
def test_entry_is_not_served_once_its_ttl_has_passed(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    ttl_ms: float,
) -> None:
    """A filled entry is served until TTL - 1 ms and missed from the TTL on."""
    client = sanctum_make_client(ttl_ms=ttl_ms)

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("k")
        written = client.records.put(sanctum_namespace, key, {"n": 1})
        client.records.get(sanctum_namespace, key)
        sanctum_clock.advance(ttl_ms - 1)
        found = _cache_only(client, sanctum_namespace, key)
        sanctum_clock.advance(1)
        with pytest.raises(CacheMissError):
            client.records.get(sanctum_namespace, key, level="cache_only")
        live = kept(found, "the filled entry 1 ms before its TTL")
        assert (live.version, live.etag) == (1, written.etag), (
            f"{explain('CACHE-005')} 1 ms before the TTL the cache served {live}"
        )

    despite_eviction("CACHE-005", scenario)


@contract("CACHE-006")
@pytest.mark.parametrize("ttl_ms", [None, 1000.0])
def test_direct_cache_entry_lives_until_its_ttl(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    ttl_ms: float | None,
) -> None:
    """cache.set then cache.get returns the latest bytes until the TTL (default: the namespace)."""
    client = sanctum_client

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("k")
        client.cache.set(sanctum_namespace, key, b"old", ttl_ms=ttl_ms)
        client.cache.set(sanctum_namespace, key, bytes(range(256)), ttl_ms=ttl_ms)
        sanctum_clock.advance((ttl_ms or TTL_MS) - 1)
        found = _direct(client, sanctum_namespace, key)
        sanctum_clock.advance(1)
        with pytest.raises(CacheMissError):
            client.cache.get(sanctum_namespace, key)
        live = kept(found, "the entry 1 ms before its TTL")
        assert live == bytes(range(256)), f"{explain('CACHE-006')} 1 ms before the TTL got {live!r}"

    despite_eviction("CACHE-006", scenario)


@contract("CACHE-006")
def test_direct_cache_entry_is_gone_after_delete(
    sanctum_client: StorageClient, sanctum_namespace: str
) -> None:
    """cache.delete removes the entry and leaves other keys alone."""

    def scenario(attempt: Attempt) -> None:
        key, other_key = attempt.key("k"), attempt.key("other")
        for name in (key, other_key):
            sanctum_client.cache.set(sanctum_namespace, name, b"value of " + name.encode())
        sanctum_client.cache.delete(sanctum_namespace, key)
        sanctum_client.cache.delete(sanctum_namespace, "never-set")
        with pytest.raises(CacheMissError):
            sanctum_client.cache.get(sanctum_namespace, key)
        other = kept(_direct(sanctum_client, sanctum_namespace, other_key), f"{other_key!r}")
        assert other == b"value of " + other_key.encode(), (
            f"{explain('CACHE-006')} after deleting {key!r}, {other_key!r} is {other!r}"
        )

    despite_eviction("CACHE-006", scenario)


@contract("CACHE-007")
@pytest.mark.parametrize("change", ["put", "delete"])
def test_shared_cache_is_purged_for_every_client(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    change: str,
) -> None:
    """With no fan-out between them, a write through A purges what B's cache serves."""
    a, b = sanctum_make_client(), sanctum_make_client.node()

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("k")
        first = a.records.put(sanctum_namespace, key, {"n": 1})
        sanctum_clock.sleep_ms(RAW_WINDOW_MS)
        b.records.get(sanctum_namespace, key)
        served = kept(_cache_only(b, sanctum_namespace, key), "the entry B's read filled")
        if change == "put":
            a.records.put(sanctum_namespace, key, {"n": 2})
        else:
            a.records.delete(sanctum_namespace, key)
        assert (served.version, served.etag) == (1, first.etag), (
            f"{explain('CACHE-007')} before the {change}, B's cache served {served}"
        )
        with pytest.raises(CacheMissError):
            b.records.get(sanctum_namespace, key, level="cache_only")

    despite_eviction("CACHE-007", scenario)


@contract("CACHE-007")
def test_shared_cache_fill_is_seen_by_every_client(
    sanctum_make_client: ClientMaker, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """A read through A fills the cache B reads from, and B then sees A's next write."""
    a, b = sanctum_make_client(), sanctum_make_client.node()

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("k")
        first = a.records.put(sanctum_namespace, key, {"n": 1})
        a.records.get(sanctum_namespace, key)
        served = kept(_cache_only(b, sanctum_namespace, key), "the entry A's read filled")
        second = a.records.put(sanctum_namespace, key, {"n": 2})
        sanctum_clock.sleep_ms(RAW_WINDOW_MS)  # well within the TTL of the entry, if not purged
        after = b.records.get(sanctum_namespace, key, level="eventual")
        assert (served.version, served.etag) == (1, first.etag), (
            f"{explain('CACHE-007')} B's cache_only read of A's fill returned {served}"
        )
        assert (after.value, after.version, after.etag) == ({"n": 2}, 2, second.etag), (
            f"{explain('CACHE-007')} after A's write B's eventual read returned {after}"
        )

    despite_eviction("CACHE-007", scenario)


@contract("CACHE-008")
@pytest.mark.parametrize("change", ["put", "delete"])
def test_delivered_invalidation_purges_another_clients_cache(
    sanctum_make_client: ClientMaker,
    sanctum_reopen: Callable[[], StorageAdapter],
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    change: str,
) -> None:
    """B drops the key, and only that key, from its cache when A's invalidation is delivered."""

    def scenario(attempt: Attempt) -> None:
        key, other_key = attempt.key("k"), attempt.key("other")
        fanout = QueuedFanout()
        b_adapter = sanctum_reopen()
        a = sanctum_make_client(fanout=fanout)
        b = sanctum_make_client(adapter=b_adapter, fanout=fanout)
        for name in (key, other_key):
            a.records.put(sanctum_namespace, name, {"key": name})
        fanout.deliver_all()
        sanctum_clock.sleep_ms(RAW_WINDOW_MS)
        for name in (key, other_key):
            b.records.get(sanctum_namespace, name)
        held = kept(_cached(b_adapter, sanctum_namespace, key), "the entry B's read filled")
        if change == "put":
            version = a.records.put(sanctum_namespace, key, {"key": key, "n": 2}).version
        else:
            a.records.delete(sanctum_namespace, key)
            version = 1  # the version the delete removed
        published = fanout.pending
        undelivered = _cached(b_adapter, sanctum_namespace, key)
        delivered = fanout.deliver_all()
        after = _cached(b_adapter, sanctum_namespace, key)
        assert published == (
            InvalidationEvent(Layer.RECORD, sanctum_namespace, key, version, a.node_id),
        ), f"{explain('CACHE-008')} A's {change} published {published}"
        assert _state(undelivered) in (None, _state(held)), (
            f"{explain('CACHE-008')} before delivery B's cache held {held}, then {undelivered}"
        )
        assert (delivered, after) == (1, None), (
            f"{explain('CACHE-008')} after delivering {delivered} event(s) B's cache holds {after}"
        )
        kept(
            _cached(b_adapter, sanctum_namespace, other_key),
            f"{other_key!r} after the invalidation of {key!r} (purged with it, or evicted)",
        )

    despite_eviction("CACHE-008", scenario)


BUSY_WRITES = 300
"""Cache writes of the busy-cache test: past the sizes where a cache's housekeeping
(expiry heaps, slot tables, pipelines) compacts or grows."""


@contract("CACHE-030")
def test_a_busy_cache_keeps_its_rules(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """After hundreds of writes, rewrites, deletes and expiries, the cache raises nothing,
    serves no deleted or expired entry, and serves each key only its latest bytes."""
    cache, ns = sanctum_client.cache, sanctum_namespace
    for index in range(BUSY_WRITES):
        cache.set(ns, "hot", b"v%d" % index, ttl_ms=4_000.0)
    latest = {"hot": b"v%d" % (BUSY_WRITES - 1)}
    expires: dict[str, float] = {}
    for index in range(BUSY_WRITES):
        key = f"k{index}"
        ttl = 50.0 if index % 2 else 4_000.0
        cache.set(ns, key, b"old", ttl_ms=ttl)
        cache.set(ns, key, b"v%d" % index, ttl_ms=ttl)
        latest[key] = b"v%d" % index
        expires[key] = sanctum_clock.now_ms() + ttl
        if index % 3 == 0:
            cache.delete(ns, key)
            del latest[key]
        sanctum_clock.advance(1.0)
    wrong = []
    for key in ["hot", *(f"k{index}" for index in range(BUSY_WRITES))]:
        try:
            found: bytes | None = cache.get(ns, key)
        except CacheMissError:
            found = None
        gone = key not in latest or expires.get(key, math.inf) <= sanctum_clock.now_ms()
        if found is not None and (gone or found != latest[key]):
            state = "deleted or expired" if gone else f"holding {latest[key]!r}"
            wrong.append(f"{key} ({state}) served {found!r}")
    assert wrong == [], f"{explain('CACHE-030')} {wrong[:5]} ({len(wrong)} wrong)"
