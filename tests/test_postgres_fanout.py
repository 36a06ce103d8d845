"""Tests of the PostgreSQL ``LISTEN``/``NOTIFY`` fan-out: a write in one OS process purges
another process's local cache, listeners reconnect after losing their backend, and an
event lost meanwhile leaves the entry at most its TTL (ADR-001)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from postgres_helpers import CONNINFO, drop_schema, new_schema_name, raw, require_server

from pytest_sanctum.client import create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.config import StorageConfigV1, parse_config
from pytest_sanctum.errors import ConfigError
from pytest_sanctum.fanout import BrokerFanout
from pytest_sanctum.fanout_registry import build_fanout
from pytest_sanctum.types import InvalidationEvent, Layer
from reference_adapters.postgres.fanout import (
    PostgresFanout,
    create_postgres_fanout,
    decode_event,
    encode_event,
)

NS = "app"


@pytest.fixture(scope="session")
def pg_conninfo() -> str:
    return require_server()


@pytest.fixture
def pg_schema(pg_conninfo: str) -> Iterator[str]:
    schema = new_schema_name()
    yield schema
    drop_schema(schema)


@pytest.fixture
def channel() -> str:
    """A channel of this test alone, so other runs' invalidations never reach it."""
    return f"sanctum_t_{uuid.uuid4().hex[:12]}"


def fanout_config(
    schema: str, channel: str, name: str = "pytest-sanctum-fanout", **fanout: Any
) -> StorageConfigV1:
    """Every namespace on PostgreSQL, reads cached in a local (per-process) memory cache,
    and the PostgreSQL fan-out on ``channel``."""
    return parse_config(
        {
            "schema_version": 1,
            "adapters": {
                "db": {"kind": "postgres", "options": {"conninfo": CONNINFO, "schema": schema}},
                "local": {"kind": "memory"},
            },
            "namespaces": {"*": {"adapter": "db"}},
            "cache": {"adapter": "local", "ttl_ms": 5000, "staleness_budget_ms": 5000},
            "fanout": {
                "kind": "postgres",
                "options": {
                    "conninfo": CONNINFO,
                    "channel": channel,
                    "application_name": name,
                    **fanout,
                },
            },
        }
    )


def _listener_pids(name: str) -> list[int]:
    return [
        pid
        for (pid,) in raw(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (f"{name}-listen",)
        )
    ]


def _wait(condition: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- registry, options, payloads ---------------------------------------------------------


def test_registered_as_the_postgres_fanout(pg_conninfo: str, channel: str) -> None:
    (point,) = entry_points(group="pytest_sanctum.fanouts", name="postgres")
    assert point.load() is create_postgres_fanout
    fanout = build_fanout("postgres", {"conninfo": pg_conninfo, "channel": channel})
    try:
        assert isinstance(fanout, BrokerFanout)
        assert isinstance(fanout, PostgresFanout)
    finally:
        fanout.close()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"channel": "Bad-Name"}, "options.channel"),
        ({"channel": ""}, "options.channel"),
        ({"conninfo": 1}, "options.conninfo"),
        ({"conninfo": "host=x junk"}, "options.conninfo"),
        ({"queue_limit": 0}, "options.queue_limit"),
        ({"reconnect_initial_ms": 0}, "options.reconnect_initial_ms"),
        ({"reconnect_max_ms": float("nan")}, "options.reconnect_max_ms"),
        ({"reconnect_initial_ms": 100, "reconnect_max_ms": 10}, "options.reconnect_max_ms"),
        ({"close_timeout_ms": True}, "options.close_timeout_ms"),
        ({"url": "x"}, "options.url"),
    ],
)
def test_invalid_options(options: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create_postgres_fanout(options)
    assert caught.value.field == field


def test_events_round_trip_through_their_payload() -> None:
    event = InvalidationEvent(Layer.BLOB, "ns.a-b", 'dir/ключ "q" \\', 2**62, "node-1")
    payload = encode_event(event)
    assert len(payload.encode()) < 8000
    assert decode_event(payload) == event
    assert decode_event("not json") is None
    assert decode_event('["nolayer", "n", "k", 1, "o"]') is None


# --- two OS processes ---------------------------------------------------------------------

_PEER = r"""
import json, sys, time
from pytest_sanctum.client import create_storage_client
from pytest_sanctum.config import parse_config
from pytest_sanctum.errors import CacheMissError

config, ns = json.loads(sys.argv[1]), sys.argv[2]
client = create_storage_client(parse_config(config))
fanout = client._core.fanout
assert fanout.wait_listening(20)
for key in ("k1", "k2"):
    client.records.get(ns, key)  # fill this process's local cache
    client.records.get(ns, key, level="cache_only")
print("READY " + json.dumps({"pid": fanout.listener_pid}), flush=True)
for key in ("k1", "k2"):
    sys.stdin.readline()  # the parent has written the key
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            client.records.get(ns, key, level="cache_only")
        except CacheMissError:
            print("PURGED " + json.dumps({"key": key, "reconnects": fanout.reconnects}), flush=True)
            break
        time.sleep(0.002)
    else:
        print("STALE " + key, flush=True)
client.close()
"""


def test_a_write_in_one_process_purges_another_process_cache_also_after_a_reconnect(
    pg_schema: str, channel: str, tmp_path: Path
) -> None:
    name = f"sanctum-peer-{uuid.uuid4().hex[:8]}"
    config = fanout_config(pg_schema, channel, name, reconnect_initial_ms=20)
    writer = create_storage_client(fanout_config(pg_schema, channel))
    try:
        writer.records.put(NS, "k1", {"v": 1})
        writer.records.put(NS, "k2", {"v": 1})
        script = tmp_path / "peer.py"
        script.write_text(_PEER)
        peer = subprocess.Popen(
            [sys.executable, str(script), json.dumps(config.model_dump(mode="json")), NS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert peer.stdin is not None
        assert peer.stdout is not None
        try:
            ready = peer.stdout.readline()
            assert ready.startswith("READY "), peer.stderr.read() if peer.stderr else ready
            old_pid = json.loads(ready.split(" ", 1)[1])["pid"]

            writer.records.put(NS, "k1", {"v": 2})  # the first write purges the peer's entry
            peer.stdin.write("go\n")
            peer.stdin.flush()
            assert peer.stdout.readline().startswith('PURGED {"key": "k1", "reconnects": 0}')

            # The broker "restarts": the listener's backend dies. It reconnects by itself,
            # and a write after that purges again.
            raw("SELECT pg_terminate_backend(%s)", (old_pid,))
            _wait(lambda: [p for p in _listener_pids(name) if p != old_pid])
            writer.records.put(NS, "k2", {"v": 2})
            peer.stdin.write("go\n")
            peer.stdin.flush()
            assert peer.stdout.readline().startswith('PURGED {"key": "k2", "reconnects": 1}')
            _, err = peer.communicate(timeout=30)
            assert peer.returncode == 0, err
        finally:
            if peer.poll() is None:
                peer.kill()
                peer.wait()
    finally:
        writer.close()
    assert _listener_pids(name) == []  # the peer's client closed its fan-out


# --- losses, within one process -----------------------------------------------------------


def test_an_event_lost_while_disconnected_leaves_the_entry_until_its_ttl(
    pg_schema: str, channel: str
) -> None:
    clock = VirtualClock()
    name = f"sanctum-lost-{uuid.uuid4().hex[:8]}"
    writer = create_storage_client(fanout_config(pg_schema, channel), clock=clock)
    reader = create_storage_client(
        fanout_config(
            pg_schema, channel, name, reconnect_initial_ms=60_000, reconnect_max_ms=60_000
        ),
        clock=clock,
    )
    try:
        fanout = reader._core.fanout
        assert isinstance(fanout, PostgresFanout)
        assert fanout.wait_listening(20)
        seen: list[InvalidationEvent] = []
        fanout.subscribe(seen.append)
        writer.records.put(NS, "k", {"v": 1})
        _wait(lambda: seen)  # the first write's own invalidation has come and gone
        assert reader.records.get(NS, "k").value == {"v": 1}  # cached by the reader
        raw("SELECT pg_terminate_backend(%s)", (fanout.listener_pid,))
        _wait(lambda: not fanout.listening)
        writer.records.put(NS, "k", {"v": 2})  # its invalidation reaches no one
        time.sleep(0.5)
        assert len(seen) == 1
        assert reader.records.get(NS, "k", level="eventual").value == {"v": 1}  # stale...
        clock.advance(4999)
        assert reader.records.get(NS, "k", level="eventual").value == {"v": 1}
        clock.advance(1)
        assert reader.records.get(NS, "k", level="eventual").value == {"v": 2}  # ...for a TTL
    finally:
        reader.close()
        writer.close()


def test_a_failing_subscriber_does_not_stop_delivery(pg_conninfo: str, channel: str) -> None:
    sender = create_postgres_fanout({"conninfo": pg_conninfo, "channel": channel})
    receiver = create_postgres_fanout({"conninfo": pg_conninfo, "channel": channel})
    got: list[InvalidationEvent] = []
    arrived = threading.Event()

    def failing(event: InvalidationEvent) -> None:
        raise RuntimeError("broken subscriber")

    def recording(event: InvalidationEvent) -> None:
        got.append(event)
        arrived.set()

    try:
        receiver.subscribe(failing)
        receiver.subscribe(recording)
        assert receiver.wait_listening(20)
        events = [InvalidationEvent(Layer.RECORD, NS, f"k{n}", n, "o") for n in range(3)]
        for event in events:
            sender.publish(event)
        _wait(lambda: len(got) >= 3)
        assert got == events
        unsubscribe = receiver.subscribe(lambda e: None)
        unsubscribe()
    finally:
        sender.close()
        receiver.close()


def test_a_client_builds_and_closes_the_configured_fanout(pg_schema: str, channel: str) -> None:
    name = f"sanctum-owned-{uuid.uuid4().hex[:8]}"
    client = create_storage_client(fanout_config(pg_schema, channel, name))
    fanout = client._core.fanout
    assert isinstance(fanout, PostgresFanout)
    assert fanout.wait_listening(20)
    assert len(_listener_pids(name)) == 1
    client.close()
    assert _listener_pids(name) == []


def test_a_fanout_passed_in_wins_and_is_not_closed(pg_schema: str, channel: str) -> None:
    mine = create_postgres_fanout({"conninfo": CONNINFO, "channel": channel})
    try:
        client = create_storage_client(fanout_config(pg_schema, "unused"), fanout=mine)
        assert client._core.fanout is mine
        client.close()
        assert mine.wait_listening(20)  # still running after the client closed
    finally:
        mine.close()
