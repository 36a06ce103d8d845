"""The adapter's connection pool, its statement helpers and the schema set-up on open.

Connections run in autocommit: every operation is one statement, so one implicit
transaction and one round trip (once psycopg has prepared the statement on that
connection, which it does on the sixth use). Operations take a connection with
``getconn``/``putconn`` rather than the pool's ``connection()`` block, whose commit on
exit costs a fifth of a loopback round trip even in autocommit. A read that fails because its connection
was lost (a terminated backend, a restarted server) is tried once more on another
connection after the pool has checked its idle ones; a write is not, since its outcome
is unknown, and raises ``BackendUnavailableError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from pytest_sanctum.errors import BackendUnavailableError, ConfigError, SanctumError
from reference_adapters.postgres.errors import is_connection_error, map_postgres_error
from reference_adapters.postgres.options import PostgresOptions
from reference_adapters.postgres.schema import SCHEMA_VERSION, ddl, quoted

Params = Sequence[object] | Mapping[str, object]
Row = tuple[Any, ...]

MIN_SERVER_VERSION: Final = 110000
"""PostgreSQL 11: ``hashtextextended`` (advisory lock keys) and ``CREATE OR REPLACE`` of
the functions' ``OUT`` parameters."""


_REFUSED_LOGIN: Final = (
    "does not exist",
    "authentication failed",
    "no pg_hba.conf entry",
    "permission denied",
    "password authentication",
)
"""What a connection error says when the server refused the login itself (libpq reports
no SQLSTATE for a failed connection, only the server's message)."""


def _closed(namespace: str | None, key: str | None) -> BackendUnavailableError:
    return BackendUnavailableError("the postgres adapter is closed", namespace=namespace, key=key)


def _conninfo(options: PostgresOptions) -> str:
    """The connection string with the adapter's session settings added to the startup
    packet's ``options`` (kept after any the user gave), so a new connection needs no
    extra round trip to set them."""
    try:
        params = conninfo_to_dict(options.conninfo)
    except psycopg.ProgrammingError as error:
        raise ConfigError(
            f"postgres option 'conninfo' is not a connection string: {error}",
            field="options.conninfo",
        ) from error
    settings = (
        f"-c lock_timeout={math.ceil(options.lock_timeout_ms)}"
        f" -c statement_timeout={math.ceil(options.statement_timeout_ms)}"
    )
    given = str(params.get("options") or "")
    params["options"] = f"{given} {settings}".strip()
    params["application_name"] = options.application_name
    params["connect_timeout"] = max(2, math.ceil(options.connect_timeout_ms / 1000.0))
    return make_conninfo("", **params)


def _new_pool(options: PostgresOptions) -> ConnectionPool[psycopg.Connection[Any]]:
    """A pool for ``options``, not yet open; its connections run in autocommit."""
    return ConnectionPool(
        _conninfo(options),
        kwargs={"autocommit": True},
        min_size=options.min_connections,
        max_size=options.max_connections,
        open=False,
        timeout=options.pool_timeout_ms / 1000.0,
        name=f"sanctum-{options.schema}",
        num_workers=1,
    )


class Database:
    """A connection pool on one schema, shared by every store of one adapter. Thread-safe."""

    __slots__ = ("_pool", "options", "schema", "table")

    def __init__(self, options: PostgresOptions) -> None:
        self.options = options
        self.schema = options.schema
        self.table = quoted(options.schema)
        """The quoted schema name every statement qualifies its tables with."""
        self._pool = _new_pool(options)
        try:
            self._pool.open(
                wait=options.min_connections > 0, timeout=options.connect_timeout_ms / 1000.0
            )
            self._set_up()
        except BaseException as error:
            self._pool.close(timeout=1.0)
            if isinstance(error, SanctumError):
                raise
            if isinstance(error, PoolTimeout):
                raise self._not_connected() from error
            raise self._open_error(error) from error

    def _not_connected(self) -> SanctumError:
        """Why the pool could not connect (it only says it timed out), from a direct attempt:
        a login the server refuses (no such database or role, a failed authentication) is
        the deployment's configuration, anything else is ``BackendUnavailableError``."""
        try:
            psycopg.connect(_conninfo(self.options)).close()
        except psycopg.Error as error:
            reason = str(error).strip()
            if any(sign in reason for sign in _REFUSED_LOGIN):
                return ConfigError(
                    f"postgres refused the connection: {reason}", field="options.conninfo"
                )
            return BackendUnavailableError(f"postgres: cannot connect ({reason})")
        return BackendUnavailableError(
            f"postgres: no connection within connect_timeout_ms={self.options.connect_timeout_ms:g}"
        )

    def _open_error(self, error: BaseException) -> SanctumError:
        """A failure while opening: unreachable servers are ``BackendUnavailableError``;
        anything else (a refused login, no right to create the schema) is the deployment's
        configuration, a ``ConfigError`` naming the option."""
        mapped = map_postgres_error(error)
        if isinstance(mapped, BackendUnavailableError):
            return mapped
        field = (
            "options.schema"
            if isinstance(error, pg_errors.InsufficientPrivilege)
            else "options.conninfo"
        )
        return ConfigError(f"postgres refused to open the adapter: {mapped.message}", field=field)

    def _set_up(self) -> None:
        """Check the server, then create the schema's tables and functions unless the
        schema already has this version (one query when it has)."""
        with self._pool.connection(timeout=self.options.connect_timeout_ms / 1000.0) as conn:
            info = conn.info
            if info.server_version < MIN_SERVER_VERSION:
                raise ConfigError(
                    f"postgres {info.server_version} is too old: the adapter needs 11 or later",
                    field="options.conninfo",
                )
            encoding = info.parameter_status("server_encoding")
            if encoding != "UTF8":
                raise ConfigError(
                    f"postgres database encoding is {encoding!r}: the adapter needs UTF8",
                    field="options.conninfo",
                )
            if self._version(conn) == SCHEMA_VERSION:
                return
            with conn.transaction():
                conn.execute("SET LOCAL statement_timeout = 0")  # DDL may wait for locks
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (f"pytest_sanctum.schema/{self.schema}",),
                )
                version = self._version(conn, locked=True)
                if version == SCHEMA_VERSION:
                    return
                if version is not None and version > SCHEMA_VERSION:
                    raise ConfigError(
                        f"postgres schema {self.schema!r} has version {version}, newer than"
                        f" this adapter's {SCHEMA_VERSION}",
                        field="options.schema",
                    )
                for statement in ddl(self.schema):
                    conn.execute(statement)
                conn.execute(f"DELETE FROM {self.table}.schema_version")
                conn.execute(
                    f"INSERT INTO {self.table}.schema_version (version) VALUES (%s)",
                    (SCHEMA_VERSION,),
                )

    def _version(self, conn: psycopg.Connection[Any], *, locked: bool = False) -> int | None:
        """The schema's stored version; ``None`` when the schema or its table is missing.

        ``locked``: inside the set-up transaction, where a failed statement would abort
        it, so the table's existence is checked first.
        """
        if locked:
            found = conn.execute(
                "SELECT to_regclass(%s)", (f"{self.table}.schema_version",)
            ).fetchone()
            if found is None or found[0] is None:
                return None
        try:
            row = conn.execute(f"SELECT max(version) FROM {self.table}.schema_version").fetchone()
        except (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName):
            return None
        return None if row is None or row[0] is None else int(row[0])

    # -- statements ------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def check_open(self, namespace: str | None, key: str | None) -> None:
        """Raise ``BackendUnavailableError`` when the adapter is closed."""
        if self._pool.closed:
            raise _closed(namespace, key)

    def rows(
        self, namespace: str | None, key: str | None, sql: str, params: Params, *, read: bool
    ) -> list[Row]:
        """Every row of one statement (binary results). ``read``: the statement changes
        nothing durable, so it is tried again once on another connection if its
        connection was lost."""
        attempts = 2 if read else 1
        for attempt in range(attempts):
            try:
                conn = self._pool.getconn()
                try:
                    return conn.execute(sql, params, binary=True).fetchall()
                finally:
                    self._pool.putconn(conn)
            except Exception as error:
                if attempt + 1 < attempts and is_connection_error(error):
                    self._pool.check()  # drop every idle connection the same outage broke
                    continue
                if is_connection_error(error):
                    self._pool.check()
                raise map_postgres_error(error, namespace, key) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def execute(self, namespace: str | None, key: str | None, sql: str, params: Params) -> int:
        """Run one statement that returns no rows; the number of rows it changed."""
        try:
            conn = self._pool.getconn()
            try:
                return conn.execute(sql, params).rowcount
            finally:
                self._pool.putconn(conn)
        except Exception as error:
            if is_connection_error(error):
                self._pool.check()
            raise map_postgres_error(error, namespace, key) from error

    @contextmanager
    def reconfigured(self, **changes: Any) -> Iterator[None]:
        """For the length of the block, serve operations from a new pool with some options
        changed (shorter timeouts, another server); then from a new pool with the adapter's
        own options again. Every connection of the replaced pool is closed. For fault
        injection in tests: an operation running while the pool is swapped may fail."""
        self.check_open(None, None)
        self._swap(_new_pool(replace(self.options, **changes)))
        try:
            yield
        finally:
            self._swap(_new_pool(self.options))

    def _swap(self, pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
        pool.open(wait=False)
        old, self._pool = self._pool, pool
        old.close(timeout=1.0)

    def close(self) -> None:
        """Close every connection; later statements raise ``BackendUnavailableError``."""
        self._pool.close(timeout=1.0)
