"""Hostile arguments are the caller's mistake: ``InvalidRequestError`` naming the argument.

Objects whose ``__hash__``, ``__eq__``, ``__repr__`` or ``__class__`` raise, integers
beyond the interpreter's digit limit, values nested beyond the fixed limit: each is
refused before the backend is called, never reported as an ``AdapterError``. Also: blob
content types, values at any stack depth, and stream messages that do not decode.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import pytest
from facade_helpers import NS
from hostile import HOSTILE, HostileBytes

from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import AdapterError, InvalidRequestError
from pytest_sanctum.json_codec import MAX_JSON_DEPTH
from pytest_sanctum.validation import MAX_CONTENT_TYPE_LENGTH
from reference_adapters.memory import MemoryAdapter

# The valid call of each method; each argument is replaced in turn by a hostile value.
CALLS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "blob.put": (
        lambda c, **a: c.blobs.put(**a),
        {
            "namespace": NS,
            "key": "k",
            "data": b"x",
            "content_type": "text/plain",
            "if_match": None,
            "if_none_match": None,
        },
    ),
    "blob.get": (
        lambda c, **a: c.blobs.get(**a),
        {
            "namespace": NS,
            "key": "probe",
            "level": "eventual",
            "bypass_cache": False,
            "if_match": None,
        },
    ),
    "blob.head": (lambda c, **a: c.blobs.head(**a), {"namespace": NS, "key": "probe"}),
    "blob.delete": (
        lambda c, **a: c.blobs.delete(**a),
        {"namespace": NS, "key": "probe", "if_match": None},
    ),
    "blob.list": (
        lambda c, **a: c.blobs.list(**a),
        {"namespace": NS, "prefix": "p", "start_after": "a", "limit": 10},
    ),
    "record.put": (
        lambda c, **a: c.records.put(**a),
        {"namespace": NS, "key": "k", "value": {"a": 1}, "if_match": None, "if_none_match": None},
    ),
    "record.get": (
        lambda c, **a: c.records.get(**a),
        {
            "namespace": NS,
            "key": "probe",
            "level": "strong",
            "bypass_cache": True,
            "if_match": None,
        },
    ),
    "record.delete": (
        lambda c, **a: c.records.delete(**a),
        {"namespace": NS, "key": "probe", "if_match": None},
    ),
    "stream.append": (
        lambda c, **a: c.streams.append(**a),
        {"namespace": NS, "stream": "s", "payload": {"a": 1}, "idempotency_key": "i"},
    ),
    "stream.read": (
        lambda c, **a: c.streams.read(**a),
        {
            "namespace": NS,
            "stream": "s",
            "group": "g",
            "consumer": "c",
            "count": 1,
            "visibility_timeout_ms": 100,
        },
    ),
    "stream.ack": (
        lambda c, **a: c.streams.ack(**a),
        {"namespace": NS, "stream": "s", "group": "g", "message_ids": ["1"]},
    ),
    "stream.checkpoint": (
        lambda c, **a: c.streams.checkpoint(**a),
        {"namespace": NS, "stream": "s", "group": "g"},
    ),
    "cache.get": (lambda c, **a: c.cache.get(**a), {"namespace": NS, "key": "k"}),
    "cache.set": (
        lambda c, **a: c.cache.set(**a),
        {"namespace": NS, "key": "k", "value": b"v", "ttl_ms": 100},
    ),
    "cache.delete": (lambda c, **a: c.cache.delete(**a), {"namespace": NS, "key": "k"}),
    "as_principal": (lambda c, **a: c.as_principal(**a), {"principal": "p"}),
}

ACCEPTED = {("data", "hostile-bytes"), ("value", "hostile-bytes")}
"""A ``bytes`` subclass is bytes: its buffer is read, its raising ``__bytes__`` is not called."""


def _cases() -> list[Any]:
    return [
        pytest.param(op, argument, value, id=f"{op}-{argument}-{name}")
        for op, (_, arguments) in CALLS.items()
        for argument in arguments
        for name, value in HOSTILE.items()
        if (argument, name) not in ACCEPTED
    ]


def snapshot(adapter: MemoryAdapter) -> tuple[object, ...]:
    """Everything the memory server and the adapter's private cache hold."""
    server = adapter.server
    with server.lock:
        return (
            {ns: dict(objects) for ns, objects in server.blobs.live.items()},
            {ns: dict(objects) for ns, objects in server.records.live.items()},
            {ns: {s: list(log) for s, log in logs.items()} for ns, logs in server.messages.items()},
            {ns: dict(groups) for ns, groups in server.checkpoints.items()},
            dict(server.idempotency.entries),
            {ns: dict(entries) for ns, entries in adapter.cache._table.namespaces.items()},
        )


@pytest.fixture
def seeded(client: StorageClient) -> StorageClient:
    client.blobs.put(NS, "probe", b"p")
    client.records.put(NS, "probe", {"v": 1})
    client.streams.append(NS, "s", {"n": 1})
    client.streams.read(NS, "s", "g", "c")
    client.cache.set(NS, "k", b"cached")
    return client


@pytest.mark.parametrize(("op", "argument", "value"), _cases())
def test_a_hostile_argument_is_refused_naming_it_and_changes_nothing(
    seeded: StorageClient, op: str, argument: str, value: object
) -> None:
    call, arguments = CALLS[op]
    adapter = seeded.adapters["memory"]
    assert isinstance(adapter, MemoryAdapter)
    before = snapshot(adapter)
    with pytest.raises(InvalidRequestError) as info:
        call(seeded, **{**arguments, argument: value})
    assert info.value.argument == argument
    assert len(str(info.value)) < 600
    assert snapshot(adapter) == before


def test_a_bytes_subclass_is_read_through_its_buffer(client: StorageClient) -> None:
    client.blobs.put(NS, "b", HostileBytes(b"raw"))
    client.cache.set(NS, "c", HostileBytes(b"raw"))
    assert client.blobs.get(NS, "b").data == client.cache.get(NS, "c") == b"raw"


def test_a_huge_integer_in_a_record_is_the_callers_mistake(client: StorageClient) -> None:
    # Issue 11: {"n": 10**5000} ended as AdapterError.
    with pytest.raises(InvalidRequestError, match="more than 4300 digits") as info:
        client.records.put(NS, "k", {"n": 10**5000})
    assert info.value.argument == "value"


# --- nesting at any stack depth ---------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    """A record nesting ``depth`` containers (the record itself is the first)."""
    value: Any = []
    for _ in range(depth - 2):
        value = [value]
    return {"a": value}


def at_stack_depth(frames: int, call: Callable[[], Any]) -> Any:
    return call() if frames <= 0 else at_stack_depth(frames - 1, call)


def spare_frames() -> int:
    return sys.getrecursionlimit() - len(inspect.stack(0))


@pytest.mark.parametrize("deeper", [20, 200])
def test_a_value_accepted_anywhere_reads_back_from_deeper_in_the_stack(
    client: StorageClient, deeper: int
) -> None:
    # Issue 11: a put accepted 991 levels, and a get made 20 frames deeper failed.
    value = nested(MAX_JSON_DEPTH)
    at_stack_depth(spare_frames() - 250, lambda: client.records.put(NS, "deep", value))
    client.streams.append(NS, "deep", value)
    record = at_stack_depth(
        spare_frames() - 250 + deeper,
        lambda: client.records.get(NS, "deep", bypass_cache=True),
    )
    (delivery,) = at_stack_depth(
        spare_frames() - 250 + deeper, lambda: client.streams.read(NS, "deep", "g", "c")
    )
    assert record.value == delivery.payload == value


@pytest.mark.parametrize("spare", [600, 250, 60])
def test_too_deep_is_refused_the_same_at_every_stack_depth(
    client: StorageClient, spare: int
) -> None:
    with pytest.raises(InvalidRequestError, match=f"more than {MAX_JSON_DEPTH} levels") as info:
        at_stack_depth(
            spare_frames() - spare,
            lambda: client.records.put(NS, "deep", nested(MAX_JSON_DEPTH + 1)),
        )
    assert info.value.argument == "value"


# --- content types ----------------------------------------------------------------------

VALID_CONTENT_TYPES = [
    "text/plain",
    "application/octet-stream",
    "text/plain; charset=utf-8",
    "text/plain;charset=UTF-8",
    'multipart/form-data; boundary="a b;c\\"d"',
    "application/vnd.api+json",
    "image/svg+xml; q=1 ;;",
    "x-custom/!#$%&'*+.^_`|~",
    "a/" + "b" * (MAX_CONTENT_TYPE_LENGTH - 2),
]

INVALID_CONTENT_TYPES = [
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param("\x00\n", id="nul-newline"),
    pytest.param("text/plain\n", id="trailing-newline"),
    pytest.param("text/plain\r\nX-Injected: 1", id="header-injection"),
    pytest.param("", id="empty"),
    pytest.param("text", id="no-subtype"),
    pytest.param("text/", id="empty-subtype"),
    pytest.param("/plain", id="empty-type"),
    pytest.param("text/plain/x", id="two-slashes"),
    pytest.param("text /plain", id="space-in-type"),
    pytest.param("text/plain; charset", id="parameter-without-value"),
    pytest.param("text/plain; charset=", id="empty-parameter-value"),
    pytest.param('text/plain; a="unterminated', id="unterminated-quote"),
    pytest.param("text/plain; a=b c", id="space-in-token"),
    pytest.param("text/plaïn", id="non-ascii"),
    pytest.param(" text/plain", id="leading-space"),
    pytest.param("a/" + "b" * (MAX_CONTENT_TYPE_LENGTH - 1), id="256-characters"),
    pytest.param("a/" + "b" * 1_000_000, id="a-megabyte"),
]


@pytest.mark.parametrize("content_type", VALID_CONTENT_TYPES)
def test_media_types_are_stored_exactly_as_given(client: StorageClient, content_type: str) -> None:
    client.blobs.put(NS, "b", b"x", content_type=content_type)
    assert client.blobs.head(NS, "b").content_type == content_type
    assert client.blobs.get(NS, "b", bypass_cache=True).content_type == content_type


@pytest.mark.parametrize("content_type", INVALID_CONTENT_TYPES)
def test_anything_else_is_refused_before_the_backend(
    client: StorageClient, content_type: str
) -> None:
    # Issue 11: "\ud800" was stored by memory, refused without argument by SQLite and an
    # AdapterError on Redis; "\x00\n" was stored.
    with pytest.raises(InvalidRequestError) as info:
        client.blobs.put(NS, "b", b"x", content_type=content_type)
    assert info.value.argument == "content_type"
    assert len(info.value.message) < 300
    assert client.blobs.list(NS) == []


# --- stream messages that do not decode -------------------------------------------------

UNDECODABLE = [b"not json", b"\xff\xfe", b"[" * 2000 + b"1", b'{"x":NaN}']


def test_an_undecodable_message_does_not_block_its_batch(client: StorageClient) -> None:
    # Issue 11: one poison message failed every read, and the good messages claimed with
    # it stayed pending.
    log = client.adapters["memory"].streams
    assert log is not None
    client.streams.append(NS, "s", {"n": 1})
    for data in UNDECODABLE:
        log.append(NS, "s", data)
    client.streams.append(NS, "s", {"n": 6})
    batch = client.streams.read(NS, "s", "g", "c")
    assert [d.message_id for d in batch] == ["1", "2", "3", "4", "5", "6"]
    assert [d.payload for d in batch if d.error is None] == [{"n": 1}, {"n": 6}]
    for delivery in batch[1:5]:
        assert isinstance(delivery.error, AdapterError)
        assert delivery.payload is None
        assert f"message {delivery.message_id} of stream 's'" in delivery.error.message
        assert delivery.error.key == "s"
        assert delivery.error.__cause__ is not None
    assert client.streams.ack(NS, "s", "g", [d.message_id for d in batch]) == 6
    assert client.streams.checkpoint(NS, "s", "g").floor == 6


def test_an_undecodable_message_left_unacked_comes_again(client: StorageClient, clock: Any) -> None:
    log = client.adapters["memory"].streams
    assert log is not None
    log.append(NS, "s", b"not json")
    client.streams.append(NS, "s", {"n": 2})
    first = client.streams.read(NS, "s", "g", "c", visibility_timeout_ms=100)
    client.streams.ack(NS, "s", "g", [first[1].message_id])
    clock.advance(100)
    (again,) = client.streams.read(NS, "s", "g", "c")
    assert (again.message_id, again.delivery_count, again.payload) == ("1", 2, None)
    assert isinstance(again.error, AdapterError)


@pytest.mark.parametrize("etag", ["\ud800", "a\nb", "\x00", "e" * 1025, "é" * 513])
@pytest.mark.parametrize("op", ["blob.put", "blob.get", "blob.delete"])
def test_an_etag_has_the_grammar_of_a_key(seeded: StorageClient, op: str, etag: str) -> None:
    # Found by the fuzz test: if_match="\ud800" reached Redis and came back as AdapterError.
    call, arguments = CALLS[op]
    with pytest.raises(InvalidRequestError) as info:
        call(seeded, **{**arguments, "if_match": etag})
    assert info.value.argument == "if_match"
