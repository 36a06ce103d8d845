"""Benchmark the real adapters (Redis, SQLite) and the costs that must not grow with state.

Run from the repository root (Redis on 127.0.0.1:6379 for the Redis group; without it
that group is skipped and said so)::

    python -m benchmarks.adapters              # full run
    python -m benchmarks.adapters --quick      # smoke run
    python -m benchmarks.adapters --json out.json --check

Every target is a ratio of two subjects timed in turn inside each repeat, the median of
the per-repeat ratios, as in ``benchmarks/run.py``: the facade against raw redis-py or
raw ``sqlite3`` doing the same backend work, or the same facade operation against a
larger state. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.filesystem import filesystem_group
from benchmarks.postgres import postgres_group
from benchmarks.run import (
    NS,
    Subject,
    facade_client,
    make_message,
    make_record,
    measure,
    middle_half,
    paired_ratios,
)
from benchmarks.s3 import s3_group
from pytest_sanctum.client import StorageClient, create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.config import parse_config
from pytest_sanctum.json_codec import (
    COMPILED_MEMBER_CHECK,
    MAX_JSON_DEPTH,
    encode_json,
    members_are_json,
)
from pytest_sanctum.validation import decode_json
from reference_adapters.memory import drop_server
from reference_adapters.sqlite import _PURGE_TRIGGERS, _PUT, _SCHEMA, _VOLATILE_SCHEMA

REDIS_URL = "redis://127.0.0.1:6379/15"
"""The Redis database the Redis group uses (its keys carry a random prefix, removed after)."""


@dataclass
class Target:
    """``numerator / denominator`` must be at most ``bound``."""

    id: str
    description: str
    numerator: str
    denominator: str
    bound: float


@dataclass
class Group:
    """Subjects timed together, the targets they decide, and informational ratios."""

    name: str
    subjects: list[Subject]
    targets: list[Target]
    notes: list[str]


Build = Callable[[float], contextlib.AbstractContextManager[Group | str]]
"""A group builder: the group, or the reason it cannot run here."""


def _client(adapter_kind: str, options: dict[str, Any], *, cache: bool) -> StorageClient:
    """A facade client whose every namespace is served by one adapter, reads cached or not."""
    return create_storage_client(
        parse_config(
            {
                "schema_version": 1,
                "adapters": {"main": {"kind": adapter_kind, "options": options}},
                "namespaces": {"*": {"adapter": "main", "cache": cache}},
            }
        ),
        clock=VirtualClock(),
    )


# --- Redis: the facade against raw redis-py doing the same backend work ------------------


@contextlib.contextmanager
def redis_group(scale: float) -> Iterator[Group | str]:
    """Targets R1-R3: put, strong get and a stream cycle, facade vs raw redis-py."""
    import redis

    raw = redis.Redis.from_url(REDIS_URL)
    try:
        raw.ping()
    except redis.RedisError as error:
        yield f"redis not reachable at {REDIS_URL}: {error}"
        return
    prefix = f"sanctum-bench-{uuid.uuid4().hex[:8]}:"
    options = {"url": REDIS_URL, "key_prefix": prefix}
    plain = _client("redis", options, cache=False)
    cached = _client("redis", options, cache=True)
    record = make_record()
    message = make_message()
    payload = orjson.dumps(record)
    plain.records.put(NS, "order", record)

    from reference_adapters.redis_adapter import _PUT  # the same script the adapter runs

    put_script = raw.register_script(_PUT)
    obj, index = f"{prefix}raw-obj", f"{prefix}raw-index"

    def raw_put() -> object:
        return put_script(
            keys=[obj, index], args=["order", payload, "0123456789abcdef", "0", "", "0", "", "0"]
        )

    raw_put()
    fields = ["data", "version", "etag", "ctype", "live"]
    stream = f"{prefix}raw-stream"
    raw.xgroup_create(stream, "billing", id="0", mkstream=True)
    entry: dict[Any, Any] = {"payload": orjson.dumps(message)}

    def raw_cycle() -> None:
        raw.xadd(stream, entry)
        reply: Any = raw.xreadgroup("billing", "w1", {stream: ">"}, count=1)
        raw.xack(stream, "billing", reply[0][1][0][0])

    streams = plain.streams

    def facade_cycle() -> None:
        streams.append(NS, "orders", message)
        (delivery,) = streams.read(NS, "orders", "billing", "w1", count=1)
        streams.ack(NS, "orders", "billing", [delivery.message_id])

    fill_script = raw.register_script(
        "redis.call('DEL', KEYS[2]) redis.call('HSET', KEYS[2], 'data', ARGV[1])"
        " redis.call('PEXPIRE', KEYS[2], 5000) return 1"
    )

    def raw_get_and_fill() -> object:
        found: Any = raw.hmget(obj, fields)
        return fill_script(keys=[obj, f"{prefix}raw-cache"], args=[found[0]])

    n = max(50, int(2_000 * scale))
    try:
        yield Group(
            "redis",
            [
                Subject(
                    "redis.put/facade",
                    "records.put (redis)",
                    lambda: plain.records.put(NS, "order", record),
                    n,
                ),
                Subject("redis.put/raw", "EVALSHA of the same put script", raw_put, n),
                Subject(
                    "redis.get/facade",
                    "records.get strong, reads not cached (redis)",
                    lambda: plain.records.get(NS, "order"),
                    n,
                ),
                Subject(
                    "redis.get/raw", "HMGET of the object hash", lambda: raw.hmget(obj, fields), n
                ),
                Subject(
                    "redis.get/facade-cached",
                    "records.get strong, cache miss + fill (redis)",
                    lambda: cached.records.get(NS, "order", bypass_cache=True),
                    n,
                ),
                Subject("redis.get/raw-fill", "HMGET + EVALSHA fill", raw_get_and_fill, n),
                Subject("redis.cycle/facade", "append+read+ack (redis)", facade_cycle, n),
                Subject("redis.cycle/raw", "XADD+XREADGROUP+XACK", raw_cycle, n),
            ],
            [
                Target(
                    "R1",
                    "redis put: facade vs one EVALSHA",
                    "redis.put/facade",
                    "redis.put/raw",
                    1.5,
                ),
                Target(
                    "R2",
                    "redis strong get: facade vs HMGET",
                    "redis.get/facade",
                    "redis.get/raw",
                    1.5,
                ),
                Target(
                    "R3",
                    "redis append+read+ack: facade vs XADD+XREADGROUP+XACK",
                    "redis.cycle/facade",
                    "redis.cycle/raw",
                    1.5,
                ),
            ],
            [
                "redis.get/facade-cached:redis.get/raw-fill:redis strong get with fill vs HMGET + fill script"
            ],
        )
    finally:
        plain.close()
        cached.close()
        found = list(raw.scan_iter(match=f"{prefix}*", count=1000))
        if found:
            raw.unlink(*found)
        raw.close()


# --- SQLite: the facade against raw sqlite3 at the same synchronous ----------------------


@contextlib.contextmanager
def sqlite_group(scale: float) -> Iterator[Group | str]:
    """Targets S1-S2: put and strong get, facade vs raw ``sqlite3``, ``synchronous=NORMAL``."""
    with tempfile.TemporaryDirectory(prefix="sanctum-bench-") as folder:
        options = {"path": str(Path(folder) / "facade.sqlite"), "synchronous": "NORMAL"}
        plain = _client("sqlite", options, cache=False)
        cached = _client("sqlite", options, cache=True)
        record = make_record()
        payload = orjson.dumps(record)
        plain.records.put(NS, "order", record)
        plain.blobs.put(NS, "blob", payload)
        raw = sqlite3.connect(str(Path(folder) / "raw.sqlite"), isolation_level=None)
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("PRAGMA synchronous = NORMAL")
        for statement in _SCHEMA:  # the adapter's own tables, without its cache and triggers
            raw.execute(statement)
        raw.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID")
        # The same tables with the adapter's cache attached and its purge triggers.
        purged = sqlite3.connect(str(Path(folder) / "purged.sqlite"), isolation_level=None)
        purged.execute("PRAGMA journal_mode = WAL")
        purged.execute("PRAGMA synchronous = NORMAL")
        for statement in _SCHEMA:
            purged.execute(statement)
        purged.execute(
            "ATTACH DATABASE ? AS volatile", (str(Path(folder) / "purged.sqlite-cache"),)
        )
        purged.execute("PRAGMA volatile.journal_mode = WAL")
        purged.execute("PRAGMA volatile.synchronous = OFF")
        purged.execute(_VOLATILE_SCHEMA)
        purged.create_function("sanctum_purge", 0, lambda: "record/order")
        for trigger in _PURGE_TRIGGERS:
            purged.execute(trigger)
        records = plain.adapters["main"].records

        def raw_put(conn: sqlite3.Connection = raw) -> object:
            digest = hashlib.blake2b(payload, digest_size=8).hexdigest()
            return conn.execute(_PUT, ("record", NS, "order", payload, digest, None)).fetchall()

        def raw_kv() -> object:
            return raw.execute(
                "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                ("order", payload),
            )

        raw_put()
        raw_kv()
        select = "SELECT data, version, etag, content_type FROM objects"
        select += " WHERE layer = ? AND ns = ? AND key = ? AND live = 1"
        n = max(50, int(3_000 * scale))
        try:
            yield Group(
                "sqlite",
                [
                    Subject(
                        "sqlite.put/facade",
                        "records.put (sqlite, NORMAL)",
                        lambda: plain.records.put(NS, "order", record),
                        n,
                    ),
                    Subject(
                        "sqlite.put/raw",
                        "raw versioned upsert (same statement, digest), autocommit",
                        raw_put,
                        n,
                    ),
                    Subject(
                        "sqlite.put/facade-blob",
                        "blobs.put of the record's encoding (sqlite, NORMAL)",
                        lambda: plain.blobs.put(NS, "blob", payload),
                        n,
                    ),
                    Subject("sqlite.put/kv", "raw upsert of a key-value row", raw_kv, n),
                    Subject(
                        "sqlite.put/purged",
                        "the same, the adapter's cache attached and triggers",
                        lambda: raw_put(purged),
                        n,
                    ),
                    Subject(
                        "sqlite.put/adapter",
                        "the adapter's put_and_purge, no facade",
                        lambda: records.put_and_purge(NS, "order", payload, purge="record/order"),
                        n,
                    ),
                    Subject(
                        "sqlite.get/facade",
                        "blobs.get strong, reads not cached (sqlite)",
                        lambda: plain.blobs.get(NS, "blob"),
                        n,
                    ),
                    Subject(
                        "sqlite.get/raw",
                        "raw SELECT",
                        lambda: raw.execute(select, ("record", NS, "order")).fetchall(),
                        n,
                    ),
                    Subject(
                        "sqlite.get/facade-record",
                        "records.get strong, reads not cached (sqlite)",
                        lambda: plain.records.get(NS, "order"),
                        n,
                    ),
                    Subject(
                        "sqlite.get/facade-cached",
                        "records.get strong, cache miss + fill (sqlite)",
                        lambda: cached.records.get(NS, "order", bypass_cache=True),
                        n,
                    ),
                ],
                [
                    Target(
                        "S1",
                        "sqlite put: facade vs raw upsert (NORMAL)",
                        "sqlite.put/facade",
                        "sqlite.put/raw",
                        1.5,
                    ),
                    Target(
                        "S2",
                        "sqlite strong get: facade vs raw SELECT",
                        "sqlite.get/facade",
                        "sqlite.get/raw",
                        2.0,
                    ),
                ],
                [
                    "sqlite.put/purged:sqlite.put/raw:raw upsert with the cache and triggers vs without",
                    "sqlite.put/adapter:sqlite.put/raw:the adapter's put_and_purge vs raw upsert",
                    "sqlite.put/facade-blob:sqlite.put/raw:sqlite blob put (no encoder) vs raw upsert",
                    "sqlite.get/facade-cached:sqlite.get/raw:sqlite strong get with fill vs raw SELECT",
                ],
            )
        finally:
            plain.close()
            cached.close()
            raw.close()
            purged.close()


# --- costs that must not grow with the state -----------------------------------------


def _pending_client(kind: str, folder: str, name: str) -> tuple[StorageClient, Callable[[], None]]:
    """A client of ``kind`` (memory, sqlite, redis) on fresh storage, and its cleanup."""
    if kind == "memory":
        server = f"bench-{name}"
        drop_server(server)
        return _client("memory", {"server": server}, cache=False), lambda: drop_server(server)
    if kind == "sqlite":
        path = str(Path(folder) / f"{name}.sqlite")
        return _client("sqlite", {"path": path, "synchronous": "NORMAL"}, cache=False), lambda: None
    prefix = f"sanctum-bench-{uuid.uuid4().hex[:8]}:"
    client = _client("redis", {"url": REDIS_URL, "key_prefix": prefix}, cache=False)

    def drop() -> None:
        import redis

        raw = redis.Redis.from_url(REDIS_URL)
        found = list(raw.scan_iter(match=f"{prefix}*", count=1000))
        if found:
            raw.unlink(*found)
        raw.close()

    return client, drop


def _hold(client: StorageClient, pending: int) -> None:
    """Leave ``pending`` deliveries of group ``g`` unacknowledged (for an hour)."""
    for n in range(pending):
        client.streams.append(NS, "s", {"n": n})
    while client.streams.read(NS, "s", "g", "holder", visibility_timeout_ms=3_600_000):
        pass


@contextlib.contextmanager
def pending_group(scale: float) -> Iterator[Group | str]:
    """Targets P*: a group read and an ack at 20,000 pending vs at 100, on every adapter."""
    kinds = ["memory", "sqlite"]
    try:
        import redis

        redis.Redis.from_url(REDIS_URL).ping()
        kinds.append("redis")
    except Exception:
        pass
    big = 20_000 if scale >= 1 else 2_000
    cleanups: list[Callable[[], None]] = []
    subjects: list[Subject] = []
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="sanctum-bench-") as folder:
        try:
            for kind in kinds:
                for size in (100, big):
                    client, drop = _pending_client(kind, folder, f"{kind}-{size}")
                    cleanups.append(drop)
                    cleanups.append(client.close)
                    _hold(client, size)
                    n = max(20, int(500 * scale))
                    subjects.append(
                        Subject(
                            f"{kind}.cycle/{size}",
                            f"append + read 1 + ack 1, {size} pending ({kind})",
                            _cycle(client.streams),
                            n,
                        )
                    )
                targets.append(
                    Target(
                        f"P-{kind}",
                        f"{kind} group read + ack at {big} pending vs at 100",
                        f"{kind}.cycle/{big}",
                        f"{kind}.cycle/100",
                        1.5,
                    )
                )
            yield Group("pending", subjects, targets, [])
        finally:
            for cleanup in reversed(cleanups):
                cleanup()


def _cycle(streams: Any) -> Callable[[], None]:
    """One message appended, read by a second consumer and acked: the pending deliveries
    of the holder stay as they are, so every repeat sees the same state."""

    def cycle() -> None:
        streams.append(NS, "s", {"n": "new"})
        (delivery,) = streams.read(NS, "s", "g", "worker", count=1)
        streams.ack(NS, "s", "g", [delivery.message_id])

    return cycle


@contextlib.contextmanager
def list_group(scale: float) -> Iterator[Group | str]:
    """Targets L*: a list page at 100,000 keys vs at 1,000, from the start and mid-way."""
    big = 100_000 if scale >= 1 else 10_000
    subjects: list[Subject] = []
    targets: list[Target] = []
    clients: list[StorageClient] = []
    with tempfile.TemporaryDirectory(prefix="sanctum-bench-") as folder:
        try:
            for kind in ("memory", "sqlite"):
                for size in (1_000, big):
                    if kind == "memory":
                        drop_server(f"bench-list-{size}")
                        client = _client("memory", {"server": f"bench-list-{size}"}, cache=False)
                    else:
                        path = str(Path(folder) / f"list-{size}.sqlite")
                        client = _client(
                            "sqlite", {"path": path, "synchronous": "NORMAL"}, cache=False
                        )
                    clients.append(client)
                    adapter = client.adapters["main"]
                    store = adapter.blobs
                    assert store is not None
                    for n in range(size):
                        store.put(NS, f"k{n:07d}", b"x")
                    middle = f"k{size // 2:07d}"
                    blobs = client.blobs
                    n = max(50, int(1_000 * scale))
                    subjects.append(
                        Subject(
                            f"{kind}.list/{size}",
                            f"list 100 from the start, {size} keys ({kind})",
                            functools.partial(blobs.list, NS, "k", limit=100),
                            n,
                        )
                    )
                    subjects.append(
                        Subject(
                            f"{kind}.list-mid/{size}",
                            f"list 100 after the middle key, {size} keys ({kind})",
                            functools.partial(blobs.list, NS, "k", start_after=middle, limit=100),
                            n,
                        )
                    )
                for where in ("list", "list-mid"):
                    targets.append(
                        Target(
                            f"L-{kind}-{where}",
                            f"{kind} {where} page at {big} keys vs at 1,000",
                            f"{kind}.{where}/{big}",
                            f"{kind}.{where}/1000",
                            2.0,
                        )
                    )
            yield Group("list", subjects, targets, [])
        finally:
            for client in clients:
                client.close()
            for size in (1_000, big):
                drop_server(f"bench-list-{size}")


@contextlib.contextmanager
def record_codec_group(scale: float) -> Iterator[Group | str]:
    """Targets C1-C2: a 64 KiB record through the facade vs orjson alone."""
    client = facade_client(logger_name="benchmarks.codec")
    record = make_record()
    value: dict[str, Any] = {"orders": [dict(record, id=f"order-{n:05d}") for n in range(64)]}
    encoded = orjson.dumps(value)
    records = client.records
    records.put(NS, "batch", value)
    n = max(20, int(500 * scale))
    try:
        yield Group(
            "codec",
            [
                Subject(
                    "codec.put/facade",
                    f"records.put of {len(encoded) // 1024} KiB (memory)",
                    lambda: records.put(NS, "batch", value),
                    n,
                ),
                Subject("codec.put/orjson", "orjson.dumps of it", lambda: orjson.dumps(value), n),
                Subject(
                    "codec.encode",
                    "encode_json of it (the facade's encoder)",
                    lambda: encode_json(value, "value"),
                    n,
                ),
                Subject(
                    "codec.check",
                    f"its member check ({'C' if COMPILED_MEMBER_CHECK else 'Python'})",
                    lambda: members_are_json(value, MAX_JSON_DEPTH),
                    n,
                ),
                Subject(
                    "codec.get/facade",
                    f"records.get of {len(encoded) // 1024} KiB (memory, cache hit)",
                    lambda: records.get(NS, "batch"),
                    n,
                ),
                Subject("codec.get/orjson", "orjson.loads of it", lambda: orjson.loads(encoded), n),
                Subject(
                    "codec.decode",
                    "decode_json of it (the facade's decoder)",
                    lambda: decode_json(encoded),
                    n,
                ),
            ],
            [
                Target(
                    "C1",
                    "record put of 64 KiB: facade vs orjson.dumps",
                    "codec.put/facade",
                    "codec.put/orjson",
                    2.0,
                ),
                Target(
                    "C2",
                    "record get of 64 KiB: facade vs orjson.loads",
                    "codec.get/facade",
                    "codec.get/orjson",
                    1.3,
                ),
            ],
            [
                "codec.encode:codec.put/orjson:encode_json vs orjson.dumps",
                "codec.check:codec.put/orjson:the encoder's member check vs orjson.dumps",
            ],
        )
    finally:
        client.close()


GROUPS: tuple[Build, ...] = (
    redis_group,
    sqlite_group,
    postgres_group,
    s3_group,
    filesystem_group,
    pending_group,
    list_group,
    record_codec_group,
)


# --- draining ---------------------------------------------------------------------------


def drain_per_message(kind: str, folder: str, pending: int) -> float:
    """Microseconds per message to drain ``pending`` expired deliveries (read 100, ack them)."""
    client, drop = _pending_client(kind, folder, f"drain-{kind}-{uuid.uuid4().hex[:8]}")
    try:
        streams = client.streams
        for n in range(pending):
            streams.append(NS, "s", {"n": n})
        while streams.read(NS, "s", "g", "crashed", visibility_timeout_ms=1):
            pass
        client.clock.advance(10)  # type: ignore[attr-defined]
        start = time.perf_counter()
        while batch := streams.read(NS, "s", "g", "worker"):
            streams.ack(NS, "s", "g", [d.message_id for d in batch])
        return (time.perf_counter() - start) / pending * 1e6
    finally:
        client.close()
        drop()


# --- memory footprint ------------------------------------------------------------------


def footprint(count: int) -> tuple[float, float]:
    """Bytes per stored 1 KiB blob: the facade over the memory adapter, and a plain dict.

    Both sides store ``count`` fresh 1 KiB payloads under the same keys; what is measured
    is everything allocated while storing them (the payloads included) and still held.
    """
    keys = [f"blob-{n:06d}" for n in range(count)]
    rng = random.Random(7)

    def per_blob(store: Callable[[str, bytes], object]) -> float:
        tracemalloc.start()
        start = tracemalloc.get_traced_memory()[0]
        for key in keys:
            store(key, rng.randbytes(1024))
        held = tracemalloc.get_traced_memory()[0] - start
        tracemalloc.stop()
        return held / count

    baseline: dict[str, bytes] = {}
    plain = per_blob(baseline.__setitem__)
    client = facade_client(logger_name="benchmarks.footprint")
    blobs = client.blobs
    facade = per_blob(lambda key, data: blobs.put(NS, key, data))
    client.close()
    return facade, plain


# --- running and reporting -------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.adapters",
        description="Time the real adapters and the state-dependent costs against baselines.",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per subject")
    parser.add_argument(
        "--only",
        metavar="GROUP",
        help="run one group: " + ", ".join(b.__name__.removesuffix("_group") for b in GROUPS),
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the benchmark thread's CPU time (time.thread_time_ns) instead of wall time",
    )
    args = parser.parse_args(argv)
    clock = time.thread_time_ns if args.cpu_time else time.perf_counter_ns
    scale = 0.1 if args.quick else 1.0
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 11)
    started = time.perf_counter()
    lines: list[str] = []
    report: dict[str, Any] = {
        "clock": "thread_time_ns" if args.cpu_time else "perf_counter_ns",
        "targets": [],
        "measurements": {},
        "skipped": {},
    }
    missed: list[str] = []
    for build in GROUPS:
        if args.only is not None and build.__name__ != f"{args.only}_group":
            continue
        with build(scale) as group:
            if isinstance(group, str):
                lines.append(f"skipped {build.__name__}: {group}")
                report["skipped"][build.__name__] = group
                continue
            measure(group.subjects, repeats, clock)
        results = {s.name: s for s in group.subjects}
        lines.append(f"\n[{group.name}]")
        for subject in group.subjects:
            lines.append(f"  {subject.label:<58} {subject.median_us:>10.2f} µs")
            report["measurements"][subject.name] = subject.median_us
        for target in group.targets:
            ratios = paired_ratios(results[target.numerator], results[target.denominator])
            ratio = statistics.median(ratios)
            low, high = middle_half(ratios)
            passed = ratio <= target.bound
            if not passed:
                missed.append(target.id)
            lines.append(
                f"  {target.id:<16} {target.description:<52} {ratio:>6.2f}x "
                f"({low:.2f}-{high:.2f}) <={target.bound:g}  {'PASS' if passed else 'FAIL'}"
            )
            report["targets"].append(
                {
                    "id": target.id,
                    "description": target.description,
                    "ratio": ratio,
                    "bound": target.bound,
                    "passed": passed,
                }
            )
        for note in group.notes:
            numerator, denominator, text = note.split(":", 2)
            ratio = statistics.median(paired_ratios(results[numerator], results[denominator]))
            lines.append(f"  {'info':<16} {text:<52} {ratio:>6.2f}x")
    if args.only is None:  # draining and footprint belong to no group
        small, large = (200, 2_000) if args.quick else (1_000, 10_000)
        lines.append("\n[draining: expired deliveries redelivered 100 at a time and acked]")
        kinds = ["memory", "sqlite"] + (["redis"] if "redis_group" not in report["skipped"] else [])
        with tempfile.TemporaryDirectory(prefix="sanctum-bench-") as folder:
            for kind in kinds:
                few = min(drain_per_message(kind, folder, small) for _ in range(3))
                many = min(drain_per_message(kind, folder, large) for _ in range(3))
                ratio = many / few
                passed = ratio <= 1.5
                if not passed:
                    missed.append(f"D-{kind}")
                lines.append(
                    f"  D-{kind:<14} µs per message: {few:.1f} at {small}, {many:.1f} at {large}"
                    f"{'':<14} {ratio:>6.2f}x <=1.5  {'PASS' if passed else 'FAIL'}"
                )
                report["targets"].append(
                    {"id": f"D-{kind}", "ratio": ratio, "bound": 1.5, "passed": passed}
                )
        facade, plain = footprint(2_000 if args.quick else 20_000)
        ratio = facade / plain
        passed = ratio <= 1.3
        if not passed:
            missed.append("M1")
        lines.append("\n[memory footprint]")
        lines.append(
            f"  M1               bytes per stored 1 KiB blob: facade {facade:.0f}, dict {plain:.0f}"
            f"      {ratio:>6.2f}x <=1.3  {'PASS' if passed else 'FAIL'}"
        )
        report["targets"].append({"id": "M1", "ratio": ratio, "bound": 1.3, "passed": passed})
    elapsed = time.perf_counter() - started
    timed = "CPU time of the benchmark thread" if args.cpu_time else "wall time"
    print(f"pytest-sanctum adapter benchmarks: {repeats} repeats, {timed}, {elapsed:.1f} s")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if missed:
        print(f"\nmissed target(s): {', '.join(missed)}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
