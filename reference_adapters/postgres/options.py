"""The ``postgres`` adapter's options, validated into one frozen value.

Every refused option raises ``ConfigError(field="options.<name>")``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from pytest_sanctum.errors import ConfigError
from reference_adapters.postgres.schema import SCHEMA_NAME


@dataclass(frozen=True, slots=True)
class PostgresOptions:
    """What the adapter connects to and how long it waits. Times are milliseconds."""

    conninfo: str = ""
    """A libpq connection string or ``postgresql://`` URL; empty: libpq's defaults
    (``PGHOST``, ``PGDATABASE``, ... and the local socket)."""
    schema: str = "sanctum"
    """The PostgreSQL schema holding the adapter's tables, created on open if absent."""
    min_connections: int = 1
    """Connections the pool keeps open."""
    max_connections: int = 4
    """The most connections the pool opens (one per concurrent operation)."""
    pool_timeout_ms: float = 5000.0
    """How long an operation waits for a free connection before ``BackendUnavailableError``."""
    connect_timeout_ms: float = 5000.0
    """How long opening the adapter waits for its first connection."""
    lock_timeout_ms: float = 5000.0
    """How long a statement waits for a row lock held by another client (``lock_timeout``)."""
    statement_timeout_ms: float = 30000.0
    """How long a statement may run (``statement_timeout``); 0: no limit."""
    application_name: str = "pytest-sanctum"
    """Shown in ``pg_stat_activity``."""


_NAMES: Final = tuple(PostgresOptions.__dataclass_fields__)


def _text(name: str, value: object, *, non_empty: bool = False) -> str:
    if not isinstance(value, str) or (non_empty and not value):
        kind = "a non-empty string" if non_empty else "a string"
        raise ConfigError(
            f"postgres option {name!r} must be {kind}, got {value!r}", field=f"options.{name}"
        )
    return value


def _count(name: str, value: object, low: int) -> int:
    if type(value) is not int or value < low:
        raise ConfigError(
            f"postgres option {name!r} must be an integer >= {low}, got {value!r}",
            field=f"options.{name}",
        )
    return value


def _millis(name: str, value: object, *, zero: bool) -> float:
    bad = (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero)
    )
    if bad:
        bound = ">= 0" if zero else "> 0"
        raise ConfigError(
            f"postgres option {name!r} must be a finite number {bound}, got {value!r}",
            field=f"options.{name}",
        )
    return float(value)  # type: ignore[arg-type]


def parse_options(options: Mapping[str, object]) -> PostgresOptions:
    """Validate the adapter's options; unknown names are refused."""
    found: dict[str, object] = {}
    for name, value in options.items():
        if name == "conninfo":
            found[name] = _text(name, value)
        elif name == "schema":
            schema = _text(name, value, non_empty=True)
            if not SCHEMA_NAME.fullmatch(schema):
                raise ConfigError(
                    "postgres option 'schema' must be a lower-case identifier of at most 63"
                    f" characters (letters, digits, '_'; not starting with a digit), got {value!r}",
                    field="options.schema",
                )
            found[name] = schema
        elif name == "min_connections":
            found[name] = _count(name, value, 0)
        elif name == "max_connections":
            found[name] = _count(name, value, 1)
        elif name in ("pool_timeout_ms", "connect_timeout_ms", "lock_timeout_ms"):
            found[name] = _millis(name, value, zero=False)
        elif name == "statement_timeout_ms":
            found[name] = _millis(name, value, zero=True)
        elif name == "application_name":
            found[name] = _text(name, value)
        else:
            raise ConfigError(
                f"unknown postgres option {name!r} (known: {', '.join(_NAMES)})",
                field=f"options.{name}",
            )
    parsed = PostgresOptions(**found)  # type: ignore[arg-type]
    if parsed.min_connections > parsed.max_connections:
        raise ConfigError(
            f"postgres option 'min_connections' ({parsed.min_connections}) exceeds"
            f" 'max_connections' ({parsed.max_connections})",
            field="options.min_connections",
        )
    return parsed
