"""Fuzz: at least 10,000 hostile calls per adapter (memory, SQLite, Redis, PostgreSQL) over every public
method and ``parse_config``.

Hypothesis draws the seeds; each example runs ``CALLS_PER_EXAMPLE`` calls from a seeded
generator (``hostile_calls``). For every call: nothing but a ``SanctumError`` escapes, no
``AdapterError`` or ``BackendUnavailableError`` (the backends are up and correct, so
either would be caller input misreported), an ``InvalidRequestError`` names an argument
the call was given, and a call that raised left the stored state exactly as it was
(compared by value before and after whenever the call reached the adapter; a spy shows
when it did not).
"""

from __future__ import annotations

import functools
import logging
import os
import random
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from backends import require_redis
from hostile_calls import NAMESPACES, Call, Plausible, next_call
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from postgres_helpers import CONNINFO as PG_CONNINFO
from postgres_helpers import drop_schema, new_schema_name, require_server

from pytest_sanctum.client import StorageClient, create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.config import parse_config
from pytest_sanctum.errors import (
    AdapterError,
    BackendUnavailableError,
    ConfigError,
    InvalidRequestError,
    SanctumError,
)
from pytest_sanctum.kit.spy import SpyAdapter
from reference_adapters.filesystem import FilesystemAdapter, create_filesystem_adapter
from reference_adapters.memory import MemoryAdapter, create_memory_adapter, drop_server
from reference_adapters.postgres import PostgresAdapter, create_postgres_adapter
from reference_adapters.redis_adapter import RedisAdapter, create_redis_adapter, scan_pattern
from reference_adapters.sqlite import SqliteAdapter, cache_path, create_sqlite_adapter

CALLS = 10_000
"""Hostile calls per adapter, at least."""
EXAMPLES = 20
CALLS_PER_EXAMPLE = CALLS // EXAMPLES
REDIS_URL = "redis://127.0.0.1:6379/15"

Snapshot = Callable[[], object]
"""Everything the adapter stores for the fuzzed namespaces, comparable with ``==``.

Read-through cache entries (``blob/...``, ``record/...``) are left out: every read may
refresh or drop them, whatever it then raises; entries of the cache layer (``kv/...``)
are stored data like any other."""

LOGGER = "sanctum.fuzz"
"""The facade's logger in the fuzz runs, silenced: 10,000 error events cost seconds."""


def _memory_state(adapter: MemoryAdapter) -> Snapshot:
    server = adapter.server

    def snapshot() -> object:
        with server.lock:
            return (
                {ns: dict(objects) for ns, objects in server.blobs.live.items()},
                {ns: dict(names) for ns, names in server.blobs.tombstones.items()},
                {ns: dict(objects) for ns, objects in server.records.live.items()},
                {ns: dict(names) for ns, names in server.records.tombstones.items()},
                {
                    ns: {s: list(log) for s, log in logs.items()}
                    for ns, logs in server.messages.items()
                },
                {ns: dict(groups) for ns, groups in server.checkpoints.items()},
                {
                    ns: {
                        name: (g.cursor, g.revision, dict(g.pending)) for name, g in groups.items()
                    }
                    for ns, groups in server.groups.items()
                },
                dict(server.idempotency.entries),
                {
                    (ns, key): slot
                    for ns, entries in adapter.cache._table.namespaces.items()
                    for key, slot in entries.items()
                    if key.startswith("kv/")
                },
            )

    return snapshot


_SQLITE_STATE = (
    "SELECT * FROM objects",
    "SELECT * FROM messages",
    "SELECT * FROM idempotency",
    "SELECT * FROM groups",
    "SELECT * FROM deliveries",
    "SELECT * FROM volatile.entries WHERE substr(key, 1, 3) = 'kv/'",
)


def _sqlite_state(conn: sqlite3.Connection) -> Snapshot:
    def snapshot() -> object:
        return [sorted(conn.execute(query).fetchall()) for query in _SQLITE_STATE]

    return snapshot


_REDIS_STATE = """
local out, cursor = {}, '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, name in ipairs(page[2]) do
    if not string.find(name, ARGV[2], 1, true) then
      local kind = redis.call('TYPE', name)['ok']
      local value
      if kind == 'hash' then value = redis.call('HGETALL', name)
      elseif kind == 'list' then value = redis.call('LRANGE', name, 0, -1)
      elseif kind == 'zset' then value = redis.call('ZRANGE', name, 0, -1, 'WITHSCORES')
      else value = {redis.call('GET', name)} end
      out[#out + 1] = {name, kind, value}
    end
  end
until cursor == '0'
return out
"""
"""Every key under a prefix, except cache entries, with its type and value: one round
trip. Cache entries expire on the server's real clock (``PX``) at any moment, so they
are left out. Values are read by type, not ``DUMP``ed: a hash's serialised field order
changes as Redis rehashes it on reads."""


def _redis_state(adapter: RedisAdapter) -> Snapshot:
    script = adapter.client.register_script(_REDIS_STATE)
    pattern = scan_pattern(adapter.key_prefix)

    def snapshot() -> object:
        found = script(args=[pattern, "\x1fcache\x1f"])
        return sorted(
            (
                name,
                kind,
                sorted(zip(value[::2], value[1::2], strict=True)) if kind == b"hash" else value,
            )
            for name, kind, value in found
        )

    return snapshot


_POSTGRES_TABLES = ("objects", "streams", "messages", "idempotency", "groups", "deliveries")


def _postgres_state(conn: psycopg.Connection[Any], schema: str) -> Snapshot:
    """Every table of the adapter's schema and, of the cache, the cache layer's entries,
    read by one statement (one round trip)."""
    tables = [f'"{schema}".{table} t' for table in _POSTGRES_TABLES]
    tables.append(f"\"{schema}\".cache t WHERE t.key LIKE 'kv/%'")
    query = "SELECT " + ", ".join(
        f"(SELECT coalesce(json_agg(t ORDER BY t::text), '[]') FROM {source})" for source in tables
    )

    def snapshot() -> object:
        return conn.execute(query).fetchone()

    return snapshot


def _open_memory(
    clock: VirtualClock, _: Path
) -> tuple[MemoryAdapter, Snapshot, Callable[[], None]]:
    name = f"fuzz-{uuid.uuid4().hex}"
    adapter = create_memory_adapter({"server": name}, clock)
    return adapter, _memory_state(adapter), lambda: drop_server(name)


def _open_sqlite(
    clock: VirtualClock, tmp: Path
) -> tuple[SqliteAdapter, Snapshot, Callable[[], None]]:
    path = tmp / f"fuzz-{uuid.uuid4().hex}.db"
    adapter = create_sqlite_adapter({"path": str(path), "synchronous": "NORMAL"}, clock)
    conn = sqlite3.connect(adapter.path)  # its own connection: reads what was committed
    conn.execute("ATTACH DATABASE ? AS volatile", (cache_path(adapter.path),))
    return adapter, _sqlite_state(conn), conn.close


def _open_redis(clock: VirtualClock, _: Path) -> tuple[RedisAdapter, Snapshot, Callable[[], None]]:
    prefix = f"sanctum-fuzz-{uuid.uuid4().hex[:12]}:"
    adapter = create_redis_adapter({"url": REDIS_URL, "key_prefix": prefix}, clock)

    def purge() -> None:
        for namespace in NAMESPACES:
            adapter.reset(namespace)

    return adapter, _redis_state(adapter), purge


def _open_postgres(
    clock: VirtualClock, _: Path, schema: str
) -> tuple[PostgresAdapter, Snapshot, Callable[[], None]]:
    options = {"conninfo": f"{PG_CONNINFO} options='-c synchronous_commit=off'", "schema": schema}
    adapter = create_postgres_adapter(options, clock)
    conn = psycopg.connect(PG_CONNINFO, autocommit=True)  # its own: reads what was committed

    def cleanup() -> None:
        for namespace in NAMESPACES:
            adapter.reset(namespace)
        conn.close()

    return adapter, _postgres_state(conn, schema), cleanup


def _filesystem_state(root: Path) -> Snapshot:
    """Every file under the root, by path (temporary files left out: never read)."""

    def snapshot() -> object:
        return {
            path: path.read_bytes()
            for path in root.rglob("*")
            if path.is_file() and not path.name.startswith(".tmp")
        }

    return snapshot


def _open_filesystem(
    clock: VirtualClock, tmp: Path
) -> tuple[FilesystemAdapter, Snapshot, Callable[[], None]]:
    # On tmpfs when there is one: the adapter's fsyncs would make 10,000 calls take minutes.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    root = Path(tempfile.mkdtemp(prefix="sanctum-fuzz-", dir=shm or tmp))
    adapter = create_filesystem_adapter({"root": str(root)}, clock)
    return adapter, _filesystem_state(root), lambda: shutil.rmtree(root, ignore_errors=True)


def _check(call: Call, outcome: BaseException | None) -> None:
    """The rules every call keeps, whatever its arguments."""
    if outcome is None:
        return
    assert isinstance(outcome, SanctumError), f"{call.describe()} raised {outcome!r}"
    assert not isinstance(outcome, AdapterError | BackendUnavailableError), (
        f"{call.describe()} reported the caller's input as {outcome!r}"
    )
    if call.op == "parse_config":
        assert isinstance(outcome, ConfigError), f"{call.describe()} raised {outcome!r}"
    if isinstance(outcome, InvalidRequestError):
        assert outcome.argument in call.arguments, (
            f"{call.describe()} raised {outcome!r} naming argument {outcome.argument!r}"
        )


@pytest.fixture(autouse=True)
def _silent_logger() -> Iterator[None]:
    logger = logging.getLogger(LOGGER)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False
    yield
    logger.setLevel(level)
    logger.propagate = propagate


def _fuzz(
    open_adapter: Callable[[VirtualClock, Path], tuple[Any, Snapshot, Callable[[], None]]],
    tmp_path: Path,
) -> int:
    """Run the hypothesis test; returns how many calls it made."""
    made: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(seed=st.integers(min_value=0, max_value=2**32 - 1))
    def run(seed: int) -> None:
        note(f"seed {seed}")
        clock = VirtualClock()
        adapter, snapshot, cleanup = open_adapter(clock, tmp_path)
        config = parse_config(
            {
                "schemaVersion": 1,
                "adapters": {"main": {"kind": "memory"}},
                "namespaces": {"*": {"adapter": "main"}},
                "observability": {"loggerName": LOGGER},
            }
        )
        spy = SpyAdapter(adapter)  # every backend access of the client goes through it
        client: StorageClient = create_storage_client(config, clock=clock, adapters={"main": spy})
        rng, plausible = random.Random(seed), Plausible()
        state = snapshot()
        try:
            for _ in range(CALLS_PER_EXAMPLE):
                call = next_call(client, plausible, rng)
                reached = spy.calls.total()
                try:
                    plausible.learn(call.run())
                except BaseException as error:  # every escape is checked, then judged
                    _check(call, error)
                    if spy.calls.total() != reached and snapshot() != state:
                        pytest.fail(
                            f"{call.describe()} raised {error!r} and changed the stored state"
                        )
                else:
                    if spy.calls.total() != reached:
                        state = snapshot()
                made.append(1)
        finally:
            client.close()
            cleanup()
            adapter.close()

    run()
    return len(made)


@pytest.fixture
def redis_up() -> None:
    require_redis(REDIS_URL)


def test_memory_adapter_survives_10000_hostile_calls(tmp_path: Path) -> None:
    assert _fuzz(_open_memory, tmp_path) >= CALLS


def test_sqlite_adapter_survives_10000_hostile_calls(tmp_path: Path) -> None:
    assert _fuzz(_open_sqlite, tmp_path) >= CALLS


def test_filesystem_adapter_survives_10000_hostile_calls(tmp_path: Path) -> None:
    assert _fuzz(_open_filesystem, tmp_path) >= CALLS


def test_redis_adapter_survives_10000_hostile_calls(tmp_path: Path, redis_up: None) -> None:
    assert _fuzz(_open_redis, tmp_path) >= CALLS


def test_postgres_adapter_survives_10000_hostile_calls(tmp_path: Path) -> None:
    require_server()
    schema = new_schema_name()
    try:
        made = _fuzz(functools.partial(_open_postgres, schema=schema), tmp_path)
    finally:
        drop_schema(schema)
    assert made >= CALLS
