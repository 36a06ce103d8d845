"""Real faults of the PostgreSQL backend, for the kit's error contracts (``ERR-006``): a
``FaultInjector`` of ``pytest_sanctum.kit.backend_faults``.

Each fault is provoked on the shared server without disturbing anyone else: another
connection of the injector's own takes table locks in the adapter's schema, and the
adapter's pool is swapped for one with shorter timeouts (or one pointed at a port that
refuses connections) while the fault lasts. When the context ends, the locks are released
and the adapter gets a fresh pool with its own options.

- ``locked``: another client holds ``EXCLUSIVE`` locks on every table: reads go on, writes
  wait ``lock_timeout`` (shortened to ``LOCKED_TIMEOUT_MS``) and fail with SQLSTATE 55P03.
- ``timeout``: another client holds ``ACCESS EXCLUSIVE`` locks: every statement waits
  until ``statement_timeout`` (shortened to ``TIMEOUT_MS``) cancels it (57014).
- ``unreachable``: the adapter's connections are closed and new ones go to a port that
  refuses them, so every call fails after ``pool_timeout_ms`` (shortened). The shared
  server itself cannot be stopped.

Serialisation conflicts are not offered: every write is one statement at ``READ
COMMITTED``, which PostgreSQL never fails with 40001, and the adapter's own statements
take their locks in one order, so they cannot deadlock with each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import psycopg

from pytest_sanctum.kit.backend_faults import LOCKED, TIMEOUT, UNREACHABLE
from reference_adapters.postgres.database import Database
from reference_adapters.postgres.schema import TABLES

LOCKED_TIMEOUT_MS: Final = 200.0
"""The adapter's ``lock_timeout`` while another client holds the write locks."""

TIMEOUT_MS: Final = 200.0
"""The adapter's ``statement_timeout`` while its statements cannot run."""

UNREACHABLE_CONNINFO: Final = "host=127.0.0.1 port=1 dbname=unreachable"
"""Where the adapter connects while the backend is unreachable: a port nothing listens on."""


class PostgresFaultInjector:
    """Provokes ``locked``, ``timeout`` and ``unreachable`` on one adapter's schema."""

    faults: Final = frozenset({LOCKED, TIMEOUT, UNREACHABLE})

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def provoke(self, fault: str) -> Iterator[None]:
        """A context during which the adapter's backend suffers ``fault``."""
        if fault not in self.faults:
            raise ValueError(
                f"postgres cannot provoke fault {fault!r}; it offers {sorted(self.faults)}"
            )
        if fault == UNREACHABLE:
            with self._db.reconfigured(
                conninfo=UNREACHABLE_CONNINFO,
                min_connections=0,
                pool_timeout_ms=TIMEOUT_MS,
                connect_timeout_ms=TIMEOUT_MS,
            ):
                yield
            return
        mode, changes = (
            ("EXCLUSIVE", {"lock_timeout_ms": LOCKED_TIMEOUT_MS})
            if fault == LOCKED
            # lock_timeout 0: no lock timeout, so the statement timeout is what ends the wait
            else ("ACCESS EXCLUSIVE", {"statement_timeout_ms": TIMEOUT_MS, "lock_timeout_ms": 0.0})
        )
        tables = ", ".join(f"{self._db.table}.{table}" for table in TABLES)
        with psycopg.connect(self._db.options.conninfo) as holder:
            holder.execute(f"LOCK TABLE {tables} IN {mode} MODE")
            try:
                with self._db.reconfigured(**changes):
                    yield
            finally:
                holder.rollback()
