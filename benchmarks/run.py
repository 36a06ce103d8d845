"""Benchmark the facade against same-run baselines and check the performance targets.

Run from the repository root::

    python -m benchmarks.run               # full run (15-20 s on two cores)
    python -m benchmarks.run --quick       # smoke run (a few seconds)
    python -m benchmarks.run --json out.json --check

Each repeat times many iterations of one operation with ``time.perf_counter_ns`` while
the garbage collector is disabled. The subjects and baselines of a group are timed in
turn inside every repeat (A, B, C, A, B, C, ...), each for a few tens of milliseconds, and
a target's ratio is the median over repeats of the ratio within the repeat: the two sides
of a pair ran moments apart, so a slow spell of a shared machine hits both alike. See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import io
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from itertools import repeat
from typing import Any

from pytest_sanctum.client import StorageClient, create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.config import StorageConfigV1, parse_config
from pytest_sanctum.observability import (
    JsonFormatter,
    RecordingLogHandler,
    RecordingMetrics,
    create_noop_metrics,
)
from reference_adapters.memory import MemoryAdapter, MemoryServer, drop_server

PAYLOAD_BYTES = 1024
"""Every payload (blob bytes, cache value, record JSON, stream message JSON) is 1 KiB."""

NS = "bench"
"""The namespace every facade operation addresses."""

Op = Callable[[], object]


# --- payloads ---------------------------------------------------------------------------


def make_record() -> dict[str, Any]:
    """A realistic record (an order with a customer, line items and flags) of 1 KiB.

    Its compact JSON encoding (what the facade stores) is exactly ``PAYLOAD_BYTES`` long;
    the free-text ``notes`` field is padded to get there.
    """
    record: dict[str, Any] = {
        "id": "order-00001234",
        "customer": {
            "id": "cust-0042",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "tier": "gold",
        },
        "status": "paid",
        "currency": "EUR",
        "total": 1234.56,
        "created_at": "2024-05-01T12:34:56Z",
        "updated_at": "2024-05-01T12:35:10Z",
        "items": [
            {"sku": f"SKU-{n:05d}", "qty": n + 1, "price": 19.99 + n, "title": "Widget, blue"}
            for n in range(6)
        ],
        "shipping": {
            "street": "12 Analytical Engine Way",
            "city": "London",
            "zip": "NW1 2DB",
            "country": "GB",
        },
        "tags": ["priority", "gift", "repeat-customer"],
        "flags": {"fraud_checked": True, "gift_wrap": False, "express": True},
        "version_hint": None,
        "notes": "",
    }
    size = len(json.dumps(record, separators=(",", ":")))
    record["notes"] = "n" * (PAYLOAD_BYTES - size)
    assert len(json.dumps(record, separators=(",", ":"))) == PAYLOAD_BYTES
    return record


def make_message() -> dict[str, Any]:
    """A stream message whose compact JSON encoding is 1 KiB."""
    message: dict[str, Any] = {"event": "order.paid", "order": "order-00001234", "data": ""}
    size = len(json.dumps(message, separators=(",", ":")))
    message["data"] = "d" * (PAYLOAD_BYTES - size)
    return message


BLOB = bytes(range(256)) * (PAYLOAD_BYTES // 256)


# --- measurement ------------------------------------------------------------------------


@dataclass
class Subject:
    """One measured operation: ``op`` is called ``iterations`` times per repeat."""

    name: str
    label: str
    op: Op
    iterations: int
    reset: Callable[[], None] | None = None
    """Called before every repeat, outside the timing (e.g. to drop recorded metrics)."""
    samples_ns: list[float] = field(default_factory=list)

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples_ns) / 1000.0

    @property
    def spread(self) -> float:
        """(slowest - fastest) / median repeat, as a fraction: how noisy this subject was."""
        median = statistics.median(self.samples_ns)
        return (max(self.samples_ns) - min(self.samples_ns)) / median if median else 0.0


def _time_once(op: Op, iterations: int, clock: Callable[[], int]) -> float:
    """Nanoseconds per call of ``op`` over ``iterations`` calls, with the GC disabled."""
    gc.collect()
    gc.disable()
    try:
        start = clock()
        for _ in repeat(None, iterations):
            op()
        elapsed = clock() - start
    finally:
        gc.enable()
    return elapsed / iterations


def paired_ratios(numerator: Subject, denominator: Subject) -> list[float]:
    """``numerator / denominator`` per repeat; both must come from one ``measure`` call."""
    return [a / b for a, b in zip(numerator.samples_ns, denominator.samples_ns, strict=True)]


def middle_half(values: list[float]) -> tuple[float, float]:
    """The first and third quartiles of ``values`` (both the value itself for one value)."""
    if len(values) < 2:
        return values[0], values[0]
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return low, high


def measure(
    subjects: list[Subject], repeats: int, clock: Callable[[], int] = time.perf_counter_ns
) -> None:
    """Warm every subject up, then time them in turn ``repeats`` times.

    The objects alive after the warm-up (imports, clients, stored data) are frozen out of
    the garbage collector's reach, so the collection before each repeat costs little.
    ``clock`` is wall time by default; ``time.thread_time_ns`` counts only this thread's
    CPU time, which a busy machine barely moves (but a backend's own work is not in it).
    """
    for subject in subjects:
        if subject.reset is not None:
            subject.reset()
        for _ in range(max(1, subject.iterations // 10)):
            subject.op()
    gc.collect()
    gc.freeze()
    try:
        for _ in range(repeats):
            for subject in subjects:
                if subject.reset is not None:
                    subject.reset()
                subject.samples_ns.append(_time_once(subject.op, subject.iterations, clock))
    finally:
        gc.unfreeze()


# --- facade clients ---------------------------------------------------------------------


def _config(**extra: Any) -> StorageConfigV1:
    return parse_config({"schema_version": 1, **extra})


def facade_client(
    *,
    metrics: RecordingMetrics | None = None,
    logger_name: str = "benchmarks.facade",
    acl: bool = False,
) -> StorageClient:
    """An in-memory client on its own server, with a ``VirtualClock``.

    Each client logs to its own logger so the logging set-ups of the observability group
    do not leak into one another.
    """
    server = f"benchmarks-{logger_name}"
    drop_server(server)
    extra: dict[str, Any] = {
        "adapters": {"memory": {"kind": "memory", "options": {"server": server}}},
        "observability": {"logger_name": logger_name, "log_acl_allows": True},
    }
    if acl:
        extra["acl"] = {"*": {"*": ["*"]}}
    return create_storage_client(
        _config(**extra),
        clock=VirtualClock(),
        metrics=metrics if metrics is not None else create_noop_metrics(),
    )


# --- groups -----------------------------------------------------------------------------


@dataclass
class Target:
    """A performance target: ``numerator / denominator`` compared with ``bound``."""

    id: str
    description: str
    numerator: str
    denominator: str
    bound: float
    at_most: bool
    """True: the ratio must be at most ``bound``; false: at least ``bound``."""

    def ratios(self, results: dict[str, Subject]) -> list[float]:
        """One ratio per repeat: the two sides were timed back to back in that repeat."""
        return paired_ratios(results[self.numerator], results[self.denominator])

    def ratio(self, results: dict[str, Subject]) -> float:
        """The median of the per-repeat ratios."""
        return statistics.median(self.ratios(results))

    def passed(self, results: dict[str, Subject]) -> bool:
        ratio = self.ratio(results)
        return ratio <= self.bound if self.at_most else ratio >= self.bound


TARGETS = [
    Target(
        "1",
        "record.put via facade vs plain dict (json + sha256 etag + version)",
        "record.put/facade",
        "record.put/dict",
        3.0,
        at_most=True,
    ),
    Target(
        "2a",
        "blob put: moto mock_aws S3 put_object vs facade",
        "blob.put/moto",
        "blob.put/facade",
        100.0,
        at_most=False,
    ),
    Target(
        "2b",
        "blob get: moto mock_aws S3 get_object vs facade (backend read)",
        "blob.get/moto",
        "blob.get/facade",
        100.0,
        at_most=False,
    ),
    Target(
        "3",
        "cache get: fakeredis GET vs facade cache.get",
        "cache.get/fakeredis",
        "cache.get/facade",
        5.0,
        at_most=False,
    ),
    Target(
        "4",
        "stream append+read+ack per message: fakeredis vs facade",
        "stream.cycle/fakeredis",
        "stream.cycle/facade",
        10.0,
        at_most=False,
    ),
    Target(
        "5a",
        "fresh fixture: fakeredis vs fresh client, adapter passed in",
        "fresh/fakeredis",
        "fresh/facade",
        4.0,
        at_most=False,
    ),
    Target(
        "5b",
        "fresh fixture: fakeredis vs fresh client, adapter built from config",
        "fresh/fakeredis",
        "fresh/facade-config",
        4.0,
        at_most=False,
    ),
    Target(
        "6",
        "record.put with RecordingMetrics + INFO logging vs no-op metrics",
        "record.put/recording",
        "record.put/facade",
        1.3,
        at_most=True,
    ),
    Target(
        "7",
        "history checker on 10,000 operations over 100 keys vs a plain scan of them",
        "history.check",
        "history.scan",
        500.0,
        at_most=True,
    ),
]


@contextlib.contextmanager
def record_group(scale: float) -> Iterator[list[Subject]]:
    """Targets 1 and 6: record put through the facade, a dict baseline, observability set-ups."""
    record = make_record()
    key = "order-00001234"

    store: dict[str, tuple[int, bytes, str]] = {}

    def dict_put() -> tuple[int, str]:
        # The same work as a versioned upsert: check and increment the version, encode
        # the JSON, compute a sha256 etag, store.
        current = store.get(key)
        next_version = current[0] + 1 if current is not None else 1
        data = json.dumps(record).encode("utf-8")
        etag = hashlib.sha256(data).hexdigest()
        store[key] = (next_version, data, etag)
        return next_version, etag

    plain = facade_client()
    plain_put = plain.records.put

    recording = RecordingMetrics()
    rec_client = facade_client(metrics=recording, logger_name="benchmarks.recording")
    rec_logger = logging.getLogger("benchmarks.recording")
    rec_stream = io.StringIO()
    rec_handler = logging.StreamHandler(rec_stream)
    rec_handler.setFormatter(JsonFormatter())
    rec_logger.addHandler(rec_handler)
    rec_logger.setLevel(logging.INFO)
    rec_logger.propagate = False
    rec_put = rec_client.records.put

    acl_metrics = RecordingMetrics()
    acl_client = facade_client(metrics=acl_metrics, logger_name="benchmarks.acl", acl=True)
    acl_logger = logging.getLogger("benchmarks.acl")
    acl_handler = RecordingLogHandler()
    acl_logger.addHandler(acl_handler)
    acl_logger.setLevel(logging.DEBUG)
    acl_logger.propagate = False
    acl_put = acl_client.records.put

    def reset_acl() -> None:
        acl_metrics.reset()
        acl_handler.clear()

    n = max(50, int(2_000 * scale))
    try:
        yield [
            Subject("record.put/dict", "record put, plain dict baseline", dict_put, n),
            Subject(
                "record.put/facade",
                "record.put via facade (no-op metrics)",
                lambda: plain_put(NS, key, record),
                n,
            ),
            Subject(
                "record.put/recording",
                "record.put, RecordingMetrics + INFO handler",
                lambda: rec_put(NS, key, record),
                n,
                reset=recording.reset,
            ),
            Subject(
                "record.put/acl-debug",
                "record.put, + ACL allow logged at DEBUG",
                lambda: acl_put(NS, key, record),
                n,
                reset=reset_acl,
            ),
        ]
        if rec_stream.getvalue():
            raise AssertionError("a successful record.put logged at INFO; the set-up is wrong")
        if not acl_handler.events:
            raise AssertionError("the ACL set-up logged no allow decision; the set-up is wrong")
    finally:
        for logger, handler in ((rec_logger, rec_handler), (acl_logger, acl_handler)):
            logger.removeHandler(handler)
        for client in (plain, rec_client, acl_client):
            client.close()


@contextlib.contextmanager
def blob_group(scale: float) -> Iterator[list[Subject]]:
    """Target 2: blob put and get through the facade vs moto's in-process S3."""
    import boto3  # type: ignore[import-untyped]
    from moto import mock_aws

    client = facade_client(logger_name="benchmarks.blob")
    blobs = client.blobs
    blobs.put(NS, "blob-1", BLOB)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="benchmarks")
        s3.put_object(Bucket="benchmarks", Key="blob-1", Body=BLOB)

        def moto_put() -> object:
            return s3.put_object(Bucket="benchmarks", Key="blob-1", Body=BLOB)

        def moto_get() -> bytes:
            data: bytes = s3.get_object(Bucket="benchmarks", Key="blob-1")["Body"].read()
            return data

        n = max(50, int(5_000 * scale))
        n_moto = max(5, int(20 * scale))
        try:
            yield [
                Subject(
                    "blob.put/facade",
                    "blob.put via facade",
                    lambda: blobs.put(NS, "blob-1", BLOB),
                    n,
                ),
                Subject(
                    "blob.get/facade",
                    "blob.get via facade (backend read + fill)",
                    lambda: blobs.get(NS, "blob-1", bypass_cache=True),
                    n,
                ),
                Subject(
                    "blob.get/facade-cached",
                    "blob.get via facade (strong, cache hit)",
                    lambda: blobs.get(NS, "blob-1"),
                    n,
                ),
                Subject("blob.put/moto", "S3 put_object, moto mock_aws", moto_put, n_moto),
                Subject("blob.get/moto", "S3 get_object + read, moto mock_aws", moto_get, n_moto),
            ]
        finally:
            client.close()


@contextlib.contextmanager
def cache_group(scale: float) -> Iterator[list[Subject]]:
    """Target 3: the facade's cache layer vs a fakeredis GET."""
    import fakeredis

    client = facade_client(logger_name="benchmarks.cache")
    cache = client.cache
    cache.set(NS, "cached-1", BLOB)
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    redis.set("cached-1", BLOB)
    n = max(100, int(20_000 * scale))
    n_redis = max(50, int(1_000 * scale))
    try:
        yield [
            Subject(
                "cache.get/facade", "cache.get via facade", lambda: cache.get(NS, "cached-1"), n
            ),
            Subject("cache.get/fakeredis", "fakeredis GET", lambda: redis.get("cached-1"), n_redis),
        ]
    finally:
        client.close()
        redis.close()


@contextlib.contextmanager
def stream_group(scale: float) -> Iterator[list[Subject]]:
    """Target 4: one message appended, read by a group consumer and acked."""
    import fakeredis

    client = facade_client(logger_name="benchmarks.stream")
    streams = client.streams
    message = make_message()

    def facade_cycle() -> None:
        streams.append(NS, "orders", message)
        (delivery,) = streams.read(NS, "orders", "billing", "worker-1", count=1)
        streams.ack(NS, "orders", "billing", [delivery.message_id])

    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    redis.xgroup_create("orders", "billing", id="0", mkstream=True)
    fields: dict[Any, Any] = {"event": "order.paid", "data": "d" * (PAYLOAD_BYTES - 32)}

    def redis_cycle() -> None:
        redis.xadd("orders", fields)
        reply: Any = redis.xreadgroup("billing", "worker-1", {"orders": ">"}, count=1)
        ((_, entries),) = reply
        redis.xack("orders", "billing", entries[0][0])

    n = max(50, int(1_000 * scale))
    n_redis = max(10, int(100 * scale))
    try:
        yield [
            Subject("stream.cycle/facade", "stream append+read+ack via facade", facade_cycle, n),
            Subject(
                "stream.cycle/fakeredis", "fakeredis XADD+XREADGROUP+XACK", redis_cycle, n_redis
            ),
        ]
    finally:
        client.close()
        redis.close()


@contextlib.contextmanager
def fresh_group(scale: float) -> Iterator[list[Subject]]:
    """Target 5: what a per-test fixture costs: a fresh, empty, usable store.

    The facade is timed three ways, each on a new, empty memory server: with the adapter
    passed in (``adapters=``, how the kit's fixtures build per-test clients: the factory
    is resolved once per session), with the adapter built from the parsed config's
    ``kind`` (``create_storage_client(config)``, which resolves the factory by entry
    point on every call), and with no arguments at all.
    """
    import fakeredis

    server = "benchmarks-fresh"
    config = _config(adapters={"memory": {"kind": "memory", "options": {"server": server}}})
    record: dict[str, object] = {"ready": True}

    def facade_fresh_adapter() -> None:
        clock = VirtualClock()
        adapter = MemoryAdapter(MemoryServer(server), clock)
        client = create_storage_client(config, clock=clock, adapters={"memory": adapter})
        client.records.put(NS, "k", record)

    def facade_fresh_config() -> None:
        drop_server(server)  # the next adapter built on this name gets a new, empty server
        client = create_storage_client(config, clock=VirtualClock())
        client.records.put(NS, "k", record)

    def facade_fresh_default() -> None:
        drop_server("default")
        client = create_storage_client(clock=VirtualClock())
        client.records.put(NS, "k", record)

    def redis_fresh() -> None:
        redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        redis.set("k", b"1")

    n_fast = max(20, int(300 * scale))  # about 0.1 ms each
    n_redis = max(10, int(50 * scale))  # about 0.8 ms each
    try:
        yield [
            Subject(
                "fresh/facade",
                "fresh client (adapter passed in) + put",
                facade_fresh_adapter,
                n_fast,
            ),
            Subject(
                "fresh/facade-config",
                "fresh client (adapter from config) + put",
                facade_fresh_config,
                n_fast,
            ),
            Subject(
                "fresh/facade-default",
                "fresh create_storage_client() + put",
                facade_fresh_default,
                n_fast,
            ),
            Subject("fresh/fakeredis", "fakeredis FakeServer+FakeRedis+SET", redis_fresh, n_redis),
        ]
    finally:
        drop_server(server)


def synthetic_history(operations: int, keys: int, seed: int = 7) -> Any:
    """A valid history of ``operations`` puts, deletes and reads over ``keys`` keys, from
    8 clients whose intervals overlap: what a large history run records."""
    import random

    from pytest_sanctum.kit.history.record import History, HistorySettings, Operation

    rng = random.Random(seed)
    versions = dict.fromkeys(range(keys), 0)
    live: dict[int, str | None] = dict.fromkeys(range(keys))
    ops: list[Operation] = []
    now = 0
    for index in range(operations):
        key = rng.randrange(keys)
        now += rng.randrange(1_000, 20_000)
        end = now + rng.randrange(5_000, 60_000)
        op = Operation(index, f"c{index % 8}", f"n{index % 2}", "get", f"k{key}", now, 0.0)
        op.complete_ns, op.outcome, op.level, op.bypass = end, "ok", "strong", True
        roll = rng.random()
        if roll < 0.35:
            versions[key] += 1
            live[key] = f"t{index}"
            op.kind, op.tag, op.version, op.etag = "put", live[key], versions[key], f"e{index}"
        elif roll < 0.4 and live[key] is not None:
            op.kind, op.version, live[key] = "delete", versions[key], None
        else:
            op.tag = live[key]
            op.version = versions[key] if live[key] is not None else None
        ops.append(op)
    return History(ops, HistorySettings())


@contextlib.contextmanager
def history_group(scale: float) -> Iterator[list[Subject]]:
    """Target 7: checking a 10,000-operation history over 100 keys, against a plain scan of
    the same history (one pass reading every operation's key, kind and times)."""
    from pytest_sanctum.kit.history.check import check_history

    history = synthetic_history(max(1000, int(10_000 * scale)), 100)

    def check() -> None:
        verdict = check_history(history)
        if not verdict.valid:
            raise AssertionError(verdict.anomalies[:1])

    def scan() -> None:
        per_key: dict[str, int] = {}
        for op in history.operations:
            per_key[op.key] = (
                per_key.get(op.key, 0) + (op.complete_ns - op.invoke_ns) + len(op.kind)
            )

    yield [
        Subject("history.check", f"check_history, {len(history.operations)} operations", check, 1),
        Subject("history.scan", "a plain scan of the same history", scan, 1),
    ]


GROUPS = (record_group, blob_group, cache_group, stream_group, fresh_group, history_group)


# --- report -----------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def render(results: dict[str, Subject], repeats: int, elapsed_s: float) -> str:
    lines = [
        "pytest-sanctum benchmarks",
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"moto {_version('moto')}, boto3 {_version('boto3')}, fakeredis {_version('fakeredis')}",
        f"{repeats} repeats, payloads {PAYLOAD_BYTES} B, run took {elapsed_s:.1f} s",
        "",
        f"{'measured (median of the repeats)':<46} {'µs/op':>11} {'spread':>7} {'iters':>7}",
        "-" * 74,
    ]
    for subject in results.values():
        lines.append(
            f"{subject.label:<46} {subject.median_us:>11.2f} {subject.spread:>6.0%} "
            f"{subject.iterations:>7}"
        )
    lines += [
        "",
        f"{'#':<3} {'target':<68} {'ratio':>8} {'middle half':>14} {'need':>8}  result",
        "-" * 113,
    ]
    for target in TARGETS:
        need = f"{'<=' if target.at_most else '>='}{target.bound:g}"
        verdict = "PASS" if target.passed(results) else "FAIL"
        low, high = middle_half(target.ratios(results))
        lines.append(
            f"{target.id:<3} {target.description:<68} {target.ratio(results):>7.2f}x "
            f"{f'{low:.2f}-{high:.2f}':>14} {need:>8}  {verdict}"
        )
    info = [
        ("record.put/acl-debug", "record.put/facade", "ACL on, allows logged at DEBUG, vs no-op"),
        ("blob.get/facade-cached", "blob.get/facade", "blob.get cache hit vs backend read"),
        ("fresh/facade-config", "fresh/facade", "fresh client: adapter from config vs passed in"),
        ("fresh/fakeredis", "fresh/facade-default", "fakeredis vs create_storage_client() + put"),
    ]
    lines += ["", "informational (no target):"]
    for numerator, denominator, text in info:
        ratio = statistics.median(paired_ratios(results[numerator], results[denominator]))
        lines.append(f"    {text:<68} {ratio:>7.2f}x")
    return "\n".join(lines)


def to_json(
    results: dict[str, Subject], repeats: int, quick: bool, elapsed_s: float
) -> dict[str, Any]:
    return {
        "meta": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "repeats": repeats,
            "quick": quick,
            "payload_bytes": PAYLOAD_BYTES,
            "elapsed_s": round(elapsed_s, 3),
            "versions": {p: _version(p) for p in ("moto", "boto3", "fakeredis", "pytest-sanctum")},
        },
        "measurements": {
            name: {
                "label": s.label,
                "median_us": s.median_us,
                "repeats_us": [ns / 1000.0 for ns in s.samples_ns],
                "iterations": s.iterations,
            }
            for name, s in results.items()
        },
        "targets": [
            {
                "id": t.id,
                "description": t.description,
                "ratio": t.ratio(results),
                "repeat_ratios": t.ratios(results),
                "bound": t.bound,
                "comparison": "<=" if t.at_most else ">=",
                "passed": t.passed(results),
            }
            for t in TARGETS
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Time the facade against same-run baselines and check the targets.",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (few iterations)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per subject")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 15)
    if repeats < 1:
        parser.error("--repeats must be at least 1")

    started = time.perf_counter()
    results: dict[str, Subject] = {}
    for group in GROUPS:
        with group(scale) as subjects:
            measure(subjects, repeats)
        results.update((subject.name, subject) for subject in subjects)
    elapsed = time.perf_counter() - started

    print(render(results, repeats, elapsed))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(to_json(results, repeats, args.quick, elapsed), out, indent=2)
            out.write("\n")
    missed = [t.id for t in TARGETS if not t.passed(results)]
    if missed:
        print(f"\nmissed target(s): {', '.join(missed)}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
