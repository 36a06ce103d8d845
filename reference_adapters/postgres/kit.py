"""A pytest plugin that gives each conformance-kit worker a PostgreSQL schema of its own.

Load it next to the kit when certifying the ``postgres`` adapter::

    pytest --sanctum-adapter=postgres -p reference_adapters.postgres.kit \\
        --sanctum-adapter-options='{"conninfo": "host=127.0.0.1 dbname=test"}'

Each worker (``master``, or ``gw0``, ``gw1``, ... under pytest-xdist) then runs on a new
schema named ``<schema>_<random>_<worker>`` (``schema`` defaults to ``sanctum``), which
the adapter creates on open and this plugin drops after the worker's last test. It drops
only schemas it named itself, never the one given in the options. For any other adapter
it does nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Final

import psycopg
import pytest

from reference_adapters.postgres.options import parse_options
from reference_adapters.postgres.schema import quoted

_NAMES: Final = ("postgres", "reference_adapters.postgres:create_postgres_adapter")
"""The adapter specs this plugin provisions for."""

_CREATED = pytest.StashKey[set[str]]()
"""The schemas this plugin named (and so may drop)."""


def _spec(config: pytest.Config) -> str | None:
    from pytest_sanctum.plugin import kit_session

    return kit_session(config).choice.spec


def worker_schema(base: str, worker_id: str) -> str:
    """A new schema name for one worker: ``<base>_<8 hex>_<worker>``, at most 63 bytes."""
    suffix = f"_{secrets.token_hex(4)}_{worker_id.lower()}"
    return base[: 63 - len(suffix)] + suffix


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_provision(config: pytest.Config, worker_id: str) -> Mapping[str, object] | None:
    """The given options with a schema of this worker's own."""
    if _spec(config) not in _NAMES:
        return None
    from pytest_sanctum.plugin import kit_session

    options = dict(kit_session(config).options)
    schema = worker_schema(parse_options(options).schema, worker_id)
    config.stash.setdefault(_CREATED, set()).add(schema)
    return {**options, "schema": schema}


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_cleanup(
    config: pytest.Config, worker_id: str, options: Mapping[str, object]
) -> None:
    """Drop the worker's schema, if this plugin named it."""
    schema = options.get("schema")
    if not isinstance(schema, str) or schema not in config.stash.get(_CREATED, set()):
        return
    with psycopg.connect(parse_options(options).conninfo, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {quoted(schema)} CASCADE")
    config.stash[_CREATED].discard(schema)
