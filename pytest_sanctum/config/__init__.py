"""The storage configuration: validated, deeply frozen settings the facade reads.

The names live in ``pytest_sanctum.config.schema`` and are imported on first use, so
``python -m pytest_sanctum.config.schema`` runs that module without importing it twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_sanctum.config.schema import (
        MAX_CACHE_TTL_MS,
        OPERATIONS,
        SCHEMA_FILE,
        SCHEMA_VERSION,
        AdapterConfig,
        CacheConfig,
        ConsistencyConfig,
        FanoutConfig,
        FrozenJSON,
        NamespaceConfig,
        ObservabilityConfig,
        StorageConfigV1,
        StreamsConfig,
        default_config,
        json_schema,
        parse_config,
        render_json_schema,
    )

__all__ = [
    "MAX_CACHE_TTL_MS",
    "OPERATIONS",
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "AdapterConfig",
    "CacheConfig",
    "ConsistencyConfig",
    "FanoutConfig",
    "FrozenJSON",
    "NamespaceConfig",
    "ObservabilityConfig",
    "StorageConfigV1",
    "StreamsConfig",
    "default_config",
    "json_schema",
    "parse_config",
    "render_json_schema",
]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'pytest_sanctum.config' has no attribute {name!r}")
    return getattr(importlib.import_module("pytest_sanctum.config.schema"), name)
