"""Sizes and times at real backend boundaries (BLOB-009, CACHE-009, STR-011, STR-012).

Backends change strategy at sizes (S3 clients switch to multipart uploads at 5 or 8 MiB,
with 5 MiB parts; some stores chunk at 16 MiB) and keep time in whole seconds (Redis
``EX``, SQL ``INTEGER`` columns, TTLs in seconds). So payloads just below, at and just
above those sizes must round-trip byte for byte, and times that are not whole seconds
(1,500 ms) or tiny (1 ms) must hold exactly.

Time is checked on the facade clock, which is virtual in the kit. A cache that expires
entries in real time (Redis ``PX``) is checked in real time too: the early-expiry test
waits 1.1 s of real time, past a whole-second rounding and before the 1.5 s TTL (and
checks again with new entries when the machine stalled past the TTL). A cache
may drop any entry at any moment (ADR-001), so "not early" asks only that one of several
entries is still there; an adapter that rounds the TTL down loses them all.
"""

from __future__ import annotations

import functools
import hashlib
import time

import pytest

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import CacheMissError
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.fixtures import ClientMaker
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.types import Layer

MIB = 1 << 20
THRESHOLDS_MIB = (5, 8, 16)
"""Sizes at which real backends switch upload strategy."""

FRACTION_MS = 0.25
"""Tests start this far past a whole millisecond, so a time stored rounded shows."""

ENTRIES = 8
"""Cache entries per "not early" check: a cache evicting at random keeps at least one."""

REAL_WAIT_S = 1.1
"""Real time waited before checking that a 1,500 ms entry is still there: past 1 s."""

STALL_ATTEMPTS = 4
"""Times the 1,500 ms check is made before a machine stalling past the TTL each time makes
it ``untested``: one stall of 0.4 s is common on a loaded machine, four in a row are not."""


@functools.cache
def _master() -> bytes:
    """16 MiB + 1 pseudo-random bytes (no two 5 MiB parts alike, so reordering shows)."""
    return hashlib.shake_128(b"pytest-sanctum BLOB-009").digest(max(THRESHOLDS_MIB) * MIB + 1)


def _first_difference(left: bytes, right: bytes) -> int:
    """The first offset where two byte strings differ (the shorter length if one is a prefix);
    a bisection of slice comparisons, fast on megabytes."""
    size = min(len(left), len(right))
    if left[:size] == right[:size]:
        return size
    low, high = 0, size  # left[:low] == right[:low], and they differ before high
    while high - low > 1:
        middle = (low + high) // 2
        if left[low:middle] == right[low:middle]:
            low = middle
        else:
            high = middle
    return low


def _mismatch(what: str, found: bytes | None, payload: bytes) -> str | None:
    """``None`` when ``found`` equals ``payload``, else where they differ (never a diff)."""
    if found is None:
        return f"{what}: nothing"
    same = found == payload
    if same:
        return None
    return (
        f"{what}: {len(found)} bytes, differing from the {len(payload)} written at offset "
        f"{_first_difference(found, payload)}"
    )


@contract("BLOB-009")
@pytest.mark.parametrize("threshold_mib", THRESHOLDS_MIB, ids=[f"{n}MiB" for n in THRESHOLDS_MIB])
def test_payloads_across_multipart_thresholds_round_trip(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    sanctum_backdoor: Backdoor,
    threshold_mib: int,
) -> None:
    """Payloads of the threshold - 1, the threshold and + 1 byte round-trip exactly."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    wrong: list[str] = []
    for size in (threshold_mib * MIB - 1, threshold_mib * MIB, threshold_mib * MIB + 1):
        payload = _master()[:size]
        key = f"payload-{size}"
        blobs.put(ns, key, payload)
        strong = blobs.get(ns, key).data
        sanctum_clock.advance(100.0)  # the read-after-write window, before reads not retried
        found = [
            _mismatch(f"{size} bytes, strong read", strong, payload),
            _mismatch(
                f"{size} bytes, eventual read", blobs.get(ns, key, level="eventual").data, payload
            ),
            _mismatch(f"{size} bytes, in the backend", _stored(sanctum_backdoor, ns, key), payload),
        ]
        size_seen = (blobs.head(ns, key).size, [i.size for i in blobs.list(ns, key, limit=1)])
        if size_seen != (size, [size]):
            found.append(f"{size} bytes: head and list report sizes {size_seen}")
        wrong += [problem for problem in found if problem is not None]
        blobs.delete(ns, key)  # keeps the backend's memory use to one payload at a time
    assert wrong == [], f"{explain('BLOB-009')} {wrong}"


def _stored(backdoor: Backdoor, namespace: str, key: str) -> bytes | None:
    blob = backdoor.read_object(Layer.BLOB, namespace, key)
    return None if blob is None else blob.data


TTLS_MS = [1500.0, 1.0]


@contract("CACHE-009")
@pytest.mark.parametrize("ttl_ms", TTLS_MS, ids=["1500ms", "1ms"])
def test_cache_entries_are_never_served_after_their_ttl(
    sanctum_make_client: ClientMaker,
    sanctum_kit: KitSession,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    ttl_ms: float,
) -> None:
    """Direct entries and read-through fills with a TTL of 1,500 or 1 ms miss from the TTL on."""
    client = sanctum_make_client(ttl_ms=ttl_ms)
    ns = sanctum_namespace
    records = sanctum_kit.capabilities.records
    sanctum_clock.advance(FRACTION_MS)
    if records:
        client.records.put(ns, "r", {"n": 1})
    for index in range(ENTRIES):
        client.cache.set(ns, f"k{index}", b"v", ttl_ms=ttl_ms)
    if records:
        client.records.get(ns, "r")  # fills the cache with the namespace's TTL
    sanctum_clock.advance(ttl_ms)
    served = []
    for index in range(ENTRIES):
        try:
            client.cache.get(ns, f"k{index}")
            served.append(f"k{index}")
        except CacheMissError:
            pass
    try:
        if records:
            client.records.get(ns, "r", level="cache_only")
            served.append("the read-through entry of record 'r'")
    except CacheMissError:
        pass
    assert served == [], (
        f"{explain('CACHE-009')} {ttl_ms:g} ms after being cached with a TTL of {ttl_ms:g} ms, "
        f"the cache still served {served}"
    )


@contract("CACHE-009")
def test_a_1500_ms_entry_is_not_dropped_after_one_second(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """Of entries cached for 1,500 ms, one at least is served 1.1 s later in real time and
    1,499 ms later on the facade clock (a TTL rounded down to 1 s has dropped them all).

    A machine that stalls past the 1.5 s TTL between the writes and the reads tells
    nothing: the check is made again with new entries, up to ``STALL_ATTEMPTS`` times.
    """
    cache, ns = sanctum_client.cache, sanctum_namespace
    sanctum_clock.advance(FRACTION_MS)
    for attempt in range(STALL_ATTEMPTS):
        keys = [f"a{attempt}-k{index}" for index in range(ENTRIES)]
        set_at = []
        for key in keys:
            set_at.append(time.monotonic())
            cache.set(ns, key, b"v", ttl_ms=1500.0)
        time.sleep(max(0.0, REAL_WAIT_S - (time.monotonic() - set_at[0])))
        sanctum_clock.advance(1499.0)
        hits, ages = _served(sanctum_client, ns, keys, set_at)
        if hits > 0 or min(ages) < 1.5:
            break
    else:
        pytest.skip(
            f"untested: the machine stalled in each of {STALL_ATTEMPTS} attempts: the entries "
            f"were read {min(ages):.2f} s after being cached, past their 1.5 s TTL in real time"
        )
    assert hits > 0, (
        f"{explain('CACHE-009')} none of {ENTRIES} entries cached for 1,500 ms was served "
        f"1,499 ms later on the facade clock and {min(ages):.2f} s later in real time"
    )


@contract("CACHE-009")
def test_a_1_ms_entry_is_cached_at_all(
    sanctum_client: StorageClient, sanctum_namespace: str
) -> None:
    """Of entries cached for 1 ms and read at once (the facade clock standing still), one at
    least is served (a TTL rounded down to whole seconds is 0: never cached)."""
    cache, ns = sanctum_client.cache, sanctum_namespace
    hits, youngest = 0, float("inf")
    for index in range(ENTRIES):
        started = time.monotonic()
        cache.set(ns, f"k{index}", b"v", ttl_ms=1.0)
        try:
            cache.get(ns, f"k{index}")
            hits += 1
        except CacheMissError:
            youngest = min(youngest, time.monotonic() - started)
    if hits == 0 and youngest >= 0.001:
        pytest.skip(
            f"untested: the machine is too slow to time a 1 ms TTL: each set and get took "
            f"{youngest * 1000:.1f} ms or more in real time"
        )
    assert hits > 0, (
        f"{explain('CACHE-009')} none of {ENTRIES} entries cached for 1 ms was served at once"
    )


def _served(
    client: StorageClient, namespace: str, keys: list[str], set_at: list[float]
) -> tuple[int, list[float]]:
    """How many of the entries ``keys`` are served, and each one's real age when read."""
    hits, ages = 0, []
    for key, stamp in zip(keys, set_at, strict=True):
        try:
            client.cache.get(namespace, key)
            hits += 1
        except CacheMissError:
            pass
        ages.append(time.monotonic() - stamp)
    return hits, ages


@contract("STR-011")
@pytest.mark.parametrize("timeout_ms", [1500.0, 1.0], ids=["1500ms", "1ms"])
def test_visibility_timeouts_are_exact(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    timeout_ms: float,
) -> None:
    """A delivery comes again exactly at its visibility timeout: not before, not after."""
    streams, ns = sanctum_client.streams, sanctum_namespace
    sanctum_clock.advance(FRACTION_MS)
    sent = streams.append(ns, "s", {"n": 1})
    first = streams.read(ns, "s", "g", "c1", visibility_timeout_ms=timeout_ms)
    early = min(1.0, timeout_ms / 2)
    sanctum_clock.advance(timeout_ms - early)
    before = streams.read(ns, "s", "g", "c2", visibility_timeout_ms=timeout_ms)
    sanctum_clock.advance(early)
    at = streams.read(ns, "s", "g", "c2", visibility_timeout_ms=timeout_ms)
    seen = (
        [(d.message_id, d.delivery_count) for d in first],
        before,
        [(d.message_id, d.delivery_count) for d in at],
    )
    assert seen == ([(sent.message_id, 1)], [], [(sent.message_id, 2)]), (
        f"{explain('STR-011')} with a {timeout_ms:g} ms timeout: first read, read "
        f"{early:g} ms before the timeout, read at the timeout: {seen}"
    )


@contract("STR-012")
@pytest.mark.parametrize("window_ms", [1500.0, 1.0], ids=["1500ms", "1ms"])
def test_dedupe_windows_are_exact(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    window_ms: float,
) -> None:
    """A key repeated just before its window ends is a duplicate; repeated at its end, it appends."""
    streams, ns = sanctum_make_client(dedupe_window_ms=window_ms).streams, sanctum_namespace
    sanctum_clock.advance(FRACTION_MS)
    first = streams.append(ns, "s", {"n": 1}, idempotency_key="k")
    early = min(1.0, window_ms / 2)
    sanctum_clock.advance(window_ms - early)
    inside = streams.append(ns, "s", {"n": 2}, idempotency_key="k")
    sanctum_clock.advance(early)
    after = streams.append(ns, "s", {"n": 3}, idempotency_key="k")
    seen = [(r.message_id, r.duplicate) for r in (first, inside, after)]
    assert seen == [("1", False), ("1", True), ("2", False)], (
        f"{explain('STR-012')} with a {window_ms:g} ms window, appends of one key at 0, "
        f"{window_ms - early:g} and {window_ms:g} ms returned (message id, duplicate) {seen}"
    )
