"""Backdoor probes: read the backend without the adapter's own read path.

A conformance test that checks a write through the adapter's read path alone cannot tell
a correct adapter from one whose write and read are wrong in the same way. A backdoor
reads the stored state directly (the zarr store-test idea), so the write is checked on
its own. Adapters offer one with a ``backdoor()`` method or the
``pytest_sanctum_backdoor`` hook.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.errors import NotFoundError
from pytest_sanctum.types import Blob, Layer, StoredMessage


@runtime_checkable
class Backdoor(Protocol):
    """Direct reads of what the backend holds."""

    def read_object(self, layer: Layer, namespace: str, key: str) -> Blob | None:
        """The stored blob or record (a record as the JSON bytes the facade wrote), or ``None`` when absent."""
        ...

    def stream_messages(self, namespace: str, stream: str) -> list[StoredMessage]:
        """Every message stored in the stream, in sequence order."""
        ...


class AdapterProbe:
    """The fallback when an adapter offers no backdoor: reads through the adapter's stores.

    Weaker than a backdoor (it shares the adapter's read path), and said so in the report.
    """

    def __init__(self, adapter: StorageAdapter) -> None:
        self._adapter = adapter

    def read_object(self, layer: Layer, namespace: str, key: str) -> Blob | None:
        store = self._adapter.blobs if layer is Layer.BLOB else self._adapter.records
        if store is None:
            return None
        try:
            return store.get(namespace, key)
        except NotFoundError:
            return None

    def stream_messages(self, namespace: str, stream: str) -> list[StoredMessage]:
        log = self._adapter.streams
        if log is None:
            return []
        messages: list[StoredMessage] = []
        while batch := log.read(namespace, stream, after=len(messages), limit=1000):
            messages.extend(batch)
        return messages
