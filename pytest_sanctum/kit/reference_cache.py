"""The reference cache: running an adapter that has no cache behind the memory adapter's.

An adapter without a cache of its own is deployed behind another adapter's cache (the
configuration's ``cache.adapter``). With ``--sanctum-reference-cache`` the kit runs it so:
each adapter instance (each node) gets its own in-memory cache, local as the reference's
is by default. The contracts that need a cache then certify the adapter's stores, records
and consistency behind that cache. They certify no cache of the adapter's own: the report
header says the reference cache was used (``reference_cache``).
"""

from __future__ import annotations

import dataclasses

from pytest_sanctum.adapters.base import (
    CacheStore,
    CheckpointStore,
    StorageAdapter,
    StreamLog,
    VersionedStore,
)
from pytest_sanctum.clock import Clock
from pytest_sanctum.types import Capabilities
from reference_adapters.memory import MemoryAdapter, MemoryServer

OPTION = "--sanctum-reference-cache"


class ReferenceCacheAdapter:
    """``inner`` with a memory cache of its own (a local one: ``distributed_cache`` is off)."""

    def __init__(self, inner: StorageAdapter, clock: Clock) -> None:
        self.inner = inner
        self._reference = MemoryAdapter(MemoryServer("sanctum-reference-cache"), clock)
        self._capabilities = dataclasses.replace(
            inner.capabilities, cache=True, distributed_cache=False
        )

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def blobs(self) -> VersionedStore | None:
        return self.inner.blobs

    @property
    def records(self) -> VersionedStore | None:
        return self.inner.records

    @property
    def streams(self) -> StreamLog | None:
        return self.inner.streams

    @property
    def checkpoints(self) -> CheckpointStore | None:
        return self.inner.checkpoints

    @property
    def cache(self) -> CacheStore:
        return self._reference.cache

    def reset(self, namespace_prefix: str) -> None:
        self.inner.reset(namespace_prefix)
        self._reference.reset(namespace_prefix)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self._reference.close()

    def backdoor(self) -> object:
        """The wrapped adapter's backdoor, if it has one."""
        make = getattr(self.inner, "backdoor", None)
        return make() if callable(make) else None
