"""Error contracts (ERR-*): canonical error types, their fields, what a failure leaves behind."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from pytest_sanctum.adapters.base import StorageAdapter, VersionedStore
from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConsistencyError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.fixtures import ClientMaker
from pytest_sanctum.types import Blob, BlobInfo, Capabilities, ETag, Layer, Version, WriteResult


def _call(client: StorageClient, op: str, namespace: str, *args: Any, **kwargs: Any) -> object:
    """Run ``op`` (``"record.put"``, ``"blob.list"``, ...) on ``namespace`` through ``client``."""
    layer, _, method = op.partition(".")
    return getattr(getattr(client, f"{layer}s"), method)(namespace, *args, **kwargs)


@contract("ERR-001")
@pytest.mark.parametrize("history", ["never-written", "deleted"])
@pytest.mark.parametrize(
    "options",
    [{}, {"level": "eventual"}, {"bypass_cache": True}],
    ids=["strong", "eventual", "bypass"],
)
def test_missing_key_raises_canonical_not_found(
    sanctum_client: StorageClient, sanctum_namespace: str, history: str, options: dict[str, Any]
) -> None:
    """Reading a missing key raises a non-retryable NotFoundError saying where it happened."""
    records, ns = sanctum_client.records, sanctum_namespace
    if history == "deleted":
        records.put(ns, "missing", {"n": 1})
        records.delete(ns, "missing")
    with pytest.raises(NotFoundError) as raised:
        records.get(ns, "missing", **options)
    error = raised.value
    observed = (error.code, error.retryable, error.op, error.namespace, error.key)
    assert observed == ("not_found", False, "record.get", ns, "missing"), (
        f"{explain('ERR-001')} (code, retryable, op, namespace, key) were {observed}"
    )
    assert error.correlation_id not in (None, ""), (
        f"{explain('ERR-001')} the error's correlation id is {error.correlation_id!r}"
    )


PRECONDITION_FAILURES: dict[str, tuple[str, str, Callable[[StorageClient, str, ETag], object]]] = {
    "put-stale-if-match": (
        "blob.put",
        "k",
        lambda client, ns, stale: client.blobs.put(ns, "k", b"three", if_match=stale),
    ),
    "put-if-match-on-missing-key": (
        "blob.put",
        "absent",
        lambda client, ns, stale: client.blobs.put(ns, "absent", b"new", if_match=stale),
    ),
    "put-if-none-match-on-existing-key": (
        "blob.put",
        "k",
        lambda client, ns, stale: client.blobs.put(ns, "k", b"three", if_none_match="*"),
    ),
    "delete-stale-if-match": (
        "blob.delete",
        "k",
        lambda client, ns, stale: client.blobs.delete(ns, "k", if_match=stale),
    ),
    "get-stale-if-match": (
        "blob.get",
        "k",
        lambda client, ns, stale: client.blobs.get(ns, "k", if_match=stale),
    ),
}
"""Each failing precondition: the op, the key it addresses, and the call (given a stale etag)."""


@contract("ERR-002")
@pytest.mark.parametrize("case", sorted(PRECONDITION_FAILURES))
def test_failed_preconditions_are_canonical(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor, case: str
) -> None:
    """A failed precondition is a PreconditionFailedError naming op and key; nothing changes."""
    ns = sanctum_namespace
    op, key, attempt = PRECONDITION_FAILURES[case]
    stale = sanctum_client.blobs.put(ns, "k", b"one").etag
    current = sanctum_client.blobs.put(ns, "k", b"two")
    with pytest.raises(PreconditionFailedError) as raised:
        attempt(sanctum_client, ns, stale)
    error = raised.value
    observed = (type(error).__name__, error.code, error.retryable, error.op, error.key)
    assert observed == ("PreconditionFailedError", "precondition_failed", False, op, key), (
        f"{explain('ERR-002')} (type, code, retryable, op, key) were {observed}"
    )
    allowed = (None, current.etag) if key == "k" else (None,)
    assert error.current_etag in allowed, (
        f"{explain('ERR-002')} the error carried etag {error.current_etag!r}, "
        f"the current one of {key!r} is {allowed[-1]!r}"
    )
    held = sanctum_backdoor.read_object(Layer.BLOB, ns, "k")
    absent = sanctum_backdoor.read_object(Layer.BLOB, ns, "absent")
    assert held is not None, f"{explain('ERR-002')} the failed {op} removed the blob"
    assert ((held.data, held.version), absent) == ((b"two", 2), None), (
        f"{explain('ERR-002')} after the failed {op} the backend holds {held} and {absent}"
    )


NAN, INF = float("nan"), float("inf")

BAD_INPUTS = [
    # op, positional arguments after the namespace, keyword arguments, argument named
    pytest.param("record.put", ("", {"a": 1}), {}, "key", id="record.put-empty-key"),
    pytest.param("record.put", ("line\nbreak", {"a": 1}), {}, "key", id="record.put-newline-key"),
    pytest.param("record.put", ("nul\x00", {"a": 1}), {}, "key", id="record.put-nul-key"),
    pytest.param("record.put", ("x" * 1025, {"a": 1}), {}, "key", id="record.put-1025-byte-key"),
    pytest.param("record.put", ("é" * 513, {"a": 1}), {}, "key", id="record.put-1026-utf8-key"),
    pytest.param("record.put", (42, {"a": 1}), {}, "key", id="record.put-int-key"),
    pytest.param("record.put", (None, {"a": 1}), {}, "key", id="record.put-none-key"),
    pytest.param("record.put", (b"k", {"a": 1}), {}, "key", id="record.put-bytes-key"),
    pytest.param("record.put", ("k", {"x": NAN}), {}, "value", id="record.put-nan"),
    pytest.param("record.put", ("k", {"x": [1, -INF]}), {}, "value", id="record.put-infinity"),
    pytest.param("record.put", ("k", {"x": {1, 2}}), {}, "value", id="record.put-set"),
    pytest.param("record.put", ("k", {"x": b"raw"}), {}, "value", id="record.put-bytes"),
    pytest.param("record.put", ("k", {"x": (1, 2)}), {}, "value", id="record.put-tuple"),
    pytest.param("record.put", ("k", {"x": object()}), {}, "value", id="record.put-object"),
    pytest.param("record.put", ("k", {1: "a"}), {}, "value", id="record.put-int-dict-key"),
    pytest.param("record.put", ("k", {"x": {None: 1}}), {}, "value", id="record.put-nested-key"),
    pytest.param("record.put", ("k", ["a", "list"]), {}, "value", id="record.put-list-record"),
    pytest.param("record.put", ("k", "text"), {}, "value", id="record.put-str-record"),
    pytest.param("record.put", ("k", None), {}, "value", id="record.put-none-record"),
    pytest.param(
        "record.put", ("k", {"a": 1}), {"if_match": ""}, "if_match", id="record.put-empty-etag"
    ),
    pytest.param(
        "record.put", ("k", {"a": 1}), {"if_match": 7}, "if_match", id="record.put-int-etag"
    ),
    pytest.param(
        "record.put", ("k", {"a": 1}), {"if_match": b"e"}, "if_match", id="record.put-bytes-etag"
    ),
    pytest.param(
        "record.put",
        ("k", {"a": 1}),
        {"if_none_match": "etag"},
        "if_none_match",
        id="record.put-if-none-match-etag",
    ),
    pytest.param(
        "record.put",
        ("k", {"a": 1}),
        {"if_none_match": True},
        "if_none_match",
        id="record.put-if-none-match-true",
    ),
    pytest.param(
        "record.put",
        ("k", {"a": 1}),
        {"if_match": "e", "if_none_match": "*"},
        "if_none_match",
        id="record.put-both-conditions",
    ),
    pytest.param("record.get", ("",), {}, "key", id="record.get-empty-key"),
    pytest.param(
        "record.get", ("k",), {"level": "linearizable"}, "level", id="record.get-unknown-level"
    ),
    pytest.param("record.get", ("k",), {"level": 2}, "level", id="record.get-int-level"),
    pytest.param(
        "record.get", ("k",), {"bypass_cache": "yes"}, "bypass_cache", id="record.get-str-bypass"
    ),
    pytest.param(
        "record.get", ("k",), {"bypass_cache": 1}, "bypass_cache", id="record.get-int-bypass"
    ),
    pytest.param(
        "record.get",
        ("k",),
        {"level": "cache_only", "bypass_cache": True},
        "bypass_cache",
        id="record.get-cache-only-bypass",
    ),
    pytest.param("record.get", ("k",), {"if_match": ""}, "if_match", id="record.get-empty-etag"),
    pytest.param("record.delete", ("",), {}, "key", id="record.delete-empty-key"),
    pytest.param("record.delete", ("k",), {"if_match": 0}, "if_match", id="record.delete-int-etag"),
    pytest.param("blob.put", ("", b"x"), {}, "key", id="blob.put-empty-key"),
    pytest.param("blob.put", ("k", "text"), {}, "data", id="blob.put-str-data"),
    pytest.param("blob.put", ("k", 42), {}, "data", id="blob.put-int-data"),
    pytest.param("blob.put", ("k", None), {}, "data", id="blob.put-none-data"),
    pytest.param("blob.put", ("k", [1, 2]), {}, "data", id="blob.put-list-data"),
    pytest.param(
        "blob.put", ("k", b"x"), {"content_type": 5}, "content_type", id="blob.put-int-type"
    ),
    pytest.param(
        "blob.put", ("k", b"x"), {"if_none_match": "yes"}, "if_none_match", id="blob.put-bad-inm"
    ),
    pytest.param("blob.get", ("k",), {"level": "fast"}, "level", id="blob.get-unknown-level"),
    pytest.param("blob.head", ("",), {}, "key", id="blob.head-empty-key"),
    pytest.param("blob.list", ("img/",), {"limit": -1}, "limit", id="blob.list-negative-limit"),
    pytest.param("blob.list", ("img/",), {"limit": 10001}, "limit", id="blob.list-huge-limit"),
    pytest.param("blob.list", (5,), {}, "prefix", id="blob.list-int-prefix"),
    pytest.param(
        "blob.list", ("img/",), {"start_after": ""}, "start_after", id="blob.list-empty-start"
    ),
]


def _stored(adapter: StorageAdapter, backdoor: Backdoor, namespace: str) -> list[object]:
    """Everything the backend holds in ``namespace``'s blobs and records (empty when nothing)."""
    found: list[object] = []
    for layer, store in [(Layer.BLOB, adapter.blobs), (Layer.RECORD, adapter.records)]:
        assert store is not None
        found += store.list(namespace)
        found += [blob for blob in [backdoor.read_object(layer, namespace, "k")] if blob]
    return found


@contract("ERR-003")
@pytest.mark.parametrize(("op", "args", "kwargs", "argument"), BAD_INPUTS)
def test_bad_input_is_refused_and_stores_nothing(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_adapter: StorageAdapter,
    sanctum_backdoor: Backdoor,
    op: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    argument: str,
) -> None:
    """A bad key, payload or option raises InvalidRequestError naming it; nothing is stored."""
    ns = sanctum_namespace
    with pytest.raises(InvalidRequestError) as raised:
        _call(sanctum_client, op, ns, *args, **kwargs)
    error = raised.value
    observed = (error.argument, error.code, error.op, error.namespace)
    assert observed == (argument, "invalid_request", op, ns), (
        f"{explain('ERR-003')} (argument, code, op, namespace) were {observed}: {error}"
    )
    stored = _stored(sanctum_adapter, sanctum_backdoor, ns)
    assert stored == [], f"{explain('ERR-003')} after the refused {op} the backend holds {stored}"


@contract("ERR-004")
@pytest.mark.parametrize(
    ("op", "args", "kwargs"),
    [
        ("record.put", ("k", {"n": 2}), {}),
        ("record.get", ("k",), {}),
        ("record.get", ("k",), {"level": "eventual"}),
        ("record.delete", ("k",), {}),
    ],
    ids=["put", "strong-get", "eventual-get", "delete"],
)
def test_closed_adapter_raises_retryable_unavailable(
    sanctum_make_client: ClientMaker,
    sanctum_reopen: Callable[[], StorageAdapter],
    sanctum_namespace: str,
    op: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Any operation on a closed adapter raises a retryable BackendUnavailableError."""
    adapter = sanctum_reopen()
    client = sanctum_make_client(adapter=adapter)
    client.records.put(sanctum_namespace, "k", {"n": 1})
    adapter.close()
    with pytest.raises(BackendUnavailableError) as raised:
        _call(client, op, sanctum_namespace, *args, **kwargs)
    error = raised.value
    observed = (error.code, error.retryable, error.op, error.namespace)
    assert observed == ("backend_unavailable", True, op, sanctum_namespace), (
        f"{explain('ERR-004')} (code, retryable, op, namespace) were {observed}"
    )


class _LaggingRecords:
    """A record store whose reads miss the newest write of each key, like a lagging replica."""

    def __init__(self, inner: VersionedStore) -> None:
        self.inner = inner
        self.replica: dict[tuple[str, str], Blob | None] = {}
        """(namespace, key) -> what the replica still serves (``None``: not found)."""
        self.written: dict[tuple[str, str], Blob] = {}
        """(namespace, key) -> the newest write through this store."""

    def put(
        self,
        namespace: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        if_match: ETag | None = None,
        if_none_match: bool = False,
    ) -> WriteResult:
        result = self.inner.put(
            namespace,
            key,
            data,
            content_type=content_type,
            if_match=if_match,
            if_none_match=if_none_match,
        )
        self.replica[(namespace, key)] = self.written.get((namespace, key))
        self.written[(namespace, key)] = Blob(
            key, bytes(data), result.version, result.etag, content_type
        )
        return result

    def get(self, namespace: str, key: str) -> Blob:
        if (namespace, key) not in self.replica:
            return self.inner.get(namespace, key)
        served = self.replica[(namespace, key)]
        if served is None:
            raise NotFoundError("not replicated yet", namespace=namespace, key=key)
        return served

    def head(self, namespace: str, key: str) -> BlobInfo:
        return self.get(namespace, key).info

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> Version:
        return self.inner.delete(namespace, key, if_match=if_match)

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        return self.inner.list(namespace, prefix, start_after=start_after, limit=limit)


class _LaggingReplica:
    """The adapter under test, read through a lagging replica and so without read-after-write."""

    def __init__(self, inner: StorageAdapter) -> None:
        assert inner.records is not None
        self.inner = inner
        self.name = inner.name
        self.capabilities: Capabilities = dataclasses.replace(
            inner.capabilities, read_after_write=False
        )
        self.records = _LaggingRecords(inner.records)
        self.blobs = inner.blobs
        self.streams = inner.streams
        self.checkpoints = inner.checkpoints
        self.cache = inner.cache

    def reset(self, namespace_prefix: str) -> None:
        self.inner.reset(namespace_prefix)

    def close(self) -> None:
        """The adapter under test is closed by its fixture."""


@contract("ERR-005")
@pytest.mark.parametrize(("writes", "observed"), [(1, None), (2, 1)], ids=["create", "overwrite"])
def test_unseen_own_write_raises_retryable_consistency_error(
    sanctum_make_client: ClientMaker,
    sanctum_adapter: StorageAdapter,
    sanctum_namespace: str,
    writes: int,
    observed: int | None,
) -> None:
    """A strong read that never sees the client's write raises a retryable ConsistencyError."""
    client = sanctum_make_client(adapter=_LaggingReplica(sanctum_adapter))
    for n in range(writes):
        client.records.put(sanctum_namespace, "k", {"n": n})
    with pytest.raises(ConsistencyError) as raised:
        client.records.get(sanctum_namespace, "k")
    error = raised.value
    fields = (error.code, error.retryable, error.expected_version, error.observed_version)
    assert fields == ("consistency_error", True, writes, observed), (
        f"{explain('ERR-005')} (code, retryable, expected_version, observed_version) were "
        f"{fields}; the client wrote version {writes}, the replica serves {observed}"
    )
    assert error.retry_after_ms > 0, (
        f"{explain('ERR-005')} the error's retry_after_ms is {error.retry_after_ms!r}"
    )
    assert (error.op, error.key) == ("record.get", "k"), f"{explain('ERR-005')} {error}"
