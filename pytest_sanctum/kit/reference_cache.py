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
    GroupStore,
    StorageAdapter,
    StreamLog,
    VersionedStore,
)
from pytest_sanctum.clock import Clock
from pytest_sanctum.types import Blob, BlobInfo, Capabilities, ETag, Version, WriteResult

OPTION = "--sanctum-reference-cache"


class _BaseStore:
    """A versioned store offering only the base protocol's methods.

    The wrapped store's one-call methods (``put_and_purge``, ``get_and_fill``) act on its
    own adapter's cache, not on the reference cache the facade uses here; hiding them makes
    the facade purge and fill the reference cache itself.
    """

    def __init__(self, inner: VersionedStore) -> None:
        self._inner = inner

    def put(
        self,
        namespace: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        if_match: ETag | None = None,
        if_none_match: bool = False,
    ) -> WriteResult:
        return self._inner.put(
            namespace,
            key,
            data,
            content_type=content_type,
            if_match=if_match,
            if_none_match=if_none_match,
        )

    def get(self, namespace: str, key: str) -> Blob:
        return self._inner.get(namespace, key)

    def head(self, namespace: str, key: str) -> BlobInfo:
        return self._inner.head(namespace, key)

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> Version:
        return self._inner.delete(namespace, key, if_match=if_match)

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        return self._inner.list(namespace, prefix, start_after=start_after, limit=limit)


class ReferenceCacheAdapter:
    """``inner`` with a memory cache of its own (a local one: ``distributed_cache`` is off)."""

    def __init__(self, inner: StorageAdapter, clock: Clock) -> None:
        # Imported here, not with the kit: the plugin loads this module in every pytest run,
        # and a host project's own package named reference_adapters may shadow the kit's.
        from reference_adapters.memory import MemoryAdapter, MemoryServer

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
        store = self.inner.blobs
        return None if store is None else _BaseStore(store)

    @property
    def records(self) -> VersionedStore | None:
        store = self.inner.records
        return None if store is None else _BaseStore(store)

    @property
    def streams(self) -> StreamLog | None:
        return self.inner.streams

    @property
    def checkpoints(self) -> CheckpointStore | GroupStore | None:
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
