"""The JSON codec of records and stream payloads: exact round trips on both paths.

orjson handles the common case; integers beyond 64 bits are written as exact fragments
and read back by the stack-free parser of ``json_text``. Either way a value comes back
equal, with the same types, at any call depth.
"""

from __future__ import annotations

import datetime
import inspect
import json
import math
import sys
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from facade_helpers import NS
from hypothesis import given
from hypothesis import strategies as st
from json_helpers import Color, Level, Point, Text, nested

from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import InvalidRequestError
from pytest_sanctum.json_codec import MAX_INT_DIGITS, MAX_JSON_DEPTH, decode_json, encode_json

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
    pytest.param(nested(MAX_JSON_DEPTH - 1), id="depth-128"),
    pytest.param([nested(MAX_JSON_DEPTH - 2), 2**70], id="depth-128-and-a-big-int"),
    pytest.param(10 ** (MAX_INT_DIGITS - 1), id="4300-digits"),
    pytest.param(-(10**MAX_INT_DIGITS) + 1, id="minus-4300-nines"),
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


def at_stack_depth(frames: int, call: Callable[[], Any]) -> Any:
    """Run ``call`` with ``frames`` more Python frames on the stack than the caller has."""
    if frames <= 0:
        return call()
    return at_stack_depth(frames - 1, call)


def frames_left() -> int:
    """How many more frames the interpreter allows from here (minus a small margin)."""
    depth = 0
    frame = inspect.currentframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return sys.getrecursionlimit() - depth - 8


@pytest.mark.parametrize("spare", [400, 60, 12], ids=lambda n: f"{n}-frames-spare")
def test_the_depth_limit_holds_at_any_stack_depth(spare: int) -> None:
    deepest = {"a": nested(MAX_JSON_DEPTH - 2), "n": 2**70}  # 128 containers, a long integer
    too_deep = {"a": nested(MAX_JSON_DEPTH - 1)}  # 129
    encoded = at_stack_depth(frames_left() - spare, lambda: encode_json(deepest, "value"))
    assert same(at_stack_depth(frames_left() - spare, lambda: decode_json(encoded)), deepest)
    with pytest.raises(InvalidRequestError) as info:
        at_stack_depth(frames_left() - spare, lambda: encode_json(too_deep, "value"))
    assert info.value.argument == "value"
    assert f"more than {MAX_JSON_DEPTH} levels" in info.value.message


def test_a_value_that_contains_itself_is_refused_as_too_deep() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidRequestError, match="contains itself"):
        encode_json({"loop": loop}, "value")


@pytest.mark.parametrize(
    "value",
    [10**MAX_INT_DIGITS, -(10**MAX_INT_DIGITS), {"n": [1, 10**5000]}],
    ids=["4301-digits", "minus-4301-digits", "10**5000-inside"],
)
def test_integers_beyond_4300_digits_are_refused(value: Any) -> None:
    with pytest.raises(InvalidRequestError, match=f"more than {MAX_INT_DIGITS} digits") as info:
        encode_json(value, "payload")
    assert info.value.argument == "payload"


def test_long_integers_round_trip_whatever_the_interpreters_digit_limit() -> None:
    value = {"n": 10 ** (MAX_INT_DIGITS - 1) + 7, "m": -(10**1000)}
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        assert same(decode_json(encode_json(value, "value")), value)
    finally:
        sys.set_int_max_str_digits(limit)


def test_stored_text_deeper_than_orjson_reads_still_decodes() -> None:
    # Written before the depth limit existed, or by another writer: 2,000 levels.
    value, depth = decode_json(b"[" * 2000 + b"]" * 2000), 1
    while value:
        (value,) = value
        depth += 1
    assert (value, depth) == ([], 2000)


def test_a_long_digit_run_inside_a_string_decodes_exactly() -> None:
    value = {"s": "1" * 40, "f": 1e300, "i": 2**64 - 1}
    assert same(decode_json(encode_json(value, "value")), value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"a": [1, (2, 3)]}, id="tuple"),
        pytest.param({"a": ()}, id="empty-tuple"),
        pytest.param({"a": Color.RED}, id="enum"),
        pytest.param([Level.HIGH], id="int-enum"),
        pytest.param({"a": uuid.UUID(int=7)}, id="uuid"),
        pytest.param({"a": orjson.Fragment(b"1")}, id="fragment"),
        pytest.param({"a": [1.0, math.nan]}, id="nan"),
        pytest.param({"a": {"b": -math.inf}}, id="minus-infinity"),
        pytest.param(math.inf, id="infinity-alone"),
        pytest.param({"a": nested(MAX_JSON_DEPTH)}, id="depth-129"),
        pytest.param({"a": Text("x")}, id="str-subclass"),
        pytest.param({Text("k"): 1}, id="str-subclass-key"),
        pytest.param({"a": datetime.date(2024, 1, 1)}, id="date"),
        pytest.param({"a": Point(1)}, id="dataclass"),
        pytest.param({"a": {1, 2}}, id="set"),
        pytest.param({"a": b"x"}, id="bytes"),
    ],
)
def test_what_orjson_would_write_but_json_does_not_carry_is_refused(value: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        encode_json(value, "payload")
    assert info.value.argument == "payload"


@pytest.mark.parametrize("spare", [60, 12], ids=lambda n: f"{n}-frames-spare")
def test_a_deep_value_orjson_wrote_is_accepted_at_any_stack_depth(spare: int) -> None:
    deepest = {"a": nested(MAX_JSON_DEPTH - 2), "f": 1.5}  # 128 containers, no long integer
    encoded = at_stack_depth(frames_left() - spare, lambda: encode_json(deepest, "value"))
    assert same(decode_json(encoded), deepest)


@pytest.mark.parametrize("offset", range(8))
def test_a_19_digit_integer_decodes_exactly_wherever_it_starts(offset: int) -> None:
    # Below -2**63, so orjson alone would read it as a float; 19 digits, the shortest run.
    text = b"[" + b" " * offset + b"-9999999999999999999]"
    assert same(decode_json(text), [-9999999999999999999])


@pytest.mark.parametrize(
    "text",
    [b'["2024-05-01T12:34:56Z"]', b'{"d":"1234567890123456789"}', b"[1.2345678901234567e+19]"],
    ids=["iso-date", "digits-in-a-string", "float"],
)
def test_digit_runs_that_are_not_long_integers_decode_as_orjson_reads_them(text: bytes) -> None:
    assert same(decode_json(text), orjson.loads(text))
