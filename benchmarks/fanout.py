"""Delivery latency of the PostgreSQL invalidation fan-out between two OS processes.

Run from the repository root with PostgreSQL on ``127.0.0.1:5432`` (database ``test``)::

    python -m benchmarks.fanout             # 400 writes per side, about 20 s
    python -m benchmarks.fanout --quick     # 60 writes per side
    python -m benchmarks.fanout --json out.json

A listener process holds a facade client with the ``postgres`` fan-out and records when
each invalidation reaches it (``time.monotonic_ns``, one clock for every process of the
machine). The writer, this process, writes one key at a time through its own client, a
few milliseconds apart. A write's delivery latency is the time from the moment its
``records.put`` returned until the listener had the event (and so had purged the key).

The baseline, measured in the same run and interleaved with the facade, is raw psycopg:
``NOTIFY`` on one connection, ``LISTEN`` on another, in another process; its latency runs
from the moment ``NOTIFY`` was called, so it includes sending the notification, as the
fan-out's does (the fan-out sends after ``put`` has returned: a write never waits for the
broker). The ratio of the medians says what the fan-out adds: the hand-over to its
sender thread, the JSON payload, ``pg_notify`` through ``unnest``.

Then the broker "restarts": the listener's backend is terminated with
``pg_terminate_backend`` (the shared server itself cannot be restarted) while the writer
keeps writing every few milliseconds. The output says how long the listener was deaf,
how many invalidations it missed in that gap (each leaves its entry until the TTL), and
that it reconnected by itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import psycopg

CONNINFO = "host=127.0.0.1 port=5432 dbname=test"

_LISTENER = r"""
import json, sys, time, psycopg
from pytest_sanctum.fanout_registry import build_fanout

mode, conninfo, channel = sys.argv[1:4]
out = sys.stdout
if mode == "facade":
    fanout = build_fanout("postgres", {"conninfo": conninfo, "channel": channel,
                                       "reconnect_initial_ms": 10, "reconnect_max_ms": 200})
    fanout.subscribe(lambda e: out.write(f"{e.key} {time.monotonic_ns()}\n") or out.flush())
    assert fanout.wait_listening(20)
    out.write(f"READY {fanout.listener_pid}\n"); out.flush()
    sys.stdin.readline()
    out.write(f"RECONNECTS {fanout.reconnects}\n"); out.flush()
    fanout.close()
else:
    conn = psycopg.connect(conninfo, autocommit=True)
    conn.execute(f"LISTEN {channel}")
    out.write(f"READY {conn.info.backend_pid}\n"); out.flush()
    for notify in conn.notifies():
        if notify.payload == "stop":
            break
        out.write(f"{notify.payload} {time.monotonic_ns()}\n"); out.flush()
"""


def _listener(mode: str, channel: str) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, "-c", _LISTENER, mode, CONNINFO, channel],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line.startswith("READY "):
        raise RuntimeError(f"the {mode} listener did not start: {line!r}")
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


def run(writes: int, gap_ms: float) -> dict[str, Any]:
    from pytest_sanctum.client import create_storage_client
    from pytest_sanctum.config import parse_config

    schema = f"sanctum_bench_{uuid.uuid4().hex[:8]}"
    channel = f"sanctum_bench_{uuid.uuid4().hex[:8]}"
    raw_channel = f"{channel}_raw"
    client = create_storage_client(
        parse_config(
            {
                "schema_version": 1,
                "adapters": {
                    "db": {"kind": "postgres", "options": {"conninfo": CONNINFO, "schema": schema}},
                    "local": {"kind": "memory"},
                },
                "namespaces": {"*": {"adapter": "db"}},
                "cache": {"adapter": "local"},
                "fanout": {
                    "kind": "postgres",
                    "options": {"conninfo": CONNINFO, "channel": channel},
                },
            }
        )
    )
    notify = psycopg.connect(CONNINFO, autocommit=True)
    facade_child, facade_pid = _listener("facade", channel)
    raw_child, _ = _listener("raw", raw_channel)
    sent: dict[str, int] = {}
    raw_sent: dict[str, int] = {}
    try:
        for n in range(writes):  # interleaved, so a slow spell of the machine hits both
            key = f"k{n}"
            client.records.put("bench", key, {"n": n})
            sent[key] = time.monotonic_ns()
            raw_sent[key] = time.monotonic_ns()
            notify.execute(f"NOTIFY {raw_channel}, '{key}'")
            time.sleep(gap_ms / 1000.0)
        # The broker restarts: the listener's backend dies while writes go on.
        gap_sent: dict[str, int] = {}
        time.sleep(0.2)
        killed_at = time.monotonic_ns()
        notify.execute("SELECT pg_terminate_backend(%s)", (facade_pid,))
        for n in range(200):
            key = f"gap{n}"
            client.records.put("bench", key, {"n": n})
            gap_sent[key] = time.monotonic_ns()
            time.sleep(gap_ms / 1000.0)
        time.sleep(0.5)
        notify.execute(f"NOTIFY {raw_channel}, 'stop'")
        assert facade_child.stdin is not None
        facade_child.stdin.write("done\n")
        facade_child.stdin.flush()
        facade_out, _ = facade_child.communicate(timeout=60)
        raw_out, _ = raw_child.communicate(timeout=60)
    finally:
        for child in (facade_child, raw_child):
            if child.poll() is None:
                child.kill()
                child.wait()
        client.close()
        notify.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        notify.close()
    facade_lines = facade_out.splitlines()
    reconnects = int(next(line for line in facade_lines if line.startswith("RECON")).split()[1])
    got = _received(facade_lines)
    raw_got = _received(raw_out.splitlines())
    latency = [(got[k] - sent[k]) / 1e6 for k in sent if k in got]
    raw_latency = [(raw_got[k] - raw_sent[k]) / 1e6 for k in raw_sent if k in raw_got]
    missed = [k for k in gap_sent if k not in got]
    first_after = min((got[k] for k in gap_sent if k in got), default=None)
    return {
        "writes": writes,
        "delivered": len(latency),
        "raw_delivered": len(raw_latency),
        "facade_ms": {"median": statistics.median(latency), "p99": percentile(latency, 0.99)},
        "raw_ms": {"median": statistics.median(raw_latency), "p99": percentile(raw_latency, 0.99)},
        "ratio_of_medians": statistics.median(latency) / statistics.median(raw_latency),
        "restart": {
            "writes_during": len(gap_sent),
            "missed": len(missed),
            "deaf_ms": None if first_after is None else (first_after - killed_at) / 1e6,
            "reconnects": reconnects,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fanout",
        description="Delivery latency of the PostgreSQL fan-out between two processes.",
    )
    parser.add_argument("--quick", action="store_true", help="60 writes per side")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    result = run(60 if args.quick else 400, gap_ms=5.0)
    facade, raw, restart = result["facade_ms"], result["raw_ms"], result["restart"]
    print(
        f"writes: {result['writes']}, delivered {result['delivered']} (raw {result['raw_delivered']})"
    )
    print(f"fan-out delivery    median {facade['median']:7.2f} ms   p99 {facade['p99']:7.2f} ms")
    print(f"raw LISTEN/NOTIFY   median {raw['median']:7.2f} ms   p99 {raw['p99']:7.2f} ms")
    print(f"ratio of medians    {result['ratio_of_medians']:.2f}x")
    print(
        f"broker restart: deaf for {restart['deaf_ms']:.0f} ms, missed {restart['missed']} of"
        f" {restart['writes_during']} invalidations (left to their TTL),"
        f" reconnects {restart['reconnects']}"
    )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)
    return 0 if result["delivered"] == result["writes"] and restart["reconnects"] >= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
