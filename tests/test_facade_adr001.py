"""ADR-001's four acceptance tests and the seed scenarios, against the in-memory reference."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from facade_helpers import (
    LAYERS,
    NS,
    MakeClient,
    get_value,
    lagging_adapter,
    put_value,
)

from pytest_sanctum import core
from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.consumer import IdempotentConsumer
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConsistencyError,
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
)
from pytest_sanctum.fanout import QueuedFanout
from pytest_sanctum.observability import RecordingMetrics
from pytest_sanctum.types import Blob, CacheEntry, Delivery
from reference_adapters.memory import MemoryAdapter

OpenAdapter = Callable[..., MemoryAdapter]

# --- 1. write -> strong read returns the new version within 100 ms or raises ----------


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("first_write", [False, True], ids=["overwrite", "create"])
def test_adr001_acceptance_1_strong_read_waits_out_a_short_replica_lag(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    clock: VirtualClock,
    metrics: RecordingMetrics,
    layer: str,
    first_write: bool,
) -> None:
    client = make_client(adapter=lagging_adapter(open_adapter(), clock, 40))
    if not first_write:
        put_value(client, layer, "k", 1)
        clock.advance(1000)
    expected = put_value(client, layer, "k", 2).version
    written_at = clock.now_ms()

    assert get_value(client, layer, "k") == (2, expected)
    assert 40 <= clock.now_ms() - written_at <= 100
    assert metrics.value("retries_total", op=f"{layer}.get") > 0


@pytest.mark.parametrize("layer", LAYERS)
def test_adr001_acceptance_1_strong_read_raises_consistency_error_past_the_window(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    clock: VirtualClock,
    layer: str,
) -> None:
    adapter = lagging_adapter(open_adapter(), clock, 500)
    client = make_client(adapter=adapter)
    put_value(client, layer, "k", 1)
    clock.advance(1000)
    put_value(client, layer, "k", 2)
    written_at = clock.now_ms()

    with pytest.raises(ConsistencyError) as info:
        get_value(client, layer, "k")

    error = info.value
    assert error.retryable
    assert error.retry_after_ms > 0
    assert (error.expected_version, error.observed_version) == (2, 1)
    assert (error.op, error.namespace, error.key) == (f"{layer}.get", NS, "k")
    assert clock.now_ms() - written_at == pytest.approx(100)
    store = adapter.records if layer == "record" else adapter.blobs
    assert store.gets > 2


def test_adr001_acceptance_1_unreplicated_first_write_is_a_consistency_error_not_not_found(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    client = make_client(adapter=lagging_adapter(open_adapter(), clock, 500))
    client.records.put(NS, "k", {"n": 1})

    with pytest.raises(ConsistencyError) as info:
        client.records.get(NS, "k")

    assert (info.value.expected_version, info.value.observed_version) == (1, None)


def test_adr001_acceptance_1_max_retries_caps_the_attempts(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    clock: VirtualClock,
    metrics: RecordingMetrics,
) -> None:
    adapter = lagging_adapter(open_adapter(), clock, 10_000)
    client = make_client(
        {"consistency": {"read_after_write_window_ms": 5000, "max_retries": 3}}, adapter=adapter
    )
    client.records.put(NS, "k", {"n": 1})

    with pytest.raises(ConsistencyError):
        client.records.get(NS, "k")

    assert adapter.records.gets == 4
    assert metrics.value("retries_total", op="record.get") == 3


def test_adr001_acceptance_1_runs_without_metrics(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    client = make_client(adapter=lagging_adapter(open_adapter(), clock, 30), metrics=None)
    client.records.put(NS, "k", {"n": 1})
    assert client.records.get(NS, "k").version == 1


def test_a_strong_read_of_a_key_this_client_never_wrote_is_not_retried(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    adapter = lagging_adapter(open_adapter(), clock, 500)
    writer = make_client(adapter=adapter)
    reader = make_client(adapter=adapter)
    writer.records.put(NS, "k", {"n": 1})
    clock.advance(1000)
    writer.records.put(NS, "k", {"n": 2})
    before = clock.now_ms()

    assert reader.records.get(NS, "k").version == 1  # another client's write: no wait

    assert clock.now_ms() == before


def test_only_the_most_recently_written_keys_are_tracked(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "RAW_TRACKED_KEYS", 2)
    client = make_client(adapter=lagging_adapter(open_adapter(), clock, 500))
    client.records.put(NS, "a", {"n": 1})
    clock.advance(1000)
    client.records.put(NS, "a", {"n": 2})
    client.records.put(NS, "b", {"n": 1})
    with pytest.raises(ConsistencyError):
        client.records.get(NS, "a")  # still tracked: waits, then raises
    client.records.put(NS, "c", {"n": 1})  # evicts "a"

    assert client.records.get(NS, "a").version == 1  # forgotten: returned as read


# --- 2. write -> eventual read may return the previous version, never errors ----------


def test_adr001_acceptance_2_eventual_read_on_another_node_returns_previous_version(
    make_client: MakeClient,
) -> None:
    fanout = QueuedFanout()
    node_a = make_client(fanout=fanout, node_id="node-a")
    node_b = make_client(fanout=fanout, node_id="node-b")
    node_a.records.put(NS, "k", {"v": 1})
    fanout.deliver_all()
    assert node_b.records.get(NS, "k", level="eventual").version == 1  # B caches v1

    node_a.records.put(NS, "k", {"v": 2})
    stale = node_b.records.get(NS, "k", level="eventual")

    assert (stale.value, stale.version) == ({"v": 1}, 1)
    assert node_a.records.get(NS, "k", level="eventual").version == 2  # the writer purged
    assert fanout.deliver_all() == 1
    fresh = node_b.records.get(NS, "k", level="eventual")
    assert (fresh.value, fresh.version) == ({"v": 2}, 2)


@pytest.mark.parametrize("layer", LAYERS)
def test_adr001_acceptance_2_eventual_read_on_a_lagging_replica_never_errors(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    clock: VirtualClock,
    metrics: RecordingMetrics,
    layer: str,
) -> None:
    client = make_client(adapter=lagging_adapter(open_adapter(), clock, 500))
    put_value(client, layer, "k", 1)
    clock.advance(1000)
    put_value(client, layer, "k", 2)
    before = clock.now_ms()

    assert get_value(client, layer, "k", level="eventual") == (1, 1)
    assert clock.now_ms() == before
    assert metrics.value("retries_total") == 0
    assert metrics.value("errors_total") == 0


# --- 3. delete -> strong NotFound; an eventual ghost lives at most the TTL ------------


def test_adr001_acceptance_3_delete_is_not_found_at_once_and_a_ghost_lasts_at_most_the_ttl(
    make_client: MakeClient, clock: VirtualClock
) -> None:
    fanout = QueuedFanout()
    config = {"cache": {"ttl_ms": 1000}}
    node_a = make_client(config, fanout=fanout, node_id="node-a")
    node_b = make_client(config, fanout=fanout, node_id="node-b")
    node_a.records.put(NS, "k", {"v": 1})
    node_b.records.get(NS, "k", level="eventual")  # B caches v1 now

    node_a.records.delete(NS, "k")

    with pytest.raises(NotFoundError):
        node_a.records.get(NS, "k")
    with pytest.raises(NotFoundError):
        node_a.records.get(NS, "k", level="eventual")
    clock.advance(999)
    ghost = node_b.records.get(NS, "k", level="eventual")
    assert (ghost.value, ghost.version) == ({"v": 1}, 1)
    with pytest.raises(NotFoundError):
        node_b.records.get(NS, "k")  # strong, budget 0: the backend answers
    clock.advance(1)
    with pytest.raises(NotFoundError):
        node_b.records.get(NS, "k", level="eventual")


@pytest.mark.parametrize(("lag_ms", "outcome"), [(40, NotFoundError), (500, ConsistencyError)])
def test_adr001_acceptance_3_strong_read_after_delete_on_a_lagging_replica(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    clock: VirtualClock,
    lag_ms: float,
    outcome: type[SanctumError],
) -> None:
    client = make_client(adapter=lagging_adapter(open_adapter(), clock, lag_ms))
    client.records.put(NS, "k", {"v": 1})
    clock.advance(1000)
    client.records.delete(NS, "k")
    deleted_at = clock.now_ms()

    with pytest.raises(outcome) as info:
        client.records.get(NS, "k")

    assert clock.now_ms() - deleted_at <= 100
    if isinstance(info.value, ConsistencyError):
        assert (info.value.expected_version, info.value.observed_version) == (1, 1)


# --- 4. cache corruption -> strong read with bypass_cache returns the right payload ----


@pytest.mark.parametrize("garbage", [b'{"evil":true}', b"\x00\xff not json"])
def test_adr001_acceptance_4_bypass_cache_reads_through_a_poisoned_cache(
    client: StorageClient, clock: VirtualClock, garbage: bytes
) -> None:
    written = client.records.put(NS, "k", {"v": 1})
    cache = client.adapters["memory"].cache
    assert cache is not None
    now = clock.now_ms()
    cache.set(NS, "record/k", CacheEntry(garbage, 7, "bogus", now, None, now + 5000), 5000)

    fresh = client.records.get(NS, "k", bypass_cache=True)

    assert (fresh.value, fresh.version, fresh.etag) == ({"v": 1}, 1, written.etag)
    refreshed = cache.get(NS, "record/k")
    assert refreshed is not None
    assert (refreshed.data, refreshed.version, refreshed.etag) == (b'{"v":1}', 1, written.etag)
    assert client.records.get(NS, "k", level="eventual").value == {"v": 1}


def test_adr001_acceptance_4_without_bypass_the_poisoned_entry_is_what_the_cache_serves(
    client: StorageClient, clock: VirtualClock
) -> None:
    client.records.put(NS, "k", {"v": 1})
    cache = client.adapters["memory"].cache
    assert cache is not None
    now = clock.now_ms()
    cache.set(NS, "record/k", CacheEntry(b'{"evil":true}', 7, "bogus", now, None, now + 5000), 5000)

    assert client.records.get(NS, "k", level="eventual").value == {"evil": True}
    assert client.records.get(NS, "k", bypass_cache=True).value == {"v": 1}


def test_undecodable_cached_record_is_reported_as_a_sanctum_error(
    client: StorageClient, clock: VirtualClock, metrics: RecordingMetrics
) -> None:
    client.records.put(NS, "k", {"v": 1})
    cache = client.adapters["memory"].cache
    assert cache is not None
    now = clock.now_ms()
    cache.set(NS, "record/k", CacheEntry(b"\x00\xff", 7, "bogus", now, None, now + 5000), 5000)

    with pytest.raises(SanctumError) as info:
        client.records.get(NS, "k", level="eventual")

    assert info.value.code == "adapter_error"
    assert (info.value.op, info.value.key) == ("record.get", "k")
    assert metrics.value("errors_total", op="record.get", error_code="adapter_error") == 1


# --- the seed scenarios -----------------------------------------------------------------


def test_seed_blob_write_then_strong_read_returns_each_new_version(client: StorageClient) -> None:
    first = client.blobs.put(NS, "img/1", b"one", content_type="text/plain")
    assert client.blobs.get(NS, "img/1") == Blob("img/1", b"one", 1, first.etag, "text/plain")

    second = client.blobs.put(NS, "img/1", b"two")

    assert client.blobs.get(NS, "img/1") == Blob("img/1", b"two", 2, second.etag, None)
    assert second.etag != first.etag


def test_seed_record_upsert_with_a_stale_etag_is_refused_and_changes_nothing(
    client: StorageClient,
) -> None:
    stale = client.records.put(NS, "order-1", {"status": "new"})
    current = client.records.put(NS, "order-1", {"status": "paid"})

    with pytest.raises(PreconditionFailedError) as info:
        client.records.put(NS, "order-1", {"status": "cancelled"}, if_match=stale.etag)

    assert info.value.current_etag == current.etag
    assert info.value.current_version == 2
    record = client.records.get(NS, "order-1", bypass_cache=True)
    assert (record.value, record.version, record.etag) == ({"status": "paid"}, 2, current.etag)


@pytest.mark.parametrize("second_consumer", ["c1", "c2"])
def test_seed_idempotent_consumer_runs_the_handler_once_when_a_message_comes_again(
    client: StorageClient,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    second_consumer: str,
) -> None:
    handled: list[Delivery] = []
    client.streams.append(NS, "orders", {"order": 1})
    first = IdempotentConsumer(client, NS, "orders", "billing", "c1", handled.append)

    def crash(*args: object, **kwargs: object) -> int:
        raise BackendUnavailableError("connection lost before the ack")

    with monkeypatch.context() as patch:
        patch.setattr(client.streams, "ack", crash)
        with pytest.raises(BackendUnavailableError):
            first.poll()  # handled and marked, never acked
    again = IdempotentConsumer(client, NS, "orders", "billing", second_consumer, handled.append)
    clock.advance(client.config.streams.visibility_timeout_ms - 1)
    assert again.poll() == (0, 0)  # not visible yet
    clock.advance(1)

    assert again.poll() == (0, 1)  # redelivered (delivery_count 2), skipped, acked

    assert [(d.message_id, d.delivery_count) for d in handled] == [("1", 1)]
    assert again.handled(handled[0])
    clock.advance(client.config.streams.visibility_timeout_ms)
    assert again.poll() == (0, 0)
    assert client.streams.checkpoint(NS, "orders", "billing").floor == 1


def test_idempotent_consumer_handler_failure_leaves_the_message_for_redelivery(
    client: StorageClient, clock: VirtualClock
) -> None:
    attempts: list[int] = []

    def flaky(delivery: Delivery) -> None:
        attempts.append(delivery.delivery_count)
        if delivery.delivery_count == 1:
            raise ValueError("handler failed")

    client.streams.append(NS, "s", {"n": 1})
    consumer = IdempotentConsumer(client, NS, "s", "g", "c", flaky, marker_namespace="markers")
    with pytest.raises(ValueError, match="handler failed"):
        consumer.poll()
    clock.advance(client.config.streams.visibility_timeout_ms)

    assert consumer.poll() == (1, 0)

    assert attempts == [1, 2]
    marker = client.records.get("markers", "sanctum-consumed/s/g/1")
    assert marker.value == {"message_id": "1", "consumer": "c"}


def test_idempotent_consumer_that_loses_the_marker_race_skips_and_acks(
    client: StorageClient,
) -> None:
    client.streams.append(NS, "s", {"n": 1})
    client.streams.append(NS, "s", {"n": 2})
    rival = IdempotentConsumer(client, NS, "s", "g", "rival", lambda d: None)

    def handler(delivery: Delivery) -> None:
        # Another consumer finishes the same message while this handler runs.
        client.records.put(NS, rival._marker(delivery), {"by": "rival"}, if_none_match="*")

    consumer = IdempotentConsumer(client, NS, "s", "g", "c", handler)

    assert consumer.poll() == (0, 2)

    state = client.streams.checkpoint(NS, "s", "g")
    assert (state.floor, dict(state.pending)) == (2, {})


def test_seed_cache_bypass_returns_fresh_data_when_the_cache_is_poisoned(
    client: StorageClient, clock: VirtualClock
) -> None:
    written = client.blobs.put(NS, "logo", b"real", content_type="image/png")
    client.blobs.get(NS, "logo")  # fills the cache
    cache = client.adapters["memory"].cache
    assert cache is not None
    now = clock.now_ms()
    cache.set(NS, "blob/logo", CacheEntry(b"poison", 1, written.etag, now, None, now + 5000), 5000)
    assert client.blobs.get(NS, "logo", level="eventual").data == b"poison"

    fresh = client.blobs.get(NS, "logo", bypass_cache=True)

    assert fresh == Blob("logo", b"real", 1, written.etag, "image/png")
    assert client.blobs.get(NS, "logo", level="eventual").data == b"real"


def test_bypass_cache_read_of_a_missing_key_drops_the_poisoned_entry(
    client: StorageClient, clock: VirtualClock
) -> None:
    cache = client.adapters["memory"].cache
    assert cache is not None
    now = clock.now_ms()
    cache.set(NS, "record/ghost", CacheEntry(b'{"v":1}', 1, "e", now, None, now + 5000), 5000)

    with pytest.raises(NotFoundError):
        client.records.get(NS, "ghost", bypass_cache=True)

    assert cache.get(NS, "record/ghost") is None
    with pytest.raises(NotFoundError):
        client.records.get(NS, "ghost", level="eventual")
