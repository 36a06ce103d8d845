"""pytest-sanctum: a storage facade, its in-memory reference backend and conformance kit.

Names are imported on first use, so ``import pytest_sanctum`` (which pytest does when it
loads the plugin) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "create_storage_client": "pytest_sanctum.client",
    "StorageClient": "pytest_sanctum.client",
    "parse_config": "pytest_sanctum.config",
    "StorageConfigV1": "pytest_sanctum.config",
    "VirtualClock": "pytest_sanctum.clock",
    "SystemClock": "pytest_sanctum.clock",
    "Clock": "pytest_sanctum.clock",
    "LocalFanout": "pytest_sanctum.fanout",
    "QueuedFanout": "pytest_sanctum.fanout",
    "IdempotentConsumer": "pytest_sanctum.consumer",
    "ReadLevel": "pytest_sanctum.types",
    "Capabilities": "pytest_sanctum.types",
    "SanctumError": "pytest_sanctum.errors",
    "correlation_scope": "pytest_sanctum.observability",
    "RecordingMetrics": "pytest_sanctum.observability",
}

__all__ = [
    "Capabilities",
    "Clock",
    "IdempotentConsumer",
    "LocalFanout",
    "QueuedFanout",
    "ReadLevel",
    "RecordingMetrics",
    "SanctumError",
    "StorageClient",
    "StorageConfigV1",
    "SystemClock",
    "VirtualClock",
    "__version__",
    "correlation_scope",
    "create_storage_client",
    "parse_config",
]

if TYPE_CHECKING:
    from pytest_sanctum.client import StorageClient, create_storage_client
    from pytest_sanctum.clock import Clock, SystemClock, VirtualClock
    from pytest_sanctum.config import StorageConfigV1, parse_config
    from pytest_sanctum.consumer import IdempotentConsumer
    from pytest_sanctum.errors import SanctumError
    from pytest_sanctum.fanout import LocalFanout, QueuedFanout
    from pytest_sanctum.observability import RecordingMetrics, correlation_scope
    from pytest_sanctum.types import Capabilities, ReadLevel


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_sanctum' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
