"""Tests of the Redis adapter: the kit certifies it on a real server and on fakeredis, and
unit tests cover what the kit does not see (options, key layout, error mapping, reset).

Runs against the real server use ``redis://127.0.0.1:6379/15`` and a random key prefix
each, and remove their keys afterwards. Without a server they skip as ``environment``;
with ``SANCTUM_REQUIRE_BACKEND=1`` (CI) they fail instead.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

import pytest
import redis
from backends import environment_problem, require_redis
from redis.exceptions import (
    BusyLoadingError,
    ResponseError,
    WatchError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)

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
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.config import parse_config
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.kit.contracts import CATALOG
from pytest_sanctum.types import (
    BlobInfo,
    CacheEntry,
    CacheFill,
    Capabilities,
    GroupCheckpoint,
    GroupPending,
    Layer,
    StoredMessage,
)
from reference_adapters.redis_adapter import (
    EXPIRY_SLACK_MS,
    SEP,
    RedisAdapter,
    create_fakeredis_adapter,
    create_redis_adapter,
    create_redis_adapter_from_client,
    drop_fake_server,
    map_redis_error,
    scan_pattern,
)

REDIS_URL = "redis://127.0.0.1:6379/15"
"""The real server's database the tests use (15: away from the default database 0)."""

NS = "ns"

Open = Callable[..., RedisAdapter]
"""Opens another adapter on the test's backend and key prefix (a reopen or another node)."""


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real server's URL; skips (or, under SANCTUM_REQUIRE_BACKEND=1, fails) without one."""
    require_redis(REDIS_URL)
    return REDIS_URL


@pytest.fixture(scope="session")
def fakeredis_lua() -> None:
    """fakeredis runs the adapter's Lua scripts only with ``lupa`` (``fakeredis[lua]``)."""
    if importlib.util.find_spec("lupa") is None:
        environment_problem(
            "environment: fakeredis cannot run Lua scripts: install fakeredis[lua] (lupa)"
        )


def _unique_prefix() -> str:
    return f"sanctum-test-{uuid.uuid4().hex[:12]}:"


def _purge(url: str, prefix: str) -> list[bytes]:
    """Remove every key under ``prefix`` on the real server; returns the keys it found.

    Escapes the pattern itself, so a broken ``scan_pattern`` cannot leave keys behind.
    """
    client = redis.Redis.from_url(url)
    try:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
        found = list(client.scan_iter(match=pattern, count=500))
        if found:
            client.unlink(*found)
        return found
    finally:
        client.close()


@pytest.fixture(params=["redis", "fakeredis"])
def open_adapter(request: pytest.FixtureRequest, clock: VirtualClock) -> Iterator[Open]:
    """Opens adapters on a real server (random key prefix) or on a fakeredis server of the
    test alone; every key is removed and every adapter closed afterwards."""
    opened: list[RedisAdapter] = []
    prefix = _unique_prefix()
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")

        def build(**options: Any) -> RedisAdapter:
            adapter = create_redis_adapter({"url": url, "key_prefix": prefix, **options}, clock)
            opened.append(adapter)
            return adapter

        yield build
        for adapter in opened:
            adapter.close()
        _purge(url, prefix)
    else:
        request.getfixturevalue("fakeredis_lua")
        server = f"test-{uuid.uuid4().hex}"

        def build_fake(**options: Any) -> RedisAdapter:
            adapter = create_fakeredis_adapter(
                {"server": server, "key_prefix": prefix, **options}, clock
            )
            opened.append(adapter)
            return adapter

        yield build_fake
        for adapter in opened:
            adapter.close()
        drop_fake_server(server)


@pytest.fixture
def adapter(open_adapter: Open) -> RedisAdapter:
    return open_adapter()


def _keys(adapter: RedisAdapter) -> list[str]:
    """Every Redis key under the adapter's prefix, sorted, as text."""
    client = adapter.client
    return sorted(k.decode() for k in client.scan_iter(match=scan_pattern(adapter.key_prefix)))


def entry(data: bytes = b"v", version: int = 1, stored_at_ms: float = 0.0) -> CacheEntry:
    return CacheEntry(data, version, f"{version:x}-etag", stored_at_ms, "text/plain", 123.5)


# --- the kit certifies the adapter -------------------------------------------------------


CERTIFIED = {**dict.fromkeys(CATALOG, "pass"), "ERR-007": "unsupported"}
"""Every contract passes; a Redis script never loses a serialisation conflict, so its fault
injector offers none and ERR-007 is unsupported."""


def _run_kit(pytester: pytest.Pytester, spec: str, options: dict[str, str]) -> dict[str, str]:
    """Run the whole conformance suite in a subprocess; returns each contract's result."""
    result = pytester.runpytest_subprocess(
        f"--sanctum-adapter={spec}",
        f"--sanctum-adapter-options={json.dumps(options)}",
        "--sanctum-report=report.json",
        "-p",
        "no:cacheprovider",
        "-q",
        timeout=600,
    )
    report = json.loads((pytester.path / "report.json").read_text())
    results = {c["id"]: c["result"] for c in report["contracts"]}
    assert result.ret == 0, "\n".join(result.outlines[-40:])
    assert report["capabilities"] == list(Capabilities.field_names())
    assert report["environment_error"] is None
    return results


def test_kit_certifies_the_adapter_on_a_real_server(
    pytester: pytest.Pytester, redis_url: str
) -> None:
    prefix = _unique_prefix()
    try:
        results = _run_kit(pytester, "redis", {"url": redis_url, "key_prefix": prefix})
        left = _purge(redis_url, prefix)
    finally:
        _purge(redis_url, prefix)
    assert results == CERTIFIED
    assert left == [], f"the kit's per-test reset left {len(left)} keys behind: {left[:5]}"


@pytest.mark.usefixtures("fakeredis_lua")
def test_kit_certifies_the_adapter_on_fakeredis(pytester: pytest.Pytester) -> None:
    spec = "reference_adapters.redis_adapter:create_fakeredis_adapter"
    results = _run_kit(pytester, spec, {"server": "kit", "key_prefix": _unique_prefix()})
    # fakeredis keeps its server in this process: no client in another process can open it.
    assert results == {**CERTIFIED, "HIST-008": "unsupported"}


# --- protocols, capabilities, registry ---------------------------------------------------


def test_adapter_and_stores_satisfy_the_protocols(adapter: RedisAdapter) -> None:
    assert isinstance(adapter, StorageAdapter)
    assert isinstance(adapter.blobs, CachingVersionedStore)
    assert isinstance(adapter.records, VersionedStore)
    assert isinstance(adapter.records, CachingVersionedStore)
    assert isinstance(adapter.streams, StreamLog)
    assert isinstance(adapter.checkpoints, GroupStore)
    assert isinstance(adapter.cache, CacheStore)
    assert adapter.capabilities == Capabilities.all()
    assert adapter.name in ("redis", "fakeredis")


def test_registered_as_the_redis_entry_point() -> None:
    (point,) = entry_points(group="pytest_sanctum.adapters", name="redis")
    assert point.load() is create_redis_adapter


# --- options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"bogus": 1}, "options.bogus"),
        ({"url": ""}, "options.url"),
        ({"url": 6379}, "options.url"),
        ({"url": None}, "options.url"),
        ({"url": "http://127.0.0.1:6379/0"}, "options.url"),
        ({"key_prefix": ""}, "options.key_prefix"),
        ({"key_prefix": 5}, "options.key_prefix"),
        ({"key_prefix": "a\x1fb"}, "options.key_prefix"),
        ({"socket_timeout_s": 0}, "options.socket_timeout_s"),
        ({"socket_timeout_s": -1.5}, "options.socket_timeout_s"),
        ({"socket_timeout_s": True}, "options.socket_timeout_s"),
        ({"socket_timeout_s": "5"}, "options.socket_timeout_s"),
        ({"socket_timeout_s": math.nan}, "options.socket_timeout_s"),
        ({"socket_timeout_s": math.inf}, "options.socket_timeout_s"),
    ],
)
def test_invalid_options(options: dict[str, object], field: str, clock: VirtualClock) -> None:
    with pytest.raises(ConfigError) as caught:
        create_redis_adapter(options, clock)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"url": "redis://x"}, "options.url"),
        ({"server": ""}, "options.server"),
        ({"server": 1}, "options.server"),
        ({"key_prefix": ""}, "options.key_prefix"),
    ],
)
def test_invalid_fakeredis_options(
    options: dict[str, object], field: str, clock: VirtualClock
) -> None:
    with pytest.raises(ConfigError) as caught:
        create_fakeredis_adapter(options, clock)
    assert caught.value.field == field


def test_unreachable_server_is_backend_unavailable_quickly(clock: VirtualClock) -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError) as caught:
        create_redis_adapter(
            {"url": "redis://:secret@127.0.0.1:1/0", "socket_timeout_s": 0.5}, clock
        )
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"reporting an unreachable server took {elapsed:.2f} s"
    assert "127.0.0.1:1" in caught.value.message
    assert "secret" not in caught.value.message  # the password is redacted


def test_a_client_that_decodes_responses_is_refused(clock: VirtualClock) -> None:
    import fakeredis

    with pytest.raises(ConfigError):
        create_redis_adapter_from_client(fakeredis.FakeRedis(decode_responses=True), clock)


@pytest.mark.usefixtures("redis_url")
def test_default_options_connect_to_database_zero(clock: VirtualClock) -> None:
    adapter = create_redis_adapter({"key_prefix": _unique_prefix()}, clock)
    try:
        settings = adapter.client.connection_pool.connection_kwargs
        assert (settings["host"], settings["port"], settings.get("db", 0)) == (
            "127.0.0.1",
            6379,
            0,
        )
        assert (settings["socket_timeout"], settings["socket_connect_timeout"]) == (5.0, 5.0)
    finally:
        adapter.close()


# --- key layout, versions, tombstones ----------------------------------------------------


def test_every_key_starts_with_prefix_and_namespace(adapter: RedisAdapter) -> None:
    adapter.blobs.put(NS, "b", b"x")
    adapter.records.put(NS, "r", b"{}")
    adapter.streams.append(NS, "s", b"m", idempotency_key="i", dedupe_window_ms=1e9)
    adapter.checkpoints.claim(NS, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=5)
    adapter.cache.set(NS, "c", entry(), ttl_ms=60_000)
    p = adapter.key_prefix + NS + SEP
    assert _keys(adapter) == sorted(
        [
            p + SEP.join(("blob", "obj", "b")),
            p + SEP.join(("blob", "index")),
            p + SEP.join(("record", "obj", "r")),
            p + SEP.join(("record", "index")),
            p + SEP.join(("stream", "log", "s")),
            p + SEP.join(("stream", "dedupe", "s")),
            p + SEP.join(("stream", "dedupe-age", "s")),
            p + SEP.join(("stream", "dedupe-longest")),
            p + SEP.join(("group", "s", "g")),
            p + SEP.join(("group-pending", "s", "g")),
            p + SEP.join(("group-due", "s", "g")),
            p + SEP.join(("cache", "c")),
        ]
    )


def test_delete_keeps_a_tombstone_so_versions_continue(adapter: RedisAdapter) -> None:
    blobs = adapter.blobs
    first = blobs.put(NS, "k", b"a", content_type="text/plain")
    assert (first.version, first.etag.split("-")[0]) == (1, "1")
    blobs.put(NS, "k", b"b")
    assert blobs.delete(NS, "k") == 2
    name = adapter.key_prefix + NS + SEP + SEP.join(("blob", "obj", "k"))
    assert adapter.client.hgetall(name) == {b"version": b"2", b"live": b"0"}
    assert blobs.list(NS) == []
    with pytest.raises(NotFoundError):
        blobs.head(NS, "k")
    again = blobs.put(NS, "k", b"c", if_none_match=True)
    assert again.version == 3
    assert blobs.get(NS, "k").content_type is None  # the old content type is gone


def test_etags_are_hex_version_and_payload_digest(adapter: RedisAdapter) -> None:
    for _ in range(15):
        adapter.blobs.put(NS, "k", b"same")
    last = adapter.blobs.put(NS, "k", b"same")
    first_digest = adapter.blobs.put(NS, "other", b"same").etag.split("-")[1]
    assert last.version == 16
    assert last.etag == f"10-{first_digest}"


def test_preconditions_carry_the_current_etag_and_version(adapter: RedisAdapter) -> None:
    blobs = adapter.blobs
    stale = blobs.put(NS, "k", b"a")
    current = blobs.put(NS, "k", b"b")
    cases: list[Callable[[], object]] = [
        lambda: blobs.put(NS, "k", b"c", if_match=stale.etag),
        lambda: blobs.put(NS, "k", b"c", if_none_match=True),
        lambda: blobs.delete(NS, "k", if_match=stale.etag),
        lambda: blobs.put(NS, "k", b"c", if_match=""),  # an empty etag is a real condition
    ]
    for call in cases:
        with pytest.raises(PreconditionFailedError) as caught:
            call()
        error = caught.value
        assert (error.current_etag, error.current_version) == (current.etag, 2)
        assert (error.namespace, error.key) == (NS, "k")
    with pytest.raises(PreconditionFailedError) as absent:
        blobs.put(NS, "absent", b"x", if_match=current.etag)
    assert (absent.value.current_etag, absent.value.current_version) == (None, None)
    with pytest.raises(NotFoundError):
        blobs.delete(NS, "absent", if_match=current.etag)
    assert blobs.get(NS, "k").data == b"b"
    assert _keys(adapter) == sorted(
        adapter.key_prefix + NS + SEP + SEP.join(p)
        for p in [("blob", "obj", "k"), ("blob", "index")]
    )  # nothing was created for the refused writes


def test_head_reports_size_without_the_payload(adapter: RedisAdapter) -> None:
    written = adapter.blobs.put(NS, "k", bytes(range(256)) * 4, content_type="image/png")
    assert adapter.blobs.head(NS, "k") == BlobInfo("k", 1, written.etag, 1024, "image/png")


def test_list_orders_non_ascii_keys_like_python(adapter: RedisAdapter) -> None:
    names = ["a", "z", "ä", "é", "日本", "日", "b/1", "b/ü", "b", "Z", "\U0001f600"]
    for name in names:
        adapter.blobs.put(NS, name, name.encode())

    def keys(prefix: str = "", start_after: str | None = None, limit: int = 1000) -> list[str]:
        found = adapter.blobs.list(NS, prefix, start_after=start_after, limit=limit)
        return [i.key for i in found]

    assert keys() == sorted(names)
    assert keys("日") == ["日", "日本"]
    assert keys("b/") == ["b/1", "b/ü"]
    assert keys("b", start_after="b/1") == ["b/ü"]
    assert keys("ä", start_after="a") == ["ä"]  # start_after before the prefix
    assert keys("a", start_after="zz") == []
    assert keys(start_after="é", limit=2) == ["日", "日本"]
    assert keys(limit=0) == []
    assert len(keys(limit=2**70)) == len(names)
    assert adapter.blobs.list(NS, "é") == [adapter.blobs.head(NS, "é")]
    with pytest.raises(InvalidRequestError):
        adapter.blobs.list(NS, limit=-1)


# --- streams -----------------------------------------------------------------------------


def test_read_slices_the_list(adapter: RedisAdapter) -> None:
    streams = adapter.streams
    for i in range(1, 6):
        assert streams.append(NS, "s", f"m{i}".encode()).message_id == str(i)
    assert len(streams.read(NS, "s", after=0, limit=1_000_000)) == 5
    assert streams.read(NS, "s", after=1, limit=2) == [
        StoredMessage(2, b"m2"),
        StoredMessage(3, b"m3"),
    ]
    assert [m.sequence for m in streams.read(NS, "s", after=-3, limit=1)] == [1]
    assert streams.read(NS, "s", after=5, limit=10) == []
    assert streams.read(NS, "s", after=0, limit=0) == []
    assert len(streams.read(NS, "unknown", after=0, limit=1_000_000)) == 0
    assert [m.sequence for m in streams.read(NS, "s", after=3, limit=2**70)] == [4, 5]
    assert streams.read(NS, "s", after=2**70, limit=1) == []
    with pytest.raises(InvalidRequestError):
        streams.read(NS, "s", after=0, limit=-1)


def test_dedupe_window_compares_exact_float_times(adapter: RedisAdapter) -> None:
    def append(now_ms: float) -> tuple[int, bool]:
        result = adapter.streams.append(
            NS, "s", b"x", idempotency_key="k", dedupe_window_ms=1000.5, now_ms=now_ms
        )
        return result.sequence, result.duplicate

    start = 1_700_000_000_000.125
    assert append(start) == (1, False)
    assert append(start + 1000.375) == (1, True)
    assert append(start + 1000.5) == (2, False)  # the window is over: a new window starts
    assert append(start + 1000.5 + 1000) == (2, True)
    forever = adapter.streams.append(
        NS, "s", b"z", idempotency_key="f", dedupe_window_ms=math.inf, now_ms=start
    )
    again = adapter.streams.append(
        NS, "s", b"z", idempotency_key="f", dedupe_window_ms=math.inf, now_ms=start * 1e6
    )
    assert (again.sequence, again.duplicate) == (forever.sequence, True)


def dedupe_keys(adapter: RedisAdapter, stream: str = "s") -> tuple[list[bytes], list[bytes]]:
    """The idempotency keys in the stream's hash and in its age index, sorted."""
    p = adapter.key_prefix + NS + SEP
    client = adapter.client
    return (
        sorted(client.hkeys(p + SEP.join(("stream", "dedupe", stream)))),
        sorted(client.zrange(p + SEP.join(("stream", "dedupe-age", stream)), 0, -1)),
    )


def test_keys_older_than_every_window_are_forgotten(adapter: RedisAdapter) -> None:
    for n in range(300):
        adapter.streams.append(NS, "s", b"x", idempotency_key=f"k{n:03}", dedupe_window_ms=1000)
    assert [len(keys) for keys in dedupe_keys(adapter)] == [300, 300]
    late = {"idempotency_key": "late", "dedupe_window_ms": 1000, "now_ms": 1000}
    adapter.streams.append(NS, "s", b"x", **late)  # type: ignore[arg-type]
    assert [len(keys) for keys in dedupe_keys(adapter)] == [45, 45]  # 256 at most per append
    adapter.streams.append(
        NS, "s", b"x", idempotency_key="later", dedupe_window_ms=1000, now_ms=1000
    )
    assert dedupe_keys(adapter) == ([b"late", b"later"], [b"late", b"later"])


def test_a_short_window_does_not_forget_keys_a_long_window_needs(adapter: RedisAdapter) -> None:
    streams = adapter.streams
    first = streams.append(NS, "s", b"a", idempotency_key="k", dedupe_window_ms=120_000)
    streams.append(NS, "s", b"b", idempotency_key="j", dedupe_window_ms=10_000, now_ms=20_000)
    again = streams.append(
        NS, "s", b"a", idempotency_key="k", dedupe_window_ms=120_000, now_ms=30_000
    )
    assert (again.sequence, again.duplicate) == (first.sequence, True)
    assert dedupe_keys(adapter) == ([b"j", b"k"], [b"j", b"k"])


def test_concurrent_idempotent_appends_store_one_message(adapter: RedisAdapter) -> None:
    threads = 8
    results: list[tuple[int, bool]] = []
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()
        r = adapter.streams.append(NS, "s", b"x", idempotency_key="once", dedupe_window_ms=1e9)
        results.append((r.sequence, r.duplicate))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(results) == [(1, False)] + [(1, True)] * (threads - 1)
    assert len(adapter.streams.read(NS, "s", after=0, limit=1_000_000)) == 1


# --- checkpoints -------------------------------------------------------------------------


def test_checkpoint_json_round_trip() -> None:
    pending = {
        4: GroupPending("c1", 1, 1_700_000_030_000.25),
        9: GroupPending("c-ü", 3, math.inf),
    }
    original = GroupCheckpoint(2, 9, frozenset({3, 7}), MappingProxyType(pending), 5)
    text = checkpoint_to_json(original)
    assert "revision" not in text
    loaded = checkpoint_from_json(text.encode(), 6)
    assert loaded == GroupCheckpoint(2, 9, frozenset({3, 7}), pending, 6)
    assert type(loaded.acked) is frozenset
    assert type(loaded.pending) is MappingProxyType
    assert all(type(s) is int for s in loaded.pending)
    assert loaded.pending[4].visible_at_ms == 1_700_000_030_000.25
    assert checkpoint_from_json(checkpoint_to_json(GroupCheckpoint()), 0) == GroupCheckpoint()


def test_groups_are_kept_per_delivery(open_adapter: Open) -> None:
    adapter = open_adapter()
    groups = adapter.checkpoints
    assert groups.load(NS, "s", "g") == GroupCheckpoint()
    for n in range(1, 12):
        adapter.streams.append(NS, "s", f"m{n}".encode())
    first = groups.claim(NS, "s", "g", "c1", limit=10, now_ms=0, visible_at_ms=100.5)
    assert [(c.sequence, c.payload, c.deliveries) for c in first[:2]] == [
        (1, b"m1", 1),
        (2, b"m2", 1),
    ]
    assert groups.ack(NS, "s", "g", [2, 10, 11, 99]) == 2
    again = groups.claim(NS, "s", "g", "c-ü", limit=3, now_ms=100.5, visible_at_ms=200)
    assert [(c.sequence, c.deliveries) for c in again] == [
        (1, 2),
        (3, 2),
        (4, 2),
    ]  # ties: numeric order
    state = open_adapter().checkpoints.load(NS, "s", "g")
    assert (state.floor, state.cursor, set(state.acked), state.revision) == (0, 10, {2, 10}, 3)
    assert state.pending[1] == GroupPending("c-ü", 2, 200.0)
    assert state.pending[9] == GroupPending("c1", 1, 100.5)
    assert state.next_visible_ms == 100.5
    assert [
        c.sequence for c in groups.claim(NS, "s", "g", "c1", limit=7, now_ms=150, visible_at_ms=300)
    ] == [5, 6, 7, 8, 9, 11]


# --- cache -------------------------------------------------------------------------------


def test_cache_round_trip_and_expiry_on_the_clock(
    adapter: RedisAdapter, clock: VirtualClock
) -> None:
    cache = adapter.cache
    value = entry(bytes(range(256)), version=2**62)
    cache.set(NS, "k", value, ttl_ms=60_000)
    assert cache.get(NS, "k") == value
    plain = CacheEntry(b"", 1, "e", 1.5)
    cache.set(NS, "plain", plain, ttl_ms=60_000)
    assert cache.get(NS, "plain") == plain  # no content type, an infinite expiry
    clock.advance(59_999)
    assert cache.get(NS, "k") == value
    clock.advance(1)
    assert cache.get(NS, "k") is None  # the clock decides, even before Redis evicts


def test_cache_ttl_is_a_redis_expiry(adapter: RedisAdapter) -> None:
    cache = adapter.cache
    name = adapter.key_prefix + NS + SEP + SEP.join(("cache", "k"))
    cache.set(NS, "k", entry(), ttl_ms=60_000.2)
    expiry = 60_001 + EXPIRY_SLACK_MS  # the entry's deadline decides; Redis frees it later
    assert expiry - 1_000 < adapter.client.pttl(name) <= expiry
    cache.set(NS, "k", entry(), ttl_ms=math.inf)
    assert adapter.client.pttl(name) == -1  # no expiry
    cache.set(NS, "k", entry(), ttl_ms=0)
    assert adapter.client.exists(name) == 0
    cache.set(NS, "k", entry(), ttl_ms=60_000)
    cache.set(NS, "k", entry(), ttl_ms=-1)
    assert cache.get(NS, "k") is None
    cache.delete(NS, "k")
    cache.delete("unknown", "k")


def test_cache_is_shared_by_every_adapter(open_adapter: Open) -> None:
    one, two = open_adapter(), open_adapter()
    one.cache.set(NS, "k", entry(), ttl_ms=60_000)
    assert two.cache.get(NS, "k") == entry()
    two.cache.delete(NS, "k")
    assert one.cache.get(NS, "k") is None


# --- backdoor ----------------------------------------------------------------------------


def test_backend_info_names_the_server_and_its_version(adapter: RedisAdapter) -> None:
    """The report's backend comes from INFO server: the product and its version."""
    info = adapter.backend_info()
    assert info.name in ("Redis", "Valkey"), info
    if info.version is not None:  # fakeredis has no INFO command
        assert re.fullmatch(r"\d+\.\d+\.\d+", info.version), info


def test_backdoor_reads_with_its_own_client(adapter: RedisAdapter) -> None:
    probe = adapter.backdoor()
    written = adapter.records.put(NS, "r", b'{"a":1}')
    adapter.streams.append(NS, "s", b"m1")
    adapter.streams.append(NS, "s", b"m2")
    assert probe.client is not adapter.client
    assert probe.client.connection_pool is not adapter.client.connection_pool
    stored = probe.read_object(Layer.RECORD, NS, "r")
    assert stored is not None
    assert (stored.data, stored.version, stored.etag) == (b'{"a":1}', 1, written.etag)
    assert probe.read_object(Layer.BLOB, NS, "r") is None
    assert probe.stream_messages(NS, "s") == [StoredMessage(1, b"m1"), StoredMessage(2, b"m2")]
    adapter.records.delete(NS, "r")
    assert probe.read_object(Layer.RECORD, NS, "r") is None


# --- reset, close, durability ------------------------------------------------------------


def test_reset_removes_only_matching_namespaces(open_adapter: Open) -> None:
    adapter = open_adapter()
    for namespace in ("run1-a", "run1-b", "run2-a", "run1"):
        adapter.blobs.put(namespace, "k", b"x")
        adapter.blobs.put(namespace, "gone", b"x")
        adapter.blobs.delete(namespace, "gone")
        adapter.records.put(namespace, "k", b"{}")
        adapter.streams.append(namespace, "s", b"m", idempotency_key="i", dedupe_window_ms=1e9)
        adapter.checkpoints.claim(namespace, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=5)
        adapter.cache.set(namespace, "k", entry(), ttl_ms=60_000)

    open_adapter().reset("run1-")

    for namespace in ("run1-a", "run1-b"):
        assert [k for k in _keys(adapter) if namespace in k] == []
        assert adapter.blobs.put(namespace, "gone", b"z").version == 1  # tombstones too
    for namespace in ("run2-a", "run1"):
        assert adapter.blobs.get(namespace, "k").version == 1
        assert adapter.blobs.put(namespace, "gone", b"z").version == 2
        assert len(adapter.streams.read(namespace, "s", after=0, limit=1_000_000)) == 1
        assert adapter.checkpoints.load(namespace, "s", "g").revision == 1
        assert adapter.cache.get(namespace, "k") is not None


@pytest.mark.parametrize("special", ["*", "?", "[ab]", "\\", "[", "]"])
def test_reset_treats_glob_characters_literally(open_adapter: Open, special: str) -> None:
    adapter = open_adapter()
    literal = f"x{special}y"
    lookalikes = ["xay", "xby", "x", "xy", "x\\y" if special != "\\" else "xzy"]
    for namespace in [literal, f"{literal}-more", *lookalikes]:
        adapter.blobs.put(namespace, "k", namespace.encode())
    adapter.reset(literal)
    for namespace in (literal, f"{literal}-more"):
        assert adapter.blobs.list(namespace) == []
    for namespace in lookalikes:
        assert adapter.blobs.get(namespace, "k").data == namespace.encode()


def test_glob_characters_in_the_key_prefix(redis_url: str, clock: VirtualClock) -> None:
    prefix = f"sanctum-test-{uuid.uuid4().hex[:8]}[*]?:"
    lookalike = prefix.replace("[*]?", "*Z")  # what the unescaped pattern would also match
    one = create_redis_adapter({"url": redis_url, "key_prefix": prefix}, clock)
    two = create_redis_adapter({"url": redis_url, "key_prefix": lookalike}, clock)
    try:
        one.blobs.put(NS, "k", b"1")
        two.blobs.put(NS, "k", b"2")
        one.reset("")
        assert one.blobs.list(NS) == []
        assert two.blobs.get(NS, "k").data == b"2"
    finally:
        one.close()
        two.close()
        _purge(redis_url, prefix)
        _purge(redis_url, lookalike)


def test_reset_pages_through_many_keys(adapter: RedisAdapter) -> None:
    pipe = adapter.client.pipeline(transaction=False)
    for i in range(1200):
        pipe.set(adapter.key_prefix + NS + SEP + f"filler{i}", b"")
    pipe.execute()
    adapter.blobs.put(NS, "k", b"x")
    adapter.reset(NS)
    assert _keys(adapter) == []


def test_data_survives_a_reopen(open_adapter: Open) -> None:
    first = open_adapter()
    written = first.blobs.put(NS, "b", b"blob")
    first.streams.append(NS, "s", b"m", idempotency_key="k", dedupe_window_ms=1e9)
    first.close()
    second = open_adapter()
    assert second.blobs.get(NS, "b").etag == written.etag
    assert second.streams.append(NS, "s", b"m", idempotency_key="k", dedupe_window_ms=1e9).duplicate


def test_closed_adapter_raises_backend_unavailable(
    open_adapter: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = open_adapter()
    adapter.blobs.put(NS, "k", b"x")
    probe = adapter.backdoor()
    probe_closes: list[bool] = []
    monkeypatch.setattr(probe, "close", lambda: probe_closes.append(True))
    adapter.close()
    adapter.close()  # idempotent
    assert adapter.closed
    assert probe_closes == [True]  # the backdoor's pool is closed with the adapter
    calls: list[Callable[[], object]] = [
        lambda: adapter.blobs.put(NS, "k", b"y"),
        lambda: adapter.blobs.get(NS, "k"),
        lambda: adapter.blobs.head(NS, "k"),
        lambda: adapter.blobs.delete(NS, "k"),
        lambda: adapter.blobs.list(NS),
        lambda: adapter.records.get(NS, "k"),
        lambda: adapter.streams.append(NS, "s", b"m"),
        lambda: adapter.streams.append(NS, "s", b"m", idempotency_key="i"),
        lambda: adapter.streams.read(NS, "s", after=0, limit=1),
        lambda: len(adapter.streams.read(NS, "s", after=0, limit=1_000_000)),
        lambda: adapter.checkpoints.load(NS, "s", "g"),
        lambda: adapter.checkpoints.claim(NS, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=1),
        lambda: adapter.checkpoints.ack(NS, "s", "g", [1]),
        lambda: adapter.records.put_and_purge(NS, "k", b"{}", purge="record/k"),
        lambda: adapter.records.delete_and_purge(NS, "k", purge="record/k"),
        lambda: adapter.records.get_and_fill(NS, "k", CacheFill("record/k", 0, 1, 1)),
        lambda: adapter.cache.get(NS, "k"),
        lambda: adapter.cache.set(NS, "k", entry(), 100),
        lambda: adapter.cache.delete(NS, "k"),
        lambda: adapter.reset(NS),
        lambda: adapter.ping(),
        lambda: adapter.backdoor(),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailableError):
            call()
    assert open_adapter().blobs.get(NS, "k").data == b"x"  # the data stays


# --- error mapping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RedisConnectionError("Connection refused"), BackendUnavailableError),
        (RedisTimeoutError("Timeout reading from socket"), BackendUnavailableError),
        (BusyLoadingError("Redis is loading the dataset in memory"), BackendUnavailableError),
        (ResponseError("OOM command not allowed"), BackendUnavailableError),
        (OSError("network is unreachable"), BackendUnavailableError),
        (WatchError("Watched variable changed"), ConflictError),
    ],
)
def test_map_redis_error(error: Exception, expected: type[Exception]) -> None:
    mapped = map_redis_error(error, "ns", "k")
    assert type(mapped) is expected
    assert (mapped.namespace, mapped.key) == ("ns", "k")
    assert type(error).__name__ in mapped.message
    assert str(error) in mapped.message


def test_a_response_error_from_the_server_is_mapped(adapter: RedisAdapter) -> None:
    """A key of the wrong type makes Redis answer WRONGTYPE: never a raw redis exception."""
    p = adapter.key_prefix + NS + SEP
    adapter.client.set(p + SEP.join(("blob", "obj", "k")), b"a string, not a hash")
    adapter.client.set(p + SEP.join(("stream", "log", "s")), b"not a list")
    calls: list[Callable[[], object]] = [
        lambda: adapter.blobs.get(NS, "k"),
        lambda: adapter.blobs.head(NS, "k"),
        lambda: adapter.blobs.put(NS, "k", b"x"),  # inside the Lua script
        lambda: adapter.blobs.delete(NS, "k"),
        lambda: adapter.streams.append(NS, "s", b"x"),
        lambda: adapter.streams.append(NS, "s", b"x", idempotency_key="i"),
        lambda: adapter.streams.read(NS, "s", after=0, limit=1),
        lambda: len(adapter.streams.read(NS, "s", after=0, limit=1_000_000)),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailableError) as caught:
            call()
        assert "WRONGTYPE" in caught.value.message
        assert isinstance(caught.value.__cause__, ResponseError)
        assert caught.value.namespace == NS


def test_a_lost_connection_is_backend_unavailable(
    adapter: RedisAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise RedisConnectionError("Connection reset by peer")

    monkeypatch.setattr(adapter.client, "execute_command", refuse)
    with pytest.raises(BackendUnavailableError) as caught:
        adapter.records.get(NS, "k")
    assert "Connection reset by peer" in caught.value.message
    with pytest.raises(BackendUnavailableError):
        adapter.records.put(NS, "k", b"{}")


# --- concurrency -------------------------------------------------------------------------


def test_concurrent_conditional_increments_lose_no_update(adapter: RedisAdapter) -> None:
    threads, increments = 4, 25
    blobs = adapter.blobs
    blobs.put(NS, "counter", b"0")
    successes = [0] * threads
    failures: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(index: int) -> None:
        try:
            start.wait()
            while successes[index] < increments:
                current = blobs.get(NS, "counter")
                try:
                    blobs.put(
                        NS, "counter", str(int(current.data) + 1).encode(), if_match=current.etag
                    )
                except PreconditionFailedError:
                    continue
                successes[index] += 1
        except BaseException as error:  # surfaced by the assertion below
            failures.append(error)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    final = blobs.get(NS, "counter")
    assert int(final.data) == sum(successes) == threads * increments
    assert final.version == 1 + threads * increments


# --- round trips: one per operation ------------------------------------------------------


class RoundTrips:
    """Counts what redis-py sends to any server: one packed send is one round trip (a
    command, a pipeline or a ``MULTI`` block alike)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        send = redis.connection.AbstractConnection.send_packed_command

        def counted(connection: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            send(connection, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)

    def of(self, call: Callable[[], object]) -> int:
        """The round trips ``call`` makes."""
        before = self.count
        call()
        return self.count - before


def test_every_facade_operation_is_one_round_trip(
    redis_url: str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = _unique_prefix()
    adapter = create_redis_adapter({"url": redis_url, "key_prefix": prefix}, clock)
    client = create_storage_client(
        parse_config(
            {
                "schema_version": 1,
                "adapters": {"r": {"kind": "redis"}},
                "namespaces": {"*": {"adapter": "r"}},
            }
        ),
        clock=clock,
        adapters={"r": adapter},
    )
    try:
        streams, records = client.streams, client.records
        for n in range(6):
            streams.append(NS, "s", {"n": n})
        warm = records.put(NS, "warm", {"n": 0})  # every script is loaded on first use
        records.put(NS, "warm", {"n": 1}, if_match=warm.etag)
        records.get(NS, "warm")
        records.delete(NS, "warm")
        streams.ack(NS, "s", "w", [d.message_id for d in streams.read(NS, "s", "w", "c")])
        trips = RoundTrips(monkeypatch)
        first = records.put(NS, "k", {"n": 1})
        counts = {
            "put": trips.of(lambda: records.put(NS, "k2", {"n": 1})),
            "put if_match": trips.of(lambda: records.put(NS, "k", {"n": 2}, if_match=first.etag)),
            "put if_none_match": trips.of(lambda: records.put(NS, "k3", {}, if_none_match="*")),
            "strong get, miss and fill": trips.of(lambda: records.get(NS, "k")),
            "delete": trips.of(lambda: records.delete(NS, "k2")),
            "append": trips.of(lambda: streams.append(NS, "s", {"n": 6})),
            "group read": trips.of(lambda: streams.read(NS, "s", "g", "c", count=4)),
            "ack": trips.of(lambda: streams.ack(NS, "s", "g", ["1", "2"])),
        }
        clock.advance(30_000)
        counts["redelivery of 2 + 3 new"] = trips.of(lambda: streams.read(NS, "s", "g", "c"))
        assert counts == {
            "put": 1,
            "put if_match": 1,
            "put if_none_match": 1,
            "strong get, miss and fill": 2,
            "delete": 1,
            "append": 1,
            "group read": 1,
            "ack": 1,
            "redelivery of 2 + 3 new": 1,
        }
    finally:
        client.close()
        adapter.close()
        _purge(redis_url, prefix)
