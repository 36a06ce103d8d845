"""The two sides of a differential example: the adapter under test and the reference.

Each side holds up to two adapter instances (another node, or a restarted process) and a
facade client over each. The reference is the in-memory adapter on a server of its own,
built with the same capabilities the adapter under test offers (the missing ones masked,
its cache shared exactly when the adapter declares ``distributed_cache``), and with the
same optional one-call protocols for consumer groups, so the facade takes the same
decisions on both sides and only the stores differ.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_sanctum.adapters.base import GroupStore, StorageAdapter
from pytest_sanctum.client import StorageClient
from pytest_sanctum.core import offers
from pytest_sanctum.kit.masks import MaskedAdapter
from pytest_sanctum.types import Capabilities, Layer
from reference_adapters.memory import create_memory_adapter, drop_server


@dataclass
class Side:
    """One side of the comparison: its open adapter instances and their clients."""

    name: str
    open: Callable[[], StorageAdapter]
    client: Callable[[StorageAdapter], StorageClient]
    adapters: list[StorageAdapter] = field(default_factory=list)
    clients: list[StorageClient] = field(default_factory=list)

    def start(self, index: int) -> None:
        """Open instance ``index`` (a new one when it was open before) with its client."""
        adapter = self.open()
        client = self.client(adapter)
        if index < len(self.adapters):
            self.adapters[index] = adapter
            self.clients[index] = client
        else:
            self.adapters.append(adapter)
            self.clients.append(client)

    def store(self, index: int, name: str) -> Any:
        """Store ``name`` (``blobs``, ``records``, ``streams``, ``checkpoints``, ``cache``)."""
        return getattr(self.adapters[index], name)

    def layer(self, index: int, layer: Layer) -> Any:
        """The facade layer of instance ``index``."""
        return getattr(
            self.clients[index], f"{layer.value}s" if layer is not Layer.CACHE else "cache"
        )


def reference_opener(
    capabilities: Capabilities, adapter: StorageAdapter, clock: Any
) -> tuple[Callable[[], StorageAdapter], Callable[[], None]]:
    """A factory of reference instances matching ``adapter``, and how to drop their data."""
    server = f"sanctum-differential-{uuid.uuid4().hex}"
    hidden = [name for name in Capabilities.field_names() if not getattr(capabilities, name)]
    interface = "full" if offers(adapter.checkpoints, GroupStore) else "basic"
    options = {
        "server": server,
        "shared_cache": capabilities.distributed_cache,
        "interface": interface,
    }

    def open_reference() -> StorageAdapter:
        memory = create_memory_adapter(options, clock)
        return MaskedAdapter(memory, hidden) if hidden else memory

    return open_reference, lambda: drop_server(server)
