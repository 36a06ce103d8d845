"""The canonical JSON codec of records and stream payloads: exact round trips on both paths.

orjson handles the common case; the stdlib takes over for integers beyond 64 bits, deep
nesting and invalid text. Either way a value comes back equal, with the same types.
"""

from __future__ import annotations

import json
import math
import tracemalloc
from typing import Any

import pytest
from facade_helpers import NS
from hypothesis import given
from hypothesis import strategies as st

from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import InvalidRequestError
from pytest_sanctum.validation import decode_json, encode_json


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


EDGE_VALUES = [
    pytest.param(2**63 - 1, id="i64-max"),
    pytest.param(-(2**63), id="i64-min"),
    pytest.param(2**64 - 1, id="u64-max"),
    pytest.param(2**64, id="u64-max-plus-1"),
    pytest.param(-(2**63) - 1, id="i64-min-minus-1"),
    pytest.param(10**40, id="40-digits"),
    pytest.param({"id": 12345678901234567890123, "n": [1, -(10**30)]}, id="big-ints-inside"),
    pytest.param(-9999999999999999999, id="19-digit-negative"),
    pytest.param(1e16, id="1e16"),
    pytest.param(1e-7, id="1e-7"),
    pytest.param(5e-324, id="smallest-subnormal"),
    pytest.param(-0.0, id="negative-zero"),
    pytest.param(0.1 + 0.2, id="0.30000000000000004"),
    pytest.param(1.0, id="integral-float"),
    pytest.param('é\u2028\x00\x1f"\\/€𝄞', id="escapes-and-unicode"),
    pytest.param({"": None, "a": True, "b": False}, id="empty-key-and-literals"),
    pytest.param(nested(254), id="depth-254"),
    pytest.param(nested(300), id="depth-300"),
    pytest.param({"d": "1" * 5000}, id="many-digits-in-a-string"),
]


def same(left: Any, right: Any) -> bool:
    """Equal, with equal types all the way down (``1 == 1.0`` is not enough here)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, float):
        return math.copysign(1.0, left) == math.copysign(1.0, right) and left == right
    return bool(left == right)


@pytest.mark.parametrize("value", EDGE_VALUES)
def test_edge_values_round_trip_exactly(value: Any) -> None:
    encoded = encode_json(value, "payload")
    assert same(decode_json(encoded), value)
    assert same(json.loads(encoded), value)  # it is plain JSON any decoder reads


def test_an_encoding_holds_no_more_memory_than_its_length() -> None:
    # orjson's own result keeps its whole output buffer alive (about 8 KiB for 1 KiB of
    # JSON); what the facade stores must cost its size.
    value = {"event": "order.paid", "data": "d" * 1000}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [encode_json(value, "payload") for _ in range(200)]
        per_item = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert per_item < 1.5 * len(kept[0])


def test_the_encoding_is_compact_utf8() -> None:
    assert encode_json({"a": [1, "é"], "b": None}, "payload") == '{"a":[1,"é"],"b":null}'.encode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_json_value_round_trips_exactly(value: Any) -> None:
    assert same(decode_json(encode_json(value, "payload")), value)


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as info:
        encode_json({"s": "\ud800"}, "payload")
    assert info.value.argument == "payload"
    assert "not valid Unicode" in info.value.message


@pytest.mark.parametrize("data", [b"{", b'{"a":1} x', b"[1,]", b'{"n":' + b"1" * 20 + b",}"])
def test_invalid_text_raises_json_decode_error(data: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        decode_json(data)


def test_invalid_utf8_raises_unicode_decode_error() -> None:
    with pytest.raises(UnicodeDecodeError):
        decode_json(b'"\xff"')


@pytest.mark.parametrize("data", [b"NaN", b'{"x":[Infinity]}', b"-Infinity"])
def test_non_finite_constants_are_not_decoded(data: bytes) -> None:
    with pytest.raises(ValueError, match="is not JSON"):
        decode_json(data)


def test_big_integers_survive_the_facade(client: StorageClient) -> None:
    value = {"id": 2**70 + 1, "ids": [-(2**65), 2**64], "price": 12.5}
    client.records.put(NS, "big", value)
    assert same(client.records.get(NS, "big", bypass_cache=True).value, value)
    client.streams.append(NS, "events", value)
    (delivery,) = client.streams.read(NS, "events", "g", "c")
    assert same(delivery.payload, value)
