"""The JSON codec of records and stream payloads, with its fixed limits.

Values are compact UTF-8 JSON, keys in the order the caller gave them: the encoding is
not canonical (equal objects built in different orders encode differently). What the facade accepts is exactly what round-trips: a
``dict``, ``list``, ``str``, ``int``, ``float`` (finite), ``bool`` or ``None``, nesting at
most ``MAX_JSON_DEPTH`` containers, integers of at most ``MAX_INT_DIGITS`` digits and
strings of valid Unicode. The limits hold whatever the caller's stack depth: the checks
recurse at most ``MAX_JSON_DEPTH`` frames and fall back to an explicit stack when the
caller's stack is nearly used up, orjson encodes and decodes without the interpreter's
stack, and the slow decoder (``json_text``) keeps its own stack. So a value accepted on
write always decodes on read.

The check of every member after orjson wrote a value is C (``_json_members.c``, an
optional extension built at install) when it was built, and the same check in Python
otherwise; ``COMPILED_MEMBER_CHECK`` says which.
"""

from __future__ import annotations

import math
from typing import Any, cast

import orjson

from pytest_sanctum.describe import describe
from pytest_sanctum.errors import InvalidRequestError
from pytest_sanctum.json_text import int_to_text, parse_json_text

__all__ = [
    "COMPILED_MEMBER_CHECK",
    "MAX_INT_DIGITS",
    "MAX_JSON_DEPTH",
    "decode_json",
    "encode_json",
]

MAX_JSON_DEPTH = 128
"""Most containers a record value or stream payload may nest (``{"a": [1]}`` nests 2)."""

MAX_INT_DIGITS = 4300
"""Most decimal digits of an integer in a record or payload (CPython's default digit limit)."""

_INT_BOUND = 10**MAX_INT_DIGITS
_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1
"""orjson writes integers in [-2**63, 2**64 - 1] itself; longer ones are written as fragments."""

_DIGIT_RUN = b"0" * 19
"""A run of 19 digits: every integer orjson would decode as a float (beyond 64 bits) has one."""

_DIGITS_AS_ZERO = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
"""A ``bytes.translate`` table: each ASCII digit becomes ``0``, every other byte a space.

Translating, then searching the result for ``_DIGIT_RUN``, finds a run of digits in two
fast C passes; a regular expression tries its pattern at every offset, several times
slower than ``orjson.loads`` itself on a large document."""

_SAMPLED_RUN = b"0" * 4
"""What every fourth byte of a run of 19 digits shows: its first sample is at most 3
bytes in and the fourth 12 bytes further, so four samples in a row are digits."""

_orjson_dumps = orjson.dumps
_orjson_loads = orjson.loads
_Fragment = orjson.Fragment
_isfinite = math.isfinite

_STRICT = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
"""orjson options that make it refuse subclasses, dataclasses and dates (``TypeError``)
instead of writing them as JSON."""

_PLAIN = frozenset({str, int, bool, type(None)})
"""The scalar types orjson writes exactly (it refuses integers beyond 64 bits itself)."""


def _members_are_json(value: object, depth: int, max_depth: int) -> bool:
    """Whether a value orjson just wrote (with ``_STRICT``) is a JSON value within ``max_depth``.

    orjson has already refused what it cannot write exactly: keys that are not exactly
    ``str``, subclasses, dataclasses, dates, other unknown types, integers beyond 64 bits,
    invalid strings and cycles. What it writes but JSON does not carry is left: tuples
    (as arrays), enums (as their values), UUIDs and ``orjson.Fragment``, non-finite floats
    (as ``null``), and nesting beyond ``MAX_JSON_DEPTH``. So this looks at values only, not
    keys, and each member costs a type lookup: the hot path of every record put and
    stream append. ``_json_members.c`` is the same check in C, used when it was built.
    """
    kind = type(value)
    if kind is dict or kind is list:
        if depth > max_depth:
            return False
        members: Any = value.values() if kind is dict else value  # type: ignore[attr-defined]
        for item in members:
            item_kind = type(item)
            if item_kind in _PLAIN:
                continue
            if item_kind is float:
                if item - item != 0.0:  # inf - inf and nan - nan are nan
                    return False
            elif (item_kind is not dict and item_kind is not list) or not _members_are_json(
                item, depth + 1, max_depth
            ):
                return False
        return True
    if kind in _PLAIN:
        return True
    return kind is float and _isfinite(value)  # type: ignore[arg-type]


def python_members_are_json(value: object, max_depth: int) -> bool:
    """The member check in Python: ``_members_are_json`` from the outermost level.

    ``False`` when the caller's stack is nearly used up (``RecursionError``): the encoder
    then asks ``_problem``, whose explicit stack answers the same at any call depth.
    """
    try:
        return _members_are_json(value, 1, max_depth)
    except RecursionError:
        return False


try:
    from pytest_sanctum._json_members import members_are_json
except ImportError:  # installed without a C compiler: the same check, in Python
    members_are_json = python_members_are_json
COMPILED_MEMBER_CHECK = members_are_json is not python_members_are_json
"""Whether the encoder's member check is the C one (``_json_members.c``, built at install)."""


def _problem(value: object, path: str) -> str | None:
    """The first reason, in document order, why ``value`` is not accepted; ``None`` if it is.

    Walks with an explicit stack, so it answers the same at any call depth; it runs only
    when orjson or the fast check said no.
    """
    stack: list[tuple[object, str, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is float:
            if not _isfinite(item):  # type: ignore[arg-type]
                return f"{where} is {item!r}: JSON has no NaN or infinity"
            continue
        if kind is not dict and kind is not list:
            return (
                f"{where} is a {kind.__name__}, which is not a JSON value "
                "(use dict, list, str, int, float, bool or None)"
            )
        if depth > MAX_JSON_DEPTH:
            return (
                f"{path} is nested too deeply: more than {MAX_JSON_DEPTH} levels of objects and"
                " arrays (or it contains itself)"
            )
        children: list[tuple[object, str, int]] = []
        if kind is dict:
            for item_key, member in item.items():  # type: ignore[attr-defined]
                if type(item_key) is not str:
                    return (
                        f"{where} has a non-string key {describe(item_key)}: JSON object keys"
                        " are strings"
                    )
                children.append((member, f"{where}.{item_key}", depth + 1))
        else:
            children = [
                (member, f"{where}[{index}]", depth + 1)
                for index, member in enumerate(cast(list[object], item))
            ]
        stack.extend(reversed(children))
    return None


def _checked_text(text: str, where: str, argument: str) -> None:
    """Refuse a string that UTF-8 cannot encode (a lone surrogate such as ``"\\ud800"``)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InvalidRequestError(
                f"{where} holds a string that is not valid Unicode ({error.reason}, e.g. a lone"
                " surrogate)",
                argument=argument,
            ) from None


def _encodable(item: object, where: str, argument: str) -> object:
    """A scalar as orjson can write it: long integers become exact JSON fragments."""
    kind = type(item)
    if kind is str:
        _checked_text(item, where, argument)  # type: ignore[arg-type]
    elif kind is int and not _I64_MIN <= item <= _U64_MAX:  # type: ignore[operator]
        if not -_INT_BOUND < item < _INT_BOUND:
            raise InvalidRequestError(
                f"{where} holds an integer of more than {MAX_INT_DIGITS} digits",
                argument=argument,
            )
        return _Fragment(int_to_text(item).encode())  # type: ignore[arg-type]
    return item


def _for_orjson(value: object, argument: str) -> object:
    """A copy of a checked value that orjson can write, refusing what JSON cannot hold.

    The slow path, for values orjson refused: long integers, invalid strings.
    """
    if type(value) is not dict and type(value) is not list:
        return _encodable(value, argument, argument)
    root: Any = {} if type(value) is dict else []
    stack: list[tuple[Any, Any, str]] = [(value, root, argument)]
    while stack:
        source, target, where = stack.pop()
        if type(source) is dict:
            for key, item in source.items():
                _checked_text(key, where, argument)
                target[key] = _copied(item, f"{where}.{key}", argument, stack)
        else:
            target.extend(
                _copied(item, f"{where}[{index}]", argument, stack)
                for index, item in enumerate(source)
            )
    return root


def _copied(item: object, where: str, argument: str, stack: list[tuple[Any, Any, str]]) -> object:
    kind = type(item)
    if kind is dict or kind is list:
        copy: Any = {} if kind is dict else []
        stack.append((item, copy, where))
        return copy
    return _encodable(item, where, argument)


def encode_json(value: object, argument: str) -> bytes:
    """Encode a JSON value compactly as UTF-8, refusing anything that would not round-trip.

    Refusals are ``InvalidRequestError`` naming ``argument`` (``value``, ``payload``).
    """
    try:
        # The copy matters: orjson returns its whole output buffer (several KiB) behind a
        # shorter bytes object, and stored payloads would each keep that buffer alive.
        encoded: bytes | None = memoryview(_orjson_dumps(value, option=_STRICT)).tobytes()
    except TypeError:  # a type JSON cannot carry, or an integer beyond 64 bits, or a surrogate
        encoded = None
    if encoded is not None and members_are_json(value, MAX_JSON_DEPTH):
        return encoded
    problem = _problem(value, argument)
    if problem is not None:
        raise InvalidRequestError(problem, argument=argument)
    if encoded is not None:
        return encoded
    try:
        return memoryview(_orjson_dumps(_for_orjson(value, argument))).tobytes()
    except TypeError as error:  # pragma: no cover - every cause orjson has is handled above
        raise InvalidRequestError(
            f"{argument} cannot be encoded as JSON: {error}", argument=argument
        ) from None


def _may_hold_long_digits(data: bytes) -> bool:
    """Whether ``data`` holds a run of 19 digits.

    Every fourth byte is looked at first, about half the work of the whole search: a
    text without four digit samples in a row has no run (``_SAMPLED_RUN``). Otherwise
    the whole text is searched.
    """
    if _SAMPLED_RUN not in data[::4].translate(_DIGITS_AS_ZERO):
        return False
    return _DIGIT_RUN in data.translate(_DIGITS_AS_ZERO)


def decode_json(data: bytes) -> Any:
    """Decode what ``encode_json`` produced (UTF-8 JSON) into fresh Python values.

    orjson decodes first. It reads an integer beyond 64 bits as a float, so text holding
    a run of 19 digits is parsed by ``json_text`` instead, which keeps integers exact; so
    is text orjson refuses. Invalid text (``NaN`` and ``Infinity`` included, which
    ``encode_json`` never writes) raises ``ValueError`` (``json.JSONDecodeError``), and
    bytes that are not UTF-8 raise ``UnicodeDecodeError``.
    """
    if not _may_hold_long_digits(bytes(data)):
        try:
            return _orjson_loads(data)
        except orjson.JSONDecodeError:
            pass
    return parse_json_text(bytes(data).decode("utf-8"))
