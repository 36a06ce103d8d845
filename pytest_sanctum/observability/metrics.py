"""Storage metrics: the instruments the facade records on every operation.

The facade talks to a ``StorageMetrics`` object only through ``Counter.add`` and
``Histogram.record`` with an ``OperationLabels`` tuple, so any backend (OpenTelemetry,
Prometheus, StatsD) can be bridged with a few lines and no dependency here. Two
implementations ship: a shared no-op (the default; ``enabled`` is false so the facade can
skip measuring) and ``RecordingMetrics`` for assertions in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple, Protocol

__all__ = [
    "METRIC_NAMES",
    "METRIC_UNITS",
    "OTEL_ATTRIBUTES",
    "OTEL_NAMES",
    "PROMETHEUS_NAMES",
    "Counter",
    "Histogram",
    "OperationLabels",
    "RecordingMetrics",
    "StorageMetrics",
    "create_noop_metrics",
]


class OperationLabels(NamedTuple):
    """The label set of one measurement, in a fixed order.

    Labels must have a small, bounded set of values: never put a key, a payload or a
    correlation id in them (those belong in logs), or every backend's series count explodes.
    """

    op: str
    """The operation, e.g. ``"record.put"``, ``"blob.get"``, ``"stream.read"``."""
    layer: str
    """``"blob"``, ``"record"``, ``"stream"`` or ``"cache"``."""
    namespace: str
    """The logical namespace the operation addressed."""
    adapter: str
    """The name of the adapter serving the namespace, e.g. ``"memory"``."""
    outcome: str
    """``"ok"`` or ``"error"``."""
    error_code: str
    """``""`` when the outcome is ok, else the ``SanctumError.code``, e.g. ``"not_found"``."""


class Counter(Protocol):
    """A monotonic sum: only non-negative values are added."""

    def add(self, value: float, labels: OperationLabels) -> None:
        """Add ``value`` to the series named by ``labels``."""
        ...


class Histogram(Protocol):
    """A distribution of observed values."""

    def record(self, value: float, labels: OperationLabels) -> None:
        """Record one observation in the series named by ``labels``."""
        ...


class StorageMetrics(Protocol):
    """The six instruments the facade records; see ``docs/observability.md``.

    The members are read-only, so an implementation may use plain attributes of any
    ``Counter`` / ``Histogram`` type.
    """

    @property
    def requests_total(self) -> Counter:
        """One per operation, whatever its outcome."""
        ...

    @property
    def errors_total(self) -> Counter:
        """One per failed operation; the labels carry the error code."""
        ...

    @property
    def retries_total(self) -> Counter:
        """One per read-after-write consistency retry or compare-and-set retry."""
        ...

    @property
    def latency_ms(self) -> Histogram:
        """Wall-clock latency of each operation, in milliseconds."""
        ...

    @property
    def payload_bytes(self) -> Histogram:
        """Bytes written or read by each operation (0 when none)."""
        ...

    @property
    def cache_hit_ratio(self) -> Histogram:
        """1.0 per cache hit and 0.0 per miss on reads that consult the cache; mean = ratio."""
        ...

    @property
    def enabled(self) -> bool:
        """False when recording is a no-op, so the facade may skip timing and sizing."""
        ...


METRIC_NAMES: tuple[str, ...] = (
    "requests_total",
    "errors_total",
    "retries_total",
    "latency_ms",
    "payload_bytes",
    "cache_hit_ratio",
)
"""Every instrument's attribute name on ``StorageMetrics``, in documentation order."""

_COUNTERS = frozenset(METRIC_NAMES[:3])
_LABEL_INDEX = {label: index for index, label in enumerate(OperationLabels._fields)}

METRIC_UNITS: Mapping[str, str] = MappingProxyType(
    {
        "requests_total": "{request}",
        "errors_total": "{error}",
        "retries_total": "{retry}",
        "latency_ms": "ms",
        "payload_bytes": "By",
        "cache_hit_ratio": "1",
    }
)
"""The unit each instrument records in (UCUM, as OpenTelemetry expects)."""

OTEL_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "requests_total": "sanctum.client.requests",
        "errors_total": "sanctum.client.errors",
        "retries_total": "sanctum.client.retries",
        "latency_ms": "db.client.operation.duration",
        "payload_bytes": "sanctum.client.payload.size",
        "cache_hit_ratio": "sanctum.cache.hit_ratio",
    }
)
"""OpenTelemetry instrument names for a bridge.

``db.client.operation.duration`` is specified in seconds: divide ``latency_ms`` values by
1000 when forwarding them.
"""

PROMETHEUS_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "requests_total": "sanctum_requests_total",
        "errors_total": "sanctum_errors_total",
        "retries_total": "sanctum_retries_total",
        "latency_ms": "sanctum_operation_duration_seconds",
        "payload_bytes": "sanctum_payload_bytes",
        "cache_hit_ratio": "sanctum_cache_hit_ratio",
    }
)
"""Prometheus metric names for a bridge; the duration is in seconds (divide by 1000)."""

OTEL_ATTRIBUTES: Mapping[str, str] = MappingProxyType(
    {
        "op": "db.operation.name",
        "layer": "sanctum.layer",
        "namespace": "db.namespace",
        "adapter": "db.system.name",
        "outcome": "sanctum.outcome",
        "error_code": "error.type",
    }
)
"""OpenTelemetry attribute keys for the ``OperationLabels`` fields.

Per the OpenTelemetry conventions, set ``error.type`` only when the outcome is an error.
"""


class _NoopCounter:
    __slots__ = ()

    def add(self, value: float, labels: OperationLabels) -> None:
        pass


class _NoopHistogram:
    __slots__ = ()

    def record(self, value: float, labels: OperationLabels) -> None:
        pass


class _NoopMetrics:
    """Instruments that discard everything; one shared instance serves every facade."""

    __slots__ = (
        "cache_hit_ratio",
        "errors_total",
        "latency_ms",
        "payload_bytes",
        "requests_total",
        "retries_total",
    )

    def __init__(self) -> None:
        counter, histogram = _NoopCounter(), _NoopHistogram()
        self.requests_total: Counter = counter
        self.errors_total: Counter = counter
        self.retries_total: Counter = counter
        self.latency_ms: Histogram = histogram
        self.payload_bytes: Histogram = histogram
        self.cache_hit_ratio: Histogram = histogram

    @property
    def enabled(self) -> bool:
        return False


_NOOP = _NoopMetrics()


def create_noop_metrics() -> StorageMetrics:
    """The shared no-op metrics: every call does nothing and ``enabled`` is false."""
    return _NOOP


class _Observations:
    """An append-only log of ``(labels, value)`` pairs for one instrument.

    ``list.append`` is atomic under the GIL, so concurrent recording loses nothing and
    needs no lock; aggregation happens when the data is read, not on the hot path.
    """

    __slots__ = ("_log",)

    def __init__(self) -> None:
        self._log: list[tuple[OperationLabels, float]] = []


class _RecordingCounter(_Observations):
    __slots__ = ()

    def add(self, value: float, labels: OperationLabels) -> None:
        if value < 0:
            raise ValueError(f"a counter only adds non-negative values, got {value}")
        self._log.append((labels, value))


class _RecordingHistogram(_Observations):
    __slots__ = ()

    def record(self, value: float, labels: OperationLabels) -> None:
        self._log.append((labels, value))


class RecordingMetrics:
    """Metrics that keep every observation in memory, for assertions in tests.

    Recording appends one tuple to a list: it is cheap, lock-free and thread-safe under
    the GIL (``list.append`` is atomic), and reads (``value``, ``samples``, ``series``)
    see every observation completed before them. Memory grows with the number of
    operations, so use a real metrics backend for long-running processes.
    """

    __slots__ = (
        "cache_hit_ratio",
        "errors_total",
        "latency_ms",
        "payload_bytes",
        "requests_total",
        "retries_total",
    )

    def __init__(self) -> None:
        self.requests_total: Counter = _RecordingCounter()
        self.errors_total: Counter = _RecordingCounter()
        self.retries_total: Counter = _RecordingCounter()
        self.latency_ms: Histogram = _RecordingHistogram()
        self.payload_bytes: Histogram = _RecordingHistogram()
        self.cache_hit_ratio: Histogram = _RecordingHistogram()

    @property
    def enabled(self) -> bool:
        """Always true: the facade measures everything."""
        return True

    def value(self, name: str, **labels: str) -> float:
        """The sum of counter ``name`` over every label set matching ``labels``.

        ``value("requests_total", op="record.put", outcome="ok")`` counts successful
        record puts in every namespace. Raises ``ValueError`` for an unknown or histogram
        name, or an unknown label name.
        """
        return sum((v for _, v in self._matching(name, "counter", labels)), 0.0)

    def samples(self, name: str, **labels: str) -> list[float]:
        """Observations of histogram ``name`` matching ``labels``, in recording order.

        Raises ``ValueError`` for an unknown or counter name, or an unknown label name.
        """
        return [v for _, v in self._matching(name, "histogram", labels)]

    def series(self, name: str) -> dict[OperationLabels, float | list[float]]:
        """The raw data of ``name`` per label set: a counter's sum or a histogram's samples.

        Raises ``ValueError`` for an unknown name.
        """
        log = list(self._log(name))
        if name in _COUNTERS:
            sums: dict[OperationLabels, float] = {}
            for labels, value in log:
                sums[labels] = sums.get(labels, 0.0) + value
            return dict(sums)
        samples: dict[OperationLabels, list[float]] = {}
        for labels, value in log:
            samples.setdefault(labels, []).append(value)
        return dict(samples)

    def reset(self) -> None:
        """Forget every observation of every instrument."""
        for name in METRIC_NAMES:
            self._log(name).clear()

    def _log(self, name: str) -> list[tuple[OperationLabels, float]]:
        if name not in METRIC_NAMES:
            raise ValueError(f"unknown metric {name!r}; expected one of {', '.join(METRIC_NAMES)}")
        instrument: _Observations = getattr(self, name)
        return instrument._log

    def _matching(
        self, name: str, kind: str, labels: Mapping[str, str]
    ) -> list[tuple[OperationLabels, float]]:
        log = list(self._log(name))
        actual = "counter" if name in _COUNTERS else "histogram"
        if actual != kind:
            reader = "value" if actual == "counter" else "samples"
            raise ValueError(f"{name!r} is a {actual}; read it with {reader}()")
        wanted: list[tuple[int, str]] = []
        for label, expected in labels.items():
            if label not in _LABEL_INDEX:
                raise ValueError(
                    f"unknown label {label!r}; expected one of {', '.join(OperationLabels._fields)}"
                )
            wanted.append((_LABEL_INDEX[label], expected))
        return [obs for obs in log if all(obs[0][i] == want for i, want in wanted)]
