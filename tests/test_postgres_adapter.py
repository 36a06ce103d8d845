"""Tests of the PostgreSQL adapter: the kit certifies it on the machine's server, and unit
tests cover what the kit does not see (options, schema, statements per operation, error
mapping, races between processes, durability across a SIGKILL)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any

import psycopg
import pytest
from postgres_helpers import (
    CONNINFO,
    drop_schema,
    new_schema_name,
    raw,
    require_server,
    schema_exists,
    wait_for_lock_waiters,
)
from processes import kill_after_acks, run_children
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg_pool import PoolClosed, PoolTimeout

from pytest_sanctum.adapters.base import (
    CacheStore,
    CachingVersionedStore,
    GroupStore,
    StorageAdapter,
    StreamLog,
    VersionedStore,
)
from pytest_sanctum.client import create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.config import StorageConfigV1, parse_config
from pytest_sanctum.errors import (
    AdapterError,
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.kit.backend_info import BackendInfo
from pytest_sanctum.kit.contracts import CATALOG
from pytest_sanctum.types import (
    Blob,
    BlobInfo,
    CacheEntry,
    CacheFill,
    Capabilities,
    GroupPending,
    Layer,
    StoredMessage,
)
from reference_adapters.postgres import (
    SCHEMA_VERSION,
    PostgresAdapter,
    create_postgres_adapter,
    map_postgres_error,
)

NS = "ns"
Open = Callable[..., PostgresAdapter]


@pytest.fixture(scope="session")
def pg_conninfo() -> str:
    return require_server()


@pytest.fixture
def pg_schema(pg_conninfo: str) -> Iterator[str]:
    """A schema of this test alone, dropped afterwards."""
    schema = new_schema_name()
    yield schema
    drop_schema(schema)


@pytest.fixture
def open_adapter(pg_schema: str, clock: VirtualClock) -> Iterator[Open]:
    """Opens adapters on the test's schema (each call is another pool: another node)."""
    opened: list[PostgresAdapter] = []

    def build(**options: Any) -> PostgresAdapter:
        adapter = create_postgres_adapter(
            {"conninfo": CONNINFO, "schema": pg_schema, **options}, clock
        )
        opened.append(adapter)
        return adapter

    yield build
    for adapter in opened:
        adapter.close()


@pytest.fixture
def adapter(open_adapter: Open) -> PostgresAdapter:
    return open_adapter()


def pg_config(schema: str, **options: Any) -> StorageConfigV1:
    """A facade configuration routing every namespace to the test's schema."""
    options = {"conninfo": CONNINFO, "schema": schema, **options}
    return parse_config(
        {
            "schema_version": 1,
            "adapters": {"db": {"kind": "postgres", "options": options}},
            "namespaces": {"*": {"adapter": "db"}},
        }
    )


# --- 1. the kit certifies it -----------------------------------------------------------


def test_the_kit_certifies_every_contract(
    pytester: pytest.Pytester, pg_schema: str, open_adapter: Open
) -> None:
    """The whole suite on two xdist workers, each on a schema of its own that the kit
    plugin creates and drops; the schema named in the options is left as it was."""
    open_adapter().records.put(NS, "keep", b"{}")  # the given schema exists and holds data
    options = json.dumps({"conninfo": CONNINFO, "schema": pg_schema})
    workers = f"{pg_schema}\\_%"  # LIKE pattern of the workers' schemas
    try:
        result = pytester.runpytest_subprocess(
            "--sanctum-adapter=postgres",
            f"--sanctum-adapter-options={options}",
            "-p",
            "reference_adapters.postgres.kit",
            "-n",
            "2",
            "--sanctum-report=report.json",
            "-p",
            "no:cacheprovider",
            "-q",
            timeout=900,
        )
        report = json.loads((pytester.path / "report.json").read_text())
        left = raw("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (workers,))
    finally:
        for (schema,) in raw("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (workers,)):
            drop_schema(schema)
    assert result.ret == 0, "\n".join(result.outlines[-40:])
    assert report["adapter"] == "postgres"
    assert (report["backend"], report["verdict"]) == ("PostgreSQL", "conformant")
    assert report["environment_error"] is None
    assert report["capabilities"] == list(Capabilities.all().names())
    results = {contract["id"]: contract["result"] for contract in report["contracts"]}
    # One statement per write at READ COMMITTED: PostgreSQL never fails it with 40001.
    assert results == {**dict.fromkeys(CATALOG, "pass"), "ERR-007": "unsupported"}
    assert left == [], f"the kit plugin left its workers' schemas behind: {left}"
    assert raw(f'SELECT key FROM "{pg_schema}".objects') == [("keep",)]
    # No kit test wrote there: the schema's write counter still stands at the one put.
    assert raw(f'SELECT last_value FROM "{pg_schema}".writes') == [(1,)]


# --- protocols, capabilities, registry -------------------------------------------------


def test_adapter_and_stores_satisfy_the_protocols(adapter: PostgresAdapter) -> None:
    assert isinstance(adapter, StorageAdapter)
    assert isinstance(adapter.blobs, CachingVersionedStore)
    assert isinstance(adapter.records, CachingVersionedStore)
    assert isinstance(adapter.records, VersionedStore)
    assert isinstance(adapter.streams, StreamLog)
    assert isinstance(adapter.checkpoints, GroupStore)
    assert isinstance(adapter.cache, CacheStore)
    assert adapter.name == "postgres"
    assert adapter.capabilities == Capabilities.all()


def test_registered_as_the_postgres_entry_point() -> None:
    (point,) = entry_points(group="pytest_sanctum.adapters", name="postgres")
    assert point.load() is create_postgres_adapter


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"conninfo": 5}, "options.conninfo"),
        ({"conninfo": "host=127.0.0.1 nonsense"}, "options.conninfo"),
        ({"schema": ""}, "options.schema"),
        ({"schema": "Has-Caps"}, "options.schema"),
        ({"schema": "1starts_with_digit"}, "options.schema"),
        ({"schema": "x" * 64}, "options.schema"),
        ({"min_connections": -1}, "options.min_connections"),
        ({"min_connections": True}, "options.min_connections"),
        ({"max_connections": 0}, "options.max_connections"),
        ({"max_connections": 2.0}, "options.max_connections"),
        ({"min_connections": 3, "max_connections": 2}, "options.min_connections"),
        ({"pool_timeout_ms": 0}, "options.pool_timeout_ms"),
        ({"connect_timeout_ms": float("inf")}, "options.connect_timeout_ms"),
        ({"lock_timeout_ms": -1}, "options.lock_timeout_ms"),
        ({"statement_timeout_ms": "5"}, "options.statement_timeout_ms"),
        ({"application_name": None}, "options.application_name"),
        ({"url": "postgresql://x"}, "options.url"),
    ],
)
def test_invalid_options(options: dict[str, object], field: str, clock: VirtualClock) -> None:
    with pytest.raises(ConfigError) as caught:
        create_postgres_adapter(options, clock)
    assert caught.value.field == field


def test_an_unreachable_server_is_backend_unavailable_with_the_reason(clock: VirtualClock) -> None:
    started = time.perf_counter()
    with pytest.raises(BackendUnavailableError, match=r"refused|failed") as caught:
        create_postgres_adapter(
            {"conninfo": "host=127.0.0.1 port=1 dbname=test", "connect_timeout_ms": 2000}, clock
        )
    assert time.perf_counter() - started < 10
    assert caught.value.retryable


def test_a_refused_login_is_a_config_error(pg_conninfo: str, clock: VirtualClock) -> None:
    with pytest.raises(ConfigError) as caught:
        create_postgres_adapter(
            {"conninfo": f"{CONNINFO} dbname=no_such_database_here", "connect_timeout_ms": 300},
            clock,
        )
    assert caught.value.field == "options.conninfo"
    assert "no_such_database_here" in caught.value.message


# --- the schema ------------------------------------------------------------------------


def test_open_creates_the_schema_with_its_version(open_adapter: Open, pg_schema: str) -> None:
    assert not schema_exists(pg_schema)
    open_adapter()
    assert raw(f'SELECT version FROM "{pg_schema}".schema_version') == [(SCHEMA_VERSION,)]
    tables = dict(
        raw(
            "SELECT c.relname, c.relpersistence FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (pg_schema,),
        )
    )
    assert tables == {
        "schema_version": "p",
        "objects": "p",
        "streams": "p",
        "messages": "p",
        "idempotency": "p",
        "groups": "p",
        "deliveries": "p",
        "cache": "u",  # UNLOGGED: never in the WAL
    }
    open_adapter()  # a second open finds the version and creates nothing


def test_a_schema_of_a_newer_version_is_refused(open_adapter: Open, pg_schema: str) -> None:
    open_adapter()
    raw(f'UPDATE "{pg_schema}".schema_version SET version = %s', (SCHEMA_VERSION + 1,))
    with pytest.raises(ConfigError) as caught:
        open_adapter()
    assert caught.value.field == "options.schema"


def test_adapters_opening_a_new_schema_at_once_all_succeed(open_adapter: Open) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        try:
            start.wait()
            open_adapter().records.put(NS, "k", b"{}")
        except BaseException as error:  # surfaced below
            errors.append(error)

    workers = [threading.Thread(target=open_one) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []


# --- objects -----------------------------------------------------------------------------


def test_delete_keeps_a_tombstone_so_versions_continue(
    adapter: PostgresAdapter, pg_schema: str
) -> None:
    adapter.blobs.put(NS, "k", b"a")
    adapter.blobs.put(NS, "k", b"b")
    assert adapter.blobs.delete(NS, "k") == 2
    assert raw(f'SELECT version, live, data FROM "{pg_schema}".objects') == [(2, False, None)]
    with pytest.raises(NotFoundError):
        adapter.blobs.get(NS, "k")
    with pytest.raises(NotFoundError):
        adapter.blobs.delete(NS, "k")
    assert adapter.blobs.put(NS, "k", b"c").version == 3


def test_etags_are_unique_per_write_even_after_a_reset(adapter: PostgresAdapter) -> None:
    seen = {adapter.blobs.put(NS, "k", b"same").etag for _ in range(3)}
    adapter.reset(NS)
    seen |= {adapter.blobs.put(NS, "k", b"same").etag for _ in range(3)}
    assert len(seen) == 6
    assert all(etag.split("-")[0] in {"1", "2", "3"} for etag in seen)


def test_preconditions_carry_the_current_etag_and_version(adapter: PostgresAdapter) -> None:
    first = adapter.records.put(NS, "k", b"{}")
    second = adapter.records.put(NS, "k", b'{"a":1}', if_match=first.etag)
    with pytest.raises(PreconditionFailedError) as stale:
        adapter.records.put(NS, "k", b"{}", if_match=first.etag)
    assert (stale.value.current_etag, stale.value.current_version) == (second.etag, 2)
    with pytest.raises(PreconditionFailedError) as exists:
        adapter.records.put(NS, "k", b"{}", if_none_match=True)
    assert (exists.value.current_etag, exists.value.current_version) == (second.etag, 2)
    with pytest.raises(PreconditionFailedError) as missing:
        adapter.records.put(NS, "absent", b"{}", if_match=first.etag)
    assert (missing.value.current_etag, missing.value.current_version) == (None, None)
    with pytest.raises(PreconditionFailedError) as wrong:
        adapter.records.delete(NS, "k", if_match=first.etag)
    assert wrong.value.current_etag == second.etag
    with pytest.raises(NotFoundError):
        adapter.records.delete(NS, "absent", if_match=first.etag)
    assert adapter.records.get(NS, "k").data == b'{"a":1}'


@pytest.mark.parametrize("operation", ["put", "delete"])
def test_a_refusal_by_a_write_committed_meanwhile_reports_that_write(
    open_adapter: Open, pg_schema: str, operation: str
) -> None:
    """The statement's snapshot still shows the etag the caller matched; the refusal must
    carry the etag of the write that committed while the statement waited for its lock."""
    adapter = open_adapter(application_name="sanctum-refusal")
    first = adapter.records.put(NS, "k", b"{}")
    outcome: list[BaseException] = []
    with psycopg.connect(CONNINFO) as other:
        other.execute(
            f"UPDATE \"{pg_schema}\".objects SET version = 2, etag = '2-other' WHERE key = 'k'"
        )

        def conditional() -> None:
            try:
                if operation == "put":
                    adapter.records.put(NS, "k", b"[]", if_match=first.etag)
                else:
                    adapter.records.delete(NS, "k", if_match=first.etag)
            except BaseException as error:
                outcome.append(error)

        writer = threading.Thread(target=conditional)
        writer.start()
        wait_for_lock_waiters("sanctum-refusal", 1)
        other.commit()
        writer.join()
    (error,) = outcome
    assert isinstance(error, PreconditionFailedError)
    assert (error.current_etag, error.current_version) == ("2-other", 2)


def test_list_orders_by_code_point_and_treats_wildcards_literally(
    adapter: PostgresAdapter,
) -> None:
    keys = ["b", "a_c", "a%c", "aXc", "ä", "\U0001f600", "Z", "a", "ab\uffff", "ab"]
    for key in keys:
        adapter.blobs.put(NS, key, b"x")
    assert [i.key for i in adapter.blobs.list(NS)] == sorted(keys)
    assert [i.key for i in adapter.blobs.list(NS, "a_")] == ["a_c"]
    assert [i.key for i in adapter.blobs.list(NS, "a%")] == ["a%c"]
    assert [i.key for i in adapter.blobs.list(NS, "ab")] == ["ab", "ab\uffff"]
    assert [i.key for i in adapter.blobs.list(NS, "a", start_after="a_c", limit=2)] == [
        "ab",
        "ab\uffff",
    ]
    assert adapter.blobs.list(NS, "a", start_after="a", limit=1) == [
        BlobInfo("a%c", 1, adapter.blobs.head(NS, "a%c").etag, 1)
    ]
    assert len(adapter.blobs.list(NS, limit=2**70)) == len(keys)
    assert adapter.streams.read(NS, "s", after=2**70, limit=2**70) == []
    with pytest.raises(InvalidRequestError):
        adapter.blobs.list(NS, limit=-1)


def test_values_postgres_cannot_store_are_invalid_requests(adapter: PostgresAdapter) -> None:
    with pytest.raises(InvalidRequestError):
        adapter.blobs.put(NS, "nul\x00key", b"x")
    with pytest.raises(InvalidRequestError):
        adapter.blobs.put(NS, "surrogate\ud800", b"x")
    assert adapter.blobs.list(NS) == []


# --- streams -----------------------------------------------------------------------------


def test_dedupe_window_runs_from_the_first_append(adapter: PostgresAdapter) -> None:
    log = adapter.streams
    first = log.append(NS, "s", b"a", idempotency_key="i", dedupe_window_ms=100, now_ms=1000.0)
    again = log.append(NS, "s", b"b", idempotency_key="i", dedupe_window_ms=100, now_ms=1099.9)
    after = log.append(NS, "s", b"c", idempotency_key="i", dedupe_window_ms=100, now_ms=1100.0)
    assert (first.sequence, first.duplicate) == (1, False)
    assert (again.sequence, again.duplicate) == (1, True)
    assert (after.sequence, after.duplicate) == (2, False)
    assert [m.payload for m in log.read(NS, "s", after=0, limit=10)] == [b"a", b"c"]


def test_keys_older_than_the_longest_window_are_forgotten(
    adapter: PostgresAdapter, pg_schema: str
) -> None:
    log = adapter.streams
    log.append(NS, "s", b"a", idempotency_key="old", dedupe_window_ms=1000, now_ms=0.0)
    log.append(NS, "s", b"b", idempotency_key="short", dedupe_window_ms=10, now_ms=500.0)
    assert {k for (k,) in raw(f'SELECT idem_key FROM "{pg_schema}".idempotency')} == {
        "old",
        "short",
    }
    log.append(NS, "s", b"c", idempotency_key="new", dedupe_window_ms=10, now_ms=1000.0)
    assert {k for (k,) in raw(f'SELECT idem_key FROM "{pg_schema}".idempotency')} == {
        "short",  # 500 ms old: the stream's longest window (1000 ms) still covers it
        "new",
    }


def test_concurrent_idempotent_appends_store_one_message(open_adapter: Open) -> None:
    adapters = [open_adapter() for _ in range(4)]
    results: list[Any] = []
    start = threading.Barrier(len(adapters))

    def append(index: int) -> None:
        start.wait()
        results.append(
            adapters[index].streams.append(
                NS, "s", b"m", idempotency_key="once", dedupe_window_ms=60_000, now_ms=1.0
            )
        )

    workers = [threading.Thread(target=append, args=(i,)) for i in range(len(adapters))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert {r.sequence for r in results} == {1}
    assert adapters[0].streams.read(NS, "s", after=0, limit=10) == [StoredMessage(1, b"m")]


def test_groups_are_kept_per_delivery(adapter: PostgresAdapter, pg_schema: str) -> None:
    for n in range(5):
        adapter.streams.append(NS, "s", b"%d" % n)
    groups = adapter.checkpoints
    claimed = groups.claim(NS, "s", "g", "c1", limit=3, now_ms=0.0, visible_at_ms=100.0)
    assert [(c.sequence, c.deliveries) for c in claimed] == [(1, 1), (2, 1), (3, 1)]
    assert groups.ack(NS, "s", "g", [2, 99, 2**70]) == 1
    rows = raw(
        f'SELECT seq, consumer, deliveries, visible_at_ms FROM "{pg_schema}".deliveries ORDER BY seq'
    )
    assert rows == [(1, "c1", 1, 100.0), (3, "c1", 1, 100.0)]
    assert raw(f'SELECT last_delivered, revision FROM "{pg_schema}".groups') == [(3, 2)]
    again = groups.claim(NS, "s", "g", "c2", limit=10, now_ms=100.0, visible_at_ms=200.0)
    assert [(c.sequence, c.deliveries) for c in again] == [(1, 2), (3, 2), (4, 1), (5, 1)]
    state = groups.load(NS, "s", "g")
    assert (state.floor, state.cursor, state.revision) == (0, 5, 3)
    assert dict(state.pending) == {
        s: GroupPending("c2", d, 200.0) for s, d in ((1, 2), (3, 2), (4, 1), (5, 1))
    }
    assert groups.claim(NS, "s", "g", "c2", limit=10, now_ms=150.0, visible_at_ms=300.0) == []
    assert groups.load(NS, "s", "g").revision == 3  # an empty claim changes nothing


# --- the cache ---------------------------------------------------------------------------


def entry(data: bytes = b"v", version: int = 1) -> CacheEntry:
    return CacheEntry(data, version, f"{version}-e", 10.0, "text/plain", 123.5)


def test_cache_is_shared_and_expires_on_the_clock(open_adapter: Open, clock: VirtualClock) -> None:
    one, two = open_adapter(), open_adapter()
    one.cache.set(NS, "k", entry(), 100)
    assert two.cache.get(NS, "k") == entry()
    clock.advance(99.9)
    assert two.cache.get(NS, "k") == entry()
    clock.advance(0.1)
    assert one.cache.get(NS, "k") is None
    one.cache.set(NS, "k", entry(), 0)
    assert one.cache.get(NS, "k") is None
    one.cache.set(NS, "k", entry(), 100)
    two.cache.delete(NS, "k")
    assert one.cache.get(NS, "k") is None


def test_a_fill_that_read_before_a_purging_write_never_lands_after_it(
    open_adapter: Open, pg_schema: str
) -> None:
    """The write's purge raises the entry's floor; a fill whose read predates the write,
    but whose upsert comes after it, must yield to the floor."""
    reader = open_adapter(application_name="sanctum-fill")
    writer = open_adapter(application_name="sanctum-purge")
    fill = CacheFill("record/k", 1.0, 5000.0, 5000.0)
    reader.records.put(NS, "k", b"1")
    reader.records.get_and_fill(NS, "k", fill)  # the cache row exists, so it can be locked
    outcome: dict[str, Any] = {}
    with psycopg.connect(CONNINFO) as blocker:
        blocker.execute(f"SELECT 1 FROM \"{pg_schema}\".cache WHERE key = 'record/k' FOR UPDATE")

        def purge() -> None:
            outcome["purge"] = writer.records.put_and_purge(NS, "k", b"2", purge="record/k")

        def fill_stale() -> None:
            outcome["fill"] = reader.records.get_and_fill(NS, "k", fill)

        purging = threading.Thread(target=purge)
        purging.start()
        wait_for_lock_waiters("sanctum-purge", 1)  # written, waiting to purge
        filling = threading.Thread(target=fill_stale)
        filling.start()
        wait_for_lock_waiters("sanctum-fill", 1)  # read version 1, waiting to fill
        blocker.commit()
        purging.join()
        filling.join()
    assert (outcome["purge"].version, outcome["fill"].version) == (2, 1)
    assert reader.cache.get(NS, "record/k") is None
    assert reader.records.get_and_fill(NS, "k", fill).version == 2
    cached = reader.cache.get(NS, "record/k")
    assert cached is not None
    assert cached.version == 2


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (pg_errors.SerializationFailure(), ConflictError),
        (pg_errors.DeadlockDetected(), ConflictError),
        (pg_errors.AdminShutdown(), BackendUnavailableError),
        (pg_errors.CannotConnectNow(), BackendUnavailableError),
        (pg_errors.QueryCanceled(), BackendUnavailableError),
        (pg_errors.LockNotAvailable(), BackendUnavailableError),
        (pg_errors.TooManyConnections(), BackendUnavailableError),
        (pg_errors.ConnectionFailure(), BackendUnavailableError),
        (
            psycopg.OperationalError("server closed the connection unexpectedly"),
            BackendUnavailableError,
        ),
        (psycopg.InterfaceError("the connection is closed"), BackendUnavailableError),
        (PoolTimeout("couldn't get a connection"), BackendUnavailableError),
        (PoolClosed("the pool is closed"), BackendUnavailableError),
        (pg_errors.CharacterNotInRepertoire(), InvalidRequestError),
        (pg_errors.ProgramLimitExceeded(), InvalidRequestError),
        (
            psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
            InvalidRequestError,
        ),
        (
            UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
            InvalidRequestError,
        ),
        (pg_errors.UndefinedTable(), AdapterError),
        (pg_errors.InsufficientPrivilege(), AdapterError),
        (pg_errors.UniqueViolation(), AdapterError),
        (ValueError("something else"), AdapterError),
    ],
)
def test_errors_are_mapped_by_sqlstate(error: Exception, expected: type[Exception]) -> None:
    mapped = map_postgres_error(error, NS, "k")
    assert type(mapped) is expected
    assert (mapped.namespace, mapped.key) == (NS, "k")


def test_serialization_failure_is_not_a_transaction_rollback_in_psycopg() -> None:
    """Why the mapping reads SQLSTATE: by class, psycopg 3's serialization failures and
    deadlocks are operational errors like a lost connection, not transaction rollbacks."""
    for error in (pg_errors.SerializationFailure, pg_errors.DeadlockDetected):
        assert not issubclass(error, pg_errors.TransactionRollback)
        assert issubclass(error, psycopg.OperationalError)
        assert type(map_postgres_error(error())) is ConflictError


def _backend_pids(application_name: str) -> list[int]:
    return [
        pid
        for (pid,) in raw(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        )
    ]


def test_a_terminated_backend_costs_one_failed_write_and_no_failed_read(
    open_adapter: Open,
) -> None:
    adapter = open_adapter(application_name="sanctum-kill", min_connections=2)
    adapter.records.put(NS, "k", b"{}")
    for pid in _backend_pids("sanctum-kill"):
        raw("SELECT pg_terminate_backend(%s)", (pid,))
    assert adapter.records.get(NS, "k").data == b"{}"  # retried on a fresh connection
    for pid in _backend_pids("sanctum-kill"):
        raw("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(BackendUnavailableError) as caught:
        adapter.records.put(NS, "k", b"[]")
    assert caught.value.retryable
    assert "57P01" in caught.value.message or "closed" in caught.value.message
    assert adapter.records.put(NS, "k", b"[]").version in (2, 3)  # the pool reconnected


def test_a_row_locked_by_another_client_is_unavailable_after_lock_timeout(
    open_adapter: Open, pg_schema: str
) -> None:
    adapter = open_adapter(lock_timeout_ms=50)
    adapter.records.put(NS, "k", b"{}")
    with psycopg.connect(CONNINFO) as other:
        other.execute(f'SELECT 1 FROM "{pg_schema}".objects FOR UPDATE')
        started = time.perf_counter()
        with pytest.raises(BackendUnavailableError, match="55P03") as caught:
            adapter.records.put(NS, "k", b"[]")
        assert time.perf_counter() - started < 5
        assert (caught.value.namespace, caught.value.key) == (NS, "k")
        assert adapter.records.get(NS, "k").data == b"{}"  # readers are not blocked
    assert adapter.records.put(NS, "k", b"[]").version == 2


def test_a_slow_statement_is_unavailable_after_statement_timeout(
    open_adapter: Open, pg_schema: str
) -> None:
    adapter = open_adapter(statement_timeout_ms=50, lock_timeout_ms=10_000)
    adapter.records.put(NS, "k", b"{}")
    with psycopg.connect(CONNINFO) as other:
        other.execute(f'LOCK TABLE "{pg_schema}".objects IN ACCESS EXCLUSIVE MODE')
        with pytest.raises(BackendUnavailableError, match="57014"):
            adapter.records.get(NS, "k")


def test_an_exhausted_pool_is_unavailable_after_pool_timeout(open_adapter: Open) -> None:
    adapter = open_adapter(max_connections=1, pool_timeout_ms=50)
    pool = adapter._db._pool
    with pool.connection(), pytest.raises(BackendUnavailableError, match="pool_timeout_ms"):
        adapter.records.get(NS, "k")
    with pytest.raises(NotFoundError):
        adapter.records.get(NS, "k")


def test_a_dropped_table_is_an_adapter_error(adapter: PostgresAdapter, pg_schema: str) -> None:
    raw(f'DROP TABLE "{pg_schema}".messages CASCADE')
    with pytest.raises(AdapterError, match="42P01"):
        adapter.streams.read(NS, "s", after=0, limit=1)


def test_closed_adapter_raises_backend_unavailable(open_adapter: Open) -> None:
    adapter = open_adapter()
    adapter.blobs.put(NS, "k", b"x")
    adapter.close()
    entry_ = entry()
    calls: list[Callable[[], object]] = [
        lambda: adapter.blobs.put(NS, "k", b"y"),
        lambda: adapter.blobs.get(NS, "k"),
        lambda: adapter.blobs.head(NS, "k"),
        lambda: adapter.blobs.delete(NS, "k"),
        lambda: adapter.blobs.list(NS),
        lambda: adapter.blobs.list(NS, limit=0),
        lambda: adapter.records.put_and_purge(NS, "k", b"{}", purge="record/k"),
        lambda: adapter.records.delete_and_purge(NS, "k", purge="record/k"),
        lambda: adapter.records.get_and_fill(NS, "k", CacheFill("record/k", 0, 1, 1)),
        lambda: adapter.streams.append(NS, "s", b"m"),
        lambda: adapter.streams.append(NS, "s", b"m", idempotency_key="i", dedupe_window_ms=1),
        lambda: adapter.streams.read(NS, "s", after=0, limit=1),
        lambda: adapter.streams.read(NS, "s", after=0, limit=0),
        lambda: adapter.checkpoints.load(NS, "s", "g"),
        lambda: adapter.checkpoints.claim(NS, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=1),
        lambda: adapter.checkpoints.claim(NS, "s", "g", "c", limit=0, now_ms=0, visible_at_ms=1),
        lambda: adapter.checkpoints.ack(NS, "s", "g", [1]),
        lambda: adapter.checkpoints.ack(NS, "s", "g", []),
        lambda: adapter.cache.get(NS, "k"),
        lambda: adapter.cache.set(NS, "k", entry_, 100),
        lambda: adapter.cache.delete(NS, "k"),
        lambda: adapter.reset(NS),
        lambda: adapter.backdoor(),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailableError, match="closed"):
            call()
    assert open_adapter().blobs.get(NS, "k").data == b"x"  # the data stays


def test_reset_removes_only_matching_namespaces(adapter: PostgresAdapter, pg_schema: str) -> None:
    for ns in ("run-1", "run-10", "run_1", "run-2"):
        adapter.records.put(ns, "k", b"{}")
        adapter.streams.append(ns, "s", b"m", idempotency_key="i", dedupe_window_ms=1e9)
        adapter.checkpoints.claim(ns, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=1)
        adapter.cache.set(ns, "k", entry(), 1000)
        adapter.records.put_and_purge(ns, "k2", b"{}", purge="record/k2")
    adapter.reset("run-1")
    for table in ("objects", "streams", "messages", "idempotency", "groups", "deliveries", "cache"):
        left = {ns for (ns,) in raw(f'SELECT DISTINCT ns FROM "{pg_schema}".{table}')}
        assert left == {"run_1", "run-2"}, table
    adapter.reset("")
    assert raw(f'SELECT count(*) FROM "{pg_schema}".objects') == [(0,)]


def test_backend_info_names_the_server_version(adapter: PostgresAdapter) -> None:
    """The report's backend: PostgreSQL and its ``server_version``, in one round trip."""
    (version,) = raw("SHOW server_version")[0]
    assert adapter.backend_info() == BackendInfo("PostgreSQL", version)


def test_backdoor_reads_the_tables_not_the_adapter(
    adapter: PostgresAdapter, pg_schema: str
) -> None:
    written = adapter.records.put(NS, "r", b'{"a":1}')
    backdoor = adapter.backdoor()
    assert backdoor.read_object(Layer.RECORD, NS, "r") == Blob("r", b'{"a":1}', 1, written.etag)
    assert backdoor.read_object(Layer.BLOB, NS, "r") is None
    raw(f"UPDATE \"{pg_schema}\".objects SET data = '\\x00' WHERE key = 'r'")
    assert backdoor.read_object(Layer.RECORD, NS, "r") == Blob("r", b"\x00", 1, written.etag)
    adapter.streams.append(NS, "s", b"m")
    adapter._db.close()  # the backdoor has a connection of its own
    assert backdoor.stream_messages(NS, "s") == [StoredMessage(1, b"m")]
    backdoor.close()


def test_facade_reports_mapped_errors_not_adapter_errors(
    pg_schema: str, clock: VirtualClock
) -> None:
    with create_storage_client(pg_config(pg_schema, lock_timeout_ms=100), clock=clock) as client:
        client.records.put("app", "r", {"a": 1})
        with psycopg.connect(CONNINFO) as other:
            other.execute(f'LOCK TABLE "{pg_schema}".objects IN ACCESS EXCLUSIVE MODE')
            with pytest.raises(BackendUnavailableError) as caught:
                client.records.get("app", "r", bypass_cache=True)
        assert caught.value.op == "record.get"


# --- processes: races and a hard kill ----------------------------------------------------

_RACER = r"""
import json, sys
from pytest_sanctum.clock import SystemClock
from pytest_sanctum.errors import PreconditionFailedError
from reference_adapters.postgres import create_postgres_adapter

conninfo, schema, task, index, rounds = sys.argv[1:6]
adapter = create_postgres_adapter({"conninfo": conninfo, "schema": schema}, SystemClock())
index, rounds = int(index), int(rounds)
base_etag = adapter.blobs.head("ns", "base").etag if task == "replace" else None
print("READY", flush=True)
sys.stdin.readline()  # every process starts together
out = {}
if task == "create":
    try:
        out["won"] = adapter.blobs.put("ns", "only", str(index).encode(), if_none_match=True).etag
    except PreconditionFailedError:
        out["won"] = None
elif task == "replace":
    try:
        out["won"] = adapter.blobs.put("ns", "base", str(index).encode(), if_match=base_etag).etag
    except PreconditionFailedError:
        out["won"] = None
elif task == "increment":
    done = tries = 0
    while done < rounds:
        tries += 1
        current = adapter.blobs.get("ns", "counter")
        try:
            adapter.blobs.put("ns", "counter", str(int(current.data) + 1).encode(), if_match=current.etag)
            done += 1
        except PreconditionFailedError:
            pass
    out["tries"] = tries
elif task == "append":
    out["seqs"] = [adapter.streams.append("ns", "log", b"%d-%d" % (index, n)).sequence for n in range(rounds)]
    out["once"] = [
        adapter.streams.append("ns", "log", b"k%d" % n, idempotency_key="k%d" % n,
                               dedupe_window_ms=60_000, now_ms=0.0).sequence
        for n in range(5)
    ]
elif task == "claim":
    got = []
    while True:
        claimed = adapter.checkpoints.claim("ns", "jobs", "g", "c%d" % index, limit=3,
                                            now_ms=0.0, visible_at_ms=1e18)
        if not claimed:
            break
        got += [c.sequence for c in claimed]
        adapter.checkpoints.ack("ns", "jobs", "g", [c.sequence for c in claimed])
    out["got"] = got
adapter.close()
print(json.dumps(out))
"""


def _race(
    tmp_path: Any, pg_schema: str, task: str, processes: int, rounds: int = 0
) -> list[dict[str, Any]]:
    args = [[CONNINFO, pg_schema, task, str(i), str(rounds)] for i in range(processes)]
    return run_children(_RACER, args, tmp_path)


def test_processes_racing_a_create_only_write_have_exactly_one_winner(
    adapter: PostgresAdapter, pg_schema: str, tmp_path: Any
) -> None:
    results = _race(tmp_path, pg_schema, "create", 4)
    winners = [r["won"] for r in results if r["won"] is not None]
    assert len(winners) == 1
    stored = adapter.blobs.get(NS, "only")
    assert (stored.version, stored.etag) == (1, winners[0])


def test_processes_racing_on_one_etag_have_exactly_one_winner(
    adapter: PostgresAdapter, pg_schema: str, tmp_path: Any
) -> None:
    adapter.blobs.put(NS, "base", b"start")
    results = _race(tmp_path, pg_schema, "replace", 4)
    winners = [r["won"] for r in results if r["won"] is not None]
    assert len(winners) == 1
    assert adapter.blobs.get(NS, "base").version == 2


def test_processes_incrementing_with_if_match_lose_no_update(
    adapter: PostgresAdapter, pg_schema: str, tmp_path: Any
) -> None:
    adapter.blobs.put(NS, "counter", b"0")
    processes, rounds = 4, 15
    _race(tmp_path, pg_schema, "increment", processes, rounds)
    final = adapter.blobs.get(NS, "counter")
    assert (int(final.data), final.version) == (processes * rounds, 1 + processes * rounds)


def test_processes_appending_at_once_get_gap_free_sequences(
    adapter: PostgresAdapter, pg_schema: str, tmp_path: Any
) -> None:
    processes, rounds = 4, 25
    results = _race(tmp_path, pg_schema, "append", processes, rounds)
    acknowledged = sorted(seq for r in results for seq in r["seqs"])
    stored = adapter.backdoor().stream_messages(NS, "log")
    total = processes * rounds + 5  # every idempotent key stored once
    assert [m.sequence for m in stored] == list(range(1, total + 1))  # no gap, no duplicate
    assert set(acknowledged) <= {m.sequence for m in stored}  # no acknowledged append lost
    assert len(acknowledged) == len(set(acknowledged))
    for r in results:
        assert r["seqs"] == sorted(r["seqs"])  # each process sees its appends in order
    once = [r["once"] for r in results]
    assert all(o == once[0] for o in once)  # every process got the same message per key
    payloads = {m.sequence: m.payload for m in stored}
    assert [payloads[s] for s in once[0]] == [b"k%d" % n for n in range(5)]


def test_processes_claiming_one_group_never_share_a_message(
    adapter: PostgresAdapter, pg_schema: str, tmp_path: Any
) -> None:
    count = 60
    for n in range(count):
        adapter.streams.append(NS, "jobs", b"%d" % n)
    results = _race(tmp_path, pg_schema, "claim", 3)
    got = [seq for r in results for seq in r["got"]]
    assert sorted(got) == list(range(1, count + 1))  # each message exactly once
    state = adapter.checkpoints.load(NS, "jobs", "g")
    assert (state.floor, state.cursor, dict(state.pending)) == (count, count, {})


_DURABLE = r"""
import json, sys
from pytest_sanctum.client import create_storage_client
from pytest_sanctum.config import parse_config

conninfo, schema = sys.argv[1:3]
client = create_storage_client(parse_config({
    "schema_version": 1,
    "adapters": {"db": {"kind": "postgres", "options": {"conninfo": conninfo, "schema": schema}}},
    "namespaces": {"*": {"adapter": "db"}},
    "streams": {"visibility_timeout_ms": 600000},
}))
ids = [client.streams.append("durable", "jobs", {"n": n}).message_id for n in range(10)]
delivered = client.streams.read("durable", "jobs", "workers", "w1", count=10)
acked = [d.message_id for d in delivered if d.sequence % 2 == 0]
client.streams.ack("durable", "jobs", "workers", acked)
record = client.records.put("durable", "r", {"n": 1})
print("READY " + json.dumps({"ids": ids, "acked": acked, "etag": record.etag}), flush=True)
n = 0
while True:  # keep writing until killed: the kill lands in the middle of writes
    appended = client.streams.append("durable", "tail", {"n": n}).message_id
    written = client.records.put("durable", "tail", {"n": n})
    print(f"DONE {appended} {written.version}", flush=True)
    n += 1
"""


def test_acknowledged_writes_appends_and_acks_survive_a_sigkill(
    pg_schema: str, tmp_path: Any, clock: VirtualClock
) -> None:
    told, fields = kill_after_acks(_DURABLE, [CONNINFO, pg_schema], tmp_path)
    acknowledged = [tuple(int(x) for x in found) for found in fields]

    with create_storage_client(pg_config(pg_schema), clock=clock) as client:
        adapter = client.adapters["db"]
        assert isinstance(adapter, PostgresAdapter)
        backdoor = adapter.backdoor()
        jobs = backdoor.stream_messages("durable", "jobs")
        assert [str(m.sequence) for m in jobs] == told["ids"] == [str(n) for n in range(1, 11)]
        tail = [m.sequence for m in backdoor.stream_messages("durable", "tail")]
        last_append, last_version = acknowledged[-1]
        assert tail[:last_append] == list(range(1, last_append + 1))  # lost = 0
        assert len(tail) - last_append in (0, 1)  # at most the one in flight
        stored = backdoor.read_object(Layer.RECORD, "durable", "tail")
        assert stored is not None
        assert stored.version in (last_version, last_version + 1)
        assert client.records.get("durable", "r").etag == told["etag"]
        state = client.streams.checkpoint("durable", "jobs", "workers")
        pending = {str(s) for s in state.pending}
        assert pending == {i for i in told["ids"] if i not in told["acked"]}
        assert state.cursor == 10


# --- round trips and statements: one of each per operation -------------------------------


class Wire:
    """What the adapter's single connection sends, from libpq's protocol trace: a ``Sync``
    ends every round trip of the extended protocol, an ``Execute`` runs one statement."""

    def __init__(self, adapter: PostgresAdapter, path: Any) -> None:
        self._path = path
        self._file = open(path, "w")  # noqa: SIM115 (closed by stop)
        with adapter._db._pool.connection() as conn:
            self._pgconn = conn.pgconn
        self._pgconn.trace(self._file.fileno())
        self._pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def _sent(self) -> list[str]:
        self._file.flush()
        with open(self._path) as trace:
            return [line.split("\t")[2].strip() for line in trace if line.startswith("F\t")]

    def of(self, call: Callable[[], object]) -> tuple[int, int]:
        """(round trips, statements) that ``call`` made."""
        before = self._sent()
        call()
        sent = self._sent()[len(before) :]
        return sent.count("Sync"), sent.count("Execute") + sent.count("Query")

    def stop(self) -> None:
        self._pgconn.untrace()
        self._file.close()


def test_every_facade_operation_is_one_round_trip_and_one_statement(
    open_adapter: Open, pg_schema: str, clock: VirtualClock, tmp_path: Any
) -> None:
    adapter = open_adapter(min_connections=1, max_connections=1)
    client = create_storage_client(pg_config(pg_schema), clock=clock, adapters={"db": adapter})
    records, streams = client.records, client.streams
    try:
        for n in range(7):  # psycopg prepares a statement on its sixth use: warm every one up
            first = records.put(NS, f"w{n}", {"n": n})
            records.put(NS, f"w{n}", {"n": 1}, if_match=first.etag)
            records.put(NS, f"c{n}", {}, if_none_match="*")
            records.get(NS, f"w{n}")
            records.delete(NS, f"c{n}")
            streams.append(NS, "warm", {"n": n})
            streams.append(NS, "warm", {"n": n}, idempotency_key=f"i{n}")
            got = streams.read(NS, "warm", "g", "c", count=1)
            streams.ack(NS, "warm", "g", [d.message_id for d in got])
        for n in range(6):
            streams.append(NS, "s", {"n": n})
        wire = Wire(adapter, tmp_path / "trace.txt")
        first = records.put(NS, "k", {"n": 1})
        counts = {
            "put": wire.of(lambda: records.put(NS, "k2", {"n": 1})),
            "put if_match": wire.of(lambda: records.put(NS, "k", {"n": 2}, if_match=first.etag)),
            "put if_none_match": wire.of(lambda: records.put(NS, "k3", {}, if_none_match="*")),
            "strong get, miss and fill": wire.of(lambda: records.get(NS, "k")),
            "strong get, cache hit": wire.of(lambda: records.get(NS, "k")),
            "delete": wire.of(lambda: records.delete(NS, "k2")),
            "append": wire.of(lambda: streams.append(NS, "s", {"n": 6})),
            "idempotent append": wire.of(
                lambda: streams.append(NS, "s", {"n": 7}, idempotency_key="once")
            ),
            "its duplicate": wire.of(
                lambda: streams.append(NS, "s", {"n": 7}, idempotency_key="once")
            ),
            "group read": wire.of(lambda: streams.read(NS, "s", "g", "c", count=4)),
            "ack": wire.of(lambda: streams.ack(NS, "s", "g", ["1", "2"])),
        }
        clock.advance(30_000)
        counts["redelivery of 2 + 3 new"] = wire.of(lambda: streams.read(NS, "s", "g", "c"))
        wire.stop()
        assert counts == {
            "put": (1, 1),
            "put if_match": (1, 1),
            "put if_none_match": (1, 1),
            "strong get, miss and fill": (2, 2),  # the cache lookup, then the filling read
            "strong get, cache hit": (1, 1),  # the entry is 0 ms old: within budget 0
            "delete": (1, 1),
            "append": (1, 1),
            "idempotent append": (1, 1),
            "its duplicate": (1, 1),
            "group read": (1, 1),
            "ack": (1, 1),
            "redelivery of 2 + 3 new": (1, 1),
        }
    finally:
        client.close()


# --- faults the kit provokes -------------------------------------------------------------


@pytest.mark.parametrize("fault", ["locked", "timeout", "unreachable"])
def test_each_provoked_fault_is_backend_unavailable_and_passes(
    open_adapter: Open, fault: str
) -> None:
    adapter = open_adapter()
    adapter.records.put(NS, "k", b"1")
    adapter.streams.append(NS, "s", b"m")
    injector = adapter.fault_injector()
    assert fault in injector.faults
    calls: list[Callable[[], object]] = [
        lambda: adapter.records.put(NS, "k", b"2"),
        lambda: adapter.records.delete(NS, "k"),
        lambda: adapter.streams.append(NS, "s", b"m"),
        lambda: adapter.checkpoints.claim(NS, "s", "g", "c", limit=1, now_ms=0, visible_at_ms=1),
    ]
    started = time.perf_counter()
    with injector.provoke(fault):
        for call in calls:
            with pytest.raises(BackendUnavailableError) as caught:
                call()
            assert caught.value.retryable
        if fault == "locked":
            assert adapter.records.get(NS, "k").data == b"1"  # readers are not blocked
        else:
            with pytest.raises(BackendUnavailableError):
                adapter.records.get(NS, "k")
    assert time.perf_counter() - started < 20
    assert adapter.records.put(NS, "k", b"3").version == 2  # nothing was applied meanwhile
    assert adapter.records.get(NS, "k").data == b"3"
    with pytest.raises(ValueError, match="serialization"):
        injector.provoke("serialization").__enter__()


def test_cache_sets_evict_expired_entries_nobody_reads(
    adapter: PostgresAdapter, pg_schema: str, clock: VirtualClock
) -> None:
    for n in range(100):
        adapter.cache.set(NS, f"old{n}", entry(), 10)
    clock.advance(10)
    adapter.cache.set(NS, "new", entry(), 10)
    assert raw(f'SELECT count(*) FROM "{pg_schema}".cache') == [(100 - 64 + 1,)]
    adapter.cache.set(NS, "newer", entry(), 10)
    assert {k for (k,) in raw(f'SELECT key FROM "{pg_schema}".cache')} == {"new", "newer"}
