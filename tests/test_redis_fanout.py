"""Tests of the Redis pub/sub fan-out: a write in one OS process purges another process's
local cache, listeners reconnect after the broker restarts (a private redis-server the
tests kill and start again) or falls silent, and an event lost meanwhile leaves the entry
at most its TTL (ADR-001).

Tests that do not break the broker use the machine's server (``127.0.0.1:6379``), each on
a channel of its own. Without a server (or a ``redis-server`` binary, for the private
ones) they skip as ``environment``; with ``SANCTUM_REQUIRE_BACKEND=1`` (CI) they fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import redis
from backends import environment_problem, require_redis

from benchmarks.redis_server import RedisServer, RedisServerError
from pytest_sanctum.client import StorageClient, create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.config import StorageConfigV1, parse_config
from pytest_sanctum.errors import ConfigError
from pytest_sanctum.fanout import BrokerFanout
from pytest_sanctum.fanout_registry import build_fanout, registered_fanouts
from pytest_sanctum.types import InvalidationEvent, Layer
from reference_adapters.redis_fanout import RedisFanout, create_redis_fanout

SHARED_URL = "redis://127.0.0.1:6379/0"
NS = "app"
TTL_MS = 5000
FAST = {"reconnect_initial_ms": 20, "reconnect_max_ms": 100}
"""Reconnect at once after a restart, so the tests do not wait for the backoff."""


@pytest.fixture(scope="session")
def shared_url() -> str:
    require_redis(SHARED_URL)
    return SHARED_URL


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may kill and start again."""
    try:
        server = RedisServer(tmp_path)
    except RedisServerError as error:
        environment_problem(f"environment: {error}")
    yield server
    server.stop()


@pytest.fixture
def channel() -> str:
    """A channel of this test alone, so other runs' invalidations never reach it."""
    return f"sanctum-test:{uuid.uuid4().hex[:12]}"


def fanout_config(path: Path, url: str, channel: str, **fanout: Any) -> StorageConfigV1:
    """Every namespace in one SQLite file (shared by the processes), reads cached in a
    local (per-process) memory cache, and the Redis fan-out on ``channel``."""
    return parse_config(
        {
            "schema_version": 1,
            "adapters": {
                "db": {"kind": "sqlite", "options": {"path": str(path)}},
                "local": {"kind": "memory"},
            },
            "namespaces": {"*": {"adapter": "db"}},
            "cache": {"adapter": "local", "ttl_ms": TTL_MS, "staleness_budget_ms": TTL_MS},
            "fanout": {"kind": "redis", "options": {"url": url, "channel": channel, **fanout}},
        }
    )


def fanout_of(client: StorageClient) -> RedisFanout:
    fanout = client._core.fanout
    assert isinstance(fanout, RedisFanout)
    return fanout


def _wait(condition: Callable[[], object], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _client_names(url: str) -> list[str]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return [entry["name"] for entry in client.client_list()]
    finally:
        client.close()


# --- registry, options ---------------------------------------------------------------------


def test_registered_as_the_redis_fanout(shared_url: str, channel: str) -> None:
    (point,) = entry_points(group="pytest_sanctum.fanouts", name="redis")
    assert point.load() is create_redis_fanout
    assert "redis" in registered_fanouts()
    fanout = build_fanout("redis", {"url": shared_url, "channel": channel})
    try:
        assert isinstance(fanout, BrokerFanout)
        assert isinstance(fanout, RedisFanout)
    finally:
        fanout.close()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"url": "http://x"}, "options.url"),
        ({"url": ""}, "options.url"),
        ({"channel": ""}, "options.channel"),
        ({"channel": 3}, "options.channel"),
        ({"client_name": "has space"}, "options.client_name"),
        ({"socket_timeout_ms": 0}, "options.socket_timeout_ms"),
        ({"health_check_ms": float("inf")}, "options.health_check_ms"),
        ({"queue_limit": 1.5}, "options.queue_limit"),
        ({"reconnect_initial_ms": 100, "reconnect_max_ms": 10}, "options.reconnect_max_ms"),
        ({"conninfo": "x"}, "options.conninfo"),
    ],
)
def test_invalid_options(options: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create_redis_fanout(options)
    assert caught.value.field == field


# --- two OS processes ---------------------------------------------------------------------

_PEER = r"""
import json, sys
from pytest_sanctum.client import create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.config import parse_config
from pytest_sanctum.errors import CacheMissError

config, ns = json.loads(sys.argv[1]), sys.argv[2]
clock = VirtualClock()  # the cache's TTL runs on it: the parent moves it on
client = create_storage_client(parse_config(config), clock=clock)
fanout = client._core.fanout
assert fanout.wait_listening(20)
print("READY", flush=True)
for line in sys.stdin:
    command, *arg = line.split()
    if command == "fill":
        client.records.get(ns, arg[0])
        answer = "ok"
    elif command == "cached":
        try:
            answer = client.records.get(ns, arg[0], level="cache_only").value["v"]
        except CacheMissError:
            answer = None
    elif command == "eventual":
        answer = client.records.get(ns, arg[0], level="eventual").value["v"]
    elif command == "advance":
        clock.advance(float(arg[0]))
        answer = "ok"
    elif command == "fanout":
        answer = {"listening": fanout.listening, "reconnects": fanout.reconnects}
    else:
        break
    print(json.dumps(answer), flush=True)
client.close()
"""


class Peer:
    """Another OS process with its own client and local cache, driven line by line."""

    def __init__(self, config: StorageConfigV1, tmp_path: Path) -> None:
        script = tmp_path / "peer.py"
        script.write_text(_PEER)
        self.process = subprocess.Popen(
            [sys.executable, str(script), json.dumps(config.model_dump(mode="json")), NS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = self._line()
        assert ready == "READY", self._error(ready)

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def _error(self, line: str) -> str:
        """What went wrong in the peer: its standard error once an empty line said it
        ended."""
        if line or self.process.stderr is None:
            return line
        return self.process.stderr.read()

    def ask(self, *command: object) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(" ".join(map(str, command)) + "\n")
        self.process.stdin.flush()
        line = self._line()
        assert line, self._error(line)
        return json.loads(line)

    def wait_for(self, expected: object, *command: object) -> None:
        _wait(lambda: self.ask(*command) == expected)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            try:
                _, err = self.process.communicate(timeout=30)
            finally:
                if self.process.poll() is None:
                    self.process.kill()
                    self.process.wait()
            assert self.process.returncode == 0, err


def test_a_write_in_one_process_purges_another_across_a_broker_restart(
    broker: RedisServer, channel: str, tmp_path: Path
) -> None:
    name = f"sanctum-peer-{uuid.uuid4().hex[:8]}"
    config = fanout_config(tmp_path / "db.sqlite", broker.url, channel, client_name=name, **FAST)
    writer = create_storage_client(config)
    for key in ("k1", "k2", "k3"):
        writer.records.put(NS, key, {"v": 1})
    peer = Peer(config, tmp_path)
    try:
        for key in ("k1", "k2", "k3"):
            peer.ask("fill", key)
            assert peer.ask("cached", key) == 1

        # Delivered: the write purges the other process's entry.
        writer.records.put(NS, "k1", {"v": 2})
        peer.wait_for(None, "cached", "k1")

        # The broker crashes: both listeners notice; a write meanwhile purges nothing there.
        broker.kill()
        peer.wait_for({"listening": False, "reconnects": 0}, "fanout")
        writer.records.put(NS, "k2", {"v": 2})
        assert peer.ask("cached", "k2") == 1  # stale, while there is no broker

        # The broker is back (empty): the peer subscribes again by itself, and a write
        # after that purges again.
        broker.start()
        peer.wait_for({"listening": True, "reconnects": 1}, "fanout")
        _wait(lambda: fanout_of(writer).listening)
        writer.records.put(NS, "k3", {"v": 2})
        peer.wait_for(None, "cached", "k3")

        # k2's event was queued by the writer and sent once it reconnected: it reached
        # the peer if the peer had subscribed again by then, else it was lost. Either
        # way the entry lives no longer than its TTL.
        _wait(lambda: fanout_of(writer).sent == 6)  # all six writes, k2 v2 included
        peer.ask("advance", TTL_MS)
        assert peer.ask("cached", "k2") is None
        assert peer.ask("eventual", "k2") == 2
    finally:
        peer.close()
        writer.close()
    assert [n for n in _client_names(broker.url) if n.startswith(name)] == []  # all closed


# --- losses, within one process -----------------------------------------------------------


def test_an_event_lost_in_a_broker_restart_leaves_the_entry_until_its_ttl(
    broker: RedisServer, channel: str, tmp_path: Path
) -> None:
    clock = VirtualClock()
    path = tmp_path / "db.sqlite"
    writer = create_storage_client(fanout_config(path, broker.url, channel, **FAST), clock=clock)
    slow = {"reconnect_initial_ms": 60_000, "reconnect_max_ms": 60_000}
    reader = create_storage_client(fanout_config(path, broker.url, channel, **slow), clock=clock)
    try:
        seen: list[InvalidationEvent] = []
        fanout_of(reader).subscribe(seen.append)
        assert fanout_of(reader).wait_listening(20)
        assert fanout_of(writer).wait_listening(20)
        writer.records.put(NS, "k", {"v": 1})
        _wait(lambda: seen)  # the first write's own invalidation has come and gone
        assert reader.records.get(NS, "k").value == {"v": 1}  # cached by the reader

        broker.kill()
        _wait(lambda: not fanout_of(reader).listening)
        broker.start()  # the reader waits a minute before it reconnects
        writer.records.put(NS, "k", {"v": 2})
        _wait(lambda: fanout_of(writer).sent == 2)  # the broker took it: no one was there
        assert not fanout_of(reader).listening
        assert len(seen) == 1

        assert reader.records.get(NS, "k", level="eventual").value == {"v": 1}  # stale...
        clock.advance(TTL_MS - 1)
        assert reader.records.get(NS, "k", level="eventual").value == {"v": 1}
        clock.advance(1)
        assert reader.records.get(NS, "k", level="eventual").value == {"v": 2}  # ...for a TTL
    finally:
        reader.close()
        writer.close()


def test_a_silent_broker_is_noticed_by_the_health_check(broker: RedisServer, channel: str) -> None:
    options = {"url": broker.url, "channel": channel, **FAST}
    listener = create_redis_fanout({**options, "health_check_ms": 100, "socket_timeout_ms": 300})
    sender = create_redis_fanout(options)
    got: list[InvalidationEvent] = []
    listener.subscribe(got.append)
    try:
        assert listener.wait_listening(20)
        broker.freeze()  # the socket stays open; nothing answers the PING
        _wait(lambda: not listener.listening)
        broker.thaw()
        _wait(lambda: listener.listening and listener.reconnects >= 1)
        event = InvalidationEvent(Layer.BLOB, NS, "k", 1, "o")
        sender.publish(event)
        _wait(lambda: got)
        assert got == [event]
    finally:
        sender.close()
        listener.close()


def test_a_message_no_fanout_sent_is_ignored(shared_url: str, channel: str) -> None:
    sender = create_redis_fanout({"url": shared_url, "channel": channel})
    receiver = create_redis_fanout({"url": shared_url, "channel": channel})
    got: list[InvalidationEvent] = []
    receiver.subscribe(got.append)
    other = redis.Redis.from_url(shared_url)
    try:
        assert receiver.wait_listening(20)
        other.publish(channel, b"\xff not an event")
        event = InvalidationEvent(Layer.RECORD, NS, "k", 1, "o")
        sender.publish(event)
        _wait(lambda: got)
        assert got == [event]
    finally:
        other.close()
        sender.close()
        receiver.close()


def test_a_client_builds_and_closes_the_configured_fanout(
    shared_url: str, channel: str, tmp_path: Path
) -> None:
    name = f"sanctum-owned-{uuid.uuid4().hex[:8]}"
    client = create_storage_client(
        fanout_config(tmp_path / "db.sqlite", shared_url, channel, client_name=name)
    )
    fanout = fanout_of(client)
    assert fanout.wait_listening(20)
    client.records.put(NS, "k", {"v": 1})  # the sender connects on its first batch
    _wait(lambda: fanout.sent == 1)
    assert sorted(n for n in _client_names(shared_url) if n.startswith(name)) == [
        f"{name}-listen",
        f"{name}-publish",
    ]
    client.close()
    assert [n for n in _client_names(shared_url) if n.startswith(name)] == []
