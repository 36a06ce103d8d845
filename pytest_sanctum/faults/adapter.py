"""``FaultyAdapter``: wraps any adapter and injects the faults of a ``FaultPlan`` into its calls.

Each store call may be delayed, fail before the backend is called, or be applied and then
fail (an unknown outcome to the caller); cache reads may find their entry evicted; and
the node may crash, closing its adapter and opening a new one through ``reopen`` (its
local cache is lost, its durable data stays). Every injected error is a
``BackendUnavailableError``: the error ADR-001 lets the facade surface for an unreachable
backend, so an honest adapter never fails a check because of a fault.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.errors import BackendUnavailableError
from pytest_sanctum.faults.plan import FaultPlan
from pytest_sanctum.types import Capabilities

_READS = frozenset({"get", "head", "list", "read", "load", "get_and_fill", "read_sequences"})
"""Store methods that change nothing: an error after them is just an error."""


class FaultyAdapter:
    """A ``StorageAdapter`` forwarding to ``inner`` with faults injected per ``plan``.

    ``reopen`` opens a fresh instance of the same backend; without it, the ``crash`` fault
    is not injected. ``crash()`` and ``reopen_now()`` let a test crash the node on demand.
    """

    def __init__(
        self,
        inner: StorageAdapter,
        plan: FaultPlan,
        reopen: Callable[[], StorageAdapter] | None = None,
    ) -> None:
        self.inner = inner
        self.plan = plan
        self._reopen = reopen
        self._lock = threading.Lock()
        self._stores = {
            name: _FaultyStore(self, name)
            for name in ("blobs", "records", "streams", "checkpoints", "cache")
            if getattr(inner, name) is not None
        }

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    @property
    def blobs(self) -> Any:
        return self._stores.get("blobs")

    @property
    def records(self) -> Any:
        return self._stores.get("records")

    @property
    def streams(self) -> Any:
        return self._stores.get("streams")

    @property
    def checkpoints(self) -> Any:
        return self._stores.get("checkpoints")

    @property
    def cache(self) -> Any:
        return self._stores.get("cache")

    def reset(self, namespace_prefix: str) -> None:
        self.inner.reset(namespace_prefix)

    def close(self) -> None:
        self.inner.close()

    def backdoor(self) -> object:
        """The wrapped adapter's backdoor, if it has one."""
        make = getattr(self.inner, "backdoor", None)
        return make() if callable(make) else None

    def crash(self) -> None:
        """Close the current instance and open a new one (a crash and restart of the node)."""
        if self._reopen is None:
            raise RuntimeError("this FaultyAdapter was given no reopen function")
        with self._lock:
            old, self.inner = self.inner, self._reopen()
        old.close()

    def call(self, store: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run ``inner.<store>.<method>(*args, **kwargs)`` with the plan's faults."""
        plan = self.plan
        if plan.roll("latency"):
            time.sleep(plan.delay_s())
        if self._reopen is not None and plan.roll("crash"):
            self.crash()
            raise BackendUnavailableError("fault injected: the node crashed and restarted")
        if store == "cache" and method == "get" and plan.roll("cache_evict"):
            cache = self.inner.cache
            if cache is not None:
                cache.delete(*args[:2])
            return None
        if plan.roll("error_before"):
            raise BackendUnavailableError(f"fault injected before {store}.{method}")
        result = getattr(getattr(self.inner, store), method)(*args, **kwargs)
        if method not in _READS and plan.roll("error_after"):
            raise BackendUnavailableError(
                f"fault injected after {store}.{method} applied (outcome unknown to the caller)"
            )
        return result


class _FaultyStore:
    """A store of a ``FaultyAdapter``: each method call goes through ``FaultyAdapter.call``,
    on whichever inner instance is current (the facade keeps the store across a crash)."""

    def __init__(self, node: FaultyAdapter, store: str) -> None:
        self._node = node
        self._store = store

    def __getattr__(self, method: str) -> Callable[..., Any]:
        node, store = self._node, self._store
        # Offer only what the wrapped store offers: the facade asks whether a store has the
        # optional one-call methods (adapters/base.py) before it calls them.
        getattr(getattr(node.inner, store), method)

        def call(*args: Any, **kwargs: Any) -> Any:
            return node.call(store, method, args, kwargs)

        call.__name__ = method
        return call
