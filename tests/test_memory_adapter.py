"""Unit tests of the in-memory reference adapter: the semantics every backend is checked against."""

from __future__ import annotations

import math
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from types import MappingProxyType

import pytest

from pytest_sanctum.adapters.base import (
    BatchStreamLog,
    CacheStore,
    CachingVersionedStore,
    CheckpointStore,
    GroupStore,
    StorageAdapter,
    StreamLog,
    VersionedStore,
)
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.types import (
    Blob,
    BlobInfo,
    CacheEntry,
    CacheFill,
    Capabilities,
    Claimed,
    GroupCheckpoint,
    GroupPending,
    JSONValue,
    StoredMessage,
)
from reference_adapters.memory import (
    MemoryAdapter,
    MemoryBatchStreamLog,
    MemoryCachingVersionedStore,
    MemoryCheckpointStore,
    MemoryGroupStore,
    MemoryServer,
    create_memory_adapter,
    drop_server,
    get_server,
)

NS = "ns"
ETAG_SHAPE = re.compile(r"^[0-9a-f]+-[0-9a-f]+$")

Open = Callable[..., MemoryAdapter]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def server_name() -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex}"
    yield name
    drop_server(name)


@pytest.fixture
def open_adapter(server_name: str, clock: VirtualClock) -> Open:
    """Builds an adapter on this test's server; calling it again is a reopen."""

    def build(**options: JSONValue) -> MemoryAdapter:
        return create_memory_adapter({"server": server_name, **options}, clock)

    return build


@pytest.fixture
def adapter(open_adapter: Open) -> MemoryAdapter:
    return open_adapter()


@pytest.fixture
def contended() -> Iterator[None]:
    """Switch threads very often so concurrent operations really interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def entry(data: bytes = b"v", version: int = 1, stored_at_ms: float = 0.0) -> CacheEntry:
    return CacheEntry(data, version, f"{version:x}-etag", stored_at_ms)


# --- protocols, capabilities, registry -------------------------------------------------


def test_adapter_and_stores_satisfy_the_protocols(adapter: MemoryAdapter) -> None:
    assert isinstance(adapter, StorageAdapter)
    assert isinstance(adapter.blobs, CachingVersionedStore)
    assert isinstance(adapter.records, CachingVersionedStore)
    assert isinstance(adapter.streams, BatchStreamLog)
    assert isinstance(adapter.checkpoints, GroupStore)
    assert not isinstance(adapter.checkpoints, CheckpointStore)
    assert isinstance(adapter.cache, CacheStore)
    assert (adapter.name, adapter.interface) == ("memory", "full")


def test_the_basic_interface_offers_only_the_base_protocols(open_adapter: Open) -> None:
    adapter = open_adapter(interface="basic")
    assert isinstance(adapter, StorageAdapter)
    for store in (adapter.blobs, adapter.records):
        assert isinstance(store, VersionedStore)
        assert not isinstance(store, CachingVersionedStore)
    assert isinstance(adapter.streams, StreamLog)
    assert not isinstance(adapter.streams, BatchStreamLog)
    assert isinstance(adapter.checkpoints, CheckpointStore)
    assert not isinstance(adapter.checkpoints, GroupStore)
    assert adapter.interface == "basic"


@pytest.mark.parametrize("value", ["", "v2", None, True])
def test_an_unknown_interface_is_refused(value: object, clock: VirtualClock) -> None:
    with pytest.raises(ConfigError) as caught:
        create_memory_adapter({"interface": value}, clock)
    assert caught.value.field == "options.interface"


def test_capabilities_declare_everything_but_a_distributed_cache(open_adapter: Open) -> None:
    local = open_adapter().capabilities
    assert local == Capabilities(
        blobs=True,
        records=True,
        streams=True,
        cache=True,
        read_after_write=True,
        conditional_writes=True,
        idempotent_append=True,
        durable_checkpoints=True,
    )
    assert open_adapter(shared_cache=True).capabilities == Capabilities.all()


def test_registered_as_the_memory_entry_point() -> None:
    (point,) = entry_points(group="pytest_sanctum.adapters", name="memory")
    assert point.load() is create_memory_adapter


def test_get_server_returns_one_server_per_name_until_dropped(server_name: str) -> None:
    server = get_server(server_name)
    assert isinstance(server, MemoryServer)
    assert get_server(server_name) is server
    drop_server(server_name)
    assert get_server(server_name) is not server
    drop_server("never-created")  # unknown names are ignored


def test_default_server_name(clock: VirtualClock) -> None:
    assert create_memory_adapter({}, clock).server is get_server("default")


# --- versioned store: versions and etags -----------------------------------------------


def test_versions_increase_and_continue_after_delete(adapter: MemoryAdapter) -> None:
    blobs = adapter.blobs
    assert blobs.put(NS, "k", b"a").version == 1
    assert blobs.put(NS, "k", b"b").version == 2
    assert blobs.delete(NS, "k") == 2
    assert blobs.put(NS, "k", b"c").version == 3
    assert blobs.delete(NS, "k") == 3
    assert blobs.put(NS, "k", b"d").version == 4
    assert blobs.put(NS, "other", b"x").version == 1


def test_etag_shape_and_uniqueness_per_version(adapter: MemoryAdapter) -> None:
    blobs = adapter.blobs
    first = blobs.put(NS, "k", b"same")
    second = blobs.put(NS, "k", b"same")
    assert ETAG_SHAPE.match(first.etag)
    assert first.etag.startswith("1-")
    assert second.etag.startswith("2-")
    assert first.etag != second.etag  # one etag per write, whatever the payload
    for _ in range(14):
        last = blobs.put(NS, "k", b"same")
    assert last.version == 16
    assert last.etag.startswith("10-")  # the version is hexadecimal


def test_get_and_head_return_the_current_version(adapter: MemoryAdapter) -> None:
    blobs = adapter.blobs
    blobs.put(NS, "k", b"one")
    written = blobs.put(NS, "k", b"hello", content_type="text/plain")
    got = blobs.get(NS, "k")
    assert got == Blob("k", b"hello", 2, written.etag, "text/plain")
    assert blobs.get(NS, "k") is got  # stored immutable, returned as-is
    assert blobs.head(NS, "k") == BlobInfo("k", 2, written.etag, 5, "text/plain")


def test_mutable_buffers_are_stored_as_bytes(adapter: MemoryAdapter) -> None:
    buffer = bytearray(b"abc")
    adapter.blobs.put(NS, "k", buffer)  # type: ignore[arg-type]
    buffer[0] = ord("z")
    assert adapter.blobs.get(NS, "k").data == b"abc"


def test_blobs_and_records_are_separate_keyspaces(adapter: MemoryAdapter) -> None:
    adapter.blobs.put(NS, "k", b"blob")
    with pytest.raises(NotFoundError):
        adapter.records.get(NS, "k")
    assert adapter.records.put(NS, "k", b'{"a":1}').version == 1
    assert adapter.blobs.get(NS, "k").data == b"blob"


def test_namespaces_are_separate(adapter: MemoryAdapter) -> None:
    adapter.blobs.put("a", "k", b"1")
    with pytest.raises(NotFoundError):
        adapter.blobs.get("b", "k")


# --- versioned store: preconditions and not-found --------------------------------------


def test_if_match_on_absent_key_fails_without_current(adapter: MemoryAdapter) -> None:
    with pytest.raises(PreconditionFailedError) as caught:
        adapter.blobs.put(NS, "k", b"x", if_match="1-0000000000000000")
    error = caught.value
    assert (error.current_etag, error.current_version) == (None, None)
    assert (error.namespace, error.key) == (NS, "k")
    with pytest.raises(NotFoundError):
        adapter.blobs.get(NS, "k")


def test_if_match_mismatch_carries_the_current_etag(adapter: MemoryAdapter) -> None:
    first = adapter.blobs.put(NS, "k", b"a")
    current = adapter.blobs.put(NS, "k", b"b")
    with pytest.raises(PreconditionFailedError) as caught:
        adapter.blobs.put(NS, "k", b"c", if_match=first.etag)
    error = caught.value
    assert (error.current_etag, error.current_version) == (current.etag, 2)
    assert (error.namespace, error.key) == (NS, "k")
    assert adapter.blobs.get(NS, "k").data == b"b"


def test_if_match_on_a_deleted_key_fails(adapter: MemoryAdapter) -> None:
    written = adapter.blobs.put(NS, "k", b"a")
    adapter.blobs.delete(NS, "k")
    with pytest.raises(PreconditionFailedError) as caught:
        adapter.blobs.put(NS, "k", b"b", if_match=written.etag)
    assert caught.value.current_version is None


def test_if_match_success(adapter: MemoryAdapter) -> None:
    first = adapter.blobs.put(NS, "k", b"a")
    assert adapter.blobs.put(NS, "k", b"b", if_match=first.etag).version == 2


def test_if_none_match(adapter: MemoryAdapter) -> None:
    created = adapter.blobs.put(NS, "k", b"a", if_none_match=True)
    assert created.version == 1
    with pytest.raises(PreconditionFailedError) as caught:
        adapter.blobs.put(NS, "k", b"b", if_none_match=True)
    error = caught.value
    assert (error.current_etag, error.current_version) == (created.etag, 1)
    assert (error.namespace, error.key) == (NS, "k")
    adapter.blobs.delete(NS, "k")
    assert adapter.blobs.put(NS, "k", b"c", if_none_match=True).version == 2


def test_get_head_delete_of_absent_key_raise_not_found(adapter: MemoryAdapter) -> None:
    blobs = adapter.blobs
    for call in (
        lambda: blobs.get(NS, "k"),
        lambda: blobs.head(NS, "k"),
        lambda: blobs.delete(NS, "k"),
        lambda: blobs.delete(NS, "k", if_match="1-0000000000000000"),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert (caught.value.namespace, caught.value.key) == (NS, "k")


def test_delete_if_match(adapter: MemoryAdapter) -> None:
    first = adapter.blobs.put(NS, "k", b"a")
    current = adapter.blobs.put(NS, "k", b"b")
    with pytest.raises(PreconditionFailedError) as caught:
        adapter.blobs.delete(NS, "k", if_match=first.etag)
    assert (caught.value.current_etag, caught.value.current_version) == (current.etag, 2)
    assert (caught.value.namespace, caught.value.key) == (NS, "k")
    assert adapter.blobs.delete(NS, "k", if_match=current.etag) == 2
    with pytest.raises(NotFoundError):
        adapter.blobs.get(NS, "k")


# --- versioned store: list -------------------------------------------------------------


def test_list_sorted_live_keys_with_prefix_start_after_and_limit(adapter: MemoryAdapter) -> None:
    blobs = adapter.blobs
    for key in ("b/2", "a/1", "b/1", "c", "b/3", "b"):
        blobs.put(NS, key, key.encode())
    blobs.put("other", "b/0", b"x")
    blobs.delete(NS, "b/2")

    def keys(prefix: str = "", start_after: str | None = None, limit: int = 1000) -> list[str]:
        return [i.key for i in blobs.list(NS, prefix, start_after=start_after, limit=limit)]

    assert keys() == ["a/1", "b", "b/1", "b/3", "c"]
    assert keys("b/") == ["b/1", "b/3"]
    assert keys("b") == ["b", "b/1", "b/3"]
    assert keys(start_after="b") == ["b/1", "b/3", "c"]
    assert keys("b/", start_after="a") == ["b/1", "b/3"]
    assert keys("b/", start_after="b/1") == ["b/3"]
    assert keys("b/", start_after="z") == []
    assert keys(limit=2) == ["a/1", "b"]
    assert keys(limit=0) == []
    assert keys("zzz") == []
    assert blobs.list("unknown") == []
    info = blobs.list(NS, "c")[0]
    assert info == blobs.head(NS, "c")


def test_list_pages_through_everything(adapter: MemoryAdapter) -> None:
    names = [f"k{i:03d}" for i in range(25)]
    for name in reversed(names):
        adapter.blobs.put(NS, name, b"")
    seen: list[str] = []
    after: str | None = None
    while page := adapter.blobs.list(NS, start_after=after, limit=10):
        seen.extend(i.key for i in page)
        after = page[-1].key
    assert seen == names


def test_negative_limits_are_refused(adapter: MemoryAdapter) -> None:
    with pytest.raises(InvalidRequestError):
        adapter.blobs.list(NS, limit=-1)
    with pytest.raises(InvalidRequestError):
        adapter.streams.read(NS, "s", after=0, limit=-1)


# --- stream log ------------------------------------------------------------------------


def test_append_assigns_sequences_and_read_slices(adapter: MemoryAdapter) -> None:
    streams = adapter.streams
    assert len(streams.read(NS, "s", after=0, limit=1_000_000)) == 0
    assert streams.read(NS, "s", after=0, limit=10) == []
    for i in range(1, 6):
        result = streams.append(NS, "s", f"m{i}".encode())
        assert (result.message_id, result.sequence, result.duplicate) == (str(i), i, False)
    assert len(streams.read(NS, "s", after=0, limit=1_000_000)) == 5
    assert streams.read(NS, "s", after=0, limit=2) == [
        StoredMessage(1, b"m1"),
        StoredMessage(2, b"m2"),
    ]
    assert [m.sequence for m in streams.read(NS, "s", after=2, limit=10)] == [3, 4, 5]
    assert streams.read(NS, "s", after=5, limit=10) == []
    assert streams.read(NS, "s", after=3, limit=0) == []
    assert [m.sequence for m in streams.read(NS, "s", after=-4, limit=1)] == [1]
    assert streams.append(NS, "other", b"x").sequence == 1
    assert streams.append("ns2", "s", b"x").sequence == 1


def test_idempotent_append_inside_and_outside_the_window(
    adapter: MemoryAdapter, clock: VirtualClock
) -> None:
    streams = adapter.streams

    def append(payload: bytes, key: str = "once") -> tuple[str, int, bool]:
        result = streams.append(
            NS, "s", payload, idempotency_key=key, dedupe_window_ms=1000, now_ms=clock.now_ms()
        )
        return result.message_id, result.sequence, result.duplicate

    assert append(b"a") == ("1", 1, False)
    clock.advance(999)
    assert append(b"a-again") == ("1", 1, True)
    assert len(streams.read(NS, "s", after=0, limit=1_000_000)) == 1
    assert append(b"b", key="other") == ("2", 2, False)
    clock.advance(1)  # the window of "once" (first appended at t0) has now passed
    assert append(b"a-later") == ("3", 3, False)
    clock.advance(500)
    assert append(b"a-dup") == ("3", 3, True)  # the new append started a new window
    assert [m.payload for m in streams.read(NS, "s", after=0, limit=10)] == [
        b"a",
        b"b",
        b"a-later",
    ]


def test_idempotency_keys_are_scoped_per_stream(adapter: MemoryAdapter) -> None:
    first = adapter.streams.append(NS, "s1", b"x", idempotency_key="k", dedupe_window_ms=1000)
    second = adapter.streams.append(NS, "s2", b"x", idempotency_key="k", dedupe_window_ms=1000)
    assert not first.duplicate
    assert not second.duplicate


def test_zero_dedupe_window_never_deduplicates(adapter: MemoryAdapter) -> None:
    for sequence in (1, 2):
        result = adapter.streams.append(NS, "s", b"x", idempotency_key="k")
        assert (result.sequence, result.duplicate) == (sequence, False)


def test_keys_older_than_every_window_are_forgotten(
    adapter: MemoryAdapter, server_name: str
) -> None:
    index = get_server(server_name).idempotency
    for n in range(100):
        adapter.streams.append(NS, "s", b"x", idempotency_key=f"k{n}", dedupe_window_ms=1000)
    assert len(index.entries) == 100
    adapter.streams.append(
        NS, "s", b"x", idempotency_key="late", dedupe_window_ms=1000, now_ms=1000
    )
    assert list(index.entries) == [(NS, "s", "late")]


def test_a_short_window_does_not_forget_keys_a_long_window_needs(adapter: MemoryAdapter) -> None:
    streams = adapter.streams
    first = streams.append(NS, "s", b"a", idempotency_key="k", dedupe_window_ms=120_000)
    streams.append(NS, "s", b"b", idempotency_key="other", dedupe_window_ms=10_000, now_ms=20_000)
    again = streams.append(
        NS, "s", b"a", idempotency_key="k", dedupe_window_ms=120_000, now_ms=30_000
    )
    assert (again.sequence, again.duplicate) == (first.sequence, True)


def test_a_key_appended_again_after_its_window_starts_a_new_one(
    adapter: MemoryAdapter, server_name: str
) -> None:
    streams = adapter.streams
    streams.append(NS, "s", b"a", idempotency_key="k", dedupe_window_ms=1000)
    streams.append(NS, "s", b"b", idempotency_key="j", dedupe_window_ms=1000, now_ms=500)
    renewed = streams.append(NS, "s", b"c", idempotency_key="k", dedupe_window_ms=1000, now_ms=1200)
    streams.append(NS, "s", b"d", idempotency_key="i", dedupe_window_ms=1000, now_ms=1600)
    # "j" (500) expired at 1500; "k" now dates from 1200 and is kept
    assert list(get_server(server_name).idempotency.entries) == [(NS, "s", "k"), (NS, "s", "i")]
    repeat = streams.append(NS, "s", b"c", idempotency_key="k", dedupe_window_ms=1000, now_ms=2100)
    assert (repeat.sequence, repeat.duplicate) == (renewed.sequence, True)


# --- checkpoints -----------------------------------------------------------------------


def test_checkpoint_compare_and_set(open_adapter: Open) -> None:
    checkpoints = open_adapter(interface="basic").checkpoints
    assert isinstance(checkpoints, MemoryCheckpointStore)
    assert checkpoints.load(NS, "s", "g") == GroupCheckpoint()
    pending = MappingProxyType({4: GroupPending("c1", 1, 5000)})
    first = checkpoints.save(
        NS, "s", "g", GroupCheckpoint(floor=2, cursor=4, acked=frozenset({3}), pending=pending)
    )
    assert first.revision == 1
    assert (first.floor, first.cursor, first.acked, first.pending) == (
        2,
        4,
        frozenset({3}),
        pending,
    )
    assert checkpoints.load(NS, "s", "g") is first
    second = checkpoints.save(NS, "s", "g", GroupCheckpoint(floor=4, cursor=4, revision=1))
    assert second.revision == 2
    with pytest.raises(ConflictError) as caught:
        checkpoints.save(NS, "s", "g", GroupCheckpoint(floor=9, revision=1))
    assert (caught.value.namespace, caught.value.key) == (NS, "s")
    with pytest.raises(ConflictError):
        checkpoints.save(NS, "s", "g", GroupCheckpoint(revision=3))
    assert checkpoints.load(NS, "s", "g") == second


def test_checkpoint_of_new_group_needs_revision_zero(open_adapter: Open) -> None:
    checkpoints = open_adapter(interface="basic").checkpoints
    assert isinstance(checkpoints, MemoryCheckpointStore)
    with pytest.raises(ConflictError):
        checkpoints.save(NS, "s", "g", GroupCheckpoint(revision=1))
    checkpoints.save(NS, "s", "g", GroupCheckpoint())
    assert checkpoints.load(NS, "s", "other").revision == 0
    assert checkpoints.load(NS, "other", "g").revision == 0


# --- groups kept per delivery ----------------------------------------------------------


def groups_of(adapter: MemoryAdapter) -> MemoryGroupStore:
    store = adapter.checkpoints
    assert isinstance(store, MemoryGroupStore)
    return store


def claim(
    store: MemoryGroupStore, consumer: str, limit: int, now: float, until: float
) -> list[int]:
    found = store.claim(NS, "s", "g", consumer, limit=limit, now_ms=now, visible_at_ms=until)
    return [c.sequence for c in found]


def test_claims_deliver_new_messages_then_due_ones_earliest_first(adapter: MemoryAdapter) -> None:
    groups = groups_of(adapter)
    for n in range(1, 5):
        adapter.streams.append(NS, "s", f"m{n}".encode())
    assert groups.claim(NS, "s", "g", "c1", limit=2, now_ms=0, visible_at_ms=100) == [
        Claimed(1, b"m1", 1),
        Claimed(2, b"m2", 1),
    ]
    assert claim(groups, "c2", 1, 10, 50) == [3]
    assert claim(groups, "c1", 5, 20, 120) == [4]
    assert claim(groups, "c1", 5, 49, 200) == []  # nothing due yet, nothing new
    assert groups.claim(NS, "s", "g", "c3", limit=2, now_ms=100, visible_at_ms=300) == [
        Claimed(3, b"m3", 2),  # due at 50
        Claimed(1, b"m1", 2),  # due at 100, a tie with 2: lowest sequence first
    ]
    state = groups.load(NS, "s", "g")
    assert dict(state.pending) == {
        1: GroupPending("c3", 2, 300),
        2: GroupPending("c1", 1, 100),
        3: GroupPending("c3", 2, 300),
        4: GroupPending("c1", 1, 120),
    }
    assert (state.floor, state.cursor, set(state.acked), state.revision) == (0, 4, set(), 4)
    assert state.next_visible_ms == 100


def test_acks_remove_pending_and_the_floor_follows(adapter: MemoryAdapter) -> None:
    groups = groups_of(adapter)
    for _ in range(4):
        adapter.streams.append(NS, "s", b"m")
    claim(groups, "c", 4, 0, 100)
    assert groups.ack(NS, "s", "g", [2, 3, 9]) == 2
    assert groups.ack(NS, "s", "g", [2]) == 0
    state = groups.load(NS, "s", "g")
    assert (state.floor, set(state.acked), set(state.pending)) == (0, {2, 3}, {1, 4})
    assert 2 in state.acked
    assert 1 not in state.acked
    assert 5 not in state.acked
    assert groups.ack(NS, "s", "g", [1, 4]) == 2
    state = groups.load(NS, "s", "g")
    assert (state.floor, set(state.acked), dict(state.pending), state.revision) == (4, set(), {}, 3)
    assert state.next_visible_ms == math.inf
    assert claim(groups, "c", 4, 1000, 2000) == []  # acked: never due again
    assert groups.ack(NS, "s", "other", [1]) == 0


def test_a_due_delivery_whose_message_is_gone_is_dropped(adapter: MemoryAdapter) -> None:
    groups = groups_of(adapter)
    adapter.streams.append(NS, "s", b"m")
    claim(groups, "c", 1, 0, 10)
    adapter.server.messages[NS]["s"].clear()  # the log lost it (a trimmed stream)
    assert claim(groups, "c", 5, 10, 20) == []
    state = groups.load(NS, "s", "g")
    assert (dict(state.pending), state.floor, state.revision) == ({}, 1, 2)


def test_the_due_heap_stays_bounded_by_pending(adapter: MemoryAdapter) -> None:
    groups = groups_of(adapter)
    for _ in range(500):
        adapter.streams.append(NS, "s", b"m")
    claim(groups, "c", 500, 0, 10)
    groups.ack(NS, "s", "g", range(1, 500))
    group = adapter.server.groups[NS][("s", "g")]
    assert len(group.due) <= 2 * len(group.pending) + 64


# --- versioned stores that purge and fill the cache in the same step --------------------


def test_put_and_delete_purge_in_the_same_step(adapter: MemoryAdapter) -> None:
    records = adapter.records
    assert isinstance(records, MemoryCachingVersionedStore)
    adapter.cache.set(NS, "record/k", entry(), ttl_ms=1000)
    written = records.put_and_purge(NS, "k", b"{}", purge="record/k")
    assert written.version == 1
    assert adapter.cache.get(NS, "record/k") is None
    adapter.cache.set(NS, "record/k", entry(), ttl_ms=1000)
    with pytest.raises(PreconditionFailedError):
        records.delete_and_purge(NS, "k", if_match="stale", purge="record/k")
    assert records.delete_and_purge(NS, "k", purge="record/k") == 1
    assert adapter.cache.get(NS, "record/k") is None


def test_get_and_fill_stores_what_it_read(adapter: MemoryAdapter, clock: VirtualClock) -> None:
    records = adapter.records
    assert isinstance(records, MemoryCachingVersionedStore)
    written = records.put(NS, "k", b"{}")
    now = clock.now_ms()
    blob = records.get_and_fill(NS, "k", CacheFill("record/k", now, now + 500, 500))
    assert blob == Blob("k", b"{}", 1, written.etag)
    assert adapter.cache.get(NS, "record/k") == CacheEntry(
        b"{}", 1, written.etag, now, None, now + 500
    )
    adapter.cache.delete(NS, "record/k")
    records.get_and_fill(NS, "k", CacheFill("record/k", now, now + 500, 500, min_version=2))
    assert adapter.cache.get(NS, "record/k") is None  # older than the floor: not stored
    adapter.cache.set(NS, "record/gone", entry(), ttl_ms=1000)
    with pytest.raises(NotFoundError):
        records.get_and_fill(NS, "gone", CacheFill("record/gone", now, now, 500))
    assert adapter.cache.get(NS, "record/gone") is not None  # kept unless asked to purge
    with pytest.raises(NotFoundError):
        records.get_and_fill(NS, "gone", CacheFill("record/gone", now, now, 500, 0, True))
    assert adapter.cache.get(NS, "record/gone") is None


def test_read_sequences_returns_the_stored_ones_in_the_order_asked(adapter: MemoryAdapter) -> None:
    log = adapter.streams
    assert isinstance(log, MemoryBatchStreamLog)
    for n in range(1, 4):
        log.append(NS, "s", f"m{n}".encode())
    assert log.read_sequences(NS, "s", [3, 0, 1, 7]) == [
        StoredMessage(3, b"m3"),
        StoredMessage(1, b"m1"),
    ]
    assert log.read_sequences(NS, "other", [1]) == []


# --- cache -----------------------------------------------------------------------------


def test_cache_entries_expire_on_the_clock(adapter: MemoryAdapter, clock: VirtualClock) -> None:
    cache = adapter.cache
    value = entry()
    assert cache.get(NS, "k") is None
    cache.set(NS, "k", value, ttl_ms=100)
    assert cache.get(NS, "k") is value
    clock.advance(99)
    assert cache.get(NS, "k") is value
    clock.advance(1)
    assert cache.get(NS, "k") is None


def test_cache_set_replaces_and_delete_removes(adapter: MemoryAdapter) -> None:
    cache = adapter.cache
    cache.set(NS, "k", entry(b"1"), ttl_ms=100)
    newer = entry(b"2", version=2)
    cache.set(NS, "k", newer, ttl_ms=100)
    assert cache.get(NS, "k") is newer
    cache.delete(NS, "k")
    assert cache.get(NS, "k") is None
    cache.delete(NS, "k")  # absent: no error
    cache.delete("unknown", "k")


def test_cache_non_positive_ttl_stores_nothing(adapter: MemoryAdapter) -> None:
    cache = adapter.cache
    cache.set(NS, "k", entry(), ttl_ms=0)
    assert cache.get(NS, "k") is None
    cache.set(NS, "k", entry(), ttl_ms=100)
    cache.set(NS, "k", entry(b"new", version=2), ttl_ms=-1)
    assert cache.get(NS, "k") is None  # an at-once expired write leaves no older entry behind


def test_local_cache_is_per_adapter_instance(open_adapter: Open) -> None:
    one, two = open_adapter(), open_adapter()
    one.cache.set(NS, "k", entry(), ttl_ms=100)
    assert two.cache.get(NS, "k") is None
    assert open_adapter().cache.get(NS, "k") is None  # a reopen starts with an empty cache


def test_shared_cache_is_seen_by_every_adapter_of_the_server(open_adapter: Open) -> None:
    one, two = open_adapter(shared_cache=True), open_adapter(shared_cache=True)
    local = open_adapter()
    value = entry()
    one.cache.set(NS, "k", value, ttl_ms=100)
    assert two.cache.get(NS, "k") is value
    assert local.cache.get(NS, "k") is None
    two.cache.delete(NS, "k")
    assert one.cache.get(NS, "k") is None


# --- durability, reset, close ----------------------------------------------------------


@pytest.mark.parametrize("interface", ["full", "basic"])
def test_data_survives_a_reopen(open_adapter: Open, interface: str) -> None:
    first = open_adapter(interface=interface)
    written = first.blobs.put(NS, "b", b"blob")
    first.records.put(NS, "r", b"{}")
    first.streams.append(NS, "s", b"m", idempotency_key="k", dedupe_window_ms=1e9)
    store = first.checkpoints
    if isinstance(store, MemoryCheckpointStore):
        saved = store.save(NS, "s", "g", GroupCheckpoint(cursor=1))
    else:
        store.claim(NS, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=5)
        saved = store.load(NS, "s", "g")
    first.close()

    second = open_adapter(interface=interface)
    assert second.blobs.get(NS, "b").etag == written.etag
    assert second.records.get(NS, "r").data == b"{}"
    assert second.streams.read(NS, "s", after=0, limit=10) == [StoredMessage(1, b"m")]
    assert second.streams.append(NS, "s", b"m", idempotency_key="k", dedupe_window_ms=1e9).duplicate
    assert second.checkpoints.load(NS, "s", "g") == saved


def test_other_servers_do_not_share_data(open_adapter: Open, clock: VirtualClock) -> None:
    open_adapter().blobs.put(NS, "k", b"x")
    other_name = f"test-{uuid.uuid4().hex}"
    try:
        other = create_memory_adapter({"server": other_name}, clock)
        with pytest.raises(NotFoundError):
            other.blobs.get(NS, "k")
    finally:
        drop_server(other_name)


def test_reset_removes_only_matching_namespaces(open_adapter: Open) -> None:
    adapter = open_adapter(shared_cache=True)
    basic = open_adapter(interface="basic")
    local = open_adapter()
    for namespace in ("run1-a", "run1-b", "run2-a"):
        adapter.blobs.put(namespace, "k", b"x")
        adapter.blobs.put(namespace, "k", b"y")
        adapter.blobs.put(namespace, "gone", b"x")
        adapter.blobs.delete(namespace, "gone")
        adapter.records.put(namespace, "k", b"{}")
        adapter.streams.append(namespace, "s", b"m", idempotency_key="i", dedupe_window_ms=1e9)
        basic.checkpoints.save(namespace, "s", "g", GroupCheckpoint())  # type: ignore[union-attr]
        groups_of(adapter).claim(namespace, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=5)
        adapter.cache.set(namespace, "k", entry(), ttl_ms=1000)
        local.cache.set(namespace, "k", entry(), ttl_ms=1000)

    local.reset("run1-")

    for namespace in ("run1-a", "run1-b"):
        with pytest.raises(NotFoundError):
            adapter.blobs.get(namespace, "k")
        with pytest.raises(NotFoundError):
            adapter.records.get(namespace, "k")
        assert adapter.blobs.put(namespace, "k", b"z").version == 1  # counters are gone too
        assert adapter.blobs.put(namespace, "gone", b"z").version == 1
        assert len(adapter.streams.read(namespace, "s", after=0, limit=1_000_000)) == 0
        again = adapter.streams.append(
            namespace, "s", b"m", idempotency_key="i", dedupe_window_ms=1e9
        )
        assert (again.sequence, again.duplicate) == (1, False)
        assert adapter.checkpoints.load(namespace, "s", "g") == GroupCheckpoint()
        assert basic.checkpoints.load(namespace, "s", "g") == GroupCheckpoint()
        assert adapter.cache.get(namespace, "k") is None
        assert local.cache.get(namespace, "k") is None

    assert adapter.blobs.get("run2-a", "k").version == 2
    assert adapter.blobs.put("run2-a", "gone", b"z").version == 2
    assert adapter.records.get("run2-a", "k").version == 1
    assert len(adapter.streams.read("run2-a", "s", after=0, limit=1_000_000)) == 1
    assert adapter.checkpoints.load("run2-a", "s", "g").revision == 1
    assert basic.checkpoints.load("run2-a", "s", "g").revision == 1
    assert adapter.cache.get("run2-a", "k") is not None
    assert local.cache.get("run2-a", "k") is not None


def test_reset_with_empty_prefix_removes_everything(adapter: MemoryAdapter) -> None:
    adapter.blobs.put("a", "k", b"x")
    adapter.streams.append("b", "s", b"m")
    adapter.reset("")
    assert adapter.blobs.list("a") == []
    assert len(adapter.streams.read("b", "s", after=0, limit=1_000_000)) == 0


def test_closed_adapter_raises_backend_unavailable(open_adapter: Open) -> None:
    adapter = open_adapter()
    adapter.blobs.put(NS, "k", b"x")
    adapter.close()
    adapter.close()  # idempotent
    calls: list[Callable[[], object]] = [
        lambda: adapter.blobs.put(NS, "k", b"y"),
        lambda: adapter.blobs.get(NS, "k"),
        lambda: adapter.blobs.head(NS, "k"),
        lambda: adapter.blobs.delete(NS, "k"),
        lambda: adapter.blobs.list(NS),
        lambda: adapter.records.get(NS, "k"),
        lambda: adapter.streams.append(NS, "s", b"m"),
        lambda: adapter.streams.read(NS, "s", after=0, limit=1),
        lambda: len(adapter.streams.read(NS, "s", after=0, limit=1_000_000)),
        lambda: adapter.checkpoints.load(NS, "s", "g"),
        lambda: groups_of(adapter).claim(NS, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=1),
        lambda: groups_of(adapter).ack(NS, "s", "g", [1]),
        lambda: adapter.records.put_and_purge(NS, "k", b"{}", purge="record/k"),  # type: ignore[attr-defined]
        lambda: adapter.records.delete_and_purge(NS, "k", purge="record/k"),  # type: ignore[attr-defined]
        lambda: adapter.records.get_and_fill(NS, "k", CacheFill("record/k", 0, 1, 1)),  # type: ignore[attr-defined]
        lambda: adapter.streams.read_sequences(NS, "s", [1]),  # type: ignore[attr-defined]
        lambda: adapter.cache.get(NS, "k"),
        lambda: adapter.cache.set(NS, "k", entry(), 100),
        lambda: adapter.cache.delete(NS, "k"),
        lambda: adapter.reset(NS),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailableError):
            call()
    assert open_adapter().blobs.get(NS, "k").data == b"x"  # the data stays


# --- options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"bogus": 1}, "options.bogus"),
        ({"server": 3}, "options.server"),
        ({"server": ""}, "options.server"),
        ({"server": None}, "options.server"),
        ({"shared_cache": "yes"}, "options.shared_cache"),
        ({"shared_cache": 1}, "options.shared_cache"),
    ],
)
def test_invalid_options(options: dict[str, JSONValue], field: str, clock: VirtualClock) -> None:
    with pytest.raises(ConfigError) as caught:
        create_memory_adapter(options, clock)
    assert caught.value.field == field


# --- concurrency -----------------------------------------------------------------------


@pytest.mark.usefixtures("contended")
def test_concurrent_conditional_increments_lose_no_update(adapter: MemoryAdapter) -> None:
    threads, increments = 8, 200
    blobs = adapter.blobs
    blobs.put(NS, "counter", b"0")
    successes = [0] * threads
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            start.wait()
            while successes[index] < increments:
                current = blobs.get(NS, "counter")
                time.sleep(0)  # yield between read and write so writers race
                try:
                    blobs.put(
                        NS, "counter", str(int(current.data) + 1).encode(), if_match=current.etag
                    )
                except PreconditionFailedError:
                    continue
                successes[index] += 1
        except BaseException as error:  # surfaced by the assertion below
            failures.append(error)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == []
    final = blobs.get(NS, "counter")
    assert int(final.data) == sum(successes) == threads * increments
    assert final.version == 1 + sum(successes)


@pytest.mark.usefixtures("contended")
def test_concurrent_appends_get_distinct_sequences(adapter: MemoryAdapter) -> None:
    threads, appends = 8, 200
    results: list[list[int]] = [[] for _ in range(threads)]

    def work(index: int) -> None:
        for _ in range(appends):
            results[index].append(adapter.streams.append(NS, "s", b"m").sequence)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    every = sorted(seq for result in results for seq in result)
    assert every == list(range(1, threads * appends + 1))
    messages = adapter.streams.read(NS, "s", after=0, limit=threads * appends)
    assert [m.sequence for m in messages] == every
