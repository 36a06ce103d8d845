"""Observability contracts (OBS-*): one measurement per operation, errors counted and logged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import SanctumError
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.fixtures import ClientMaker
from pytest_sanctum.observability import (
    EVENT_ACL_DECISION,
    EVENT_OPERATION_ERROR,
    METRIC_NAMES,
    OperationLabels,
    RecordingLogHandler,
    RecordingMetrics,
    correlation_scope,
)

RAW_WINDOW_MS = 100.0
"""ADR-001's read-after-write window. Before an eventual read, which the window's retries
do not cover, a test waits it out with ``sleep_ms``: an adapter without read_after_write has
had the window to replicate the write (the kit's clock then waits in real time too, for a
replica lagging in real time); one with read_after_write needs no wait."""

KEY = "customer-4711"
"""The key every operation here addresses; it must never appear in a metric label."""

OPERATIONS: dict[str, tuple[str, bool, str, Callable[[StorageClient, str], object]]] = {
    "put": ("record.put", False, "", lambda client, ns: client.records.put(ns, KEY, {"n": 2})),
    "overwrite": ("record.put", True, "", lambda client, ns: client.records.put(ns, KEY, {"n": 2})),
    "get": ("record.get", True, "", lambda client, ns: client.records.get(ns, KEY)),
    "eventual-get": (
        "record.get",
        True,
        "",
        lambda client, ns: client.records.get(ns, KEY, level="eventual"),
    ),
    "delete": ("record.delete", True, "", lambda client, ns: client.records.delete(ns, KEY)),
    "missing-get": (
        "record.get",
        False,
        "not_found",
        lambda client, ns: client.records.get(ns, KEY),
    ),
    "invalid-put": (
        "record.put",
        False,
        "invalid_request",
        lambda client, ns: client.records.put(ns, KEY, {"n": float("nan")}),
    ),
}
"""Each measured operation: its op, whether the record exists first, its error code, the call."""


@contract("OBS-001")
@pytest.mark.parametrize("case", list(OPERATIONS))
def test_each_operation_adds_one_request_and_one_latency_sample(
    sanctum_client: StorageClient,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    sanctum_metrics: RecordingMetrics,
    case: str,
) -> None:
    """One operation adds one requests_total and one latency_ms sample, labelled without keys."""
    op, existing, error_code, run = OPERATIONS[case]
    if existing:
        sanctum_client.records.put(sanctum_namespace, KEY, {"n": 1})
        sanctum_clock.sleep_ms(RAW_WINDOW_MS)
    sanctum_metrics.reset()
    raised = ""
    try:
        run(sanctum_client, sanctum_namespace)
    except SanctumError as error:
        raised = error.code
    outcome = "error" if error_code else "ok"
    labels = OperationLabels(op, "record", sanctum_namespace, sanctum_adapter.name, outcome, raised)
    requests = sanctum_metrics.series("requests_total")
    latencies = {
        found: len(sanctum_metrics.samples("latency_ms", **found._asdict()))
        for found in sanctum_metrics.series("latency_ms")
    }
    assert raised == error_code, f"{explain('OBS-001')} the {op} raised {raised or 'nothing'!r}"
    assert requests == {labels: 1.0}, (
        f"{explain('OBS-001')} expected one request labelled {labels}, recorded {requests}"
    )
    assert latencies == {labels: 1}, (
        f"{explain('OBS-001')} expected one latency sample labelled {labels}, recorded {latencies}"
    )
    leaked = [
        (name, found)
        for name in METRIC_NAMES
        for found in sanctum_metrics.series(name)
        if any(KEY in value for value in found)
    ]
    assert not leaked, f"{explain('OBS-001')} labels hold the key {KEY!r}: {leaked}"


FAILURES: dict[str, tuple[str, str, Callable[[StorageClient, str], object]]] = {
    "missing-get": ("record.get", "not_found", lambda client, ns: client.records.get(ns, KEY)),
    "missing-delete": (
        "record.delete",
        "not_found",
        lambda client, ns: client.records.delete(ns, KEY),
    ),
    "invalid-put": (
        "record.put",
        "invalid_request",
        lambda client, ns: client.records.put(ns, KEY, {"n": float("nan")}),
    ),
}
"""Each failing operation on the missing record ``KEY``: its op, its error code, the call."""


@contract("OBS-002")
@pytest.mark.parametrize("case", list(FAILURES))
def test_failure_is_counted_and_logged_with_its_correlation_id(
    sanctum_client: StorageClient,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    sanctum_metrics: RecordingMetrics,
    sanctum_logs: RecordingLogHandler,
    case: str,
) -> None:
    """A failure adds one errors_total with its code and logs an event with its correlation id."""
    op, code, run = FAILURES[case]
    with pytest.raises(SanctumError) as raised:
        run(sanctum_client, sanctum_namespace)
    error = raised.value
    labels = OperationLabels(op, "record", sanctum_namespace, sanctum_adapter.name, "error", code)
    errors = sanctum_metrics.series("errors_total")
    assert (error.code, errors) == (code, {labels: 1.0}), (
        f"{explain('OBS-002')} the {error.code} error recorded errors_total {errors}, "
        f"expected {{{labels}: 1.0}}"
    )
    logged = [
        (event["op"], event["namespace"], event["key"], event["error_code"])
        for event in sanctum_logs.of(EVENT_OPERATION_ERROR)
        if event["correlation_id"] == error.correlation_id
    ]
    assert logged == [(op, sanctum_namespace, KEY, code)], (
        f"{explain('OBS-002')} events with correlation id {error.correlation_id!r}: {logged}; "
        f"all events: {sanctum_logs.events}"
    )


@contract("OBS-003")
@pytest.mark.parametrize("case", list(FAILURES))
def test_caller_correlation_id_is_on_the_error_and_every_event(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_logs: RecordingLogHandler,
    case: str,
) -> None:
    """Inside correlation_scope, the error and every event of the operation carry that id."""
    _, _, run = FAILURES[case]
    client = sanctum_make_client(acl={"*": {"*": ["record.*"]}})  # ACL decisions are logged too
    with correlation_scope("abc-123"), pytest.raises(SanctumError) as raised:
        run(client, sanctum_namespace)
    events = sanctum_logs.events
    kinds = {event["event"] for event in events}
    foreign = [event for event in events if event.get("correlation_id") != "abc-123"]
    assert raised.value.correlation_id == "abc-123", (
        f"{explain('OBS-003')} the error carries {raised.value.correlation_id!r}"
    )
    assert {EVENT_ACL_DECISION, EVENT_OPERATION_ERROR} <= kinds, (
        f"{explain('OBS-003')} expected an ACL decision and an error event, logged {events}"
    )
    assert foreign == [], f"{explain('OBS-003')} events without the caller's id: {foreign}"
