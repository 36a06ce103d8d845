"""Honest-but-unusual adapters: correct adapters the kit must pass with no failure."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from facade_helpers import LaggingStore
from mutants.base import Mutated

from pytest_sanctum.clock import Clock
from pytest_sanctum.types import (
    Blob,
    WriteResult,
)
from reference_adapters.memory import (
    create_memory_adapter,
)

HONEST_LAG_MS = 30.0
"""The lag of the honest replica: well inside the facade's 100 ms read-after-write window."""


class _SharedReplica(LaggingStore):
    """A ``LaggingStore`` whose replica is shared by every adapter instance of one memory
    server, as a replicated backend's is: another node reads the same lagging state, and
    catches up at the same time. Calls are serialised, so threads see one order of writes."""

    _replicas: ClassVar[dict[tuple[str, str], tuple[Any, Any, threading.RLock]]] = {}

    def __init__(self, inner: Any, clock: Clock, lag_ms: float, server: str, store: str) -> None:
        super().__init__(inner, clock, lag_ms)
        shared = self._replicas.setdefault((server, store), ({}, {}, threading.RLock()))
        self._replica, self._pending, self._lock = shared

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        with self._lock:
            return super().put(namespace, key, data, **options)

    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        with self._lock:
            return super().delete(namespace, key, if_match=if_match)

    def get(self, namespace: str, key: str) -> Blob:
        with self._lock:
            return super().get(namespace, key)


def honest_lagging_replica(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Not a mutant: honestly lacks ``read_after_write``, and reads come from a replica
    lagging ``HONEST_LAG_MS`` behind writes. A correct adapter: the kit must pass it."""
    inner = create_memory_adapter(options, clock)
    server = str(options.get("server", "default"))
    return Mutated(
        inner,
        capabilities={"read_after_write": False},
        blobs=_SharedReplica(inner.blobs, clock, HONEST_LAG_MS, server, "blobs"),
        records=_SharedReplica(inner.records, clock, HONEST_LAG_MS, server, "records"),
    )
