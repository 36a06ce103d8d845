"""Tests of the SQLite adapter: its own behaviour, crash durability, threads (the whole kit runs
against it in test_kit_honest.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from pytest_sanctum.adapters.base import (
    CacheStore,
    CachingVersionedStore,
    GroupStore,
    StorageAdapter,
    StreamLog,
    VersionedStore,
)
from pytest_sanctum.adapters.codec import checkpoint_from_json, checkpoint_to_json
from pytest_sanctum.client import create_storage_client
from pytest_sanctum.clock import SystemClock, VirtualClock
from pytest_sanctum.config import StorageConfigV1, parse_config
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConfigError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
)
from pytest_sanctum.kit.backend_info import BackendInfo
from pytest_sanctum.types import (
    Blob,
    CacheEntry,
    CacheFill,
    Capabilities,
    GroupCheckpoint,
    GroupPending,
    JSONValue,
    Layer,
    StoredMessage,
    WriteResult,
)
from reference_adapters.memory import create_memory_adapter, drop_server
from reference_adapters.sqlite import (
    SCHEMA_VERSION,
    SqliteAdapter,
    SqliteBackdoor,
    cache_path,
    create_sqlite_adapter,
)

NS = "ns"
Open = Callable[..., SqliteAdapter]


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "sanctum.sqlite")


@pytest.fixture
def open_adapter(db_path: str, clock: VirtualClock) -> Iterator[Open]:
    """Opens adapters on the test's database file (calling it again is another connection)."""
    opened: list[SqliteAdapter] = []

    def build(**options: JSONValue) -> SqliteAdapter:
        adapter = create_sqlite_adapter({"path": db_path, **options}, clock)
        opened.append(adapter)
        return adapter

    yield build
    for adapter in opened:
        adapter.close()


@pytest.fixture
def adapter(open_adapter: Open) -> SqliteAdapter:
    return open_adapter(synchronous="NORMAL")


def raw(db_path: str, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
    """Run one statement on a connection of the test's own."""
    with closing(sqlite3.connect(db_path)) as conn, conn:
        return conn.execute(sql, params).fetchall()


def sqlite_config(path: str) -> StorageConfigV1:
    """A facade configuration routing every namespace to a SQLite file."""
    return parse_config(
        {
            "schema_version": 1,
            "adapters": {"db": {"kind": "sqlite", "options": {"path": path}}},
            "namespaces": {"*": {"adapter": "db"}},
        }
    )


# --- 1. the kit certifies it: tests/test_kit_honest.py runs the whole kit against it ------


# --- protocols, capabilities, registry -------------------------------------------------


def test_adapter_and_stores_satisfy_the_protocols(adapter: SqliteAdapter, db_path: str) -> None:
    assert isinstance(adapter, StorageAdapter)
    assert isinstance(adapter.blobs, VersionedStore)
    assert isinstance(adapter.records, VersionedStore)
    assert isinstance(adapter.streams, StreamLog)
    assert isinstance(adapter.checkpoints, GroupStore)
    assert isinstance(adapter.records, CachingVersionedStore)
    assert isinstance(adapter.cache, CacheStore)
    assert adapter.name == "sqlite"
    assert adapter.path == db_path
    assert adapter.capabilities == Capabilities.all()


def test_registered_as_the_sqlite_entry_point() -> None:
    (point,) = entry_points(group="pytest_sanctum.adapters", name="sqlite")
    assert point.load() is create_sqlite_adapter


def test_the_database_runs_in_wal_mode_with_the_schema(
    adapter: SqliteAdapter, db_path: str
) -> None:
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    tables = {row[0] for row in raw(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"objects", "messages", "idempotency", "groups", "deliveries", "settings"}
    assert raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    volatile = cache_path(db_path)
    assert raw(volatile, "PRAGMA journal_mode") == [("wal",)]
    assert {row[0] for row in raw(volatile, "SELECT name FROM sqlite_master")} >= {"entries"}
    conn = adapter._db._conn
    assert conn is not None
    assert conn.execute("PRAGMA volatile.synchronous").fetchall() == [(0,)]  # OFF: no fsync


# --- options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "options.path"),
        ({"path": ""}, "options.path"),
        ({"path": 3}, "options.path"),
        ({"path": None}, "options.path"),
        ({"path": "x.db", "bogus": 1}, "options.bogus"),
        ({"path": "x.db", "busy_timeout_ms": "5"}, "options.busy_timeout_ms"),
        ({"path": "x.db", "busy_timeout_ms": True}, "options.busy_timeout_ms"),
        ({"path": "x.db", "busy_timeout_ms": -1}, "options.busy_timeout_ms"),
        ({"path": "x.db", "busy_timeout_ms": math.inf}, "options.busy_timeout_ms"),
        ({"path": "x.db", "synchronous": "OFF"}, "options.synchronous"),
        ({"path": "x.db", "synchronous": "full"}, "options.synchronous"),
        ({"path": "x.db", "synchronous": 2}, "options.synchronous"),
    ],
)
def test_invalid_options(
    options: dict[str, object],
    field: str,
    clock: VirtualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        create_sqlite_adapter(options, clock)
    assert caught.value.field == field
    assert not (tmp_path / "x.db").exists()


def test_valid_options(open_adapter: Open) -> None:
    for options in ({}, {"busy_timeout_ms": 0}, {"busy_timeout_ms": 250.5, "synchronous": "FULL"}):
        open_adapter(**options).blobs.put(NS, "k", b"x")
    assert open_adapter(synchronous="NORMAL").blobs.get(NS, "k").version == 3


@pytest.mark.parametrize("where", ["missing-dir", "a-directory"])
def test_unopenable_path_is_backend_unavailable(
    where: str, tmp_path: Path, clock: VirtualClock
) -> None:
    path = tmp_path / "missing" / "db.sqlite" if where == "missing-dir" else tmp_path
    with pytest.raises(BackendUnavailableError) as caught:
        create_sqlite_adapter({"path": str(path)}, clock)
    assert "sqlite" in caught.value.message
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    with pytest.raises(BackendUnavailableError):  # the facade passes it on unchanged
        create_storage_client(sqlite_config(str(path)))


# --- semantics shared with the reference -----------------------------------------------


def test_versions_and_tombstones_survive_a_reopen(open_adapter: Open, db_path: str) -> None:
    first = open_adapter()
    assert first.blobs.put(NS, "k", b"a").version == 1
    assert first.blobs.put(NS, "k", b"b", content_type="text/plain").version == 2
    assert first.blobs.delete(NS, "k") == 2
    first.close()
    assert raw(db_path, "SELECT version, live FROM objects WHERE key = 'k'") == [(2, 0)]
    second = open_adapter()
    with pytest.raises(NotFoundError):
        second.blobs.get(NS, "k")
    with pytest.raises(PreconditionFailedError) as caught:
        second.blobs.put(NS, "k", b"c", if_match="2-0000000000000000")
    assert (caught.value.current_etag, caught.value.current_version) == (None, None)
    written = second.blobs.put(NS, "k", b"c", if_none_match=True)
    assert written.version == 3
    assert second.blobs.get(NS, "k") == Blob("k", b"c", 3, written.etag, None)
    assert second.records.put(NS, "k", b"{}").version == 1  # records are a separate keyspace


def _apply(store: VersionedStore, op: str, key: str, arg: Any) -> object:
    """One versioned-store call, its result or its error as comparable values."""
    try:
        if op == "put":
            return store.put(NS, key, arg)
        if op == "put_if_match":
            return store.put(NS, key, b"m", if_match=arg)
        if op == "put_if_none_match":
            return store.put(NS, key, b"n", if_none_match=True)
        if op == "delete":
            return store.delete(NS, key, if_match=arg)
        if op == "get":
            return store.get(NS, key)
        return store.list(NS, arg[0], start_after=arg[1])
    except SanctumError as error:
        return type(error).__name__, error.context()


def _named(value: object, key: str, names: dict[tuple[str, str], int]) -> object:
    """``value`` with every etag replaced by the number of the write that minted it: etags
    are opaque, and two adapters mint different ones for the same write."""
    if isinstance(value, list):
        return [_named(item, key, names) for item in value]
    if isinstance(value, tuple):  # (error type, context)
        kind, context = value
        etag = context.get("current_etag")
        named = {**context, "current_etag": names.get((key, etag), etag)}
        del named["message"]  # it quotes the etag
        return kind, named
    if hasattr(value, "etag"):
        found_key = getattr(value, "key", key)
        return dataclasses.replace(value, etag=str(names.get((found_key, value.etag))))  # type: ignore[type-var]
    return value


def test_matches_the_memory_adapter_on_random_operations(
    adapter: SqliteAdapter, clock: VirtualClock
) -> None:
    """A differential run: every result and error equals the reference adapter's."""
    server = "sqlite-differential"
    memory = create_memory_adapter({"server": server}, clock)
    rng = random.Random(20240611)
    keys = ["a", "a/b", "a_b", "a%b", "b", "é", "\U0001f600"]
    minted: dict[str, list[tuple[str, str]]] = {"memory": [], "sqlite": []}
    try:
        for step in range(400):
            op = rng.choice(["put", "put_if_match", "put_if_none_match", "delete", "get", "list"])
            key = rng.choice(keys)
            data = rng.randbytes(rng.randrange(4))
            ours = {name: [e for k, e in written if k == key] for name, written in minted.items()}
            pick = rng.randrange(-1, len(ours["memory"]))  # -1: a made-up etag, or none
            results = {}
            for name, store in (("memory", memory.blobs), ("sqlite", adapter.blobs)):
                etag = ours[name][pick] if pick >= 0 else None
                arg: Any = {
                    "put": data,
                    "put_if_match": etag or "1-0000000000000000",
                    "delete": etag,
                    "list": (("", "a", "a_", "a%")[step % 4], (None, "a", "a/b")[step % 3]),
                }.get(op)
                result = _apply(store, op, key, arg)
                if isinstance(result, WriteResult):
                    minted[name].append((key, result.etag))
                numbers = {written: n for n, written in enumerate(minted[name])}
                results[name] = _named(result, key, numbers)
            assert results["sqlite"] == results["memory"], (step, op, key)
    finally:
        drop_server(server)


# --- list and reset with LIKE wildcards, ordering by code point -----------------------


def test_list_treats_like_wildcards_literally(adapter: SqliteAdapter) -> None:
    blobs = adapter.blobs
    for key in ("a%b", "a%", "aXb", "a_b", "a_", "ab", "a\\b", "A_b", "a"):
        blobs.put(NS, key, b"x")

    def keys(prefix: str, start_after: str | None = None) -> list[str]:
        return [info.key for info in blobs.list(NS, prefix, start_after=start_after)]

    assert keys("a%") == ["a%", "a%b"]
    assert keys("a_") == ["a_", "a_b"]
    assert keys("a\\") == ["a\\b"]
    assert keys("a_", start_after="a_") == ["a_b"]
    assert keys("") == sorted(["a%b", "a%", "aXb", "a_b", "a_", "ab", "a\\b", "A_b", "a"])


def test_list_orders_by_code_point_and_bounds_prefixes_exactly(adapter: SqliteAdapter) -> None:
    blobs = adapter.blobs
    keys = ["a", "aé", "a\U0001f600", "a\U0010ffff", "a\U0010ffffz", "b", "\ud7ffx", "\ue000"]
    for key in keys:
        blobs.put(NS, key, b"x")
    assert [info.key for info in blobs.list(NS)] == sorted(keys)
    assert [info.key for info in blobs.list(NS, "a")] == sorted(keys)[:5]
    assert [info.key for info in blobs.list(NS, "a\U0010ffff")] == ["a\U0010ffff", "a\U0010ffffz"]
    assert [info.key for info in blobs.list(NS, "\ud7ff")] == ["\ud7ffx"]
    assert [info.key for info in blobs.list(NS, "\U0010ffff")] == []


def test_huge_bounds_do_not_overflow(adapter: SqliteAdapter) -> None:
    adapter.streams.append(NS, "s", b"m")
    adapter.blobs.put(NS, "k", b"x")
    assert adapter.streams.read(NS, "s", after=-(2**70), limit=2**70) == [StoredMessage(1, b"m")]
    assert adapter.streams.read(NS, "s", after=2**70, limit=1) == []
    assert [i.key for i in adapter.blobs.list(NS, limit=2**70)] == ["k"]


def _durable(path: str) -> str:
    return path


TABLES = [
    *(
        (_durable, table)
        for table in ("objects", "messages", "idempotency", "groups", "deliveries")
    ),
    (cache_path, "entries"),
]
"""Every table holding a namespace's rows, with the file it lives in."""


def test_reset_treats_like_wildcards_literally(adapter: SqliteAdapter, db_path: str) -> None:
    namespaces = ["run_1", "runX1", "run%", "runs", "run_", "Run_1", "run"]
    for namespace in namespaces:
        adapter.blobs.put(namespace, "k", b"x")
        adapter.blobs.put(namespace, "gone", b"x")
        adapter.blobs.delete(namespace, "gone")
        adapter.records.put(namespace, "k", b"{}")
        adapter.streams.append(namespace, "s", b"m", idempotency_key="i", dedupe_window_ms=1e9)
        adapter.checkpoints.claim(namespace, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=5)
        adapter.cache.set(namespace, "k", CacheEntry(b"v", 1, "e", 0.0), ttl_ms=1000)

    adapter.reset("run_")
    adapter.reset("run%")

    gone = {"run_1", "run_", "run%"}
    for path, table in TABLES:
        left = {row[0] for row in raw(path(db_path), f"SELECT DISTINCT ns FROM {table}")}
        assert left == set(namespaces) - gone, table
    assert adapter.blobs.put("run_1", "gone", b"z").version == 1  # the tombstone went too
    assert adapter.blobs.put("runX1", "gone", b"z").version == 2

    adapter.reset("")
    for path, table in TABLES:
        assert raw(path(db_path), f"SELECT count(*) FROM {table}") == [(0,)], table


def keys_stored(db_path: str) -> list[str]:
    return [row[0] for row in raw(db_path, "SELECT idem_key FROM idempotency ORDER BY idem_key")]


def test_keys_older_than_every_window_are_forgotten(adapter: SqliteAdapter, db_path: str) -> None:
    for n in range(50):
        adapter.streams.append(NS, "s", b"x", idempotency_key=f"k{n}", dedupe_window_ms=1000)
    assert len(keys_stored(db_path)) == 50
    adapter.streams.append(
        "other-ns", "s", b"x", idempotency_key="late", dedupe_window_ms=1000, now_ms=1000
    )
    assert keys_stored(db_path) == ["late"]


def test_a_short_window_does_not_forget_keys_a_long_window_needs(
    open_adapter: Open, db_path: str
) -> None:
    one, two = open_adapter(), open_adapter()
    first = one.streams.append(NS, "s", b"a", idempotency_key="k", dedupe_window_ms=120_000)
    two.streams.append(NS, "s", b"b", idempotency_key="j", dedupe_window_ms=10_000, now_ms=20_000)
    again = one.streams.append(
        NS, "s", b"a", idempotency_key="k", dedupe_window_ms=120_000, now_ms=30_000
    )
    assert (again.sequence, again.duplicate) == (first.sequence, True)
    assert keys_stored(db_path) == ["j", "k"]


def test_a_version_1_file_is_upgraded_on_open(open_adapter: Open, db_path: str) -> None:
    open_adapter().close()
    raw(db_path, "DROP TABLE settings")
    raw(db_path, "DROP INDEX idempotency_by_age")
    raw(db_path, "PRAGMA user_version = 1")
    adapter = open_adapter()
    adapter.streams.append(NS, "s", b"x", idempotency_key="k", dedupe_window_ms=1000)
    assert raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw(db_path, "SELECT name FROM sqlite_master WHERE name = 'idempotency_by_age'") == [
        ("idempotency_by_age",)
    ]
    assert keys_stored(db_path) == ["k"]


# --- checkpoints -----------------------------------------------------------------------


def test_checkpoint_json_round_trip_is_exact() -> None:
    pending = MappingProxyType(
        {
            12: GroupPending("c1", 1, 1_700_000_000_123.25),
            3: GroupPending("consumer é", 7, math.inf),
            40: GroupPending("c2", 2, 5000),
        }
    )
    original = GroupCheckpoint(2, 40, frozenset({5, 9}), pending, 6)
    loaded = checkpoint_from_json(checkpoint_to_json(original), 6)
    assert loaded == original
    assert type(loaded.acked) is frozenset
    assert type(loaded.pending) is MappingProxyType
    assert all(type(sequence) is int for sequence in loaded.pending)
    assert loaded.pending[12].visible_at_ms == 1_700_000_000_123.25
    assert json.loads(checkpoint_to_json(GroupCheckpoint())) == {
        "floor": 0,
        "cursor": 0,
        "acked": [],
        "pending": {},
        "next_visible_ms": -math.inf,
    }
    without_bound = '{"floor":1,"cursor":2,"acked":[],"pending":{}}'
    assert checkpoint_from_json(without_bound, 3) == GroupCheckpoint(1, 2, revision=3)


def test_groups_are_shared_by_every_connection(open_adapter: Open) -> None:
    one, two = open_adapter(), open_adapter()
    for n in range(1, 5):
        one.streams.append(NS, "s", f"m{n}".encode())
    claimed = one.checkpoints.claim(NS, "s", "g", "c1", limit=3, now_ms=0, visible_at_ms=50.5)
    assert [(c.sequence, c.payload, c.deliveries) for c in claimed] == [
        (1, b"m1", 1),
        (2, b"m2", 1),
        (3, b"m3", 1),
    ]
    assert [
        c.sequence
        for c in two.checkpoints.claim(NS, "s", "g", "c2", limit=3, now_ms=0, visible_at_ms=10)
    ] == [4]
    assert two.checkpoints.ack(NS, "s", "g", [2, 9]) == 1
    again = one.checkpoints.claim(NS, "s", "g", "c3", limit=5, now_ms=60, visible_at_ms=99)
    assert [(c.sequence, c.deliveries) for c in again] == [
        (4, 2),
        (1, 2),
        (3, 2),
    ]  # 4 was due first
    state = two.checkpoints.load(NS, "s", "g")
    assert (state.floor, state.cursor, set(state.acked), state.revision) == (0, 4, {2}, 4)
    assert dict(state.pending) == {
        1: GroupPending("c3", 2, 99.0),
        3: GroupPending("c3", 2, 99.0),
        4: GroupPending("c3", 2, 99.0),
    }
    assert one.checkpoints.load(NS, "s", "other") == GroupCheckpoint()


def test_a_version_2_file_keeps_its_groups(open_adapter: Open, db_path: str) -> None:
    open_adapter().close()
    saved = GroupCheckpoint(
        1,
        4,
        frozenset({3}),
        MappingProxyType({2: GroupPending("c", 2, 7.5), 4: GroupPending("d", 1, 9.0)}),
        5,
    )
    raw(db_path, "DROP TABLE groups")
    raw(db_path, "DROP TABLE deliveries")
    raw(db_path, "CREATE TABLE checkpoints (ns, stream, grp, revision, state)")
    raw(db_path, "CREATE TABLE cache (ns, key)")
    raw(
        db_path,
        f"INSERT INTO checkpoints VALUES ('{NS}', 's', 'g', 5, '{checkpoint_to_json(saved)}')",
    )
    raw(db_path, "PRAGMA user_version = 2")
    adapter = open_adapter()
    assert adapter.checkpoints.load(NS, "s", "g") == GroupCheckpoint.from_deliveries(
        4, saved.pending, 5
    )
    tables = {row[0] for row in raw(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert not {"checkpoints", "cache"} & tables
    assert raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


# --- cache -----------------------------------------------------------------------------


def test_cache_is_shared_by_the_file_and_expires_on_the_clock(
    open_adapter: Open, clock: VirtualClock
) -> None:
    one, two = open_adapter(), open_adapter()
    entry = CacheEntry(b"\x00\xff", 3, "3-etag", 12.5, "text/plain", math.inf)
    one.cache.set(NS, "k", entry, ttl_ms=100)
    assert two.cache.get(NS, "k") == entry
    clock.advance(99)
    assert two.cache.get(NS, "k") == entry
    clock.advance(1)
    assert two.cache.get(NS, "k") is None
    assert one.cache.get(NS, "k") is None
    one.cache.set(NS, "k", entry, ttl_ms=100)
    two.cache.set(NS, "k", entry, ttl_ms=0)  # a non-positive ttl leaves the key absent
    assert one.cache.get(NS, "k") is None
    one.cache.set(NS, "k", entry, ttl_ms=100)
    two.cache.delete(NS, "k")
    assert one.cache.get(NS, "k") is None


# --- errors, closed adapter ------------------------------------------------------------


def test_closed_adapter_raises_backend_unavailable(open_adapter: Open) -> None:
    adapter = open_adapter()
    adapter.blobs.put(NS, "k", b"x")
    adapter.close()
    adapter.close()  # idempotent
    assert "closed" in repr(adapter)
    entry = CacheEntry(b"v", 1, "e", 0.0)
    calls: list[Callable[[], object]] = [
        lambda: adapter.blobs.put(NS, "k", b"y"),
        lambda: adapter.blobs.get(NS, "k"),
        lambda: adapter.blobs.head(NS, "k"),
        lambda: adapter.blobs.delete(NS, "k"),
        lambda: adapter.blobs.list(NS),
        lambda: adapter.blobs.list(NS, limit=0),
        lambda: adapter.records.get(NS, "k"),
        lambda: adapter.streams.append(NS, "s", b"m"),
        lambda: adapter.streams.read(NS, "s", after=0, limit=1),
        lambda: adapter.streams.read(NS, "s", after=0, limit=0),
        lambda: len(adapter.streams.read(NS, "s", after=0, limit=1_000_000)),
        lambda: adapter.checkpoints.load(NS, "s", "g"),
        lambda: adapter.checkpoints.claim(NS, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=1),
        lambda: adapter.checkpoints.ack(NS, "s", "g", [1]),
        lambda: adapter.records.put_and_purge(NS, "k", b"{}", purge="record/k"),
        lambda: adapter.records.delete_and_purge(NS, "k", purge="record/k"),
        lambda: adapter.records.get_and_fill(NS, "k", CacheFill("record/k", 0, 1, 1)),
        lambda: adapter.cache.get(NS, "k"),
        lambda: adapter.cache.set(NS, "k", entry, 100),
        lambda: adapter.cache.set(NS, "k", entry, 0),
        lambda: adapter.cache.delete(NS, "k"),
        lambda: adapter.reset(NS),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailableError, match="closed"):
            call()
    assert open_adapter().blobs.get(NS, "k").data == b"x"  # the data stays


def test_a_locked_database_is_backend_unavailable_after_the_busy_timeout(
    open_adapter: Open, db_path: str
) -> None:
    adapter = open_adapter(busy_timeout_ms=50)
    adapter.blobs.put(NS, "k", b"x")
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        started = time.perf_counter()
        with pytest.raises(BackendUnavailableError) as caught:
            adapter.blobs.put(NS, "k", b"y")
        assert time.perf_counter() - started < 2.0
        assert caught.value.retryable
        assert "locked" in caught.value.message or "busy" in caught.value.message
        assert (caught.value.namespace, caught.value.key) == (NS, "k")
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        assert adapter.blobs.get(NS, "k").data == b"x"  # WAL readers are not blocked
        other.execute("ROLLBACK")
    assert adapter.blobs.put(NS, "k", b"y").version == 2  # nothing half-done stays behind


def test_other_sqlite_errors_are_mapped(adapter: SqliteAdapter, db_path: str) -> None:
    adapter.streams.append(NS, "s", b"m")
    raw(db_path, "DROP TABLE messages")
    for call in (
        lambda: adapter.streams.append(NS, "s", b"m"),
        lambda: adapter.streams.read(NS, "s", after=0, limit=10),
        lambda: adapter.reset(NS),
    ):
        with pytest.raises(BackendUnavailableError, match="no such table: messages") as caught:
            call()
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert adapter.blobs.put(NS, "k", b"x").version == 1  # the connection is still usable


def test_facade_reports_mapped_errors_not_adapter_errors(db_path: str) -> None:
    with create_storage_client(sqlite_config(db_path)) as client:
        client.records.put("app", "r", {"a": 1})
        raw(db_path, "DROP TABLE objects")
        with pytest.raises(BackendUnavailableError):
            client.records.get("app", "r", bypass_cache=True)


# --- 3. durability across a SIGKILL ----------------------------------------------------

_CHILD = r"""
import json, sys
from pytest_sanctum.client import create_storage_client
from pytest_sanctum.config import StorageConfigV1, parse_config
from pytest_sanctum.adapters.codec import checkpoint_to_json

path, count, visibility_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
client = create_storage_client(parse_config({
    "schema_version": 1,
    "adapters": {"db": {"kind": "sqlite", "options": {"path": path}}},
    "namespaces": {"*": {"adapter": "db"}},
    "streams": {"visibility_timeout_ms": visibility_ms},
}))
ids = [client.streams.append("durable", "jobs", {"n": n}).message_id for n in range(count)]
delivered = client.streams.read("durable", "jobs", "workers", "w1", count=count)
acked = [d.message_id for d in delivered if d.sequence % 2 == 0]
client.streams.ack("durable", "jobs", "workers", acked)
state = client.streams.checkpoint("durable", "jobs", "workers")
last = client.streams.append("durable", "jobs", {"n": "last"}).message_id
print("READY " + json.dumps({
    "ids": ids,
    "delivered": [d.message_id for d in delivered],
    "acked": acked,
    "checkpoint": checkpoint_to_json(state),
    "revision": state.revision,
    "last": last,
}), flush=True)
n = 0
while True:  # keep writing until killed: the kill lands in the middle of appends
    print("APPENDED " + client.streams.append("durable", "tail", {"n": n}).message_id, flush=True)
    n += 1
"""


def _lines(stream: Any) -> queue.Queue[str]:
    """The lines of ``stream``, read by a daemon thread ("" at end of file)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _run_child_then_sigkill(tmp_path: Path, *args: str) -> tuple[dict[str, Any], list[int]]:
    """Run ``_CHILD``, SIGKILL it once it is ready and has acknowledged 3 tail appends.

    Returns what it reported when ready and the tail sequences it acknowledged.
    """
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    with (tmp_path / "child.err").open("w") as errors:
        child = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=tmp_path,
        )
        try:
            lines = _lines(child.stdout)
            ready = lines.get(timeout=60)
            assert ready.startswith("READY "), (ready, (tmp_path / "child.err").read_text())
            seen = [lines.get(timeout=30) for _ in range(3)]
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    while line := lines.get(timeout=30):
        seen.append(line)
    complete = [line for line in seen if line.endswith("\n")]  # a kill may cut the last line
    assert all(line.startswith("APPENDED ") for line in complete), complete
    return json.loads(ready.removeprefix("READY ")), [int(line.split()[1]) for line in complete]


def test_checkpoints_and_appends_survive_a_sigkill(tmp_path: Path) -> None:
    count, visibility_ms = 10, 500.0
    path = str(tmp_path / "durable.sqlite")
    told, acknowledged = _run_child_then_sigkill(tmp_path, path, str(count), str(visibility_ms))
    ids = [str(n) for n in range(1, count + 1)]
    assert told["ids"] == told["delivered"] == ids
    acked = set(told["acked"])
    unacked = [i for i in ids if i not in acked]
    assert len(acked) == len(unacked) == count // 2
    assert told["last"] == str(count + 1)

    # lost = 0: every append acknowledged before the kill is stored (read with our own connection)
    backdoor = SqliteBackdoor(path)
    jobs = backdoor.stream_messages("durable", "jobs")
    assert [m.sequence for m in jobs] == list(range(1, count + 2))
    assert [json.loads(m.payload) for m in jobs] == [{"n": n} for n in range(count)] + [
        {"n": "last"}
    ]
    tail = [m.sequence for m in backdoor.stream_messages("durable", "tail")]
    assert len(acknowledged) >= 3
    assert tail[: len(acknowledged)] == acknowledged == list(range(1, len(acknowledged) + 1))
    assert len(tail) - len(acknowledged) in (0, 1)  # at most one commit the child never printed

    with create_storage_client(sqlite_config(path), clock=SystemClock()) as client:
        # The group's checkpoint is exactly what the child saved, acks and deadlines included.
        state = client.streams.checkpoint("durable", "jobs", "workers")
        assert state == checkpoint_from_json(told["checkpoint"], told["revision"])
        assert {str(s) for s in range(1, state.floor + 1)} | {str(s) for s in state.acked} == acked
        assert sorted(state.pending) == [int(i) for i in unacked]
        assert {(p.consumer, p.deliveries) for p in state.pending.values()} == {("w1", 1)}
        deadlines = {str(s): p.visible_at_ms for s, p in state.pending.items()}

        # Right away: the message appended after the group read, and no unacked one whose
        # visibility timeout has not passed yet (on a slow machine some may have).
        before = client.clock.now_ms()
        first = client.streams.read("durable", "jobs", "workers", "w2", count=100)
        after = client.clock.now_ms()
        assert (first[-1].message_id, first[-1].delivery_count) == (told["last"], 1)
        early = [d.message_id for d in first[:-1]]  # redeliveries come before new messages
        assert all(deadlines[i] <= after for i in early), (early, after, deadlines)
        assert all(i in early for i in unacked if deadlines[i] <= before), (early, before)

        # Past the timeout: every unacked message comes again, once; acked ones never do.
        time.sleep(max(0.0, max(deadlines.values()) - client.clock.now_ms()) / 1000.0 + 0.02)
        again = client.streams.read("durable", "jobs", "workers", "w2", count=100)
        redelivered = first[:-1] + again
        assert [(d.message_id, d.delivery_count, d.consumer) for d in redelivered] == [
            (i, 2, "w2") for i in unacked
        ]
        assert [d.payload for d in redelivered] == [{"n": int(i) - 1} for i in unacked]
        assert client.streams.read("durable", "jobs", "workers", "w2", count=100) == []
        assert client.streams.ack("durable", "jobs", "workers", [*unacked, told["last"]]) == 6
        final = client.streams.checkpoint("durable", "jobs", "workers")
        assert (final.floor, final.cursor, final.acked, dict(final.pending)) == (
            count + 1,
            count + 1,
            frozenset(),
            {},
        )


# --- 4. threads ------------------------------------------------------------------------


@pytest.fixture
def contended() -> Iterator[None]:
    """Switch threads very often so concurrent operations really interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def _increment_concurrently(
    increment: Callable[[int], bool], threads: int, increments: int
) -> list[int]:
    """Run ``increment(thread)`` until it succeeded ``increments`` times in every thread."""
    successes = [0] * threads
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            start.wait()
            while successes[index] < increments:
                if increment(index):
                    successes[index] += 1
        except BaseException as error:  # surfaced by the assertion below
            failures.append(error)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    return successes


@pytest.mark.usefixtures("contended")
def test_concurrent_conditional_increments_through_one_client_lose_no_update(
    db_path: str,
) -> None:
    threads, increments = 6, 15
    with create_storage_client(sqlite_config(db_path)) as client:
        client.records.put("app", "counter", {"n": 0})

        def increment(_: int) -> bool:
            current = client.records.get("app", "counter")
            time.sleep(0)  # yield between read and write so writers race
            n = current.value["n"]
            assert isinstance(n, int)
            try:
                client.records.put("app", "counter", {"n": n + 1}, if_match=current.etag)
            except PreconditionFailedError:
                return False
            return True

        successes = _increment_concurrently(increment, threads, increments)
        final = client.records.get("app", "counter", bypass_cache=True)
        assert final.value == {"n": sum(successes)} == {"n": threads * increments}
        assert final.version == 1 + threads * increments


@pytest.mark.usefixtures("contended")
def test_concurrent_conditional_increments_over_separate_connections(open_adapter: Open) -> None:
    threads, increments = 4, 15
    adapters = [open_adapter(synchronous="NORMAL") for _ in range(threads)]
    adapters[0].blobs.put(NS, "counter", b"0")

    def increment(index: int) -> bool:
        blobs = adapters[index].blobs
        current = blobs.get(NS, "counter")
        time.sleep(0)
        try:
            blobs.put(NS, "counter", str(int(current.data) + 1).encode(), if_match=current.etag)
        except PreconditionFailedError:
            return False
        return True

    _increment_concurrently(increment, threads, increments)
    final = adapters[0].blobs.get(NS, "counter")
    assert (int(final.data), final.version) == (threads * increments, 1 + threads * increments)


@pytest.mark.usefixtures("contended")
def test_concurrent_appends_over_separate_connections_get_distinct_sequences(
    open_adapter: Open,
) -> None:
    threads, appends = 4, 25
    adapters = [open_adapter(synchronous="NORMAL") for _ in range(threads)]
    results: list[list[int]] = [[] for _ in range(threads)]

    def work(index: int) -> None:
        for _ in range(appends):
            results[index].append(adapters[index].streams.append(NS, "s", b"m").sequence)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    every = sorted(seq for result in results for seq in result)
    assert every == list(range(1, threads * appends + 1))
    assert len(adapters[0].streams.read(NS, "s", after=0, limit=1_000_000)) == threads * appends


def test_backend_info_names_the_linked_sqlite_library(adapter: SqliteAdapter) -> None:
    assert adapter.backend_info() == BackendInfo("SQLite", sqlite3.sqlite_version)


def test_backdoor_reads_the_file_not_the_adapter(adapter: SqliteAdapter, db_path: str) -> None:
    written = adapter.records.put(NS, "r", b'{"a":1}')
    backdoor = adapter.backdoor()
    assert backdoor.read_object(Layer.RECORD, NS, "r") == Blob("r", b'{"a":1}', 1, written.etag)
    assert backdoor.read_object(Layer.BLOB, NS, "r") is None
    raw(db_path, "UPDATE objects SET data = x'00' WHERE key = 'r'")
    assert backdoor.read_object(Layer.RECORD, NS, "r") == Blob("r", b"\x00", 1, written.etag)
    adapter.close()  # the backdoor has a connection of its own
    assert backdoor.stream_messages(NS, "nothing") == []


def test_the_backdoor_opens_one_connection_for_every_probe(
    adapter: SqliteAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    connect = sqlite3.connect

    def counting(path: str, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(path)
        return connect(path, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counting)
    adapter.records.put(NS, "r", b'{"a":1}')
    for _ in range(5):  # the kit asks the adapter for its backdoor before each probe
        backdoor = adapter.backdoor()
        assert backdoor.read_object(Layer.RECORD, NS, "r") is not None
        assert backdoor.stream_messages(NS, "s") == []
    assert opened == [adapter.path]


# --- statements and transactions: one write transaction per write, nothing durable on reads


class Statements:
    """The statements the adapter's connection runs, by their first words."""

    def __init__(self, adapter: SqliteAdapter) -> None:
        conn = adapter._db._conn
        assert conn is not None
        self.seen: list[str] = []
        conn.set_trace_callback(self.seen.append)

    def of(self, call: Callable[[], object]) -> list[str]:
        """What ``call`` ran: each statement as its first words (``BEGIN IMMEDIATE``, ...).

        SQLite reports a statement again as each trigger program of it starts, so
        consecutive repeats of one text are one statement.
        """
        start = len(self.seen)
        call()
        ran = [
            sql
            for n, sql in enumerate(self.seen[start:], start)
            if n == start or sql != self.seen[n - 1]
        ]
        return [_shape(sql) for sql in ran]


def _shape(sql: str) -> str:
    words = sql.split()
    if words[0] in ("INSERT", "DELETE", "UPDATE", "SELECT", "BEGIN", "COMMIT", "ROLLBACK"):
        target = next((w for w in words[1:] if w.startswith("volatile.")), "")
        head = " ".join(words[:2]) if words[0] == "BEGIN" else words[0]
        return f"{head} {target}".strip()
    return words[0]


def test_each_write_is_one_transaction_with_its_purge(
    open_adapter: Open, db_path: str, clock: VirtualClock
) -> None:
    adapter = open_adapter()
    client = create_storage_client(sqlite_config(db_path), clock=clock, adapters={"db": adapter})
    records, streams = client.records, client.streams
    first = records.put(NS, "k", {"n": 1})
    for n in range(5):
        streams.append(NS, "s", {"n": n})
    trace = Statements(adapter)
    # One statement, so one transaction: its trigger deletes the cache entry inside it.
    assert trace.of(lambda: records.put(NS, "k2", {"n": 1})) == ["INSERT"]
    assert trace.of(lambda: records.put(NS, "k3", {}, if_none_match="*")) == ["INSERT"]
    assert trace.of(lambda: records.put(NS, "k", {"n": 2}, if_match=first.etag)) == ["UPDATE"]
    assert trace.of(lambda: records.delete(NS, "k2")) == ["UPDATE"]
    refused = ["UPDATE", "BEGIN IMMEDIATE", "UPDATE", "SELECT", "ROLLBACK"]
    with pytest.raises(PreconditionFailedError):
        trace.of(lambda: records.put(NS, "k", {"n": 3}, if_match=first.etag))
    assert [_shape(sql) for sql in trace.seen[-5:]] == refused  # read why, nothing between
    assert trace.of(lambda: records.get(NS, "k")) == [  # a miss, and its fill
        "SELECT volatile.entries",
        "INSERT volatile.entries",
    ]
    assert trace.of(lambda: streams.read(NS, "s", "g", "c", count=3)) == [
        "BEGIN IMMEDIATE",
        "SELECT",  # due deliveries: none
        "SELECT",  # the cursor
        "SELECT",  # the new messages
        "INSERT",  # their deliveries
        "INSERT",  # the group's header
        "COMMIT",
    ]
    assert trace.of(lambda: streams.ack(NS, "s", "g", ["1", "2"])) == [
        "BEGIN IMMEDIATE",
        "DELETE",
        "UPDATE",
        "COMMIT",
    ]
    clock.advance(30_000)
    assert trace.of(lambda: streams.read(NS, "s", "g", "c")) == [  # 1 redelivery + 2 new
        "BEGIN IMMEDIATE",
        "SELECT",
        "SELECT",  # their payloads, in one statement
        "UPDATE",  # their deliveries, in one statement
        "SELECT",
        "SELECT",
        "INSERT",
        "INSERT",
        "COMMIT",
    ]
    client.close()


def _stamp(path: str) -> list[tuple[int, int] | None]:
    """Size and modification time of the database file and its WAL (``None``: no file)."""
    stamps: list[tuple[int, int] | None] = []
    for name in (path, f"{path}-wal"):
        try:
            found = os.stat(name)
        except FileNotFoundError:
            stamps.append(None)
        else:
            stamps.append((found.st_size, found.st_mtime_ns))
    return stamps


def test_reads_never_write_the_durable_database(
    open_adapter: Open, db_path: str, clock: VirtualClock
) -> None:
    """Every read, a cache fill and an expired entry's eviction included, leaves the
    database file and its WAL untouched: what a read writes goes to the volatile database,
    whose ``synchronous=OFF`` never syncs."""
    adapter = open_adapter()
    client = create_storage_client(sqlite_config(db_path), clock=clock, adapters={"db": adapter})
    client.records.put(NS, "k", {"n": 1})
    client.blobs.put(NS, "b", b"x")
    client.streams.append(NS, "s", {"n": 1})
    client.streams.read(NS, "s", "g", "c")
    trace = Statements(adapter)
    time.sleep(0.01)  # a write now would change the modification time
    before = _stamp(db_path)
    for level in ("strong", "eventual", "strong"):
        client.records.get(NS, "k", level=level)
        client.records.get(NS, "k", level=level, bypass_cache=True)
    client.records.get(NS, "k", level="cache_only")
    clock.advance(10_000)  # the entries expire, and the next reads evict and refill them
    client.records.get(NS, "k")
    client.blobs.get(NS, "b")
    client.blobs.head(NS, "b")
    client.blobs.list(NS)
    client.streams.checkpoint(NS, "s", "g")
    with pytest.raises(NotFoundError):
        client.records.get(NS, "missing", bypass_cache=True)
    assert _stamp(db_path) == before
    writes = [sql for sql in trace.seen if sql.split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes, "the reads filled no cache entry"
    assert all(" volatile." in sql for sql in writes), writes
    assert not [sql for sql in trace.seen if sql.startswith("BEGIN IMMEDIATE")]
    client.close()


@pytest.mark.parametrize(
    ("op", "argument"),
    [
        ("blob.put", "data"),
        ("record.put", "value"),
        ("stream.append", "payload"),
        ("cache.set", "value"),
    ],
)
def test_a_value_over_sqlites_length_limit_is_the_callers_mistake(
    adapter: SqliteAdapter, clock: VirtualClock, op: str, argument: str
) -> None:
    conn = adapter._db._conn
    assert conn is not None
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)  # stands in for the default 1e9 bytes
    client = create_storage_client(
        sqlite_config(adapter.path), clock=clock, adapters={"db": adapter}
    )
    big = "x" * 2000
    calls = {
        "blob.put": lambda: client.blobs.put(NS, "k", big.encode()),
        "record.put": lambda: client.records.put(NS, "k", {"s": big}),
        "stream.append": lambda: client.streams.append(NS, "s", big),
        "cache.set": lambda: client.cache.set(NS, "k", big.encode()),
    }
    with pytest.raises(InvalidRequestError, match="too large for sqlite") as info:
        calls[op]()
    assert info.value.argument == argument
