"""Tests of the observability package: metrics, structured log events, correlation ids."""

from __future__ import annotations

import ast
import asyncio
import contextvars
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

import pytest_sanctum.observability as observability
from pytest_sanctum.observability import (
    EVENT_ACL_DECISION,
    EVENT_CONSISTENCY_RETRY,
    EVENT_FANOUT_ERROR,
    EVENT_FIELDS,
    EVENT_OPERATION_ERROR,
    LOGGER_NAME,
    METRIC_NAMES,
    METRIC_UNITS,
    OTEL_ATTRIBUTES,
    OTEL_NAMES,
    PROMETHEUS_NAMES,
    JsonFormatter,
    OperationLabels,
    RecordingLogHandler,
    RecordingMetrics,
    StorageMetrics,
    capture_logs,
    correlation,
    correlation_ref,
    correlation_scope,
    correlation_text,
    create_noop_metrics,
    current_correlation_id,
    emit,
    ensure_correlation_id,
    new_correlation_id,
)

ROOT = Path(__file__).resolve().parent.parent
PUT_OK = OperationLabels("record.put", "record", "orders", "memory", "ok", "")
PUT_ERROR = OperationLabels("record.put", "record", "orders", "memory", "error", "conflict")
GET_OK = OperationLabels("blob.get", "blob", "images", "memory", "ok", "")
GET_MISSING = OperationLabels("blob.get", "blob", "images", "memory", "error", "not_found")
ID_PATTERN = re.compile(r"[0-9a-f]{12}-[0-9]+")


# --- metrics: names and labels ------------------------------------------------------------


def test_metric_names_and_their_mappings_cover_the_same_instruments() -> None:
    assert METRIC_NAMES == (
        "requests_total",
        "errors_total",
        "retries_total",
        "latency_ms",
        "payload_bytes",
        "cache_hit_ratio",
    )
    for mapping in (OTEL_NAMES, PROMETHEUS_NAMES, METRIC_UNITS):
        assert tuple(mapping) == METRIC_NAMES
    assert OTEL_NAMES["latency_ms"] == "db.client.operation.duration"
    assert PROMETHEUS_NAMES["requests_total"] == "sanctum_requests_total"
    assert METRIC_UNITS["latency_ms"] == "ms"
    assert tuple(OTEL_ATTRIBUTES) == OperationLabels._fields


def test_name_mappings_are_read_only() -> None:
    with pytest.raises(TypeError):
        OTEL_NAMES["requests_total"] = "other"  # type: ignore[index]


def test_operation_labels_have_a_fixed_order_and_are_hashable() -> None:
    assert OperationLabels._fields == (
        "op",
        "layer",
        "namespace",
        "adapter",
        "outcome",
        "error_code",
    )
    same = OperationLabels(
        op="record.put",
        layer="record",
        namespace="orders",
        adapter="memory",
        outcome="ok",
        error_code="",
    )
    assert same == PUT_OK
    assert {PUT_OK: 1}[same] == 1


# --- metrics: no-op -----------------------------------------------------------------------


def test_noop_metrics_is_a_disabled_shared_singleton() -> None:
    metrics = create_noop_metrics()
    assert metrics is create_noop_metrics()
    assert metrics.enabled is False


def test_noop_metrics_accept_every_call_and_keep_nothing() -> None:
    metrics = create_noop_metrics()
    metrics.requests_total.add(1, PUT_OK)
    metrics.errors_total.add(1, PUT_ERROR)
    metrics.retries_total.add(1, PUT_OK)
    metrics.latency_ms.record(1.5, PUT_OK)
    metrics.payload_bytes.record(10, PUT_OK)
    metrics.cache_hit_ratio.record(1.0, GET_OK)
    assert not hasattr(metrics, "__dict__")


def _facade_like_operation(metrics: StorageMetrics, labels: OperationLabels) -> None:
    """What the facade does per operation, typed against the protocol."""
    metrics.requests_total.add(1, labels)
    if labels.outcome == "error":
        metrics.errors_total.add(1, labels)
    metrics.latency_ms.record(2.0, labels)
    metrics.payload_bytes.record(3, labels)


def test_both_implementations_satisfy_the_protocol() -> None:
    recording = RecordingMetrics()
    for metrics in (create_noop_metrics(), recording):
        _facade_like_operation(metrics, PUT_ERROR)
    assert recording.enabled is True
    assert recording.value("errors_total", error_code="conflict") == 1


# --- metrics: recording -------------------------------------------------------------------


@pytest.fixture
def metrics() -> RecordingMetrics:
    recording = RecordingMetrics()
    recording.requests_total.add(1, PUT_OK)
    recording.requests_total.add(1, PUT_OK)
    recording.requests_total.add(1, PUT_ERROR)
    recording.requests_total.add(1, GET_OK)
    recording.requests_total.add(1, GET_MISSING)
    recording.errors_total.add(1, PUT_ERROR)
    recording.errors_total.add(1, GET_MISSING)
    recording.retries_total.add(2.5, PUT_OK)
    recording.latency_ms.record(3.0, PUT_OK)
    recording.latency_ms.record(1.0, GET_OK)
    recording.latency_ms.record(2.0, PUT_ERROR)
    recording.latency_ms.record(0.5, GET_OK)
    recording.payload_bytes.record(128, PUT_OK)
    recording.cache_hit_ratio.record(1.0, GET_OK)
    recording.cache_hit_ratio.record(0.0, GET_OK)
    return recording


def test_value_sums_a_counter_over_every_matching_label_set(metrics: RecordingMetrics) -> None:
    assert metrics.value("requests_total") == 5
    assert metrics.value("requests_total", op="record.put") == 3
    assert metrics.value("requests_total", op="record.put", outcome="ok") == 2
    assert metrics.value("requests_total", layer="blob", error_code="not_found") == 1
    assert metrics.value("errors_total", namespace="orders") == 1
    assert metrics.value("retries_total") == 2.5


def test_value_is_zero_float_when_nothing_matches(metrics: RecordingMetrics) -> None:
    result = metrics.value("requests_total", op="stream.read")
    assert result == 0.0
    assert isinstance(result, float)
    assert metrics.value("requests_total", namespace="orders", layer="blob") == 0.0


def test_samples_keep_recording_order_across_label_sets(metrics: RecordingMetrics) -> None:
    assert metrics.samples("latency_ms") == [3.0, 1.0, 2.0, 0.5]
    assert metrics.samples("latency_ms", op="blob.get") == [1.0, 0.5]
    assert metrics.samples("latency_ms", outcome="error") == [2.0]
    assert metrics.samples("payload_bytes", adapter="memory") == [128]
    assert metrics.samples("payload_bytes", adapter="redis") == []


def test_the_mean_cache_hit_ratio_is_the_hit_ratio(metrics: RecordingMetrics) -> None:
    ratios = metrics.samples("cache_hit_ratio", op="blob.get")
    assert sum(ratios) / len(ratios) == 0.5


def test_series_returns_sums_for_counters_and_samples_for_histograms(
    metrics: RecordingMetrics,
) -> None:
    assert metrics.series("requests_total") == {
        PUT_OK: 2,
        PUT_ERROR: 1,
        GET_OK: 1,
        GET_MISSING: 1,
    }
    assert metrics.series("latency_ms") == {PUT_OK: [3.0], GET_OK: [1.0, 0.5], PUT_ERROR: [2.0]}
    assert metrics.series("errors_total") == {PUT_ERROR: 1, GET_MISSING: 1}


def test_series_is_a_copy(metrics: RecordingMetrics) -> None:
    series = metrics.series("latency_ms")
    samples = series[GET_OK]
    assert isinstance(samples, list)
    samples.append(99.0)
    series.clear()
    assert metrics.samples("latency_ms", op="blob.get") == [1.0, 0.5]


def test_reset_forgets_every_instrument(metrics: RecordingMetrics) -> None:
    metrics.reset()
    for name in METRIC_NAMES:
        assert metrics.series(name) == {}
    metrics.requests_total.add(1, PUT_OK)
    assert metrics.value("requests_total") == 1


@pytest.mark.parametrize("read", ["value", "samples", "series"])
def test_an_unknown_metric_name_is_a_value_error(metrics: RecordingMetrics, read: str) -> None:
    with pytest.raises(ValueError, match="unknown metric 'requests'"):
        getattr(metrics, read)("requests")


def test_an_unknown_label_name_is_a_value_error(metrics: RecordingMetrics) -> None:
    with pytest.raises(ValueError, match="unknown label 'key'"):
        metrics.value("requests_total", key="order-1")
    with pytest.raises(ValueError, match="unknown label 'status'"):
        metrics.samples("latency_ms", op="blob.get", status="ok")


def test_reading_an_instrument_with_the_wrong_kind_is_a_value_error(
    metrics: RecordingMetrics,
) -> None:
    with pytest.raises(ValueError, match=r"'latency_ms' is a histogram; read it with samples\(\)"):
        metrics.value("latency_ms")
    with pytest.raises(ValueError, match=r"'errors_total' is a counter; read it with value\(\)"):
        metrics.samples("errors_total")


def test_a_counter_rejects_a_negative_value() -> None:
    metrics = RecordingMetrics()
    with pytest.raises(ValueError, match="non-negative"):
        metrics.requests_total.add(-1, PUT_OK)
    assert metrics.value("requests_total") == 0
    metrics.requests_total.add(0, PUT_OK)
    assert metrics.series("requests_total") == {PUT_OK: 0}


def test_concurrent_recording_loses_nothing() -> None:
    metrics = RecordingMetrics()
    threads_count, per_thread = 8, 5_000

    def work() -> None:
        for _ in range(per_thread):
            metrics.requests_total.add(1, PUT_OK)
            metrics.latency_ms.record(1.0, PUT_OK)

    threads = [threading.Thread(target=work) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.value("requests_total") == threads_count * per_thread
    assert len(metrics.samples("latency_ms")) == threads_count * per_thread


# --- correlation ids ----------------------------------------------------------------------


def test_no_correlation_id_outside_a_scope() -> None:
    assert current_correlation_id() is None


def test_a_scope_sets_the_given_id_and_restores_none() -> None:
    with correlation_scope("request-7") as scoped:
        assert scoped == "request-7"
        assert current_correlation_id() == "request-7"
    assert current_correlation_id() is None


def test_a_scope_without_an_id_generates_one() -> None:
    with correlation_scope() as scoped:
        assert ID_PATTERN.fullmatch(scoped)
        assert current_correlation_id() == scoped


def test_scopes_nest_and_restore_the_outer_id() -> None:
    with correlation_scope("outer"):
        with correlation_scope("inner"):
            assert current_correlation_id() == "inner"
        assert current_correlation_id() == "outer"
        with pytest.raises(RuntimeError), correlation_scope("failing"):
            raise RuntimeError("boom")
        assert current_correlation_id() == "outer"
    assert current_correlation_id() is None


def test_an_empty_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="must not be empty"), correlation_scope(""):
        pass
    assert current_correlation_id() is None


def test_ensure_returns_the_current_id_or_a_new_one_without_setting_it() -> None:
    generated = ensure_correlation_id()
    assert ID_PATTERN.fullmatch(generated)
    assert current_correlation_id() is None
    assert ensure_correlation_id() != generated
    with correlation_scope("caller-set"):
        assert ensure_correlation_id() == "caller-set"


def test_a_ref_is_the_scoped_id_or_a_number_that_becomes_an_id_only_when_asked() -> None:
    first, second = correlation_ref(), correlation_ref()
    assert type(first) is int
    assert type(second) is int
    assert first != second
    assert correlation_text(first) == correlation_text(first)
    assert ID_PATTERN.fullmatch(correlation_text(first))
    assert correlation_text(first) != correlation_text(second)
    assert correlation_text(first).split("-")[0] == new_correlation_id().split("-")[0]
    with correlation_scope("caller-set"):
        assert correlation_ref() == "caller-set"
        assert correlation_text(correlation_ref()) == "caller-set"


def test_new_ids_share_the_process_prefix_and_are_unique() -> None:
    ids = [new_correlation_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(ID_PATTERN.fullmatch(cid) for cid in ids)
    assert len({cid.split("-")[0] for cid in ids}) == 1


def test_a_new_prefix_changes_later_ids_only() -> None:
    before = new_correlation_id()
    correlation._new_prefix()
    after = new_correlation_id()
    assert ID_PATTERN.fullmatch(after)
    assert before.split("-")[0] != after.split("-")[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports its first id and exits at once
        os.close(read_end)
        os.write(write_end, new_correlation_id().encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child_id = pipe.read().decode()
    os.waitpid(pid, 0)
    assert ID_PATTERN.fullmatch(child_id)
    assert child_id.split("-")[0] != new_correlation_id().split("-")[0]


def test_the_id_follows_asyncio_tasks_and_to_thread() -> None:
    async def read_in_task() -> str | None:
        await asyncio.sleep(0)
        return current_correlation_id()

    async def set_in_task() -> str | None:
        with correlation_scope("task-own"):
            await asyncio.sleep(0)
            return current_correlation_id()

    async def main() -> tuple[str | None, ...]:
        with correlation_scope("async-request"):
            in_task = await asyncio.create_task(read_in_task())
            in_thread = await asyncio.to_thread(current_correlation_id)
            own = await asyncio.create_task(set_in_task())
            after = current_correlation_id()
        return in_task, in_thread, own, after

    assert asyncio.run(main()) == ("async-request", "async-request", "task-own", "async-request")


def test_the_id_does_not_leak_into_a_plain_thread_unless_the_context_is_copied() -> None:
    seen: dict[str, str | None] = {}

    def record(name: str) -> None:
        seen[name] = current_correlation_id()

    with correlation_scope("thread-request"):
        plain = threading.Thread(target=record, args=("plain",))
        copied = threading.Thread(target=contextvars.copy_context().run, args=(record, "copied"))
        for thread in (plain, copied):
            thread.start()
            thread.join()
    assert seen == {"plain": None, "copied": "thread-request"}


# --- log events ---------------------------------------------------------------------------


class _ListHandler(logging.Handler):
    """Keeps every record it handles, whatever its kind."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _records(name: str) -> Iterator[list[logging.LogRecord]]:
    """Collect every record logger ``name`` handles during the block."""
    handler = _ListHandler()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def test_event_names_and_field_sets() -> None:
    assert EVENT_FIELDS == {
        "sanctum.operation.error": (
            "op",
            "layer",
            "namespace",
            "adapter",
            "key",
            "correlation_id",
            "error_code",
            "retryable",
            "message",
            "latency_ms",
        ),
        "sanctum.acl.decision": ("op", "namespace", "principal", "decision", "correlation_id"),
        "sanctum.consistency.retry": (
            "op",
            "namespace",
            "key",
            "correlation_id",
            "attempt",
            "expected_version",
            "observed_version",
            "backoff_ms",
        ),
        "sanctum.fanout.error": ("namespace", "key", "correlation_id", "message"),
    }
    assert (EVENT_OPERATION_ERROR, EVENT_ACL_DECISION) == (
        "sanctum.operation.error",
        "sanctum.acl.decision",
    )
    assert (EVENT_CONSISTENCY_RETRY, EVENT_FANOUT_ERROR) == (
        "sanctum.consistency.retry",
        "sanctum.fanout.error",
    )


OPERATION_ERROR_FIELDS: dict[str, object] = {
    "op": "record.put",
    "layer": "record",
    "namespace": "orders",
    "adapter": "memory",
    "key": "order/1",
    "correlation_id": "abc-1",
    "error_code": "conflict",
    "retryable": True,
    "message": 'write "lost" a race\nretry',
    "latency_ms": 1.25,
}


def test_emit_logs_a_readable_message_and_the_structured_fields() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    with capture_logs() as captured, _records(LOGGER_NAME) as records:
        emit(logger, logging.WARNING, EVENT_OPERATION_ERROR, OPERATION_ERROR_FIELDS)
    assert captured.events == [
        {"event": EVENT_OPERATION_ERROR, "level": "WARNING", **OPERATION_ERROR_FIELDS}
    ]
    (record,) = records
    assert record.getMessage() == (
        "sanctum.operation.error op=record.put layer=record namespace=orders adapter=memory"
        " key=order/1 correlation_id=abc-1 error_code=conflict retryable=true"
        ' message="write \\"lost\\" a race\\nretry" latency_ms=1.25'
    )
    assert getattr(record, "sanctum_event", None) == EVENT_OPERATION_ERROR
    assert getattr(record, "sanctum_fields", None) == OPERATION_ERROR_FIELDS
    assert record.funcName == "test_emit_logs_a_readable_message_and_the_structured_fields"


def test_the_message_quotes_whatever_could_forge_fields() -> None:
    fields: dict[str, object] = {
        "none": None,
        "number": 3,
        "empty": "",
        "spaced": "a b",
        "forged": "x y=z",
        "object": datetime(2024, 1, 2),
        "plain": "ns.a:b/c@d+e#f-g_h",
    }
    with capture_logs(), _records(LOGGER_NAME) as records:
        emit(logging.getLogger(LOGGER_NAME), logging.INFO, "sanctum.test", fields)
    assert records[0].getMessage() == (
        'sanctum.test none=null number=3 empty="" spaced="a b" forged="x y=z"'
        ' object="2024-01-02 00:00:00" plain=ns.a:b/c@d+e#f-g_h'
    )


class _Untouchable(Mapping[str, object]):
    """Fails on any access, to prove a disabled emit never reads its fields."""

    def __getitem__(self, key: str) -> object:
        raise AssertionError("read")

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("read")

    def __len__(self) -> int:
        raise AssertionError("read")


def test_emit_at_a_disabled_level_does_nothing() -> None:
    with capture_logs(level=logging.INFO) as captured:
        emit(logging.getLogger(LOGGER_NAME), logging.DEBUG, EVENT_ACL_DECISION, _Untouchable())
    assert captured.events == []


def test_emit_copies_the_fields() -> None:
    fields: dict[str, object] = {"namespace": "orders"}
    with capture_logs() as captured:
        emit(logging.getLogger(LOGGER_NAME), logging.ERROR, EVENT_FANOUT_ERROR, fields)
    fields["namespace"] = "changed"
    assert captured.events == [
        {"event": EVENT_FANOUT_ERROR, "level": "ERROR", "namespace": "orders"}
    ]


def test_the_recording_handler_keeps_sanctum_events_only() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    with capture_logs() as captured:
        logger.warning("plain message")
        emit(logger, logging.DEBUG, EVENT_ACL_DECISION, {"decision": "allow"})
        emit(logger, logging.WARNING, EVENT_ACL_DECISION, {"decision": "deny"})
        emit(logger, logging.DEBUG, EVENT_CONSISTENCY_RETRY, {"attempt": 1})
    assert [entry["level"] for entry in captured.events] == ["DEBUG", "WARNING", "DEBUG"]
    assert captured.of(EVENT_ACL_DECISION) == [
        {"event": EVENT_ACL_DECISION, "level": "DEBUG", "decision": "allow"},
        {"event": EVENT_ACL_DECISION, "level": "WARNING", "decision": "deny"},
    ]
    assert captured.of(EVENT_FANOUT_ERROR) == []
    captured.clear()
    assert captured.events == []


def test_the_recording_handler_honours_its_level() -> None:
    logger = logging.getLogger("sanctum-test-handler")
    handler = RecordingLogHandler(logging.WARNING)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        emit(logger, logging.DEBUG, EVENT_ACL_DECISION, {"decision": "allow"})
        emit(logger, logging.WARNING, EVENT_ACL_DECISION, {"decision": "deny"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert handler.events == [{"event": EVENT_ACL_DECISION, "level": "WARNING", "decision": "deny"}]


def test_capture_logs_sees_child_loggers_and_restores_the_logger() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    saved_level, saved_disabled = logger.level, logger.disabled
    handlers_before = list(logger.handlers)
    logger.setLevel(logging.ERROR)
    logger.disabled = True
    try:
        with capture_logs() as captured:
            assert logger.level == logging.DEBUG
            assert not logger.disabled
            assert captured in logger.handlers
            child = logging.getLogger(f"{LOGGER_NAME}.client")
            emit(child, logging.DEBUG, EVENT_CONSISTENCY_RETRY, {"attempt": 2})
        assert captured.of(EVENT_CONSISTENCY_RETRY) == [
            {"event": EVENT_CONSISTENCY_RETRY, "level": "DEBUG", "attempt": 2}
        ]
        assert logger.level == logging.ERROR
        assert logger.disabled
        assert logger.handlers == handlers_before
    finally:
        logger.setLevel(saved_level)
        logger.disabled = saved_disabled


def test_capture_logs_restores_the_logger_after_an_exception() -> None:
    logger = logging.getLogger("sanctum-test-other")
    levels: list[int] = []

    def fail_inside() -> None:
        with capture_logs("sanctum-test-other", logging.WARNING):
            levels.append(logger.level)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside()
    assert levels == [logging.WARNING]
    assert logger.level == logging.NOTSET
    assert logger.handlers == []


# --- JSON formatter -----------------------------------------------------------------------


TS_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_json_formatter_renders_a_sanctum_event_as_one_line() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    with capture_logs(), _records(LOGGER_NAME) as records:
        emit(logger, logging.WARNING, EVENT_OPERATION_ERROR, OPERATION_ERROR_FIELDS)
    line = JsonFormatter().format(records[0])
    assert "\n" not in line
    document = json.loads(line)
    assert list(document) == ["ts", "level", "event", *EVENT_FIELDS[EVENT_OPERATION_ERROR]]
    assert TS_PATTERN.fullmatch(document.pop("ts"))
    assert document == {
        "level": "WARNING",
        "event": EVENT_OPERATION_ERROR,
        **OPERATION_ERROR_FIELDS,
    }


def test_json_formatter_renders_other_records_and_exceptions() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    with capture_logs(), _records(LOGGER_NAME) as records:
        logger.info("cache %s in %d ms", "warm", 3)
        try:
            raise KeyError("lost")
        except KeyError:
            logger.exception("failed")
    plain, failed = (json.loads(JsonFormatter().format(record)) for record in records)
    assert TS_PATTERN.fullmatch(plain.pop("ts"))
    assert plain == {"level": "INFO", "logger": LOGGER_NAME, "message": "cache warm in 3 ms"}
    assert list(failed) == ["ts", "level", "logger", "message", "exception"]
    assert failed["exception"].startswith("Traceback")
    assert "KeyError: 'lost'" in failed["exception"]


def test_json_formatter_renders_unencodable_values_with_str() -> None:
    with capture_logs(), _records(LOGGER_NAME) as records:
        emit(
            logging.getLogger(LOGGER_NAME),
            logging.INFO,
            "sanctum.test",
            {"at": datetime(2024, 5, 6)},
        )
    assert json.loads(JsonFormatter().format(records[0]))["at"] == "2024-05-06 00:00:00"


def test_json_formatter_works_as_a_handler_formatter(capsys: pytest.CaptureFixture[str]) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        with capture_logs():
            emit(logger, logging.ERROR, EVENT_FANOUT_ERROR, {"key": "k"})
    finally:
        logger.removeHandler(handler)
    document = json.loads(capsys.readouterr().out)
    assert document["event"] == EVENT_FANOUT_ERROR
    assert document["key"] == "k"


# --- package rules and documentation ------------------------------------------------------

PACKAGE = ROOT / "pytest_sanctum" / "observability"


def test_the_package_imports_only_the_stdlib_errors_and_types() -> None:
    allowed_internal = {"pytest_sanctum.errors", "pytest_sanctum.types"}
    for module in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if name.startswith("pytest_sanctum.observability"):
                    continue
                assert name in allowed_internal or top in sys.stdlib_module_names, (
                    f"{module.name} imports {name}"
                )


def test_the_package_re_exports_its_public_api() -> None:
    for name in observability.__all__:
        assert getattr(observability, name) is not None


def test_the_documentation_names_every_metric_event_and_field() -> None:
    text = (ROOT / "docs" / "observability.md").read_text(encoding="utf-8")
    names = [
        *METRIC_NAMES,
        *OTEL_NAMES.values(),
        *PROMETHEUS_NAMES.values(),
        *OTEL_ATTRIBUTES.values(),
        *OperationLabels._fields,
        *EVENT_FIELDS,
    ]
    for fields in EVENT_FIELDS.values():
        names.extend(fields)
    missing = [name for name in names if f"`{name}`" not in text]
    assert missing == []
    assert "TODO" not in text
