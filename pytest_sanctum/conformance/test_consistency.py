"""Consistency contracts (CONS-*): read levels, staleness budget and bypass of ADR-001.

CONS-001 to CONS-004 are the ADR's four acceptance tests. Time is the kit's virtual
clock: the facade's read-after-write retries sleep on it, so "within 100 ms" is measured
on it too.
"""

from __future__ import annotations

import json

import pytest

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.core import cache_key
from pytest_sanctum.errors import (
    CacheMissError,
    ConsistencyError,
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
)
from pytest_sanctum.fanout import QueuedFanout
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.eviction import Attempt, Evicted, despite_eviction, kept
from pytest_sanctum.kit.fixtures import ClientMaker
from pytest_sanctum.kit.spy import SpyAdapter
from pytest_sanctum.observability import RecordingMetrics
from pytest_sanctum.types import CacheEntry, Layer, ReadLevel

RAW_WINDOW_MS = 100.0
"""ADR-001: a strong read sees the client's write, or gives up, within 100 ms. Tests also
wait it out with ``sleep_ms`` before a read the window's retries do not cover (eventual
reads, reads by another node), so that an adapter without read_after_write has had the
window to replicate the write (the kit's clock then waits in real time too, for a replica
lagging in real time); an adapter with read_after_write needs no such wait."""

TTL_MS = 5000.0
"""The cache TTL of the kit's clients (the facade maximum)."""

Outcome = tuple[object, ...]
"""A read's outcome: (value, version, etag), or (error class name, error code)."""


def _eventual(client: StorageClient, namespace: str, key: str) -> Outcome:
    """An eventual read of record ``key``, as an outcome (errors included)."""
    try:
        read = client.records.get(namespace, key, level="eventual")
    except SanctumError as error:
        return (type(error).__name__, error.code)
    return (read.value, read.version, read.etag)


def _poison(
    adapter: StorageAdapter,
    clock: VirtualClock,
    namespace: str,
    key: str,
    state: tuple[bytes, int, str],
) -> None:
    """Put a (data, version, etag) entry for record ``key`` into the adapter's cache, aged 0."""
    now = clock.now_ms()
    cache = adapter.cache
    assert cache is not None, f"adapter {adapter.name!r} declares 'cache' but has no cache store"
    entry = CacheEntry(*state, now, None, now + TTL_MS)
    cache.set(namespace, cache_key(Layer.RECORD, key), entry, TTL_MS)


@contract("CONS-001")
@pytest.mark.parametrize("level", [None, ReadLevel.STRONG])
def test_strong_read_after_a_put_is_new_or_a_consistency_error(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    level: ReadLevel | None,
) -> None:
    """Each put is followed by a strong read giving its version, or ConsistencyError, in 100 ms."""
    for n in range(1, 4):
        written = sanctum_client.blobs.put(sanctum_namespace, "k", f"v{n}".encode())
        started = sanctum_clock.now_ms()
        try:
            read = sanctum_client.blobs.get(sanctum_namespace, "k", level=level)
            outcome: Outcome = (read.data, read.version, read.etag)
        except ConsistencyError as error:
            outcome = ("ConsistencyError", error.expected_version)
        took = sanctum_clock.now_ms() - started
        allowed = [(f"v{n}".encode(), written.version, written.etag), ("ConsistencyError", n)]
        assert outcome in allowed, f"{explain('CONS-001')} put {written}, then read {outcome}"
        assert took <= RAW_WINDOW_MS, f"{explain('CONS-001')} the read took {took} ms"


@contract("CONS-010")
def test_strong_read_on_another_node_does_not_return_its_cached_old_version(
    sanctum_make_client: ClientMaker, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """B cached v1 and A's invalidation is held: B's strong read (budget 0) returns v2."""
    fanout = QueuedFanout()
    a, b = sanctum_make_client(fanout=fanout), sanctum_make_client.node(fanout=fanout)
    a.blobs.put(sanctum_namespace, "k", b"v1")
    fanout.deliver_all()
    cached = b.blobs.get(sanctum_namespace, "k")
    second = a.blobs.put(sanctum_namespace, "k", b"v2")
    sanctum_clock.advance(1)
    read = b.blobs.get(sanctum_namespace, "k")
    assert cached.version == 1, f"{explain('CONS-010')} B first read {cached}"
    assert (read.data, read.version, read.etag) == (b"v2", 2, second.etag), (
        f"{explain('CONS-010')} with A's invalidation still held ({len(fanout.pending)} "
        f"pending), B's strong read returned {read}"
    )


@contract("CONS-002")
@pytest.mark.parametrize("reader", ["writer", "other-node"])
def test_eventual_read_after_a_write_returns_a_written_version(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    reader: str,
) -> None:
    """Eventual reads after a write return v1 or v2, never an error, before and after delivery."""
    fanout = QueuedFanout()
    a, b = sanctum_make_client(fanout=fanout), sanctum_make_client.node(fanout=fanout)
    client = a if reader == "writer" else b
    first = a.records.put(sanctum_namespace, "k", {"n": 1})
    fanout.deliver_all()
    sanctum_clock.sleep_ms(RAW_WINDOW_MS)
    client.records.get(sanctum_namespace, "k", level="eventual")
    second = a.records.put(sanctum_namespace, "k", {"n": 2})
    seen = [_eventual(client, sanctum_namespace, "k")]
    for step in (1, TTL_MS - 2, 1, 1):
        sanctum_clock.advance(step)
        seen.append(_eventual(client, sanctum_namespace, "k"))
    fanout.deliver_all()
    seen.append(_eventual(client, sanctum_namespace, "k"))
    allowed = [({"n": 1}, 1, first.etag), ({"n": 2}, 2, second.etag)]
    assert all(outcome in allowed for outcome in seen), (
        f"{explain('CONS-002')} after writes {first} and {second}, eventual reads gave {seen}"
    )


@contract("CONS-003")
@pytest.mark.parametrize("budget_ms", [0.0, 1000.0])
def test_strong_read_after_a_delete_is_not_found(
    sanctum_make_client: ClientMaker, sanctum_namespace: str, budget_ms: float
) -> None:
    """The deleting client's strong read raises NotFoundError at once, whatever its budget."""
    client = sanctum_make_client(staleness_budget_ms=budget_ms)
    client.records.put(sanctum_namespace, "k", {"n": 1})
    client.records.get(sanctum_namespace, "k")
    client.records.delete(sanctum_namespace, "k")
    with pytest.raises(NotFoundError) as raised:
        client.records.get(sanctum_namespace, "k")
    assert (raised.value.namespace, raised.value.key) == (sanctum_namespace, "k"), (
        f"{explain('CONS-003')} the strong read after the delete raised {raised.value}"
    )


@contract("CONS-003")
@pytest.mark.parametrize("ttl_ms", [1000.0, TTL_MS])
def test_deleted_value_is_seen_elsewhere_at_most_until_its_ttl(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    ttl_ms: float,
) -> None:
    """With A's invalidation held, B's eventual read may return the ghost only before the TTL."""
    fanout = QueuedFanout()
    a = sanctum_make_client(fanout=fanout, ttl_ms=ttl_ms)
    b = sanctum_make_client.node(fanout=fanout, ttl_ms=ttl_ms)
    written = a.records.put(sanctum_namespace, "k", {"n": 1})
    fanout.deliver_all()
    sanctum_clock.sleep_ms(RAW_WINDOW_MS)
    b.records.get(sanctum_namespace, "k", level="eventual")
    a.records.delete(sanctum_namespace, "k")
    sanctum_clock.sleep_ms(RAW_WINDOW_MS)  # the delete reaches every replica in the window
    sanctum_clock.advance(ttl_ms - 1 - RAW_WINDOW_MS)
    before_ttl = _eventual(b, sanctum_namespace, "k")
    sanctum_clock.advance(2)
    after_ttl = _eventual(b, sanctum_namespace, "k")
    gone = ("NotFoundError", "not_found")
    assert before_ttl in [({"n": 1}, 1, written.etag), gone], (
        f"{explain('CONS-003')} 1 ms before the TTL B's eventual read gave {before_ttl}"
    )
    assert after_ttl == gone, (
        f"{explain('CONS-003')} past the TTL B's eventual read gave {after_ttl}"
    )


@contract("CONS-004")
@pytest.mark.parametrize(
    "poison",
    [(b'{"n": "evil"}', 99, "fake-etag"), (b'{"n": "evil"}', 1, "fake-etag"), (b"\xff{", 7, "x")],
    ids=["higher-version", "same-version", "undecodable"],
)
def test_bypass_read_returns_the_backend_payload_despite_a_poisoned_cache(
    sanctum_client: StorageClient,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    sanctum_backdoor: Backdoor,
    poison: tuple[bytes, int, str],
) -> None:
    """A strong bypass read returns the backend's payload and version and refreshes the cache."""

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("order-1")
        written = sanctum_client.records.put(sanctum_namespace, key, {"n": 1, "paid": True})
        _poison(sanctum_adapter, sanctum_clock, sanctum_namespace, key, poison)
        read = sanctum_client.records.get(sanctum_namespace, key, bypass_cache=True)
        stored = sanctum_backdoor.read_object(Layer.RECORD, sanctum_namespace, key)
        try:
            found = sanctum_client.records.get(sanctum_namespace, key, level="cache_only")
        except CacheMissError:
            found = None
        assert (read.value, read.version, read.etag) == ({"n": 1, "paid": True}, 1, written.etag), (
            f"{explain('CONS-004')} with {poison} in the cache the bypass read returned {read}"
        )
        assert stored is not None, f"{explain('CONS-004')} the backend lost the record"
        assert (json.loads(stored.data), stored.version) == (read.value, read.version), (
            f"{explain('CONS-004')} the bypass read returned {read}, the backend holds {stored}"
        )
        cached = kept(found, "the entry the bypass read stored")
        assert (cached.value, cached.version, cached.etag) == (read.value, 1, written.etag), (
            f"{explain('CONS-004')} after the bypass read the cache serves {cached}"
        )

    despite_eviction("CONS-004", scenario)


@contract("CONS-005")
@pytest.mark.parametrize(("budget_ms", "age_ms"), [(0.0, 1.0), (0.0, TTL_MS - 1), (50.0, 51.0)])
def test_read_without_a_level_skips_an_entry_older_than_the_budget(
    sanctum_make_client: ClientMaker,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    sanctum_backdoor: Backdoor,
    budget_ms: float,
    age_ms: float,
) -> None:
    """An old-version entry aged past the budget is not what a read with no level returns."""
    client = sanctum_make_client(staleness_budget_ms=budget_ms)
    client.records.put(sanctum_namespace, "k", {"n": 1})
    old = sanctum_backdoor.read_object(Layer.RECORD, sanctum_namespace, "k")
    assert old is not None, f"{explain('CONS-005')} the backend lost the first write"
    second = client.records.put(sanctum_namespace, "k", {"n": 2})
    _poison(sanctum_adapter, sanctum_clock, sanctum_namespace, "k", (old.data, 1, old.etag))
    sanctum_clock.advance(age_ms)
    read = client.records.get(sanctum_namespace, "k")
    assert (read.value, read.version, read.etag) == ({"n": 2}, 2, second.etag), (
        f"{explain('CONS-005')} with version 1 cached {age_ms} ms ago (budget {budget_ms} ms) "
        f"the read returned {read}"
    )


@contract("CONS-006")
@pytest.mark.parametrize("budget_ms", [50.0, 1000.0])
def test_strong_read_serves_the_cache_within_the_budget_only(
    sanctum_make_client: ClientMaker,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    budget_ms: float,
) -> None:
    """An entry aged exactly the budget is served from the cache; 1 ms older, the backend is."""
    spy = SpyAdapter(sanctum_adapter)
    client = sanctum_make_client(adapter=spy, staleness_budget_ms=budget_ms)

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("k")
        written = client.records.put(sanctum_namespace, key, {"n": 1})
        client.records.get(sanctum_namespace, key)
        reads = []
        for step in (budget_ms, 1):
            sanctum_clock.advance(step)
            before = spy.backend_reads("records")
            read = client.records.get(sanctum_namespace, key, level="strong")
            reads.append((read.version, read.etag, spy.backend_reads("records") - before))
        if reads[0] == (1, written.etag, 1):
            raise Evicted(f"the strong read at age {budget_ms:g} ms read the backend")
        assert reads == [(1, written.etag, 0), (1, written.etag, 1)], (
            f"{explain('CONS-006')} (version, etag, backend reads) at age {budget_ms} ms and "
            f"{budget_ms + 1} ms: {reads}"
        )

    despite_eviction("CONS-006", scenario)


@contract("CONS-007")
@pytest.mark.parametrize("ttl_ms", [1000.0, TTL_MS])
def test_eventual_read_serves_the_cache_until_the_ttl(
    sanctum_make_client: ClientMaker,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    ttl_ms: float,
) -> None:
    """An entry aged TTL - 1 ms is served by an eventual read; at the TTL the backend is read."""
    spy = SpyAdapter(sanctum_adapter)
    client = sanctum_make_client(adapter=spy, ttl_ms=ttl_ms)

    def scenario(attempt: Attempt) -> None:
        key = attempt.key("k")
        written = client.records.put(sanctum_namespace, key, {"n": 1})
        sanctum_clock.sleep_ms(RAW_WINDOW_MS)
        client.records.get(sanctum_namespace, key, level="eventual")
        reads = []
        for step in (ttl_ms - 1, 1):
            sanctum_clock.advance(step)
            before = spy.backend_reads("records")
            read = client.records.get(sanctum_namespace, key, level="eventual")
            reads.append((read.version, read.etag, spy.backend_reads("records") - before))
        if reads[0] == (1, written.etag, 1):
            raise Evicted(f"the eventual read at age {ttl_ms - 1:g} ms read the backend")
        assert reads == [(1, written.etag, 0), (1, written.etag, 1)], (
            f"{explain('CONS-007')} (version, etag, backend reads) at age {ttl_ms - 1} ms and "
            f"{ttl_ms} ms: {reads}"
        )

    despite_eviction("CONS-007", scenario)


@contract("CONS-008")
def test_strong_read_after_a_write_needs_one_backend_call(
    sanctum_make_client: ClientMaker,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_metrics: RecordingMetrics,
) -> None:
    """Each strong read right after a write returns it from the first backend call, no retry."""
    spy = SpyAdapter(sanctum_adapter)
    client = sanctum_make_client(adapter=spy)
    reads = []
    for n in range(1, 4):
        written = client.records.put(sanctum_namespace, "k", {"n": n})
        before = spy.backend_reads("records")
        read = client.records.get(sanctum_namespace, "k")
        reads.append((read.value, read.etag == written.etag, spy.backend_reads("records") - before))
    retries = sanctum_metrics.value("retries_total")
    assert reads == [({"n": n}, True, 1) for n in range(1, 4)], (
        f"{explain('CONS-008')} (value, etag matches the write, backend reads) per read: {reads}"
    )
    assert retries == 0, f"{explain('CONS-008')} the reads retried {retries} times"


@contract("CONS-009")
@pytest.mark.parametrize("level", [None, ReadLevel.STRONG])
def test_strong_read_with_a_stale_if_match_fails_with_the_current_etag(
    sanctum_client: StorageClient, sanctum_namespace: str, level: ReadLevel | None
) -> None:
    """A stale if_match fails with the current etag and version; the current one reads."""
    first = sanctum_client.records.put(sanctum_namespace, "k", {"n": 1})
    second = sanctum_client.records.put(sanctum_namespace, "k", {"n": 2})
    with pytest.raises(PreconditionFailedError) as raised:
        sanctum_client.records.get(sanctum_namespace, "k", level=level, if_match=first.etag)
    matched = sanctum_client.records.get(sanctum_namespace, "k", level=level, if_match=second.etag)
    failure = (raised.value.current_etag, raised.value.current_version)
    assert failure == (second.etag, 2), (
        f"{explain('CONS-009')} if_match {first.etag!r} failed with (etag, version) {failure}"
    )
    assert (matched.value, matched.version) == ({"n": 2}, 2), (
        f"{explain('CONS-009')} if_match with the current etag read {matched}"
    )


@contract("CONS-010")
def test_conditional_strong_read_does_not_trust_a_cached_etag(
    sanctum_make_client: ClientMaker, sanctum_namespace: str
) -> None:
    """A read with if_match goes to the backend even when the cache holds the matching etag."""
    a = sanctum_make_client(staleness_budget_ms=1000.0)
    first = a.records.put(sanctum_namespace, "k", {"n": 1})
    a.records.get(sanctum_namespace, "k")
    second = sanctum_make_client.node().records.put(sanctum_namespace, "k", {"n": 2})
    with pytest.raises(PreconditionFailedError) as raised:
        a.records.get(sanctum_namespace, "k", if_match=first.etag)
    assert raised.value.current_etag == second.etag, (
        f"{explain('CONS-010')} another node wrote {second}; A's read with if_match "
        f"{first.etag!r} failed with current etag {raised.value.current_etag!r}"
    )
