"""What the facade records: metrics per operation, error log events, correlation ids."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from facade_helpers import NS, MakeClient, lagging_adapter

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import (
    AccessDeniedError,
    BackendUnavailableError,
    ConsistencyError,
    InvalidRequestError,
    NotFoundError,
    SanctumError,
)
from pytest_sanctum.observability import (
    EVENT_ACL_DECISION,
    EVENT_CONSISTENCY_RETRY,
    EVENT_FIELDS,
    EVENT_OPERATION_ERROR,
    METRIC_NAMES,
    OperationLabels,
    RecordingMetrics,
    capture_logs,
    correlation_scope,
)
from reference_adapters.memory import MemoryAdapter

OpenAdapter = Callable[..., MemoryAdapter]


def ok(op: str, namespace: str = NS) -> OperationLabels:
    return OperationLabels(op, op.partition(".")[0], namespace, "memory", "ok", "")


def test_successful_operations_record_requests_latency_and_payload(
    client: StorageClient, metrics: RecordingMetrics
) -> None:
    client.records.put(NS, "k", {"v": 1})
    client.records.get(NS, "k")
    client.blobs.put(NS, "b", b"abcd")
    client.blobs.get(NS, "b")
    client.blobs.head(NS, "b")
    client.streams.append(NS, "s", [1, 2])

    assert metrics.series("requests_total") == {
        ok("record.put"): 1,
        ok("record.get"): 1,
        ok("blob.put"): 1,
        ok("blob.get"): 1,
        ok("blob.head"): 1,
        ok("stream.append"): 1,
    }
    assert metrics.series("payload_bytes") == {
        ok("record.put"): [7],
        ok("record.get"): [7],
        ok("blob.put"): [4],
        ok("blob.get"): [4],
        ok("blob.head"): [0],
        ok("stream.append"): [5],
    }
    latencies = metrics.series("latency_ms")
    assert set(latencies) == set(metrics.series("requests_total"))
    assert all(isinstance(v, list) and len(v) == 1 and v[0] >= 0 for v in latencies.values())
    assert metrics.value("errors_total") == 0


def test_failed_operations_record_errors_with_their_code(
    client: StorageClient, metrics: RecordingMetrics
) -> None:
    with pytest.raises(NotFoundError):
        client.records.get(NS, "missing")
    with pytest.raises(InvalidRequestError):
        client.blobs.put(NS, "k", "not bytes")  # type: ignore[arg-type]

    missing = OperationLabels("record.get", "record", NS, "memory", "error", "not_found")
    invalid = OperationLabels("blob.put", "blob", NS, "memory", "error", "invalid_request")
    assert metrics.series("errors_total") == {missing: 1, invalid: 1}
    assert metrics.series("requests_total") == {missing: 1, invalid: 1}
    assert set(metrics.series("latency_ms")) == {missing, invalid}
    assert metrics.series("payload_bytes") == {}


def test_metric_labels_never_carry_the_key(
    client: StorageClient, metrics: RecordingMetrics
) -> None:
    key = "customer-4711-secret"
    client.records.put(NS, key, {"v": 1})
    client.records.get(NS, key)
    client.records.get(NS, key, level="eventual")
    client.cache.set(NS, key, b"x")
    client.cache.get(NS, key)
    with pytest.raises(NotFoundError):
        client.blobs.get(NS, key)

    for name in METRIC_NAMES:
        for labels in metrics.series(name):
            assert key not in labels, (name, labels)
            assert all(len(value) < 32 for value in labels), (name, labels)


def test_cache_lookups_record_hits_and_misses(
    client: StorageClient, metrics: RecordingMetrics, clock: VirtualClock
) -> None:
    client.records.put(NS, "k", {"v": 1})
    client.records.get(NS, "k")  # miss
    client.records.get(NS, "k", level="eventual")  # hit
    client.records.get(NS, "k", bypass_cache=True)  # does not consult the cache
    client.records.get(NS, "k", level="cache_only")  # hit
    clock.advance(10_000)
    with pytest.raises(SanctumError):
        client.records.get(NS, "k", level="cache_only")  # miss

    assert metrics.samples("cache_hit_ratio", op="record.get") == [0.0, 1.0, 1.0, 0.0]


def test_consistency_retries_are_counted_and_logged(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    clock: VirtualClock,
    metrics: RecordingMetrics,
) -> None:
    client = make_client(adapter=lagging_adapter(open_adapter(), clock, 20))
    client.records.put(NS, "k", {"v": 1})

    with capture_logs() as logs:
        client.records.get(NS, "k")

    retries = logs.of(EVENT_CONSISTENCY_RETRY)
    assert len(retries) == metrics.value("retries_total", op="record.get", namespace=NS) > 0
    assert [r["attempt"] for r in retries] == list(range(1, len(retries) + 1))
    first = retries[0]
    assert set(first) == {"event", "level", *EVENT_FIELDS[EVENT_CONSISTENCY_RETRY]}
    assert (first["level"], first["key"], first["expected_version"]) == ("DEBUG", "k", 1)
    assert first["observed_version"] is None
    assert 2.5 <= float(first["backoff_ms"]) <= 5  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "error", "level"),
    [
        (lambda c: c.records.get(NS, "missing"), NotFoundError, "DEBUG"),
        (lambda c: c.records.put(NS, "", {}), InvalidRequestError, "ERROR"),
        (lambda c: (c.close(), c.records.get(NS, "k")), BackendUnavailableError, "WARNING"),
    ],
    ids=["quiet", "error", "retryable"],
)
def test_every_failure_emits_one_error_event_with_a_level_by_kind(
    client: StorageClient,
    call: Callable[[StorageClient], object],
    error: type[SanctumError],
    level: str,
) -> None:
    with capture_logs() as logs, pytest.raises(error) as info:
        call(client)

    [event] = logs.of(EVENT_OPERATION_ERROR)
    assert set(event) == {"event", "level", *EVENT_FIELDS[EVENT_OPERATION_ERROR]}
    assert event["level"] == level
    assert event["error_code"] == info.value.code
    assert event["retryable"] is info.value.retryable
    assert event["correlation_id"] == info.value.correlation_id
    assert event["op"] == info.value.op
    assert event["message"] == info.value.message


def test_error_event_fields_for_a_backend_error(client: StorageClient) -> None:
    with capture_logs() as logs, pytest.raises(NotFoundError):
        client.blobs.get(NS, "img/1")
    [event] = logs.of(EVENT_OPERATION_ERROR)
    assert {k: event[k] for k in ("op", "layer", "namespace", "adapter", "key")} == {
        "op": "blob.get",
        "layer": "blob",
        "namespace": NS,
        "adapter": "memory",
        "key": "img/1",
    }
    assert float(event["latency_ms"]) >= 0  # type: ignore[arg-type]


def test_a_caller_correlation_id_reaches_the_error_and_every_event(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    client = make_client(
        {"acl": {"*": {"alice": ["*"]}}},
        adapter=lagging_adapter(open_adapter(), clock, 500),
        principal="alice",
    )
    client.records.put(NS, "k", {"v": 1})

    with capture_logs() as logs, correlation_scope("req-42"):
        with pytest.raises(ConsistencyError) as info:
            client.records.get(NS, "k")
        with pytest.raises(AccessDeniedError) as denied:
            client.as_principal("bob").records.get(NS, "k")

    assert info.value.correlation_id == denied.value.correlation_id == "req-42"
    kinds = {e["event"] for e in logs.events}
    assert kinds == {EVENT_ACL_DECISION, EVENT_CONSISTENCY_RETRY, EVENT_OPERATION_ERROR}
    assert {e["correlation_id"] for e in logs.events} == {"req-42"}


def test_without_a_caller_id_each_operation_gets_its_own(client: StorageClient) -> None:
    with capture_logs() as logs:
        with pytest.raises(NotFoundError) as first:
            client.records.get(NS, "a")
        with pytest.raises(NotFoundError) as second:
            client.records.get(NS, "b")

    ids = [e["correlation_id"] for e in logs.of(EVENT_OPERATION_ERROR)]
    assert ids == [first.value.correlation_id, second.value.correlation_id]
    assert ids[0] != ids[1]
    assert all(ids)


@pytest.mark.parametrize("namespace", ["unknown", "bad namespace", 42])
def test_an_invalid_namespace_is_labelled_invalid(
    make_client: MakeClient, metrics: RecordingMetrics, namespace: object
) -> None:
    client = make_client({"namespaces": {"*": None, NS: {"adapter": "memory"}}})
    with pytest.raises(InvalidRequestError) as info, capture_logs() as logs:
        client.records.get(namespace, "k")  # type: ignore[arg-type]

    assert info.value.argument == "namespace"
    labels = OperationLabels("record.get", "record", "<invalid>", "", "error", "invalid_request")
    assert metrics.series("errors_total") == {labels: 1}
    [event] = logs.of(EVENT_OPERATION_ERROR)
    assert event["adapter"] == ""
    assert event["namespace"] == (namespace if isinstance(namespace, str) else None)


def test_default_metrics_are_a_no_op(make_client: MakeClient) -> None:
    client = make_client(metrics=None)
    assert not client.metrics.enabled
    client.records.put(NS, "k", {"v": 1})
    assert client.records.get(NS, "k", level="eventual").version == 1
    with pytest.raises(NotFoundError):
        client.records.get(NS, "missing")
