"""Structured log events through stdlib ``logging``.

Every event is one ``LogRecord`` whose message reads ``"<event> key=value ..."`` for
humans and whose ``sanctum_event`` / ``sanctum_fields`` attributes carry the same data
for machines (``JsonFormatter``, ``RecordingLogHandler``). ``docs/observability.md``
lists each event's fields and level.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType

__all__ = [
    "EVENT_ACL_DECISION",
    "EVENT_CONSISTENCY_RETRY",
    "EVENT_FANOUT_ERROR",
    "EVENT_FIELDS",
    "EVENT_OPERATION_ERROR",
    "LOGGER_NAME",
    "JsonFormatter",
    "RecordingLogHandler",
    "capture_logs",
    "emit",
]

LOGGER_NAME = "pytest_sanctum"
"""The default logger of the facade's events."""

logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())
# A library leaves output to the application: without logging configured, events are
# dropped instead of going to stderr through logging's last-resort handler.

EVENT_OPERATION_ERROR = "sanctum.operation.error"
EVENT_ACL_DECISION = "sanctum.acl.decision"
EVENT_CONSISTENCY_RETRY = "sanctum.consistency.retry"
EVENT_FANOUT_ERROR = "sanctum.fanout.error"

EVENT_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        EVENT_OPERATION_ERROR: (
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
        EVENT_ACL_DECISION: ("op", "namespace", "principal", "decision", "correlation_id"),
        EVENT_CONSISTENCY_RETRY: (
            "op",
            "namespace",
            "key",
            "correlation_id",
            "attempt",
            "expected_version",
            "observed_version",
            "backoff_ms",
        ),
        EVENT_FANOUT_ERROR: ("namespace", "key", "correlation_id", "message"),
    }
)
"""The exact field set of each event, in documentation order."""

_BARE = re.compile(r"[\w.:/@+#-]+")


def _render(value: object) -> str:
    """One value of the human-readable message; JSON-quoted unless plainly safe.

    Quoting escapes spaces, quotes and line breaks, so a key or message cannot forge
    extra fields or log lines.
    """
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    text = str(value)
    return text if _BARE.fullmatch(text) else json.dumps(text)


class _KeyValues:
    """Renders fields as ``key=value`` pairs only when a handler formats the record."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, object]) -> None:
        self._fields = fields

    def __str__(self) -> str:
        return " ".join(f"{name}={_render(value)}" for name, value in self._fields.items())


def emit(logger: logging.Logger, level: int, event: str, fields: Mapping[str, object]) -> None:
    """Log ``event`` with ``fields`` at ``level``; costs one level check when disabled.

    The record's ``sanctum_event`` and ``sanctum_fields`` attributes carry the event name
    and a copy of the fields; its location is the caller's, not this function's.
    """
    if logger.isEnabledFor(level):
        copied = dict(fields)
        logger.log(
            level,
            "%s %s",
            event,
            _KeyValues(copied),
            extra={"sanctum_event": event, "sanctum_fields": copied},
            stacklevel=2,
        )


def _sanctum_event(record: logging.LogRecord) -> tuple[str, Mapping[str, object]] | None:
    event: str | None = getattr(record, "sanctum_event", None)
    if event is None:
        return None
    fields: Mapping[str, object] = getattr(record, "sanctum_fields", {})
    return event, fields


class RecordingLogHandler(logging.Handler):
    """Keeps the sanctum events it handles (other records are ignored), for assertions.

    Each entry is ``{"event": ..., "level": "WARNING", **fields}``.
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.events: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        sanctum = _sanctum_event(record)
        if sanctum is not None:
            event, fields = sanctum
            self.events.append({"event": event, "level": record.levelname, **fields})

    def of(self, event: str) -> list[dict[str, object]]:
        """The captured entries of one event, in emission order."""
        return [entry for entry in self.events if entry["event"] == event]

    def clear(self) -> None:
        """Forget every captured entry."""
        self.events.clear()


@contextmanager
def capture_logs(
    logger_name: str = LOGGER_NAME, level: int = logging.DEBUG
) -> Iterator[RecordingLogHandler]:
    """Capture the sanctum events of ``logger_name`` (and its children) for the block.

    Attaches a ``RecordingLogHandler``, sets the logger's level to ``level`` and
    re-enables the logger if a ``dictConfig`` disabled it; restores all three afterwards.
    Records still propagate to the ancestors' handlers as usual.
    """
    logger = logging.getLogger(logger_name)
    handler = RecordingLogHandler()
    saved_level, saved_disabled = logger.level, logger.disabled
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.disabled = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved_level)
        logger.disabled = saved_disabled


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON line, for log shippers.

    A sanctum event becomes ``{"ts", "level", "event", **fields}``; any other record
    ``{"ts", "level", "logger", "message"}``. ``ts`` is ISO 8601 in UTC with
    milliseconds; an ``"exception"`` key holds the traceback when the record has one.
    Values JSON cannot encode are rendered with ``str``.
    """

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        document: dict[str, object] = {"ts": ts.replace("+00:00", "Z"), "level": record.levelname}
        sanctum = _sanctum_event(record)
        if sanctum is None:
            document["logger"] = record.name
            document["message"] = record.getMessage()
        else:
            event, fields = sanctum
            document["event"] = event
            document.update(fields)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, separators=(",", ":"))
