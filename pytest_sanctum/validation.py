"""Argument checks of the facade: bad input becomes ``InvalidRequestError`` before any backend call.

The checks are ordered cheapest first because they sit on every operation's path. They
look at a caller's value only through ``type()`` and exact built-in types, so an object
whose ``__hash__``, ``__eq__``, ``__repr__`` or ``__class__`` raises is refused as the
caller's mistake instead of escaping as an adapter bug.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pytest_sanctum.describe import describe, describe_error, type_name
from pytest_sanctum.errors import InvalidRequestError
from pytest_sanctum.json_codec import MAX_INT_DIGITS, MAX_JSON_DEPTH, decode_json, encode_json
from pytest_sanctum.types import ReadLevel

__all__ = [
    "MAX_CONTENT_TYPE_LENGTH",
    "MAX_IDEMPOTENCY_KEY_BYTES",
    "MAX_INT_DIGITS",
    "MAX_JSON_DEPTH",
    "MAX_KEY_BYTES",
    "MEDIA_TYPE_PATTERN",
    "NAMESPACE_PATTERN",
    "check_bool",
    "check_bytes",
    "check_content_type",
    "check_etag",
    "check_if_none_match",
    "check_int",
    "check_key",
    "check_namespace",
    "check_positive_ms",
    "check_prefix",
    "check_read_level",
    "decode_json",
    "encode_json",
    "encode_record",
]

MAX_KEY_BYTES = 1024
"""Longest key, stream, group or consumer name, in UTF-8 bytes."""

MAX_IDEMPOTENCY_KEY_BYTES = 256
"""Longest idempotency key of a stream append, in UTF-8 bytes."""

NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a namespace name looks like (the configuration uses the same rule)."""

MAX_CONTENT_TYPE_LENGTH = 255
"""Longest blob content type, in characters (all ASCII)."""

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED_STRING = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*"'
MEDIA_TYPE_PATTERN = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*(?:{_TOKEN}=(?:{_TOKEN}|{_QUOTED_STRING}))?)*"
)
"""RFC 9110 section 8.3.1 ``media-type``: ``type/subtype`` tokens, then ``; name=value``
parameters whose value is a token or a quoted string (ASCII only, no obs-text)."""

_LEVELS: dict[str, ReadLevel] = {level.value: level for level in ReadLevel}


def check_namespace(namespace: object) -> str:
    """Return ``namespace`` if it is a well-formed namespace name."""
    if type(namespace) is not str or NAMESPACE_PATTERN.fullmatch(namespace) is None:
        raise InvalidRequestError(
            f"namespace must be a string matching {NAMESPACE_PATTERN.pattern}, got {describe(namespace)}",
            argument="namespace",
        )
    return namespace


_VALID_KEYS: set[str] = set()
"""Keys already checked (bounded): most operations reuse a few names, so skip re-checking."""

_VALID_KEYS_MAX = 4096


def _too_long(text: str) -> bool:
    """Whether ``text`` (printable, so without lone surrogates) exceeds ``MAX_KEY_BYTES`` in UTF-8."""
    return len(text) > MAX_KEY_BYTES or (
        not text.isascii() and len(text.encode("utf-8")) > MAX_KEY_BYTES
    )


def check_key(key: object, argument: str = "key") -> str:
    """Return ``key`` if it is a non-empty printable string of at most 1024 UTF-8 bytes."""
    if type(key) is str and key in _VALID_KEYS:
        return key
    if type(key) is not str:
        raise InvalidRequestError(
            f"{argument} must be a str, got {type_name(key)}", argument=argument
        )
    if not key or not key.isprintable():
        raise InvalidRequestError(
            f"{argument} must be non-empty and printable (no control characters), got {describe(key)}",
            argument=argument,
        )
    if _too_long(key):
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
    if issubclass(type(data), bytes | bytearray | memoryview):
        try:  # through the buffer protocol: a subclass's own ``__bytes__`` is not called
            return memoryview(data).tobytes()  # type: ignore[arg-type]
        except Exception as error:  # a released view
            raise InvalidRequestError(
                f"{argument} cannot be read as bytes: {describe_error(error)}", argument=argument
            ) from None
    raise InvalidRequestError(f"{argument} must be bytes, got {type_name(data)}", argument=argument)


def encode_record(value: object) -> bytes:
    """Encode a record, which must be a JSON object (a ``dict``; another mapping is copied).

    A mapping whose items cannot be read (its iteration or lookup raises) is the caller's
    mistake: ``InvalidRequestError`` naming ``value``.
    """
    if type(value) is not dict:
        try:
            is_mapping = isinstance(value, Mapping)
            if is_mapping:
                value = dict(value)  # type: ignore[call-overload]
        except Exception as error:
            raise InvalidRequestError(
                f"value is a {type_name(value)} whose items cannot be read: "
                f"{describe_error(error)}",
                argument="value",
            ) from None
        if not is_mapping:
            raise InvalidRequestError(
                f"a record must be a dict (a JSON object), got {type_name(value)}",
                argument="value",
            )
    return encode_json(value, "value")


def check_read_level(level: object) -> ReadLevel:
    """Return the ``ReadLevel`` named by ``level`` (an enum member or its string value)."""
    if type(level) is ReadLevel:
        return level
    found = _LEVELS.get(level) if type(level) is str else None
    if found is None:
        raise InvalidRequestError(
            f"level must be one of {list(_LEVELS)}, got {describe(level)}", argument="level"
        )
    return found


def check_bool(value: object, argument: str) -> bool:
    """Return ``value`` if it is a real ``bool``."""
    if type(value) is not bool:
        raise InvalidRequestError(
            f"{argument} must be a bool, got {describe(value)}", argument=argument
        )
    return value


def check_etag(etag: object, argument: str = "if_match") -> str | None:
    """Return ``etag`` if it is ``None`` or an etag: a string with the grammar of a key
    (non-empty, printable, at most 1024 UTF-8 bytes), as every adapter's etags are."""
    if etag is None:
        return None
    if type(etag) is not str or not etag or not etag.isprintable() or _too_long(etag):
        raise InvalidRequestError(
            f"{argument} must be None or a non-empty printable etag string of at most "
            f"{MAX_KEY_BYTES} UTF-8 bytes, got {describe(etag)}",
            argument=argument,
        )
    return etag


def check_if_none_match(value: object) -> bool:
    """Return whether the write is create-only; only ``"*"`` and ``None`` are accepted."""
    if value is None:
        return False
    if type(value) is str and value == "*":
        return True
    raise InvalidRequestError(
        f'if_none_match must be "*" or None, got {describe(value)}', argument="if_none_match"
    )


def check_int(value: object, argument: str, low: int, high: int) -> int:
    """Return ``value`` if it is an ``int`` (not a bool) within ``[low, high]``."""
    if type(value) is not int or not low <= value <= high:
        raise InvalidRequestError(
            f"{argument} must be an int from {low} to {high}, got {describe(value)}",
            argument=argument,
        )
    return value


def _number(value: float) -> str:
    """``86,400,000`` rather than ``8.64e+07`` in messages; fractions as they are."""
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"


def check_positive_ms(value: object, argument: str, high: float) -> float:
    """Return ``value`` as a float if it is a number of milliseconds in ``(0, high]``."""
    kind = type(value)
    if (kind is not int and kind is not float) or not 0 < value <= high:  # type: ignore[operator]
        raise InvalidRequestError(
            f"{argument} must be a number of milliseconds in (0, {_number(high)}], got {describe(value)}",
            argument=argument,
        )
    return float(value)  # type: ignore[arg-type]


def check_content_type(content_type: object) -> str | None:
    """Return ``content_type`` if it is ``None`` or an RFC 9110 media type of at most 255 characters.

    The value is stored as given (no case folding, no reordering of parameters).
    """
    if content_type is None:
        return None
    if type(content_type) is not str:
        raise InvalidRequestError(
            f"content_type must be a str or None, got {type_name(content_type)}",
            argument="content_type",
        )
    if len(content_type) > MAX_CONTENT_TYPE_LENGTH:
        raise InvalidRequestError(
            f"content_type must be at most {MAX_CONTENT_TYPE_LENGTH} characters, got "
            f"{len(content_type)}",
            argument="content_type",
        )
    if not content_type.isascii() or MEDIA_TYPE_PATTERN.fullmatch(content_type) is None:
        raise InvalidRequestError(
            "content_type must be a media type such as 'text/plain; charset=utf-8' "
            f"(RFC 9110 type/subtype tokens and parameters, ASCII), got {describe(content_type)}",
            argument="content_type",
        )
    return content_type


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it is a string of printable characters (it may be empty)."""
    if type(prefix) is not str or (prefix and not prefix.isprintable()):
        raise InvalidRequestError(
            f"prefix must be a printable str, got {describe(prefix)}", argument="prefix"
        )
    return prefix
