"""The ``postgres`` adapter object, its backdoor and its factory."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final

import psycopg

from pytest_sanctum.clock import Clock
from pytest_sanctum.kit.backend_info import BackendInfo
from pytest_sanctum.types import Blob, Capabilities, Layer, StoredMessage
from reference_adapters.postgres.database import Database
from reference_adapters.postgres.faults import PostgresFaultInjector
from reference_adapters.postgres.options import PostgresOptions, parse_options
from reference_adapters.postgres.schema import TABLES
from reference_adapters.postgres.stores import (
    PostgresCacheStore,
    PostgresGroupStore,
    PostgresStreamLog,
    PostgresVersionedStore,
    VersionedSql,
    prefix_end,
)


class PostgresBackdoor:
    """Reads the adapter's tables through a connection of its own, bypassing its stores.

    The connection is opened on the first probe and kept until ``close``.
    """

    def __init__(self, options: PostgresOptions, table: str) -> None:
        self._options = options
        self._table = table
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._options.conninfo, autocommit=True)
            return self._conn.execute(sql, params, binary=True).fetchall()

    def read_object(self, layer: Layer, namespace: str, key: str) -> Blob | None:
        """The live blob or record, or ``None``."""
        rows = self._rows(
            f"SELECT data, version, etag, content_type FROM {self._table}.objects"
            " WHERE layer = %s AND ns = %s AND key = %s AND live",
            (Layer(layer).value, namespace, key),
        )
        if not rows:
            return None
        data, version, etag, content_type = rows[0]
        return Blob(key, data, version, etag, content_type)

    def stream_messages(self, namespace: str, stream: str) -> list[StoredMessage]:
        """Every stored message of the stream, in sequence order."""
        rows = self._rows(
            f"SELECT seq, payload FROM {self._table}.messages"
            " WHERE ns = %s AND stream = %s ORDER BY seq",
            (namespace, stream),
        )
        return [StoredMessage(seq, payload) for seq, payload in rows]

    def close(self) -> None:
        """Close the probe's connection (a later probe opens a new one)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class PostgresAdapter:
    """A ``StorageAdapter`` on one PostgreSQL schema: every capability, the cache shared by
    every adapter on the schema."""

    __slots__ = (
        "_backdoor",
        "_blobs",
        "_cache",
        "_checkpoints",
        "_db",
        "_records",
        "_reset",
        "_streams",
    )

    _CAPABILITIES: Final = Capabilities.all()

    def __init__(self, options: PostgresOptions, clock: Clock) -> None:
        self._db = Database(options)
        sql = VersionedSql(self._db.table)
        self._blobs = PostgresVersionedStore(self._db, Layer.BLOB, clock, sql)
        self._records = PostgresVersionedStore(self._db, Layer.RECORD, clock, sql)
        self._streams = PostgresStreamLog(self._db)
        self._checkpoints = PostgresGroupStore(self._db)
        self._cache = PostgresCacheStore(self._db, clock)
        self._backdoor: PostgresBackdoor | None = None
        deletes = ", ".join(
            f"d{n} AS (DELETE FROM {self._db.table}.{table} WHERE ns >= %(low)s{{high}})"
            for n, table in enumerate(TABLES)
        )
        self._reset = f"WITH {deletes} SELECT 1"

    @property
    def name(self) -> str:
        return "postgres"

    @property
    def options(self) -> PostgresOptions:
        """The validated options the adapter was opened with."""
        return self._db.options

    @property
    def capabilities(self) -> Capabilities:
        return self._CAPABILITIES

    @property
    def blobs(self) -> PostgresVersionedStore:
        return self._blobs

    @property
    def records(self) -> PostgresVersionedStore:
        return self._records

    @property
    def streams(self) -> PostgresStreamLog:
        return self._streams

    @property
    def checkpoints(self) -> PostgresGroupStore:
        return self._checkpoints

    @property
    def cache(self) -> PostgresCacheStore:
        return self._cache

    def backdoor(self) -> PostgresBackdoor:
        """A probe reading the tables with its own connection (one per adapter, opened on
        the first probe, closed with the adapter)."""
        self._db.check_open(None, None)
        if self._backdoor is None:
            self._backdoor = PostgresBackdoor(self._db.options, self._db.table)
        return self._backdoor

    def fault_injector(self) -> PostgresFaultInjector:
        """Provokes real lock contention, timeouts and refused connections on this adapter's
        schema, for the kit's error contracts."""
        return PostgresFaultInjector(self._db)

    def backend_info(self) -> BackendInfo:
        """The server's version (``SHOW server_version``, one round trip)."""
        rows = self._db.rows(None, None, "SHOW server_version", {}, read=True)
        return BackendInfo("PostgreSQL", str(rows[0][0]))

    def reset(self, namespace_prefix: str) -> None:
        """Remove every row of namespaces starting with the prefix (tombstones, purge marks
        and stream counters included), in one statement."""
        end = prefix_end(namespace_prefix)
        sql = self._reset.format(high="" if end is None else " AND ns < %(high)s")
        self._db.rows(
            namespace_prefix, None, sql, {"low": namespace_prefix, "high": end}, read=False
        )

    def close(self) -> None:
        """Close the pool; every store method then raises ``BackendUnavailableError``."""
        self._db.close()
        if self._backdoor is not None:
            self._backdoor.close()

    def __repr__(self) -> str:
        state = "closed" if self._db.closed else "open"
        return f"PostgresAdapter(schema={self._db.schema!r}, {state})"


def create_postgres_adapter(options: Mapping[str, object], clock: Clock) -> PostgresAdapter:
    """The ``postgres`` adapter factory (the ``postgres`` entry point).

    Options (all optional): ``conninfo`` (libpq string or URL; empty: libpq defaults),
    ``schema`` (default ``"sanctum"``), ``min_connections`` (1), ``max_connections`` (4),
    ``pool_timeout_ms`` (5000), ``connect_timeout_ms`` (5000), ``lock_timeout_ms`` (5000),
    ``statement_timeout_ms`` (30000; 0: none), ``application_name``. Raises
    ``ConfigError(field="options.<name>")`` for a bad option and
    ``BackendUnavailableError`` when the server cannot be reached.
    """
    return PostgresAdapter(parse_options(options), clock)


# Processes that open the same options share the data, so the kit runs HIST-008.
create_postgres_adapter.opens_across_processes = True  # type: ignore[attr-defined]
