"""Delivery latency of the invalidation fan-outs between two OS processes, PostgreSQL
``LISTEN``/``NOTIFY`` and Redis pub/sub, and what a broken broker connection costs.

Run from the repository root with PostgreSQL on ``127.0.0.1:5432`` (database ``test``)
and a ``redis-server`` binary on ``PATH``::

    python -m benchmarks.fanout                     # both, 400 writes each, about 30 s
    python -m benchmarks.fanout --quick             # 60 writes each
    python -m benchmarks.fanout --broker redis      # one of them
    python -m benchmarks.fanout --json out.json

For each broker a listener process holds the fan-out and records when each invalidation
reaches it (``time.monotonic_ns``, one clock for every process of the machine). The
writer, this process, writes one key at a time through its own client (in-memory
storage: only the fan-out is measured), a few milliseconds apart. A write's delivery
latency is the time from the moment its ``records.put`` returned until the listener had
the event (and so would have purged the key).

The baseline, measured in the same run and interleaved with the facade, is the raw
client: psycopg ``NOTIFY`` and ``LISTEN``, or redis-py ``PUBLISH`` and a ``PubSub``
listener, in another process; its latency runs from the call that sends, so it includes
sending, as the fan-out's does (the fan-out sends after ``put`` has returned: a write
never waits for the broker). The ratio of the medians says what the fan-out adds: the
hand-over to its sender thread, the JSON payload, the batch statement or pipeline.

Then the broker connection breaks while the writer keeps writing every few
milliseconds. Redis runs on a private ``redis-server`` started by the benchmark, which
is killed (SIGKILL) and started again after 40 writes. The shared PostgreSQL server
cannot be restarted: the listener's backend is terminated with ``pg_terminate_backend``.
The output says how long the listener was deaf, how many invalidations it missed in that
gap (each leaves its entry until the TTL), and that it reconnected by itself. Last, the
ratio of the two fan-outs' medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis

from benchmarks.redis_server import RedisServer

CONNINFO = "host=127.0.0.1 port=5432 dbname=test"

OUTAGE_WRITES = 40
"""Writes made while the private redis-server is down, before it is started again."""

GAP_WRITES = 200
"""Writes made from the moment the connection breaks."""

_LISTENER = r"""
import json, sys, time
from pytest_sanctum.fanout_registry import build_fanout

mode, kind, where, channel = sys.argv[1:5]
out = sys.stdout
if mode == "facade":
    fanout = build_fanout(kind, {**json.loads(where), "channel": channel,
                                 "reconnect_initial_ms": 10, "reconnect_max_ms": 200})
    fanout.subscribe(lambda e: out.write(f"{e.key} {time.monotonic_ns()}\n") or out.flush())
    assert fanout.wait_listening(20)
    out.write(f"READY {getattr(fanout, 'listener_pid', 0)}\n"); out.flush()
    sys.stdin.readline()
    out.write(f"RECONNECTS {fanout.reconnects}\n"); out.flush()
    fanout.close()
elif kind == "postgres":
    import psycopg
    conn = psycopg.connect(json.loads(where)["conninfo"], autocommit=True)
    conn.execute(f"LISTEN {channel}")
    out.write("READY 0\n"); out.flush()
    for notify in conn.notifies():
        if notify.payload == "stop":
            break
        out.write(f"{notify.payload} {time.monotonic_ns()}\n"); out.flush()
else:
    import redis
    pubsub = redis.Redis.from_url(json.loads(where)["url"]).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel)
    while pubsub.get_message(timeout=1) is None and not pubsub.subscribed:
        pass
    out.write("READY 0\n"); out.flush()
    for message in pubsub.listen():
        if message["type"] != "message":
            continue
        if message["data"] == b"stop":
            break
        out.write(f"{message['data'].decode()} {time.monotonic_ns()}\n"); out.flush()
"""


@dataclass
class Broker:
    """One broker as the benchmark drives it."""

    kind: str
    where: dict[str, str]
    """The fan-out's connection option (``conninfo`` or ``url``)."""
    channel: str
    raw_send: Callable[[str, str], object]
    """Sends a payload on a channel with the raw client."""
    break_connection: Callable[[int], object]
    """Breaks the facade listener's connection (given its ``listener_pid``)."""
    restore: Callable[[], None] | None
    """Called after ``OUTAGE_WRITES`` writes of the gap: the broker is back (``None``: the
    broker never went away, only the listener's connection)."""
    breaking: str
    """What ``break_connection`` does, for the output."""


@contextmanager
def postgres_broker() -> Iterator[Broker]:
    notify = psycopg.connect(CONNINFO, autocommit=True)
    try:
        yield Broker(
            kind="postgres",
            where={"conninfo": CONNINFO},
            channel=f"sanctum_bench_{uuid.uuid4().hex[:8]}",
            raw_send=lambda channel, payload: notify.execute(
                f"NOTIFY {channel}, '{payload}'"
            ).close(),
            break_connection=lambda pid: notify.execute(
                "SELECT pg_terminate_backend(%s)", (pid,)
            ).close(),
            restore=None,
            breaking="listener's backend terminated",
        )
    finally:
        notify.close()


@contextmanager
def redis_broker() -> Iterator[Broker]:
    with tempfile.TemporaryDirectory(prefix="sanctum-bench-redis-") as directory:
        server = RedisServer(Path(directory))
        client = redis.Redis.from_url(server.url)
        try:
            yield Broker(
                kind="redis",
                where={"url": server.url},
                channel=f"sanctum-bench:{uuid.uuid4().hex[:8]}",
                raw_send=client.publish,
                break_connection=lambda pid: server.kill(),
                restore=server.start,
                breaking="redis-server killed and started again",
            )
        finally:
            client.close()
            server.stop()


BROKERS = {"postgres": postgres_broker, "redis": redis_broker}


def _listener(mode: str, broker: Broker, channel: str) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, "-c", _LISTENER, mode, broker.kind, json.dumps(broker.where), channel],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line.startswith("READY "):
        raise RuntimeError(f"the {broker.kind} {mode} listener did not start: {line!r}")
    return child, int(line.split()[1])


def _received(lines: list[str]) -> dict[str, int]:
    return {
        key: int(at)
        for key, at in (line.split() for line in lines if line and not line.startswith("RECON"))
    }


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _summary(latency: list[float]) -> dict[str, float]:
    return {"median": statistics.median(latency), "p99": percentile(latency, 0.99)}


def run(broker: Broker, writes: int, gap_ms: float) -> dict[str, Any]:
    from pytest_sanctum.client import create_storage_client
    from pytest_sanctum.config import parse_config

    raw_channel = f"{broker.channel}_raw"
    options = {**broker.where, "channel": broker.channel}
    client = create_storage_client(
        parse_config({"schema_version": 1, "fanout": {"kind": broker.kind, "options": options}})
    )
    facade_child, facade_pid = _listener("facade", broker, broker.channel)
    raw_child, _ = _listener("raw", broker, raw_channel)
    sent: dict[str, int] = {}
    raw_sent: dict[str, int] = {}
    gap_sent: dict[str, int] = {}
    restored_at: int | None = None
    try:
        for n in range(writes):  # interleaved, so a slow spell of the machine hits both
            key = f"k{n}"
            client.records.put("bench", key, {"n": n})
            sent[key] = time.monotonic_ns()
            raw_sent[key] = time.monotonic_ns()
            broker.raw_send(raw_channel, key)
            time.sleep(gap_ms / 1000.0)
        broker.raw_send(raw_channel, "stop")
        raw_out, _ = raw_child.communicate(timeout=60)
        # The connection breaks while writes go on.
        time.sleep(0.2)
        killed_at = time.monotonic_ns()
        broker.break_connection(facade_pid)
        for n in range(GAP_WRITES):
            if n == OUTAGE_WRITES and broker.restore is not None:
                broker.restore()
                restored_at = time.monotonic_ns()
            key = f"gap{n}"
            client.records.put("bench", key, {"n": n})
            gap_sent[key] = time.monotonic_ns()
            time.sleep(gap_ms / 1000.0)
        time.sleep(0.5)
        assert facade_child.stdin is not None
        facade_child.stdin.write("done\n")
        facade_child.stdin.flush()
        facade_out, _ = facade_child.communicate(timeout=60)
    finally:
        for child in (facade_child, raw_child):
            if child.poll() is None:
                child.kill()
                child.wait()
        client.close()
    facade_lines = facade_out.splitlines()
    reconnects = int(next(line for line in facade_lines if line.startswith("RECON")).split()[1])
    got = _received(facade_lines)
    raw_got = _received(raw_out.splitlines())
    latency = [(got[k] - sent[k]) / 1e6 for k in sent if k in got]
    raw_latency = [(raw_got[k] - raw_sent[k]) / 1e6 for k in raw_sent if k in raw_got]
    first_after = min((got[k] for k in gap_sent if k in got), default=None)
    return {
        "broker": broker.kind,
        "writes": writes,
        "delivered": len(latency),
        "raw_delivered": len(raw_latency),
        "facade_ms": _summary(latency),
        "raw_ms": _summary(raw_latency),
        "ratio_of_medians": statistics.median(latency) / statistics.median(raw_latency),
        "restart": {
            "how": broker.breaking,
            "writes_during": len(gap_sent),
            "missed": sum(1 for k in gap_sent if k not in got),
            "outage_ms": None if restored_at is None else (restored_at - killed_at) / 1e6,
            "deaf_ms": None if first_after is None else (first_after - killed_at) / 1e6,
            "reconnects": reconnects,
        },
    }


def report(result: dict[str, Any]) -> None:
    facade, raw, restart = result["facade_ms"], result["raw_ms"], result["restart"]
    kind = result["broker"]
    print(
        f"\n{kind}: writes {result['writes']}, delivered {result['delivered']}"
        f" (raw {result['raw_delivered']})"
    )
    print(f"  fan-out delivery  median {facade['median']:7.2f} ms   p99 {facade['p99']:7.2f} ms")
    print(f"  raw client        median {raw['median']:7.2f} ms   p99 {raw['p99']:7.2f} ms")
    print(f"  ratio of medians  {result['ratio_of_medians']:.2f}x")
    deaf = "never heard again" if restart["deaf_ms"] is None else f"{restart['deaf_ms']:.0f} ms"
    outage = "" if restart["outage_ms"] is None else f" (down {restart['outage_ms']:.0f} ms)"
    print(
        f"  {restart['how']}{outage}: deaf for {deaf}, missed {restart['missed']} of"
        f" {restart['writes_during']} invalidations (left to their TTL),"
        f" reconnects {restart['reconnects']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fanout",
        description="Delivery latency of the broker fan-outs between two processes.",
    )
    parser.add_argument("--quick", action="store_true", help="60 writes per broker")
    parser.add_argument(
        "--broker",
        choices=sorted(BROKERS),
        action="append",
        help="measure only this broker (repeatable; default: all)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    results = []
    for kind in args.broker or sorted(BROKERS):
        with BROKERS[kind]() as broker:
            results.append(run(broker, 60 if args.quick else 400, gap_ms=5.0))
        report(results[-1])
    by_kind = {r["broker"]: r for r in results}
    if len(by_kind) == 2:
        ratio = by_kind["redis"]["facade_ms"]["median"] / by_kind["postgres"]["facade_ms"]["median"]
        print(f"\nredis fan-out median / postgres fan-out median: {ratio:.2f}x")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    ok = all(r["delivered"] == r["writes"] and r["restart"]["reconnects"] >= 1 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
