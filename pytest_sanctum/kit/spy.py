"""A spy around an adapter: counts the calls that reach each store method.

Conformance tests use it to check calls that must not happen, such as a backend read
from a ``cache_only`` read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.types import Capabilities


class _CountingStore:
    """Forwards every method call to ``inner`` and counts it as ``<store>.<method>``."""

    def __init__(self, inner: Any, store: str, calls: Counter[str]) -> None:
        self._inner = inner
        self._store = store
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target
        label = f"{self._store}.{name}"

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[label] += 1
            return target(*args, **kwargs)

        return counted


class SpyAdapter:
    """Wraps an adapter; ``calls`` counts store calls such as ``records.get``."""

    def __init__(self, inner: StorageAdapter) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def _wrap(self, store: object, name: str) -> Any:
        return None if store is None else _CountingStore(store, name, self.calls)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    @property
    def blobs(self) -> Any:
        return self._wrap(self.inner.blobs, "blobs")

    @property
    def records(self) -> Any:
        return self._wrap(self.inner.records, "records")

    @property
    def streams(self) -> Any:
        return self._wrap(self.inner.streams, "streams")

    @property
    def checkpoints(self) -> Any:
        return self._wrap(self.inner.checkpoints, "checkpoints")

    @property
    def cache(self) -> Any:
        return self._wrap(self.inner.cache, "cache")

    def backend_reads(self, store: str) -> int:
        """Reads of ``store`` that reached the backend: ``get``, and ``get_and_fill`` for a
        ``CachingVersionedStore`` that fills the cache in the same call."""
        return self.calls[f"{store}.get"] + self.calls[f"{store}.get_and_fill"]

    def backend_calls(self) -> int:
        """Calls that reached a backend store (anything but the cache)."""
        return sum(count for label, count in self.calls.items() if not label.startswith("cache."))

    def reset(self, namespace_prefix: str) -> None:
        self.inner.reset(namespace_prefix)

    def close(self) -> None:
        self.inner.close()
