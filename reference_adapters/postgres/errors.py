"""Mapping psycopg and pool errors to the canonical errors, by SQLSTATE class.

psycopg 3's exception classes do not follow the SQLSTATE classes closely enough to map by
type (``SerializationFailure`` and ``DeadlockDetected`` derive from ``OperationalError``,
not from ``TransactionRollback``), so the mapping reads ``error.sqlstate``. An error
without a SQLSTATE was raised by the client library itself: a broken connection, or a
value it cannot send.
"""

from __future__ import annotations

from typing import Final

import psycopg
from psycopg_pool import PoolClosed, PoolTimeout

from pytest_sanctum.errors import (
    AdapterError,
    BackendUnavailableError,
    ConflictError,
    InvalidRequestError,
    SanctumError,
)

_UNAVAILABLE_CLASSES: Final = frozenset({"08", "53", "58"})
"""Connection exceptions, insufficient resources (too many connections, disk full),
system errors (I/O)."""

_UNAVAILABLE_STATES: Final = frozenset(
    {
        "57P01",  # admin_shutdown: the backend was terminated (pg_terminate_backend, shutdown)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: the server is starting up or shutting down
        "57P04",  # database_dropped
        "57P05",  # idle_session_timeout
        "57014",  # query_canceled: statement_timeout, or a cancel request
        "55P03",  # lock_not_available: lock_timeout while waiting for a row lock
        "25P03",  # idle_in_transaction_session_timeout
    }
)

_INVALID_CLASSES: Final = frozenset({"22", "54"})
"""Data exceptions (a value PostgreSQL refuses) and program limits (an index row too big)."""


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` means the connection (not the statement) failed: retrying the same
    read on another connection may succeed."""
    if isinstance(error, PoolTimeout | PoolClosed):
        return False
    if not isinstance(error, psycopg.Error):
        return False
    state = error.sqlstate or ""
    if not state:
        return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
    return state[:2] == "08" or state in ("57P01", "57P02", "57P03")


def map_postgres_error(
    error: BaseException, namespace: str | None = None, key: str | None = None
) -> SanctumError:
    """The canonical error of a psycopg, pool or encoding error raised by an operation.

    Class 40 (serialization failure, deadlock) is a ``ConflictError``; a lost connection,
    a terminated backend, a timeout or an exhausted pool is a ``BackendUnavailableError``;
    a value the server or the client library refuses is an ``InvalidRequestError``;
    anything else (a missing table, a refused privilege) is an ``AdapterError``.
    """
    if isinstance(error, SanctumError):
        return error
    where = {"namespace": namespace, "key": key}
    if isinstance(error, PoolTimeout):
        return BackendUnavailableError(
            f"postgres: no connection available in time (pool_timeout_ms): {error}", **where
        )
    if isinstance(error, PoolClosed):
        return BackendUnavailableError("the postgres adapter is closed", **where)
    if isinstance(error, UnicodeEncodeError | OverflowError):
        return InvalidRequestError(f"postgres cannot store the value: {error}", **where)
    if not isinstance(error, psycopg.Error):
        return AdapterError(f"postgres: unexpected {type(error).__name__}: {error}", **where)
    state = error.sqlstate or ""
    detail = f"{type(error).__name__}: {str(error).strip()}"
    if state:
        detail = f"{detail} (SQLSTATE {state})"
    if state[:2] == "40":
        return ConflictError(f"postgres: the transaction lost a conflict: {detail}", **where)
    if (
        state[:2] in _UNAVAILABLE_CLASSES
        or state in _UNAVAILABLE_STATES
        or (not state and isinstance(error, psycopg.OperationalError | psycopg.InterfaceError))
    ):
        return BackendUnavailableError(f"postgres unavailable: {detail}", **where)
    if state[:2] in _INVALID_CLASSES or (not state and isinstance(error, psycopg.DataError)):
        return InvalidRequestError(f"postgres refused a value: {detail}", **where)
    return AdapterError(f"postgres error: {detail}", **where)
