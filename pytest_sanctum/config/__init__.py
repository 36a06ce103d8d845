"""The storage configuration: validated, deeply frozen settings the facade reads.

The names live in ``pytest_sanctum.config.schema`` (the models) and
``pytest_sanctum.config.parsing`` (``parse_config``) and are imported on first use, so
``python -m pytest_sanctum.config.schema`` runs that module without importing it twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_sanctum.config.parsing import MAX_CONFIG_DEPTH, default_config, parse_config
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
        json_schema,
        render_json_schema,
    )

__all__ = [
    "MAX_CACHE_TTL_MS",
    "MAX_CONFIG_DEPTH",
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


_PARSING = frozenset({"MAX_CONFIG_DEPTH", "default_config", "parse_config"})


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'pytest_sanctum.config' has no attribute {name!r}")
    module = "parsing" if name in _PARSING else "schema"
    return getattr(importlib.import_module(f"pytest_sanctum.config.{module}"), name)
