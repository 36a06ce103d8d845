"""Builders and test doubles shared by the facade's unit tests (``test_facade_*.py``).

The doubles wrap the in-memory reference adapter: ``AdapterDouble`` swaps its declared
capabilities or any of its stores, ``LaggingStore`` plays a replica that serves the previous
version until the clock passes ``write time + lag``, ``CountingStore`` counts backend calls
and ``Faulty`` raises chosen exceptions from chosen methods.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import Clock
from pytest_sanctum.config import StorageConfigV1, parse_config
from pytest_sanctum.errors import NotFoundError
from pytest_sanctum.fanout import InvalidationHandler
from pytest_sanctum.types import Blob, BlobInfo, Capabilities, InvalidationEvent, WriteResult
from reference_adapters.memory import MemoryAdapter, create_memory_adapter

NS = "ns"
"""The namespace most tests use (served by the ``*`` entry)."""


class MakeClient(Protocol):
    """The ``make_client`` fixture: a client on the test's memory server and virtual clock."""

    def __call__(
        self,
        overrides: Mapping[str, Any] | None = None,
        *,
        adapter: Any = None,
        fanout: Any = None,
        principal: str = "anonymous",
        node_id: str | None = None,
        metrics: Any = None,
    ) -> StorageClient: ...


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overrides`` recursively; an override of ``None`` removes the key."""
    merged = dict(base)
    for name, value in overrides.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(name), Mapping):
            merged[name] = deep_merge(merged[name], value)
        else:
            merged[name] = value
    return merged


def make_config(
    server: str, overrides: Mapping[str, Any] | None = None, *, interface: str = "full"
) -> StorageConfigV1:
    """A parsed config: one memory adapter on ``server`` serving every namespace."""
    raw: dict[str, Any] = {
        "schema_version": 1,
        "adapters": {
            "memory": {"kind": "memory", "options": {"server": server, "interface": interface}}
        },
        "namespaces": {"*": {"adapter": "memory"}},
    }
    return parse_config(deep_merge(raw, overrides or {}))


class AdapterDouble:
    """A ``StorageAdapter`` delegating to ``inner`` with capabilities or stores swapped.

    ``capabilities`` overrides are applied with ``dataclasses.replace``; a store passed
    as a keyword (``None`` included) replaces the inner adapter's.
    """

    def __init__(self, inner: MemoryAdapter, *, name: str = "memory", **swaps: Any) -> None:
        caps = swaps.pop("capabilities", {})
        self.inner = inner
        self.name = name
        self.capabilities: Capabilities = dataclasses.replace(inner.capabilities, **caps)
        self.blobs: Any = swaps.pop("blobs", inner.blobs)
        self.records: Any = swaps.pop("records", inner.records)
        self.streams: Any = swaps.pop("streams", inner.streams)
        self.checkpoints: Any = swaps.pop("checkpoints", inner.checkpoints)
        self.cache: Any = swaps.pop("cache", inner.cache)
        if swaps:
            raise TypeError(f"unknown swaps {sorted(swaps)}")
        self.closed = 0

    def reset(self, namespace_prefix: str) -> None:
        self.inner.reset(namespace_prefix)

    def close(self) -> None:
        self.closed += 1
        self.inner.close()


class LaggingStore:
    """A ``VersionedStore`` whose reads come from a replica lagging ``lag_ms`` behind writes.

    A read returns the state every write older than ``lag_ms`` produced: the previous
    version (or ``NotFoundError`` for a key not yet replicated, or the ghost of a deleted
    key) until the clock reaches ``write time + lag``. ``lag_ms`` may be changed at any time
    for later writes.
    """

    def __init__(self, inner: Any, clock: Clock, lag_ms: float) -> None:
        self.inner = inner
        self.clock = clock
        self.lag_ms = lag_ms
        self.gets = 0
        self._replica: dict[tuple[str, str], Blob | None] = {}
        self._pending: dict[tuple[str, str], list[tuple[float, Blob | None]]] = {}

    def _replicate(self, namespace: str, key: str) -> Blob | None:
        now = self.clock.now_ms()
        queue = self._pending.get((namespace, key), [])
        while queue and queue[0][0] <= now:
            self._replica[(namespace, key)] = queue.pop(0)[1]
        return self._replica.get((namespace, key))

    def _written(self, namespace: str, key: str, state: Blob | None) -> None:
        self._replicate(namespace, key)
        due = self.clock.now_ms() + self.lag_ms
        self._pending.setdefault((namespace, key), []).append((due, state))

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        result: WriteResult = self.inner.put(namespace, key, data, **options)
        self._written(namespace, key, self.inner.get(namespace, key))
        return result

    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        version: int = self.inner.delete(namespace, key, if_match=if_match)
        self._written(namespace, key, None)
        return version

    def get(self, namespace: str, key: str) -> Blob:
        self.gets += 1
        if getattr(self.inner, "_refusal", ""):
            self.inner.get(namespace, key)  # a closed or failing backend fails replica reads too
        blob = self._replicate(namespace, key)
        if blob is None:
            raise NotFoundError("not on the replica yet", namespace=namespace, key=key)
        return blob

    def head(self, namespace: str, key: str) -> BlobInfo:
        return self.get(namespace, key).info

    def list(self, namespace: str, prefix: str = "", **options: Any) -> list[BlobInfo]:
        result: list[BlobInfo] = self.inner.list(namespace, prefix, **options)
        return result


class CountingStore:
    """Delegates every method to ``inner`` and counts the calls by method name."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


class Faulty:
    """Delegates to ``inner``, except that the named methods raise.

    ``faults`` maps a method name to an exception (raised on every call) or a list of
    exceptions (raised one per call, in order; then calls go through again).
    """

    def __init__(self, inner: Any, **faults: BaseException | list[BaseException]) -> None:
        self.inner = inner
        self.faults = faults
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        fault = self.faults.get(name)
        if fault is None:
            return attribute

        def failing(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if isinstance(fault, list):
                if fault:
                    raise fault.pop(0)
                return attribute(*args, **kwargs)
            raise fault

        return failing


class Hooked:
    """Delegates to ``inner``; the next call of ``method`` also runs ``hook`` once.

    ``before`` runs the hook before the call, else after it (before returning): this is
    how a test lands a "concurrent" write at an exact point of a read.
    """

    def __init__(self, inner: Any, method: str, *, before: bool) -> None:
        self.inner = inner
        self.method = method
        self.before = before
        self.hook: Callable[[], object] | None = None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name != self.method:
            return attribute

        def hooked(*args: Any, **kwargs: Any) -> Any:
            hook, self.hook = self.hook, None
            if hook is not None and self.before:
                hook()
            result = attribute(*args, **kwargs)
            if hook is not None and not self.before:
                hook()
            return result

        return hooked


class RaisingFanout:
    """A fan-out whose ``publish`` always fails."""

    def __init__(self) -> None:
        self.handlers: list[InvalidationHandler] = []

    def publish(self, event: InvalidationEvent) -> None:
        raise ConnectionError("fan-out broker unreachable")

    def subscribe(self, handler: InvalidationHandler) -> Callable[[], None]:
        self.handlers.append(handler)
        return lambda: None


BUILT: list[MemoryAdapter] = []
"""Every adapter ``recording_memory_factory`` built (the client-build cleanup test reads it)."""


def recording_memory_factory(options: Mapping[str, object], clock: Clock) -> MemoryAdapter:
    """An adapter factory (``facade_helpers:recording_memory_factory``) that records its adapters."""
    adapter = create_memory_adapter(options, clock)
    BUILT.append(adapter)
    return adapter


def not_an_adapter_factory(options: Mapping[str, object], clock: Clock) -> object:
    """An adapter factory returning something that is not a ``StorageAdapter``."""
    return object()


LAYERS = ("record", "blob")
"""The two versioned layers, for tests that hold for both."""


def lagging_adapter(inner: MemoryAdapter, clock: Clock, lag_ms: float) -> AdapterDouble:
    """``inner`` behind lagging blob and record replicas, without ``read_after_write``."""
    return AdapterDouble(
        inner,
        capabilities={"read_after_write": False},
        blobs=LaggingStore(inner.blobs, clock, lag_ms),
        records=LaggingStore(inner.records, clock, lag_ms),
    )


def put_value(client: Any, layer: str, key: str, n: int, **options: Any) -> WriteResult:
    """Write ``n`` to ``key`` of ``NS`` through the record or the blob layer."""
    if layer == "record":
        result: WriteResult = client.records.put(NS, key, {"n": n}, **options)
    else:
        result = client.blobs.put(NS, key, str(n).encode(), **options)
    return result


def get_value(client: Any, layer: str, key: str, **options: Any) -> tuple[int, int]:
    """Read ``key`` of ``NS`` through the record or the blob layer: ``(n, version)``."""
    if layer == "record":
        record = client.records.get(NS, key, **options)
        return int(record.value["n"]), int(record.version)
    blob = client.blobs.get(NS, key, **options)
    return int(blob.data), int(blob.version)
