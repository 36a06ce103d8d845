"""The encoder's member check: the C one (``_json_members.c``) and the Python one agree.

``encode_json`` lets orjson write a value, then checks that every member is a JSON value
within the depth limit (``members_are_json``). The check is compiled at install; without
a C compiler the install still succeeds and the Python check runs instead. Both must
answer the same for every value, and the encoder must accept, write and refuse the same
values with either.
"""

from __future__ import annotations

import datetime
import importlib.util
import math
import sys
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from json_helpers import Color, Level, Text, nested

from pytest_sanctum import json_codec
from pytest_sanctum.errors import InvalidRequestError
from pytest_sanctum.json_codec import MAX_JSON_DEPTH, encode_json, python_members_are_json

compiled: Any
try:
    from pytest_sanctum import _json_members as compiled
except ImportError:  # test_the_compiled_check_is_in_use says so
    compiled = None
needs_compiled = pytest.mark.skipif(compiled is None, reason="the C member check was not built")


class _Number(float):
    pass


class _Mapping(dict[str, Any]):
    pass


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
foreign_members = st.sampled_from(
    [
        (1, 2),
        (),
        Color.RED,
        Level.HIGH,
        uuid.UUID(int=7),
        orjson.Fragment(b"1"),
        math.nan,
        math.inf,
        -math.inf,
        Text("x"),
        _Number(1.5),
        _Mapping(a=1),
        datetime.date(2024, 1, 1),
        b"x",
        {1, 2},
        2**70,
        "\ud800",
    ]
)
"""What the check must refuse, or what orjson refuses before it (long integers, lone
surrogates): both checks see everything here when called directly."""

any_values = st.recursive(
    json_scalars | foreign_members,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=4) | st.integers(), children, max_size=4)
        | st.builds(nested, st.integers(1, 4), children)
    ),
    max_leaves=16,
)
deep_values = st.builds(
    lambda depth, leaf: {"a": nested(depth), "b": leaf},
    st.integers(MAX_JSON_DEPTH - 4, MAX_JSON_DEPTH + 2),
    json_scalars | foreign_members,
)


def test_the_compiled_check_is_in_use() -> None:
    # This project's install builds it (a C compiler is part of the development setup):
    # the encoder's speed (benchmark target C1) depends on it.
    assert json_codec.COMPILED_MEMBER_CHECK, (
        "pytest_sanctum._json_members was not built: the encoder runs the Python member"
        " check, about ten times slower (reinstall with a C compiler and Python headers)"
    )
    assert compiled is not None
    assert json_codec.members_are_json is compiled.members_are_json


def test_without_the_extension_the_python_check_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh copy of the codec module, imported as if the extension had not been built.
    monkeypatch.setitem(sys.modules, "pytest_sanctum._json_members", None)
    spec = importlib.util.find_spec("pytest_sanctum.json_codec")
    assert spec is not None
    assert spec.loader is not None
    codec = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(codec)
    assert not codec.COMPILED_MEMBER_CHECK
    assert codec.members_are_json is codec.python_members_are_json
    assert codec.encode_json({"a": [1, "x"]}, "value") == b'{"a":[1,"x"]}'
    with pytest.raises(InvalidRequestError, match=r"value\.a is a tuple"):
        codec.encode_json({"a": (1,)}, "value")


@needs_compiled
@given(any_values, st.integers(0, 6))
def test_both_checks_answer_the_same(value: Any, max_depth: int) -> None:
    expected = python_members_are_json(value, max_depth)
    assert compiled.members_are_json(value, max_depth) is expected


@needs_compiled
@given(deep_values)
def test_both_checks_answer_the_same_at_the_depth_limit(value: Any) -> None:
    expected = python_members_are_json(value, MAX_JSON_DEPTH)
    assert compiled.members_are_json(value, MAX_JSON_DEPTH) is expected


def _outcome(value: Any) -> tuple[str, Any]:
    try:
        return "encoded", encode_json(value, "value")
    except InvalidRequestError as error:
        return "refused", (error.code, error.argument, error.message)


@needs_compiled
@given(any_values | deep_values)
def test_the_encoder_writes_and_refuses_the_same_with_either_check(value: Any) -> None:
    with_compiled = _outcome(value)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_codec, "members_are_json", python_members_are_json)
        with_python = _outcome(value)
    assert with_compiled == with_python


@needs_compiled
def test_a_value_that_contains_itself_stops_at_the_depth_limit() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert compiled.members_are_json(loop, MAX_JSON_DEPTH) is False
    assert compiled.members_are_json({"a": loop}, MAX_JSON_DEPTH) is False


@needs_compiled
@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((), TypeError),
        (([],), TypeError),
        (([], 1, 2), TypeError),
        (([], "1"), TypeError),
        (([], -1), ValueError),
        (([], 1001), ValueError),
    ],
    ids=["no-arguments", "one", "three", "depth-not-int", "negative-depth", "depth-over-1000"],
)
def test_the_compiled_check_refuses_bad_arguments(args: tuple[Any, ...], error: type) -> None:
    with pytest.raises(error):
        compiled.members_are_json(*args)
