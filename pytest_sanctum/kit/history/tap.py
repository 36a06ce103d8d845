"""``DeleteTap``: tells the recorder which version a delete removed.

The facade's ``delete`` returns nothing, but the store's returns the version it removed,
which places the delete in the key's version order. The tap wraps an adapter, notes each
store delete's result in a thread-local slot, and hands it to the recorder.
"""

from __future__ import annotations

import threading
from typing import Any

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.types import Capabilities


class DeletedVersions:
    """Per thread, the version the thread's last store delete removed."""

    def __init__(self) -> None:
        self._local = threading.local()

    def take(self) -> int | None:
        """The noted version (then forgotten), or ``None``."""
        version: int | None = getattr(self._local, "version", None)
        self._local.version = None
        return version

    def note(self, version: int) -> None:
        self._local.version = version


class DeleteTap:
    """Wraps an adapter and notes in ``versions`` what each store delete removed."""

    def __init__(self, inner: StorageAdapter, versions: DeletedVersions) -> None:
        self.inner = inner
        self.versions = versions
        self._blobs = _TappedStore(inner.blobs, versions) if inner.blobs is not None else None
        self._records = _TappedStore(inner.records, versions) if inner.records is not None else None

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    @property
    def blobs(self) -> Any:
        return self._blobs

    @property
    def records(self) -> Any:
        return self._records

    @property
    def streams(self) -> Any:
        return self.inner.streams

    @property
    def checkpoints(self) -> Any:
        return self.inner.checkpoints

    @property
    def cache(self) -> Any:
        return self.inner.cache

    def reset(self, namespace_prefix: str) -> None:
        self.inner.reset(namespace_prefix)

    def close(self) -> None:
        self.inner.close()

    def backdoor(self) -> object:
        make = getattr(self.inner, "backdoor", None)
        return make() if callable(make) else None


class _TappedStore:
    def __init__(self, inner: Any, versions: DeletedVersions) -> None:
        self._inner = inner
        self._versions = versions

    def delete(self, namespace: str, key: str, **options: Any) -> int:
        version: int = self._inner.delete(namespace, key, **options)
        self._versions.note(version)
        return version

    def delete_and_purge(self, namespace: str, key: str, **options: Any) -> int:
        """The one-call delete of a ``CachingVersionedStore`` (offered only when the wrapped
        store offers the rest of that protocol too)."""
        version: int = self._inner.delete_and_purge(namespace, key, **options)
        self._versions.note(version)
        return version

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
