"""Bad input is refused with ``InvalidRequestError`` naming the argument, and nothing changes.

Also: how exceptions an adapter raises are reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest
from facade_helpers import NS, AdapterDouble, Faulty, MakeClient

from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import (
    AdapterError,
    BackendUnavailableError,
    InvalidRequestError,
    NotFoundError,
    SanctumError,
)
from pytest_sanctum.observability import correlation_scope
from pytest_sanctum.types import ReadLevel
from reference_adapters.memory import MemoryAdapter

OpenAdapter = Callable[..., MemoryAdapter]

BAD_KEYS = [
    pytest.param(5, id="int"),
    pytest.param(None, id="None"),
    pytest.param(b"k", id="bytes"),
    pytest.param("", id="empty"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\nb", id="newline"),
    pytest.param("tab\t", id="tab"),
    pytest.param("\x7f", id="del"),
    pytest.param("x" * 1025, id="1025-ascii"),
    pytest.param("é" * 513, id="1026-utf8-bytes"),
    pytest.param("€" * 342, id="1026-utf8-bytes-3"),
]


def assert_untouched(client: StorageClient) -> None:
    """Nothing was stored: no blob, and the probe record is still version 1."""
    assert client.blobs.list(NS) == []
    assert client.records.get(NS, "probe", bypass_cache=True).version == 1


@pytest.fixture
def seeded(client: StorageClient) -> StorageClient:
    client.records.put(NS, "probe", {"v": 1})
    return client


def refused(call: Callable[[], object], argument: str) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        call()
    assert info.value.argument == argument
    assert info.value.code == "invalid_request"
    return info.value


# --- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize(
    "call",
    [
        lambda c, k: c.blobs.put(NS, k, b"x"),
        lambda c, k: c.blobs.get(NS, k),
        lambda c, k: c.blobs.head(NS, k),
        lambda c, k: c.blobs.delete(NS, k),
        lambda c, k: c.records.put(NS, k, {"v": 2}),
        lambda c, k: c.records.get(NS, k),
        lambda c, k: c.records.delete(NS, k),
        lambda c, k: c.cache.set(NS, k, b"x"),
        lambda c, k: c.cache.get(NS, k),
        lambda c, k: c.cache.delete(NS, k),
    ],
    ids=[
        "blob.put",
        "blob.get",
        "blob.head",
        "blob.delete",
        "record.put",
        "record.get",
        "record.delete",
        "cache.set",
        "cache.get",
        "cache.delete",
    ],
)
def test_bad_keys_are_refused(
    seeded: StorageClient, key: Any, call: Callable[[StorageClient, Any], object]
) -> None:
    refused(lambda: call(seeded, key), "key")
    assert_untouched(seeded)


@pytest.mark.parametrize("key", ["x" * 1024, "é" * 512, "€" * 341, "with space", "ünïcödé/ключ"])
def test_longest_and_unicode_keys_are_accepted(client: StorageClient, key: str) -> None:
    client.blobs.put(NS, key, b"x")
    assert client.blobs.get(NS, key).key == key


# --- payloads -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["text", 5, None, [1], {"a": 1}], ids=repr)
def test_blob_data_must_be_bytes(seeded: StorageClient, data: Any) -> None:
    refused(lambda: seeded.blobs.put(NS, "b", data), "data")
    assert_untouched(seeded)


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_mutable_buffers_are_accepted_and_copied(
    client: StorageClient, kind: Callable[[bytearray], Any]
) -> None:
    buffer = bytearray(b"abc")
    client.blobs.put(NS, "b", kind(buffer))
    buffer[0:1] = b"X"
    assert client.blobs.get(NS, "b", bypass_cache=True).data == b"abc"


NOT_JSON_RECORDS = [
    pytest.param({"s": {1, 2}}, id="set"),
    pytest.param({"b": b"x"}, id="bytes"),
    pytest.param({"o": object()}, id="object"),
    pytest.param({"n": math.nan}, id="nan"),
    pytest.param({"i": math.inf}, id="inf"),
    pytest.param({"i": [1, -math.inf]}, id="-inf-in-list"),
    pytest.param({"nested": {"deeper": {1: "x"}}}, id="nested-int-key"),
    pytest.param({1: "x"}, id="int-key"),
    pytest.param({"t": (1, 2)}, id="tuple"),
    pytest.param({"l": [1, {"x": {2}}]}, id="set-in-list"),
    pytest.param({"f": 1.5, "d": {"x": 1}, "l": [1.5, [2], {}], "bad": {1}}, id="set-last"),
    pytest.param({"l": [1.5, "x", float("nan")]}, id="nan-last-in-list"),
    pytest.param([1, 2], id="top-level-list"),
    pytest.param("text", id="top-level-str"),
    pytest.param(None, id="None"),
]


@pytest.mark.parametrize("value", NOT_JSON_RECORDS)
def test_records_must_be_json_objects(seeded: StorageClient, value: Any) -> None:
    refused(lambda: seeded.records.put(NS, "probe", value), "value")
    assert_untouched(seeded)


def test_a_too_deeply_nested_record_is_refused(seeded: StorageClient) -> None:
    value: dict[str, Any] = {}
    for _ in range(5000):
        value = {"x": value}
    error = refused(lambda: seeded.records.put(NS, "probe", value), "value")
    assert "nested too deeply" in error.message
    assert_untouched(seeded)


def test_any_mapping_with_json_values_is_a_record(client: StorageClient) -> None:
    value = {"s": "é", "i": 1, "f": 1.5, "b": True, "n": None, "l": [1, [2]], "d": {"x": {}}}
    client.records.put(NS, "r", MappingProxyType(value))  # type: ignore[arg-type]
    record = client.records.get(NS, "r", bypass_cache=True)
    assert record.value == value
    assert client.records.get(NS, "r").value is not client.records.get(NS, "r").value


def test_content_type_must_be_a_string(seeded: StorageClient) -> None:
    refused(lambda: seeded.blobs.put(NS, "b", b"x", content_type=5), "content_type")  # type: ignore[arg-type]
    assert_untouched(seeded)


# --- read options -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"level": "STRONG"}, "level"),
        ({"level": "linearizable"}, "level"),
        ({"level": 1}, "level"),
        ({"level": True}, "level"),
        ({"level": []}, "level"),
        ({"bypass_cache": 1}, "bypass_cache"),
        ({"bypass_cache": "yes"}, "bypass_cache"),
        ({"bypass_cache": None}, "bypass_cache"),
        ({"if_match": ""}, "if_match"),
        ({"if_match": 123}, "if_match"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("layer", ["records", "blobs"])
def test_bad_read_options_are_refused(
    seeded: StorageClient, options: dict[str, Any], argument: str, layer: str
) -> None:
    refused(lambda: getattr(seeded, layer).get(NS, "probe", **options), argument)


@pytest.mark.parametrize(
    "level", [None, "strong", "eventual", ReadLevel.STRONG, ReadLevel.EVENTUAL]
)
def test_good_levels_are_accepted(seeded: StorageClient, level: Any) -> None:
    assert seeded.records.get(NS, "probe", level=level).version == 1


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"if_match": ""}, "if_match"),
        ({"if_match": 123}, "if_match"),
        ({"if_none_match": "x"}, "if_none_match"),
        ({"if_none_match": True}, "if_none_match"),
        ({"if_none_match": ""}, "if_none_match"),
        ({"if_none_match": ["*"]}, "if_none_match"),
    ],
    ids=repr,
)
@pytest.mark.parametrize(
    "write",
    [
        lambda c, o: c.records.put(NS, "probe", {"v": 2}, **o),
        lambda c, o: c.blobs.put(NS, "b", b"x", **o),
    ],
    ids=["record.put", "blob.put"],
)
def test_bad_preconditions_on_writes_are_refused(
    seeded: StorageClient,
    options: dict[str, Any],
    argument: str,
    write: Callable[[StorageClient, dict[str, Any]], object],
) -> None:
    refused(lambda: write(seeded, options), argument)
    assert_untouched(seeded)


@pytest.mark.parametrize("etag", ["", 123, b"etag"], ids=repr)
def test_bad_if_match_on_delete_is_refused(seeded: StorageClient, etag: Any) -> None:
    refused(lambda: seeded.records.delete(NS, "probe", if_match=etag), "if_match")
    assert_untouched(seeded)


# --- namespaces, listing, principals ------------------------------------------------------


@pytest.mark.parametrize("namespace", [None, 5, "", "bad ns", "*", "-x", "a" * 129, "ns/sub"])
def test_malformed_namespaces_are_refused(client: StorageClient, namespace: Any) -> None:
    refused(lambda: client.records.put(namespace, "k", {}), "namespace")
    refused(lambda: client.blobs.list(namespace), "namespace")


def test_unknown_namespaces_are_refused(make_client: MakeClient) -> None:
    client = make_client({"namespaces": {"*": None, "orders": {"adapter": "memory"}}})
    error = refused(lambda: client.records.put("invoices", "k", {}), "namespace")
    assert "unknown namespace" in error.message
    assert error.namespace == "invoices"
    client.records.put("orders", "k", {})


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"limit": -1}, "limit"),
        ({"limit": 10001}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": 1.0}, "limit"),
        ({"limit": None}, "limit"),
        ({"prefix": 5}, "prefix"),
        ({"prefix": "a\nb"}, "prefix"),
        ({"start_after": ""}, "start_after"),
        ({"start_after": 5}, "start_after"),
    ],
    ids=repr,
)
def test_bad_list_arguments_are_refused(
    seeded: StorageClient, options: dict[str, Any], argument: str
) -> None:
    seeded.blobs.put(NS, "b", b"x")
    refused(lambda: seeded.blobs.list(NS, **options), argument)


@pytest.mark.parametrize("principal", [5, None, "", "a\x00"])
def test_principals_must_be_valid_names(make_client: MakeClient, principal: Any) -> None:
    refused(lambda: make_client(principal=principal), "principal")


# --- what adapters raise ------------------------------------------------------------------


@pytest.mark.parametrize("raw", [KeyError("k"), RuntimeError("boom"), TypeError("oops")], ids=repr)
def test_an_unmapped_adapter_exception_becomes_adapter_error(
    make_client: MakeClient, open_adapter: OpenAdapter, raw: Exception
) -> None:
    inner = open_adapter()
    records = Faulty(inner.records, get=raw, put=raw, get_and_fill=raw, put_and_purge=raw)
    client = make_client(adapter=AdapterDouble(inner, records=records))

    with pytest.raises(AdapterError) as info:
        client.records.get(NS, "k")

    error = info.value
    assert error.code == "adapter_error"
    assert error.__cause__ is raw
    assert type(raw).__name__ in error.message
    assert (error.op, error.namespace, error.key) == ("record.get", NS, "k")
    assert error.correlation_id
    with pytest.raises(AdapterError) as put_info:
        client.records.put(NS, "k", {})
    assert put_info.value.__cause__ is raw


def test_a_sanctum_error_from_the_adapter_keeps_its_type_and_gets_context(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    inner = open_adapter()
    raised = BackendUnavailableError("connection reset")
    blobs = Faulty(inner.blobs, get=raised, get_and_fill=raised)
    client = make_client(adapter=AdapterDouble(inner, blobs=blobs))

    with correlation_scope("req-7"), pytest.raises(BackendUnavailableError) as info:
        client.blobs.get(NS, "img")

    assert info.value is raised
    assert (raised.op, raised.namespace, raised.key) == ("blob.get", NS, "img")
    assert raised.correlation_id == "req-7"
    assert raised.retryable


def test_context_the_adapter_set_is_kept(client: StorageClient) -> None:
    with pytest.raises(NotFoundError) as info:
        client.records.get(NS, "missing")
    # The memory adapter names the namespace and key itself; the facade adds the rest.
    assert (info.value.namespace, info.value.key, info.value.op) == (NS, "missing", "record.get")


def test_a_store_error_never_escapes_unwrapped(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    inner = open_adapter()
    streams = Faulty(inner.streams, append=ZeroDivisionError("x"))
    client = make_client(adapter=AdapterDouble(inner, streams=streams))
    with pytest.raises(SanctumError) as info:
        client.streams.append(NS, "s", 1)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_context_the_adapter_filled_in_is_not_overwritten(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    inner = open_adapter()
    raised = NotFoundError(
        "gone", op="store.get", namespace="physical-ns", key="physical-key", correlation_id="c1"
    )
    client = make_client(
        adapter=AdapterDouble(inner, records=Faulty(inner.records, get=raised, get_and_fill=raised))
    )
    with correlation_scope("req-9"), pytest.raises(NotFoundError) as info:
        client.records.get(NS, "k")
    context = info.value.context()
    assert {k: context[k] for k in ("op", "namespace", "key", "correlation_id")} == {
        "op": "store.get",
        "namespace": "physical-ns",
        "key": "physical-key",
        "correlation_id": "c1",
    }
