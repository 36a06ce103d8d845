"""Versions, etags, preconditions and capability checks of the blob and record layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from facade_helpers import LAYERS, NS, AdapterDouble, MakeClient, get_value, put_value

from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import (
    AdapterError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    UnsupportedOperationError,
)
from pytest_sanctum.types import BlobInfo
from reference_adapters.memory import MemoryAdapter

OpenAdapter = Callable[..., MemoryAdapter]


def delete(client: StorageClient, layer: str, key: str, **options: Any) -> None:
    if layer == "record":
        client.records.delete(NS, key, **options)
    else:
        client.blobs.delete(NS, key, **options)


@pytest.mark.parametrize("layer", LAYERS)
def test_versions_start_at_one_increase_and_continue_after_delete(
    client: StorageClient, layer: str
) -> None:
    results = [put_value(client, layer, "k", n) for n in range(3)]
    delete(client, layer, "k")
    with pytest.raises(NotFoundError):
        get_value(client, layer, "k")
    results.append(put_value(client, layer, "k", 3))

    assert [r.version for r in results] == [1, 2, 3, 4]
    assert len({r.etag for r in results}) == 4
    assert get_value(client, layer, "k") == (3, 4)


@pytest.mark.parametrize("layer", LAYERS)
def test_same_payload_written_twice_gets_two_etags(client: StorageClient, layer: str) -> None:
    assert put_value(client, layer, "k", 1).etag != put_value(client, layer, "k", 1).etag


@pytest.mark.parametrize("layer", LAYERS)
def test_if_match_on_put(client: StorageClient, layer: str) -> None:
    first = put_value(client, layer, "k", 1)
    second = put_value(client, layer, "k", 2, if_match=first.etag)
    assert second.version == 2

    with pytest.raises(PreconditionFailedError) as stale:
        put_value(client, layer, "k", 3, if_match=first.etag)
    with pytest.raises(PreconditionFailedError) as missing:
        put_value(client, layer, "absent", 1, if_match=first.etag)

    assert (stale.value.current_etag, stale.value.current_version) == (second.etag, 2)
    assert (missing.value.current_etag, missing.value.current_version) == (None, None)
    assert get_value(client, layer, "k") == (2, 2)
    with pytest.raises(NotFoundError):
        get_value(client, layer, "absent")


@pytest.mark.parametrize("layer", LAYERS)
def test_if_none_match_makes_a_put_create_only(client: StorageClient, layer: str) -> None:
    created = put_value(client, layer, "k", 1, if_none_match="*")
    with pytest.raises(PreconditionFailedError) as exists:
        put_value(client, layer, "k", 2, if_none_match="*")
    assert (exists.value.current_etag, exists.value.current_version) == (created.etag, 1)
    assert get_value(client, layer, "k") == (1, 1)

    delete(client, layer, "k")
    assert put_value(client, layer, "k", 3, if_none_match="*").version == 2


@pytest.mark.parametrize("layer", LAYERS)
def test_if_match_on_delete(client: StorageClient, layer: str) -> None:
    first = put_value(client, layer, "k", 1)
    second = put_value(client, layer, "k", 2)

    with pytest.raises(PreconditionFailedError) as stale:
        delete(client, layer, "k", if_match=first.etag)
    assert stale.value.current_etag == second.etag
    assert get_value(client, layer, "k") == (2, 2)

    delete(client, layer, "k", if_match=second.etag)
    with pytest.raises(NotFoundError):
        get_value(client, layer, "k")
    with pytest.raises(NotFoundError):
        delete(client, layer, "k")
    with pytest.raises(NotFoundError):
        delete(client, layer, "k", if_match=second.etag)


@pytest.mark.parametrize("layer", LAYERS)
def test_if_match_and_if_none_match_together_are_refused(client: StorageClient, layer: str) -> None:
    first = put_value(client, layer, "k", 1)
    with pytest.raises(InvalidRequestError) as info:
        put_value(client, layer, "k", 2, if_match=first.etag, if_none_match="*")
    assert info.value.argument == "if_none_match"
    assert get_value(client, layer, "k") == (1, 1)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize(
    "conditional",
    [
        lambda c, layer, etag: put_value(c, layer, "k", 2, if_match=etag),
        lambda c, layer, etag: put_value(c, layer, "k", 2, if_none_match="*"),
        lambda c, layer, etag: delete(c, layer, "k", if_match=etag),
    ],
    ids=["put-if-match", "put-if-none-match", "delete-if-match"],
)
def test_conditional_writes_need_the_capability(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    layer: str,
    conditional: Callable[[StorageClient, str, str], object],
) -> None:
    adapter = AdapterDouble(open_adapter(), capabilities={"conditional_writes": False})
    client = make_client(adapter=adapter)
    first = put_value(client, layer, "k", 1)

    with pytest.raises(UnsupportedOperationError) as info:
        conditional(client, layer, first.etag)

    assert info.value.capability == "conditional_writes"
    assert get_value(client, layer, "k") == (1, 1)
    assert put_value(client, layer, "k", 5).version == 2  # unconditional writes still work


BLOB_OPS: dict[str, Callable[[StorageClient], object]] = {
    "blob.put": lambda c: c.blobs.put(NS, "k", b"x"),
    "blob.get": lambda c: c.blobs.get(NS, "k"),
    "blob.head": lambda c: c.blobs.head(NS, "k"),
    "blob.delete": lambda c: c.blobs.delete(NS, "k"),
    "blob.list": lambda c: c.blobs.list(NS),
}
RECORD_OPS: dict[str, Callable[[StorageClient], object]] = {
    "record.put": lambda c: c.records.put(NS, "k", {}),
    "record.get": lambda c: c.records.get(NS, "k"),
    "record.delete": lambda c: c.records.delete(NS, "k"),
}
STREAM_OPS: dict[str, Callable[[StorageClient], object]] = {
    "stream.append": lambda c: c.streams.append(NS, "s", 1),
    "stream.read": lambda c: c.streams.read(NS, "s", "g", "c"),
    "stream.ack": lambda c: c.streams.ack(NS, "s", "g", ["1"]),
    "stream.checkpoint": lambda c: c.streams.checkpoint(NS, "s", "g"),
}
CACHE_OPS: dict[str, Callable[[StorageClient], object]] = {
    "cache.get": lambda c: c.cache.get(NS, "k"),
    "cache.set": lambda c: c.cache.set(NS, "k", b"x"),
    "cache.delete": lambda c: c.cache.delete(NS, "k"),
}


@pytest.mark.parametrize(
    ("capability", "swaps", "ops"),
    [
        ("blobs", {}, BLOB_OPS),
        ("records", {}, RECORD_OPS),
        ("streams", {}, STREAM_OPS),
        ("streams", {"streams": None, "checkpoints": None}, STREAM_OPS),
        ("cache", {"cache": None}, CACHE_OPS),
    ],
    ids=["blobs", "records", "streams", "streams-absent", "cache"],
)
def test_an_undeclared_layer_is_unsupported_with_its_capability_named(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    capability: str,
    swaps: dict[str, Any],
    ops: dict[str, Callable[[StorageClient], object]],
) -> None:
    adapter = AdapterDouble(open_adapter(), capabilities={capability: False}, **swaps)
    client = make_client(adapter=adapter)
    for op, call in ops.items():
        with pytest.raises(UnsupportedOperationError) as info:
            call(client)
        assert info.value.capability == capability, op
        assert info.value.namespace == NS


# --- head and list ------------------------------------------------------------------------


def test_head_returns_the_current_metadata(client: StorageClient) -> None:
    written = client.blobs.put(NS, "a", b"12345", content_type="text/plain")
    assert client.blobs.head(NS, "a") == BlobInfo("a", 1, written.etag, 5, "text/plain")
    with pytest.raises(NotFoundError):
        client.blobs.head(NS, "missing")


def test_list_filters_by_prefix_pages_with_start_after_and_limit(client: StorageClient) -> None:
    for key in ["img/2", "img/1", "img/3", "doc/1"]:
        client.blobs.put(NS, key, key.encode())

    assert [i.key for i in client.blobs.list(NS, "img/")] == ["img/1", "img/2", "img/3"]
    assert [i.key for i in client.blobs.list(NS, "img/", limit=2)] == ["img/1", "img/2"]
    page = client.blobs.list(NS, "img/", start_after="img/2")
    assert [i.key for i in page] == ["img/3"]
    assert client.blobs.list(NS, limit=0) == []
    assert len(client.blobs.list(NS, limit=10000)) == 4
    assert client.blobs.list("elsewhere") == []


class _ShortPages:
    """A blob store whose ``list`` returns at most ``page`` entries, and counts its calls."""

    def __init__(self, inner: Any, page: int) -> None:
        self.inner = inner
        self.page = page
        self.calls: list[tuple[str, str | None, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        self.calls.append((prefix, start_after, limit))
        return self.inner.list(  # type: ignore[no-any-return]
            namespace, prefix, start_after=start_after, limit=min(limit, self.page)
        )


KEYS = ["doc/1", "img/1", "img/2", "img/3", "img/4", "img/5", "imh/1"]


@pytest.mark.parametrize(
    ("prefix", "start_after", "limit", "expected"),
    [
        ("img/", None, 4, ["img/1", "img/2", "img/3", "img/4"]),
        ("img/", "img/1", 3, ["img/2", "img/3", "img/4"]),
        ("img/", "img/3", 10, ["img/4", "img/5"]),
        ("img/", "a", 2, ["img/1", "img/2"]),
        ("", "img/4", 10, ["img/5", "imh/1"]),
        ("img/", "img/5", 10, []),
        ("img/", None, 0, []),
    ],
)
def test_list_fills_its_page_from_short_adapter_pages(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    prefix: str,
    start_after: str | None,
    limit: int,
    expected: list[str],
) -> None:
    """An adapter returning two entries per call still gives callers min(limit, remaining)."""
    inner = open_adapter()
    paged = _ShortPages(inner.blobs, page=2)
    client = make_client(adapter=AdapterDouble(inner, blobs=paged))
    for key in KEYS:
        client.blobs.put(NS, key, key.encode())

    listed = [
        info.key for info in client.blobs.list(NS, prefix, start_after=start_after, limit=limit)
    ]

    assert listed == expected


def test_list_pages_until_full_or_empty_with_the_last_key_as_cursor(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    """Each adapter call asks for what is still missing, after the last key received."""
    inner = open_adapter()
    paged = _ShortPages(inner.blobs, page=2)
    client = make_client(adapter=AdapterDouble(inner, blobs=paged))
    for key in KEYS:
        client.blobs.put(NS, key, key.encode())

    full = client.blobs.list(NS, "img/", limit=4)
    calls_for_full, paged.calls = paged.calls, []
    short = client.blobs.list(NS, "img/", start_after="img/2", limit=10)

    assert [info.key for info in full] == ["img/1", "img/2", "img/3", "img/4"]
    assert calls_for_full == [("img/", None, 4), ("img/", "img/2", 2)]
    assert [info.key for info in short] == ["img/3", "img/4", "img/5"]
    assert paged.calls == [("img/", "img/2", 10), ("img/", "img/4", 8), ("img/", "img/5", 7)]


class _BrokenList:
    """A blob store whose ``list`` returns a fixed page, whatever it is asked."""

    def __init__(self, inner: Any, page: list[str]) -> None:
        self.inner = inner
        self.page = page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list(self, namespace: str, prefix: str = "", **options: Any) -> list[BlobInfo]:
        return [BlobInfo(key, 1, "e", 0) for key in self.page]


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        (["img/1", "img/2", "img/3"], "3 entries for a limit of 2"),
        (["img/2", "img/1"], "key 'img/1' after 'img/2'"),
        (["img/1", "img/1"], "key 'img/1' after 'img/1'"),
        (["img/0"], "key 'img/0' after 'img/0'"),
        (["doc/1"], "without the prefix 'img/'"),
    ],
)
def test_a_list_page_out_of_order_is_an_adapter_error(
    make_client: MakeClient, open_adapter: OpenAdapter, page: list[str], problem: str
) -> None:
    """A page the next one could not start from is refused, not passed on or looped over."""
    inner = open_adapter()
    client = make_client(adapter=AdapterDouble(inner, blobs=_BrokenList(inner.blobs, page)))
    start_after = "img/0" if page == ["img/0"] else None

    with pytest.raises(AdapterError) as raised:
        client.blobs.list(NS, "img/", start_after=start_after, limit=2)

    assert problem in raised.value.message
    assert raised.value.op == "blob.list"
