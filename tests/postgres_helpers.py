"""Shared by the PostgreSQL tests: the server they use, fresh schemas, and child processes.

The tests use the machine's server (``127.0.0.1:5432``, trust authentication, database
``test``), each in schemas named ``sanctum_t_<random>`` that they drop afterwards. Without
a server they skip as ``environment``; with ``SANCTUM_REQUIRE_BACKEND=1`` (CI) they fail.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
from backends import environment_problem

CONNINFO = "host=127.0.0.1 port=5432 dbname=test connect_timeout=3"


def require_server() -> str:
    """The conninfo of a reachable server, or skip (fail under CI)."""
    try:
        with psycopg.connect(CONNINFO) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        environment_problem(f"environment: postgres not reachable ({CONNINFO}): {error}")
    return CONNINFO


def new_schema_name() -> str:
    return f"sanctum_t_{uuid.uuid4().hex[:12]}"


def drop_schema(schema: str) -> None:
    """Drop a schema a test created (never a shared one)."""
    assert schema.startswith("sanctum_t_"), schema
    with psycopg.connect(CONNINFO, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def schema_exists(schema: str) -> bool:
    with psycopg.connect(CONNINFO) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
    return bool(row and row[0])


def raw(sql: str, params: tuple[object, ...] = ()) -> list[Any]:
    """Run one statement on a connection of the test's own (autocommit)."""
    with psycopg.connect(CONNINFO, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def wait_for_lock_waiters(application_name: str, count: int, timeout_s: float = 20.0) -> None:
    """Wait until ``count`` backends of ``application_name`` wait for a lock."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = raw(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND wait_event_type = 'Lock'",
            (application_name,),
        )
        if rows[0][0] >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{count} backends of {application_name!r} never waited for a lock")
