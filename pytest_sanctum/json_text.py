"""A JSON text parser that keeps its own stack, so its result never depends on the caller's.

The stdlib decoder recurses once per nesting level on the interpreter's stack: a document
that parses at one call depth raises ``RecursionError`` at a deeper one. This parser
walks containers with an explicit stack, reads strings with the stdlib's C string
scanner (which does not recurse), and converts integers of any length without the
interpreter's digit limit. It refuses ``NaN`` and ``Infinity``, which are not JSON.
It is the slow path: the facade parses with orjson first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from json import JSONDecodeError, decoder
from typing import Any

__all__ = ["int_from_text", "int_to_text", "parse_json_text"]

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS: tuple[tuple[str, object], ...] = (("true", True), ("false", False), ("null", None))
_NOT_JSON = ("NaN", "Infinity", "-Infinity")

_CHUNK_DIGITS = 600
"""Digits converted per step for long integers: below the smallest digit limit (640)."""
_CHUNK = 10**_CHUNK_DIGITS

PairsHook = Callable[[list[tuple[str, Any]]], Any]

scanstring: Callable[[str, int, bool], tuple[str, int]] = decoder.scanstring  # type: ignore[attr-defined]
"""The stdlib's string scanner (C): reads one JSON string without recursing."""


def int_from_text(digits: str) -> int:
    """The integer spelt by ``digits`` (optional ``-``, then ASCII digits), of any length."""
    try:
        return int(digits)
    except ValueError:  # beyond the interpreter's digit limit
        negative = digits.startswith("-")
        body = digits[1:] if negative else digits
        value = 0
        for start in range(0, len(body), _CHUNK_DIGITS):
            chunk = body[start : start + _CHUNK_DIGITS]
            value = value * 10 ** len(chunk) + int(chunk)
        return -value if negative else value


def int_to_text(value: int) -> str:
    """``str(value)`` for an integer of any length, whatever the interpreter's digit limit."""
    try:
        return str(value)
    except ValueError:
        magnitude = -value if value < 0 else value
        chunks: list[int] = []
        while magnitude:
            magnitude, low = divmod(magnitude, _CHUNK)
            chunks.append(low)
        text = str(chunks[-1]) + "".join(f"{c:0{_CHUNK_DIGITS}d}" for c in reversed(chunks[:-1]))
        return "-" + text if value < 0 else text


def _scalar(text: str, pos: int) -> tuple[object, int]:
    """The string, number or literal at ``pos`` and the position after it."""
    char = text[pos : pos + 1]
    if char == '"':
        return scanstring(text, pos + 1, True)
    number = _NUMBER.match(text, pos)
    if number is not None:
        whole, fraction, exponent = number.groups()
        if fraction or exponent:
            return float(number.group()), number.end()
        return int_from_text(whole), number.end()
    for name, value in _LITERALS:
        if text.startswith(name, pos):
            return value, pos + len(name)
    for name in _NOT_JSON:
        if text.startswith(name, pos):
            raise JSONDecodeError(f"{name} is not JSON (it has no NaN or infinity)", text, pos)
    raise JSONDecodeError("Expecting value", text, pos)


def _key(text: str, pos: int) -> tuple[str, int]:
    """An object key and its colon at ``pos``; the position after the colon and whitespace."""
    if text[pos : pos + 1] != '"':
        raise JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
    key, pos = scanstring(text, pos + 1, True)
    pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] != ":":
        raise JSONDecodeError("Expecting ':' delimiter", text, pos)
    return key, _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]


def parse_json_text(
    text: str, *, pairs_hook: PairsHook | None = None, max_depth: int | None = None
) -> Any:
    """Parse a JSON document into dicts, lists, str, int, float, bool and None.

    ``pairs_hook`` builds each object from its ``(key, value)`` list (default: ``dict``);
    ``max_depth`` refuses documents nesting more containers than that. Invalid text
    raises ``json.JSONDecodeError``.
    """
    build: PairsHook = dict if pairs_hook is None else pairs_hook
    ws = _WHITESPACE.match
    # Each open container: [is_object, items (pairs for objects), key awaiting a value].
    stack: list[list[Any]] = []
    pos = ws(text, 0).end()  # type: ignore[union-attr]
    while True:
        char = text[pos : pos + 1]
        value: Any
        if char == "{" or char == "[":
            if max_depth is not None and len(stack) >= max_depth:
                raise JSONDecodeError(f"nesting deeper than {max_depth} levels", text, pos)
            is_object = char == "{"
            pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] == ("}" if is_object else "]"):
                value, pos = (build([]) if is_object else []), pos + 1
            elif is_object:
                key, pos = _key(text, pos)
                stack.append([True, [], key])
                continue
            else:
                stack.append([False, [], None])
                continue
        else:
            value, pos = _scalar(text, pos)
        # Hand the finished value to its container, closing every container that ends here.
        while True:
            pos = ws(text, pos).end()  # type: ignore[union-attr]
            if not stack:
                if pos != len(text):
                    raise JSONDecodeError("Extra data", text, pos)
                return value
            top = stack[-1]
            is_object, items = top[0], top[1]
            items.append((top[2], value) if is_object else value)
            char = text[pos : pos + 1]
            if char == ",":
                pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
                if is_object:
                    top[2], pos = _key(text, pos)
                break
            if char != ("}" if is_object else "]"):
                raise JSONDecodeError("Expecting ',' delimiter", text, pos)
            stack.pop()
            value, pos = (build(items) if is_object else items), pos + 1
