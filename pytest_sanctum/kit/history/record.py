"""What a concurrent history is made of, and how operations are recorded into one.

Every operation a client runs is recorded with its invoke and complete times on a
monotonic real clock (``time.monotonic_ns``, comparable across processes on one machine)
and on the facade's clock, and with its outcome: ``ok`` (it took effect, or observed what
it returned), ``fail`` (a definite refusal that changed nothing) or ``info`` (unknown: the
backend may or may not have applied it, such as a timeout or a connection lost after
sending). The checkers accept either outcome of an ``info`` operation.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import (
    AccessDeniedError,
    CacheMissError,
    ConsistencyError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
    UnsupportedOperationError,
)

Outcome = Literal["ok", "fail", "info"]

OBJECT_KINDS = frozenset({"put", "cas", "create", "delete", "get"})
"""Operations on versioned objects (records or blobs)."""

STREAM_KINDS = frozenset({"append", "read", "ack"})
"""Operations on streams."""

DEFINITE_ERRORS: tuple[type[SanctumError], ...] = (
    PreconditionFailedError,
    NotFoundError,
    InvalidRequestError,
    UnsupportedOperationError,
    AccessDeniedError,
    CacheMissError,
    ConsistencyError,
)
"""Errors that say the operation changed nothing. Any other error (``BackendUnavailable``,
``Conflict``, ``AdapterError``, a timeout) may come after the backend applied it."""


@dataclass(slots=True)
class Operation:
    """One recorded operation: who ran it, on what, when, and what came back.

    ``tag`` names the unique payload a write or append carried, or the payload a read
    returned (``None`` for a read of a missing key). ``version`` / ``etag`` are what a
    write returned or a read saw; for a delete, the version it removed when known.
    ``deliveries`` are a stream read's ``(sequence, tag, delivery_count)``.
    """

    index: int
    client: str
    node: str
    kind: str
    key: str
    invoke_ns: int
    invoke_ms: float
    complete_ns: int = 0
    complete_ms: float = 0.0
    outcome: Outcome = "info"
    tag: str | None = None
    version: int | None = None
    etag: str | None = None
    if_match: str | None = None
    level: str | None = None
    bypass: bool = False
    group: str | None = None
    idempotency_key: str | None = None
    sequence: int | None = None
    duplicate: bool = False
    deliveries: list[tuple[int, str | None, int]] = field(default_factory=list)
    count: int | None = None
    error: str | None = None

    @property
    def is_read(self) -> bool:
        return self.kind == "get"

    def describe(self) -> str:
        """A one-line description: ``c1@n0 cas k2 if_match=3-ab -> ok v4``."""
        args = []
        if self.tag is not None and self.kind in ("put", "cas", "create", "append"):
            args.append(self.tag)
        if self.if_match is not None:
            args.append(f"if_match={self.if_match}")
        if self.level is not None:
            args.append(self.level + (" bypass" if self.bypass else ""))
        if self.group is not None:
            args.append(f"group={self.group}")
        if self.idempotency_key is not None:
            args.append(f"idem={self.idempotency_key}")
        if self.kind == "ack" and self.sequence is not None:
            args.append(f"#{self.sequence}")
        return f"{self.client}@{self.node} {self.kind} {self.key} {' '.join(args)}".rstrip() + (
            f" -> {self.result_text()}"
        )

    def result_text(self) -> str:
        if self.outcome != "ok":
            return f"{self.outcome} {self.error or ''}".rstrip()
        if self.kind == "get":
            if self.tag is None:
                return "not found"
            return f"v{self.version} {self.tag}"
        if self.kind in ("put", "cas", "create"):
            return f"v{self.version}"
        if self.kind == "delete":
            return "deleted" + (f" v{self.version}" if self.version is not None else "")
        if self.kind == "append":
            return f"#{self.sequence}" + (" duplicate" if self.duplicate else "")
        if self.kind == "read":
            shown = ", ".join(f"#{seq}x{count}" for seq, _, count in self.deliveries)
            return f"[{shown}]"
        return f"{self.count}"


@dataclass(slots=True)
class HistorySettings:
    """What the clients were configured with: the checkers derive each bound from it.

    ``real_clock`` says the facade clock moves with real time, so staleness budgets and
    TTLs can be checked in real time; on a virtual clock they are not checked.
    """

    read_after_write: bool = True
    cached: bool = False
    staleness_budget_ms: float = 0.0
    ttl_ms: float = 5000.0
    visibility_timeout_ms: float = 30_000.0
    dedupe_window_ms: float = 120_000.0
    real_clock: bool = True


@dataclass
class History:
    """The operations of one run, in invoke order, with the settings they ran under.

    ``contention``: per kind of contention round played, ``[contended, played]``.
    """

    operations: list[Operation]
    settings: HistorySettings = field(default_factory=HistorySettings)
    contention: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": asdict(self.settings),
            "operations": [asdict(op) for op in self.operations],
            "contention": self.contention,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> History:
        ops = []
        for raw in data["operations"]:
            raw = dict(raw)
            raw["deliveries"] = [tuple(d) for d in raw.get("deliveries", [])]
            ops.append(Operation(**raw))
        return cls(ops, HistorySettings(**data["settings"]), dict(data.get("contention", {})))

    def dumps(self) -> str:
        return json.dumps(self.to_json())


class Recorder:
    """Thread-safe: numbers operations and stamps them with real and facade time."""

    def __init__(self, clock: Clock, settings: HistorySettings | None = None) -> None:
        self.clock = clock
        self.settings = settings or HistorySettings()
        self._operations: list[Operation] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self.contention: dict[str, list[int]] = {}
        """What the run's contention rounds achieved, handed on to the history."""

    def begin(self, client: str, node: str, kind: str, key: str, **fields: Any) -> Operation:
        """Start an operation (invoke time now); finish it with ``ok`` / ``failed``."""
        op = Operation(
            next(self._numbers),
            client,
            node,
            kind,
            key,
            time.monotonic_ns(),
            self.clock.now_ms(),
            **fields,
        )
        return op

    def _finish(self, op: Operation, outcome: Outcome) -> None:
        op.complete_ms = self.clock.now_ms()
        op.complete_ns = time.monotonic_ns()
        op.outcome = outcome
        with self._lock:
            self._operations.append(op)

    def ok(self, op: Operation) -> None:
        self._finish(op, "ok")

    def failed(self, op: Operation, error: BaseException) -> None:
        """Record ``error``: ``fail`` when it is definite, else ``info``."""
        op.error = getattr(error, "code", type(error).__name__)
        if isinstance(error, PreconditionFailedError) and op.kind != "get":
            # A refusal reports what was current: an observation, like a read.
            op.etag = error.current_etag
            op.version = error.current_version
        self._finish(op, "fail" if isinstance(error, DEFINITE_ERRORS) else "info")

    @contextmanager
    def operation(
        self, client: str, node: str, kind: str, key: str, **fields: Any
    ) -> Iterator[Operation]:
        """Record the block as one operation: ``ok`` when it returns, else by the error."""
        op = self.begin(client, node, kind, key, **fields)
        try:
            yield op
        except Exception as error:
            self.failed(op, error)
            raise
        self.ok(op)

    def extend(self, operations: list[Operation]) -> None:
        """Add operations recorded elsewhere (another process), renumbering them."""
        with self._lock:
            for op in operations:
                op.index = next(self._numbers)
                self._operations.append(op)

    def history(self) -> History:
        """The operations so far, in invoke order."""
        with self._lock:
            ops = sorted(self._operations, key=lambda op: (op.invoke_ns, op.index))
        return History(ops, self.settings, dict(self.contention))
