"""Tests of the S3 adapter: the kit certifies it against moto in server mode, and unit tests
cover what the kit does not see (options, the object layout, requests per operation, error
mapping, races between processes, acknowledged writes across a SIGKILL).

Every test talks HTTP to one moto server on loopback that answers one request at a time
(``reference_adapters.s3.moto_server``): moto's conditional ``PutObject`` checks, then
writes, so only a serial server decides races between clients as S3 does. What this does
and does not prove about real S3 is said there and in ``docs/adapters.md``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any

import boto3
import pytest
from backends import environment_problem
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)
from processes import kill_after_acks, run_children

from pytest_sanctum.adapters.base import CachingVersionedStore, StorageAdapter, VersionedStore
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
from pytest_sanctum.kit.backend_faults import TIMEOUT, UNREACHABLE
from pytest_sanctum.kit.contracts import CATALOG
from pytest_sanctum.types import Blob, Capabilities, Layer
from reference_adapters.s3 import S3Adapter, create_s3_adapter, map_s3_error
from reference_adapters.s3.stores import FRAME, TOMBSTONE

NS = "ns"
BUCKET = "sanctum-tests"
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
Open = Callable[..., S3Adapter]


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One serial moto server for the whole session (see the module's docstring)."""
    try:
        from reference_adapters.s3.moto_server import SerialMotoServer

        server = SerialMotoServer()
    except ImportError as error:
        environment_problem(f"environment: moto[server] is not installed: {error}")
    yield server.url
    server.stop()


@pytest.fixture
def s3_options(moto_url: str) -> dict[str, Any]:
    """Options of an adapter under a prefix of this test alone."""
    return {
        "bucket": BUCKET,
        "endpoint_url": moto_url,
        "prefix": f"t-{uuid.uuid4().hex[:8]}/",
        "create_bucket": True,
        **CREDENTIALS,
    }


@pytest.fixture
def open_adapter(s3_options: dict[str, Any], clock: VirtualClock) -> Iterator[Open]:
    opened: list[S3Adapter] = []

    def build(**options: Any) -> S3Adapter:
        adapter = create_s3_adapter({**s3_options, **options}, clock)
        opened.append(adapter)
        return adapter

    yield build
    for adapter in opened:
        adapter.close()


@pytest.fixture
def adapter(open_adapter: Open) -> S3Adapter:
    return open_adapter()


@pytest.fixture
def raw_s3(moto_url: str) -> Any:
    """A plain boto3 client on the same server: reads and writes around the adapter."""
    return boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def s3_config(options: dict[str, Any]) -> StorageConfigV1:
    return parse_config(
        {
            "schema_version": 1,
            "adapters": {"objects": {"kind": "s3", "options": options}},
            "namespaces": {"*": {"adapter": "objects"}},
        }
    )


# --- the kit certifies it ----------------------------------------------------------------

_BASELINE = (
    "ID-004: S3 object keys are at most 1,024 bytes and the adapter's prefix and the"
    " namespace take some of them; a longer key is an InvalidRequestError\n"
)
_NO_STREAMS = {
    contract.id
    for contract in CATALOG.values()
    if {"streams", "idempotent_append", "durable_checkpoints", "distributed_cache"}
    & set(contract.requires)
}


def test_the_kit_certifies_every_contract(pytester: pytest.Pytester, s3_options: dict) -> None:
    """The whole suite on two xdist workers, behind the kit's reference cache: every
    contract of blobs and records passes; those needing streams or a shared cache are
    unsupported; ID-004 is the one known failure (S3's key length)."""
    (pytester.path / "baseline.txt").write_text(_BASELINE)
    result = pytester.runpytest_subprocess(
        "--sanctum-adapter=s3",
        f"--sanctum-adapter-options={json.dumps(s3_options)}",
        "--sanctum-reference-cache",
        "--sanctum-baseline=baseline.txt",
        "-n",
        "2",
        "--sanctum-report=report.json",
        "-p",
        "no:cacheprovider",
        "-q",
        timeout=900,
    )
    report = json.loads((pytester.path / "report.json").read_text())
    assert result.ret == 0, "\n".join(result.outlines[-40:])
    assert report["adapter"] == "s3"
    assert report["environment_error"] is None
    assert report["capabilities"] == ["blobs", "records", "read_after_write", "conditional_writes"]
    results = {contract["id"]: contract["result"] for contract in report["contracts"]}
    assert results == {
        **dict.fromkeys(CATALOG, "pass"),
        **dict.fromkeys(_NO_STREAMS, "unsupported"),
        "ERR-007": "unsupported",  # S3's 409 cannot be provoked on demand (nor by moto)
        "ID-004": "expected-failure",
    }


# --- protocols, capabilities, registry, options -----------------------------------------


def test_adapter_and_stores_satisfy_the_protocols(adapter: S3Adapter) -> None:
    assert isinstance(adapter, StorageAdapter)
    assert isinstance(adapter.blobs, VersionedStore)
    assert isinstance(adapter.records, VersionedStore)
    assert not isinstance(adapter.records, CachingVersionedStore)  # it has no cache to fill
    assert (adapter.streams, adapter.checkpoints, adapter.cache) == (None, None, None)
    assert adapter.name == "s3"
    assert adapter.capabilities == Capabilities(
        blobs=True, records=True, read_after_write=True, conditional_writes=True
    )


def test_registered_as_the_s3_entry_point() -> None:
    (point,) = entry_points(group="pytest_sanctum.adapters", name="s3")
    assert point.load() is create_s3_adapter


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "options.bucket"),
        ({"bucket": "No_Caps"}, "options.bucket"),
        ({"bucket": "ab"}, "options.bucket"),
        ({"bucket": "ok-bucket", "prefix": 3}, "options.prefix"),
        ({"bucket": "ok-bucket", "prefix": "a\nb"}, "options.prefix"),
        ({"bucket": "ok-bucket", "prefix": "p" * 513}, "options.prefix"),
        ({"bucket": "ok-bucket", "endpoint_url": None}, "options.endpoint_url"),
        ({"bucket": "ok-bucket", "addressing_style": "dns"}, "options.addressing_style"),
        ({"bucket": "ok-bucket", "read_timeout_ms": 0}, "options.read_timeout_ms"),
        ({"bucket": "ok-bucket", "connect_timeout_ms": True}, "options.connect_timeout_ms"),
        ({"bucket": "ok-bucket", "max_pool_connections": 0}, "options.max_pool_connections"),
        ({"bucket": "ok-bucket", "create_bucket": "yes"}, "options.create_bucket"),
        ({"bucket": "ok-bucket", "access_key_id": "a"}, "options.secret_access_key"),
        ({"bucket": "ok-bucket", "secret_access_key": "s"}, "options.access_key_id"),
        ({"bucket": "ok-bucket", "url": "http://x"}, "options.url"),
    ],
)
def test_invalid_options(options: dict[str, object], field: str, clock: VirtualClock) -> None:
    with pytest.raises(ConfigError) as caught:
        create_s3_adapter(options, clock)
    assert caught.value.field == field


def test_a_missing_bucket_is_a_config_error(
    s3_options: dict[str, Any], clock: VirtualClock
) -> None:
    with pytest.raises(ConfigError) as caught:
        create_s3_adapter({**s3_options, "bucket": "no-such-bucket", "create_bucket": False}, clock)
    assert caught.value.field == "options.bucket"


def test_an_unreachable_endpoint_is_backend_unavailable(clock: VirtualClock) -> None:
    options = {"bucket": BUCKET, "endpoint_url": "http://127.0.0.1:1", **CREDENTIALS}
    with pytest.raises(BackendUnavailableError) as caught:
        create_s3_adapter(options, clock)
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, EndpointConnectionError)


# --- the object layout: frames, versions, tombstones -------------------------------------


def _object(raw_s3: Any, adapter: S3Adapter, layer: str, key: str) -> dict[str, Any]:
    name = f"{adapter.options.prefix}{layer}/{NS}/{key}"
    response = raw_s3.get_object(Bucket=BUCKET, Key=name)
    return {**response, "body": response["Body"].read()}


def test_each_write_is_a_framed_object_with_its_version(adapter: S3Adapter, raw_s3: Any) -> None:
    written = adapter.blobs.put(NS, "k", b"payload", content_type="text/plain")
    stored = _object(raw_s3, adapter, "b", "k")
    assert stored["body"][FRAME:] == b"payload"
    assert stored["body"][0] == 1
    assert len(stored["body"]) == FRAME + 7
    assert stored["Metadata"] == {"version": "1", "content-type": "text/plain"}
    assert stored["ContentType"] == "text/plain"
    assert written.etag == f"1-{stored['ETag'].strip(chr(34))}"
    adapter.records.put(NS, "k", b"{}")  # the record layer has objects of its own
    assert _object(raw_s3, adapter, "r", "k")["body"][FRAME:] == b"{}"


def test_the_same_bytes_again_get_a_new_etag_and_the_old_one_never_matches(
    adapter: S3Adapter,
) -> None:
    """A, B, A: S3's ETag of the third write would equal the first one's without the frame."""
    first = adapter.blobs.put(NS, "k", b"A")
    adapter.blobs.put(NS, "k", b"B")
    third = adapter.blobs.put(NS, "k", b"A")
    assert third.etag != first.etag
    with pytest.raises(PreconditionFailedError) as caught:
        adapter.blobs.put(NS, "k", b"C", if_match=first.etag)
    assert (caught.value.current_etag, caught.value.current_version) == (third.etag, 3)
    assert adapter.blobs.put(NS, "k", b"C", if_match=third.etag).version == 4


def test_delete_leaves_a_tombstone_so_versions_continue(adapter: S3Adapter, raw_s3: Any) -> None:
    adapter.records.put(NS, "k", b"{}")
    adapter.records.put(NS, "k", b"{}")
    assert adapter.records.delete(NS, "k") == 2
    tombstone = _object(raw_s3, adapter, "r", "k")
    assert len(tombstone["body"]) == TOMBSTONE
    assert tombstone["Metadata"]["version"] == "2"
    with pytest.raises(NotFoundError):
        adapter.records.get(NS, "k")
    with pytest.raises(NotFoundError):
        adapter.records.head(NS, "k")
    with pytest.raises(NotFoundError):
        adapter.records.delete(NS, "k")
    assert adapter.records.list(NS) == []
    assert adapter.records.put(NS, "k", b"{}", if_none_match=True).version == 3


def test_conditions_on_missing_keys(adapter: S3Adapter) -> None:
    """if_match on a key without an object: S3 answers 404, the adapter a precondition
    failure for a put and NotFoundError for a delete (docs/errors.md)."""
    etag = adapter.blobs.put(NS, "other", b"x").etag
    with pytest.raises(PreconditionFailedError) as caught:
        adapter.blobs.put(NS, "missing", b"x", if_match=etag)
    assert (caught.value.current_etag, caught.value.current_version) == (None, None)
    with pytest.raises(NotFoundError):
        adapter.blobs.delete(NS, "missing", if_match=etag)
    adapter.blobs.delete(NS, "other")
    with pytest.raises(PreconditionFailedError):  # a tombstone is no live key
        adapter.blobs.put(NS, "other", b"x", if_match=etag)
    with pytest.raises(NotFoundError):
        adapter.blobs.delete(NS, "other", if_match=etag)


@pytest.mark.parametrize("etag", ["", "garbage", "1-xyz", "0-" + "0" * 32, "1-" + "A" * 32])
def test_an_etag_the_adapter_never_issued_matches_nothing(adapter: S3Adapter, etag: str) -> None:
    current = adapter.blobs.put(NS, "k", b"x")
    with pytest.raises(PreconditionFailedError) as caught:
        adapter.blobs.put(NS, "k", b"y", if_match=etag)
    assert caught.value.current_etag == current.etag
    with pytest.raises(PreconditionFailedError):
        adapter.blobs.delete(NS, "k", if_match=etag)
    assert adapter.blobs.get(NS, "k").data == b"x"


def test_keys_longer_than_s3_allows_are_invalid_to_write_and_absent_to_read(
    adapter: S3Adapter,
) -> None:
    budget = 1024 - len(f"{adapter.options.prefix}b/{NS}/")
    adapter.blobs.put(NS, "k" * budget, b"fits")
    with pytest.raises(InvalidRequestError) as caught:
        adapter.blobs.put(NS, "k" * (budget + 1), b"x")
    assert caught.value.argument == "key"
    for call in (adapter.blobs.get, adapter.blobs.head, adapter.blobs.delete):
        with pytest.raises(NotFoundError):
            call(NS, "k" * (budget + 1))
    assert adapter.blobs.list(NS, "k" * (budget + 1)) == []
    assert [info.key for info in adapter.blobs.list(NS)] == ["k" * budget]


def test_list_skips_tombstones_and_pages_past_pages_of_them(adapter: S3Adapter) -> None:
    for n in range(6):
        adapter.blobs.put(NS, f"k{n}", b"x" * n, content_type="a/b" if n == 5 else None)
    for n in range(4):
        adapter.blobs.delete(NS, f"k{n}")
    # limit 2: the first S3 page holds only tombstones, so the adapter asks for the next
    page = adapter.blobs.list(NS, limit=2)
    assert [(i.key, i.size, i.version, i.content_type) for i in page] == [
        ("k4", 4, 1, None),
        ("k5", 5, 1, "a/b"),
    ]
    assert adapter.blobs.list(NS, "k", start_after="k4") == [adapter.blobs.head(NS, "k5")]
    assert adapter.blobs.list(NS, "k5", start_after="a") == [adapter.blobs.head(NS, "k5")]
    assert adapter.blobs.list(NS, limit=0) == []
    with pytest.raises(InvalidRequestError):
        adapter.blobs.list(NS, limit=-1)


def test_reset_removes_objects_and_tombstones_of_matching_namespaces(
    adapter: S3Adapter, raw_s3: Any
) -> None:
    for ns in ("run-1", "run-10", "run_1", "run-2"):
        adapter.blobs.put(ns, "k", b"x")
        adapter.records.put(ns, "gone", b"{}")
        adapter.records.delete(ns, "gone")
    adapter.reset("run-1")
    listed = raw_s3.list_objects_v2(Bucket=BUCKET, Prefix=adapter.options.prefix)["Contents"]
    left = {item["Key"].split("/")[2] for item in listed}
    assert left == {"run_1", "run-2"}
    assert adapter.records.put("run-1", "gone", b"{}").version == 1  # the tombstone went too
    adapter.reset("")
    assert "Contents" not in raw_s3.list_objects_v2(Bucket=BUCKET, Prefix=adapter.options.prefix)


def test_backdoor_reads_the_bucket_not_the_adapter(adapter: S3Adapter, raw_s3: Any) -> None:
    written = adapter.records.put(NS, "r", b'{"a":1}')
    backdoor = adapter.backdoor()
    assert backdoor.read_object(Layer.RECORD, NS, "r") == Blob("r", b'{"a":1}', 1, written.etag)
    assert backdoor.read_object(Layer.BLOB, NS, "r") is None
    adapter.records.delete(NS, "r")
    assert backdoor.read_object(Layer.RECORD, NS, "r") is None
    assert backdoor.stream_messages(NS, "s") == []


def test_closed_adapter_raises_backend_unavailable(open_adapter: Open) -> None:
    adapter = open_adapter()
    adapter.blobs.put(NS, "k", b"x")
    adapter.close()
    calls: list[Callable[[], object]] = [
        lambda: adapter.blobs.put(NS, "k", b"y"),
        lambda: adapter.blobs.put(NS, "k", b"y", if_match="1-" + "0" * 32),
        lambda: adapter.blobs.get(NS, "k"),
        lambda: adapter.blobs.head(NS, "k"),
        lambda: adapter.blobs.delete(NS, "k"),
        lambda: adapter.blobs.list(NS),
        lambda: adapter.blobs.list(NS, limit=0),
        lambda: adapter.records.get(NS, "k"),
        lambda: adapter.reset(NS),
        lambda: adapter.backdoor(),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailableError, match="closed") as caught:
            call()
        assert caught.value.namespace in (NS, None)
    assert open_adapter().blobs.get(NS, "k").data == b"x"  # the data stays


# --- errors --------------------------------------------------------------------------------


def _client_error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_client_error(503, "SlowDown"), BackendUnavailableError),
        (_client_error(503, "ServiceUnavailable"), BackendUnavailableError),
        (_client_error(500, "InternalError"), BackendUnavailableError),
        (_client_error(429, "TooManyRequests"), BackendUnavailableError),
        (_client_error(400, "RequestTimeout"), BackendUnavailableError),
        (_client_error(409, "ConditionalRequestConflict"), ConflictError),
        (_client_error(412, "PreconditionFailed"), PreconditionFailedError),
        (_client_error(404, "NoSuchKey"), NotFoundError),
        (_client_error(404, "NoSuchBucket"), AdapterError),
        (_client_error(400, "KeyTooLongError"), InvalidRequestError),
        (_client_error(400, "EntityTooLarge"), InvalidRequestError),
        (_client_error(403, "AccessDenied"), AdapterError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), BackendUnavailableError),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), BackendUnavailableError),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), BackendUnavailableError),
        (ParamValidationError(report="bad"), InvalidRequestError),
        (ValueError("something else"), AdapterError),
    ],
)
def test_errors_are_mapped_by_status_and_code(error: Exception, expected: type[Exception]) -> None:
    mapped = map_s3_error(error, NS, "k")
    assert type(mapped) is expected
    assert (mapped.namespace, mapped.key) == (NS, "k")


class _BrokenBody:
    def read(self) -> bytes:
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1")


def test_a_body_that_fails_to_arrive_is_backend_unavailable(adapter: S3Adapter) -> None:
    """The headers came, the body did not: botocore raises while the body is read, after
    the request returned, and the adapter still maps it."""
    adapter.blobs.put(NS, "k", b"x")

    def cut(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Body"] = _BrokenBody()

    events = adapter._bucket.client.meta.events
    events.register("after-call.s3.GetObject", cut)
    try:
        with pytest.raises(BackendUnavailableError) as caught:
            adapter.blobs.get(NS, "k")
    finally:
        events.unregister("after-call.s3.GetObject", cut)
    assert isinstance(caught.value.__cause__, ReadTimeoutError)
    assert adapter.blobs.get(NS, "k").data == b"x"


@pytest.mark.parametrize("fault", [UNREACHABLE, TIMEOUT])
def test_each_provoked_fault_is_backend_unavailable_and_passes(
    adapter: S3Adapter, fault: str
) -> None:
    adapter.blobs.put(NS, "k", b"x")
    injector = adapter.fault_injector()
    with injector.provoke(fault):
        for call in (
            lambda: adapter.blobs.get(NS, "k"),
            lambda: adapter.blobs.put(NS, "k", b"y"),
            lambda: adapter.blobs.list(NS),
        ):
            with pytest.raises(BackendUnavailableError) as caught:
                call()
            assert caught.value.retryable
    assert adapter.blobs.get(NS, "k").data == b"x"
    with pytest.raises(ValueError, match="locked"):
        injector.provoke("locked").__enter__()


# --- requests per operation ----------------------------------------------------------------


class Requests:
    """Counts the HTTP requests a boto3 client sends, by operation, from botocore's
    ``before-send`` event (one per request on the wire; botocore's retries are off)."""

    def __init__(self, client: Any) -> None:
        self.sent: list[str] = []
        client.meta.events.register("before-send.s3", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        self.sent.append(f"{request.method}{'?' if '?' in request.url else ''}")

    def of(self, call: Callable[[], object]) -> list[str]:
        """The methods of the requests ``call`` sent (``GET?`` is a listing)."""
        before = len(self.sent)
        call()
        return self.sent[before:]


def _refused(
    put: Callable[..., object], namespace: str, key: str, value: object, etag: str
) -> None:
    with pytest.raises(PreconditionFailedError):
        put(namespace, key, value, if_match=etag)


def test_requests_per_facade_operation(
    adapter: S3Adapter, s3_options: dict[str, Any], clock: VirtualClock
) -> None:
    facade = create_storage_client(
        s3_config(s3_options), clock=clock, adapters={"objects": adapter}
    )
    wire = Requests(adapter._bucket.client)
    records, blobs = facade.records, facade.blobs
    try:
        first = records.put(NS, "k", {"n": 1})
        for n in range(3):
            blobs.put(NS, f"l{n}", b"x")
        counts = {
            "put, new key": wire.of(lambda: records.put(NS, "new", {"n": 1})),
            "put, existing key": wire.of(lambda: records.put(NS, "new", {"n": 2})),
            "put if_match": wire.of(lambda: records.put(NS, "k", {"n": 2}, if_match=first.etag)),
            "put if_none_match": wire.of(lambda: records.put(NS, "c", {}, if_none_match="*")),
            "strong get": wire.of(lambda: records.get(NS, "k")),
            "blob head": wire.of(lambda: blobs.head(NS, "l0")),
            "delete": wire.of(lambda: records.delete(NS, "c")),
            "delete if_match": wire.of(
                lambda: records.delete(NS, "new", if_match=records.get(NS, "new").etag)
            ),
            "list of 3": wire.of(lambda: blobs.list(NS)),
            "stale if_match": wire.of(lambda: _refused(records.put, NS, "k", {}, first.etag)),
        }
        assert counts == {
            "put, new key": ["HEAD", "PUT"],  # the version comes from the current object
            "put, existing key": ["HEAD", "PUT"],
            "put if_match": ["PUT"],  # the etag holds the version: one conditional PutObject
            "put if_none_match": ["PUT"],
            "strong get": ["GET"],
            "blob head": ["HEAD"],
            "delete": ["HEAD", "PUT"],  # the tombstone keeps the version it read
            "delete if_match": ["GET", "PUT"],  # the get is the test's, for the etag
            "list of 3": ["GET?", *["HEAD"] * 3, "GET?"],  # a HEAD each for the versions;
            # the facade asks again after a page shorter than its limit: an empty listing
            "stale if_match": ["PUT", "HEAD"],  # S3's 412 has no current etag: look it up
        }
    finally:
        facade.close()


# --- processes: races and a hard kill ----------------------------------------------------

_RACER = r"""
import json, sys
from pytest_sanctum.clock import SystemClock
from pytest_sanctum.errors import PreconditionFailedError
from reference_adapters.s3 import create_s3_adapter

options, task, index, rounds = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
adapter = create_s3_adapter(options, SystemClock())
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
elif task == "overwrite":
    out["versions"] = [adapter.blobs.put("ns", "hot", b"%d" % index).version for _ in range(rounds)]
adapter.close()
print(json.dumps(out))
"""


def _race(
    tmp_path: Any, options: dict[str, Any], task: str, processes: int, rounds: int = 0
) -> list[dict[str, Any]]:
    args = [[json.dumps(options), task, str(i), str(rounds)] for i in range(processes)]
    return run_children(_RACER, args, tmp_path)


def test_processes_racing_a_create_only_write_have_exactly_one_winner(
    adapter: S3Adapter, s3_options: dict[str, Any], tmp_path: Any
) -> None:
    results = _race(tmp_path, s3_options, "create", 4)
    winners = [r["won"] for r in results if r["won"] is not None]
    assert len(winners) == 1
    stored = adapter.blobs.get(NS, "only")
    assert (stored.version, stored.etag) == (1, winners[0])


def test_processes_racing_on_one_etag_have_exactly_one_winner(
    adapter: S3Adapter, s3_options: dict[str, Any], tmp_path: Any
) -> None:
    adapter.blobs.put(NS, "base", b"start")
    results = _race(tmp_path, s3_options, "replace", 4)
    winners = [r["won"] for r in results if r["won"] is not None]
    assert len(winners) == 1
    stored = adapter.blobs.get(NS, "base")
    assert (stored.version, stored.etag) == (2, winners[0])


def test_processes_incrementing_with_if_match_lose_no_update(
    adapter: S3Adapter, s3_options: dict[str, Any], tmp_path: Any
) -> None:
    adapter.blobs.put(NS, "counter", b"0")
    processes, rounds = 3, 10
    _race(tmp_path, s3_options, "increment", processes, rounds)
    final = adapter.blobs.get(NS, "counter")
    assert (int(final.data), final.version) == (processes * rounds, 1 + processes * rounds)


def test_processes_overwriting_one_key_never_share_a_version(
    adapter: S3Adapter, s3_options: dict[str, Any], tmp_path: Any
) -> None:
    """Unconditional puts read the current object, then write over exactly it: every
    version goes to one writer, none is skipped."""
    processes, rounds = 3, 10
    results = _race(tmp_path, s3_options, "overwrite", processes, rounds)
    versions = sorted(v for r in results for v in r["versions"])
    assert versions == list(range(1, processes * rounds + 1))
    assert adapter.blobs.head(NS, "hot").version == processes * rounds


_DURABLE = r"""
import json, sys
from pytest_sanctum.client import create_storage_client
from pytest_sanctum.config import parse_config

client = create_storage_client(parse_config({
    "schema_version": 1,
    "adapters": {"objects": {"kind": "s3", "options": json.loads(sys.argv[1])}},
    "namespaces": {"*": {"adapter": "objects"}},
}))
record = client.records.put("durable", "r", {"n": 1})
print("READY " + json.dumps({"etag": record.etag}), flush=True)
n = 0
while True:  # keep writing until killed: the kill lands in the middle of writes
    written = client.records.put("durable", "tail", {"n": n})
    blob = client.blobs.put("durable", f"b{n}", b"%d" % n)
    print(f"DONE {n} {written.version} {blob.etag}", flush=True)
    n += 1
"""


def test_acknowledged_writes_survive_a_sigkill(
    adapter: S3Adapter, s3_options: dict[str, Any], tmp_path: Any
) -> None:
    told, acknowledged = kill_after_acks(_DURABLE, [json.dumps(s3_options)], tmp_path)
    backdoor = adapter.backdoor()
    record = backdoor.read_object(Layer.RECORD, "durable", "r")
    assert record is not None
    assert record.etag == told["etag"]
    for n, _, etag in acknowledged:  # lost = 0
        blob = backdoor.read_object(Layer.BLOB, "durable", f"b{n}")
        assert blob is not None
        assert (blob.data, blob.etag) == (n.encode(), etag)
    tail = backdoor.read_object(Layer.RECORD, "durable", "tail")
    last_version = int(acknowledged[-1][1])
    assert tail is not None
    assert tail.version in (last_version, last_version + 1)
