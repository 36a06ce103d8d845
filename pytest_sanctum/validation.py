"""Argument checks of the facade: bad input becomes ``InvalidRequestError`` before any backend call.

The checks are ordered cheapest first because they sit on every operation's path.
"""

from __future__ import annotations

import json
import json.encoder
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from pytest_sanctum.errors import InvalidRequestError
from pytest_sanctum.types import ReadLevel

MAX_KEY_BYTES = 1024
"""Longest key, stream, group or consumer name, in UTF-8 bytes."""

MAX_IDEMPOTENCY_KEY_BYTES = 256
"""Longest idempotency key of a stream append, in UTF-8 bytes."""

NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a namespace name looks like (the configuration uses the same rule)."""

# The canonical JSON encoding is compact UTF-8 text. orjson writes and reads it about ten
# times faster than the stdlib for payloads of a few KiB; the stdlib encoder (built once,
# C-accelerated) takes over for what orjson refuses: integers beyond 64 bits, nesting
# deeper than 255 levels, and strings that are not valid Unicode (which it reports).
_STDLIB_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:  # CPython: build the C encoder once instead of per call
    _c_encode = _c_make_encoder(
        None,
        _STDLIB_ENCODER.default,
        json.encoder.encode_basestring,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )

    def _stdlib_encode(value: object) -> str:
        return "".join(_c_encode(value, 0))

else:  # pragma: no cover - interpreters without the C accelerator

    def _stdlib_encode(value: object) -> str:
        return _STDLIB_ENCODER.encode(value)


_orjson_dumps = orjson.dumps
_orjson_loads = orjson.loads

_INT64_SPAN = 2.0**63
"""orjson decodes an integer outside 64 bits as a float at least this large in magnitude."""

_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
"""A ``bytes.translate`` table: every digit becomes ``0``, every other byte a space."""

_LONG_NUMBER = b"0" * 19
"""19 digits in a row: the shortest run an integer beyond 64 bits (>= 2**63) needs."""


_isfinite = math.isfinite

_LEVELS: dict[object, ReadLevel] = {level: level for level in ReadLevel}
_LEVELS.update({level.value: level for level in ReadLevel})


def check_namespace(namespace: object) -> str:
    """Return ``namespace`` if it is a well-formed namespace name."""
    if type(namespace) is not str or NAMESPACE_PATTERN.fullmatch(namespace) is None:
        raise InvalidRequestError(
            f"namespace must be a string matching {NAMESPACE_PATTERN.pattern}, got {namespace!r}",
            argument="namespace",
        )
    return namespace


_VALID_KEYS: set[str] = set()
"""Keys already checked (bounded): most operations reuse a few names, so skip re-checking."""

_VALID_KEYS_MAX = 4096


def check_key(key: object, argument: str = "key") -> str:
    """Return ``key`` if it is a non-empty printable string of at most 1024 UTF-8 bytes."""
    if type(key) is str and key in _VALID_KEYS:
        return key
    if type(key) is not str:
        raise InvalidRequestError(
            f"{argument} must be a str, got {type(key).__name__}", argument=argument
        )
    if not key or not key.isprintable():
        raise InvalidRequestError(
            f"{argument} must be non-empty and printable (no control characters), got {key!r}",
            argument=argument,
        )
    if len(key) > MAX_KEY_BYTES or (not key.isascii() and len(key.encode("utf-8")) > MAX_KEY_BYTES):
        raise InvalidRequestError(
            f"{argument} must be at most {MAX_KEY_BYTES} UTF-8 bytes", argument=argument
        )
    if len(_VALID_KEYS) >= _VALID_KEYS_MAX:
        _VALID_KEYS.clear()
    _VALID_KEYS.add(key)
    return key


def check_bytes(data: object, argument: str = "data") -> bytes:
    """Return ``data`` as ``bytes``; bytearray and memoryview are copied, anything else refused."""
    if type(data) is bytes:
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise InvalidRequestError(
        f"{argument} must be bytes, got {type(data).__name__}", argument=argument
    )


def _is_json(value: object) -> bool:
    """Whether ``value`` survives a JSON round trip unchanged: the same rule as ``_check_json``.

    This is the hot path of every record put and stream append: it builds no paths and
    checks scalar members inline, so a valid value costs one call per container.
    """
    kind = type(value)
    if kind is dict:
        for item_key, item in value.items():  # type: ignore[attr-defined]
            if type(item_key) is not str:
                return False
            item_kind = type(item)
            if item_kind is str or item_kind is int or item_kind is bool or item is None:
                continue
            if item_kind is float:
                if not _isfinite(item):
                    return False
            elif not _is_json(item):
                return False
        return True
    if kind is list:
        for item in value:  # type: ignore[attr-defined]
            item_kind = type(item)
            if item_kind is str or item_kind is int or item_kind is bool or item is None:
                continue
            if item_kind is float:
                if not _isfinite(item):
                    return False
            elif not _is_json(item):
                return False
        return True
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return _isfinite(value)  # type: ignore[arg-type]
    return False


def _check_json(value: object, path: str) -> None:
    """Refuse what would not survive a JSON round trip unchanged, naming the first problem."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise InvalidRequestError(f"{path} is {value!r}: JSON has no NaN or infinity")
        return
    if kind is dict:
        for item_key, item in value.items():  # type: ignore[attr-defined]
            if type(item_key) is not str:
                raise InvalidRequestError(
                    f"{path} has a non-string key {item_key!r}: JSON object keys are strings"
                )
            _check_json(item, f"{path}.{item_key}")
        return
    if kind is list:
        for index, item in enumerate(value):  # type: ignore[arg-type]
            _check_json(item, f"{path}[{index}]")
        return
    raise InvalidRequestError(
        f"{path} is a {kind.__name__}, which is not a JSON value "
        "(use dict, list, str, int, float, bool or None)"
    )


def encode_json(value: object, argument: str) -> bytes:
    """Encode a JSON value compactly as UTF-8, refusing anything that would not round-trip."""
    try:
        if not _is_json(value):
            _check_json(value, argument)  # raises, naming the first problem
            raise InvalidRequestError(f"{argument} is not a JSON value")
    except InvalidRequestError as error:
        error.argument = argument
        raise
    except RecursionError:
        raise InvalidRequestError(f"{argument} is nested too deeply", argument=argument) from None
    try:
        # The copy matters: orjson returns its whole output buffer (several KiB) behind a
        # shorter bytes object, and stored payloads would each keep that buffer alive.
        return memoryview(_orjson_dumps(value)).tobytes()
    except TypeError:
        pass  # a big integer, deep nesting or a lone surrogate: let the stdlib decide
    try:
        return _stdlib_encode(value).encode("utf-8")
    except RecursionError:
        raise InvalidRequestError(f"{argument} is nested too deeply", argument=argument) from None
    except UnicodeEncodeError as error:
        raise InvalidRequestError(
            f"{argument} holds a string that is not valid Unicode ({error.reason}, "
            f"e.g. a lone surrogate)",
            argument=argument,
        ) from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON: the canonical encoding has no NaN or infinity")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _has_huge_float(value: object) -> bool:
    """Whether a decoded value holds a float of magnitude 2**63 or more (walks containers)."""
    kind = type(value)
    if kind is dict:
        items = value.values()  # type: ignore[attr-defined]
    elif kind is list:
        items = value
    else:
        return kind is float and not -_INT64_SPAN < value < _INT64_SPAN  # type: ignore[operator]
    for item in items:
        item_kind = type(item)
        if item_kind is str or item_kind is int or item_kind is bool or item is None:
            continue
        if item_kind is float:
            if not -_INT64_SPAN < item < _INT64_SPAN:
                return True
        elif _has_huge_float(item):
            return True
    return False


def decode_json(data: bytes) -> Any:
    """Decode what ``encode_json`` produced (UTF-8 JSON) into fresh Python values.

    orjson decodes first. It turns an integer beyond 64 bits into a float, so when the text
    has a run of 19 digits or more and the result holds a float of magnitude 2**63 or more,
    the stdlib decodes it again, which keeps big integers exact; so is text orjson refuses. Invalid text (``NaN`` and
    ``Infinity`` included, which ``encode_json`` never writes) raises ``ValueError``.
    """
    try:
        value = _orjson_loads(data)
    except orjson.JSONDecodeError:
        pass
    else:
        # Only an integer literal of 19 digits or more can be one orjson turned into a
        # float; two C passes over the text rule that out before any walk of the value.
        if _LONG_NUMBER not in data.translate(_DIGITS_ONLY) or not _has_huge_float(value):
            return value
    return _DECODER.decode(data.decode("utf-8"))


def encode_record(value: object) -> bytes:
    """Encode a record, which must be a JSON object (a ``dict`` with string keys)."""
    if type(value) is not dict:
        if isinstance(value, Mapping):
            value = dict(value)
        else:
            raise InvalidRequestError(
                f"a record must be a dict (a JSON object), got {type(value).__name__}",
                argument="value",
            )
    return encode_json(value, "value")


def check_read_level(level: object) -> ReadLevel:
    """Return the ``ReadLevel`` named by ``level`` (an enum member or its string value)."""
    try:
        return _LEVELS[level]
    except (KeyError, TypeError):
        raise InvalidRequestError(
            f"level must be one of {[lvl.value for lvl in ReadLevel]}, got {level!r}",
            argument="level",
        ) from None


def check_bool(value: object, argument: str) -> bool:
    """Return ``value`` if it is a real ``bool``."""
    if type(value) is not bool:
        raise InvalidRequestError(f"{argument} must be a bool, got {value!r}", argument=argument)
    return value


def check_etag(etag: object, argument: str = "if_match") -> str | None:
    """Return ``etag`` if it is ``None`` or a non-empty string."""
    if etag is None or (type(etag) is str and etag):
        return etag
    raise InvalidRequestError(
        f"{argument} must be a non-empty etag string or None, got {etag!r}", argument=argument
    )


def check_if_none_match(value: object) -> bool:
    """Return whether the write is create-only; only ``"*"`` and ``None`` are accepted."""
    if value is None:
        return False
    if value == "*" and type(value) is str:
        return True
    raise InvalidRequestError(
        f'if_none_match must be "*" or None, got {value!r}', argument="if_none_match"
    )


def check_int(value: object, argument: str, low: int, high: int) -> int:
    """Return ``value`` if it is an ``int`` (not a bool) within ``[low, high]``."""
    if type(value) is not int or not low <= value <= high:
        raise InvalidRequestError(
            f"{argument} must be an int from {low} to {high}, got {value!r}", argument=argument
        )
    return value


def check_positive_ms(value: object, argument: str, high: float) -> float:
    """Return ``value`` as a float if it is a number of milliseconds in ``(0, high]``."""
    if type(value) not in (int, float) or not 0 < value <= high:  # type: ignore[operator]
        raise InvalidRequestError(
            f"{argument} must be a number of milliseconds in (0, {high}], got {value!r}",
            argument=argument,
        )
    return float(value)  # type: ignore[arg-type]
