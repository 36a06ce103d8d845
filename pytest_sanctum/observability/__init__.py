"""Observability of the storage facade: metrics, structured log events, correlation ids.

Everything here is dependency-free and cheap when unused: the default metrics are a
shared no-op and a log event costs one level check when its level is disabled. See
``docs/observability.md``.
"""

from pytest_sanctum.observability.correlation import (
    CorrelationRef,
    correlation_ref,
    correlation_scope,
    correlation_text,
    current_correlation_id,
    ensure_correlation_id,
    new_correlation_id,
)
from pytest_sanctum.observability.logs import (
    EVENT_ACL_DECISION,
    EVENT_CONSISTENCY_RETRY,
    EVENT_FANOUT_ERROR,
    EVENT_FIELDS,
    EVENT_OPERATION_ERROR,
    LOGGER_NAME,
    JsonFormatter,
    RecordingLogHandler,
    capture_logs,
    emit,
)
from pytest_sanctum.observability.metrics import (
    METRIC_NAMES,
    METRIC_UNITS,
    OTEL_ATTRIBUTES,
    OTEL_NAMES,
    PROMETHEUS_NAMES,
    Counter,
    Histogram,
    OperationLabels,
    RecordingMetrics,
    StorageMetrics,
    create_noop_metrics,
)

__all__ = [
    "EVENT_ACL_DECISION",
    "EVENT_CONSISTENCY_RETRY",
    "EVENT_FANOUT_ERROR",
    "EVENT_FIELDS",
    "EVENT_OPERATION_ERROR",
    "LOGGER_NAME",
    "METRIC_NAMES",
    "METRIC_UNITS",
    "OTEL_ATTRIBUTES",
    "OTEL_NAMES",
    "PROMETHEUS_NAMES",
    "CorrelationRef",
    "Counter",
    "Histogram",
    "JsonFormatter",
    "OperationLabels",
    "RecordingLogHandler",
    "RecordingMetrics",
    "StorageMetrics",
    "capture_logs",
    "correlation_ref",
    "correlation_scope",
    "correlation_text",
    "create_noop_metrics",
    "current_correlation_id",
    "emit",
    "ensure_correlation_id",
    "new_correlation_id",
]
