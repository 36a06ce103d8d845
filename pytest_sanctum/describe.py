"""Short, safe descriptions of caller values for error messages.

Building an error message must never fail, nor cost more than the error: a caller's
object may raise from ``repr``, an integer may exceed the interpreter's digit limit, and
a string may be megabytes long. ``describe`` always returns a short string.
"""

from __future__ import annotations

MAX_SHOWN = 80
"""Longest description, in characters; longer ones end with ``...``."""

_SMALL_INT = 10**40


def type_name(value: object) -> str:
    """The name of the type of ``value``, safe for hostile metaclasses."""
    try:
        name = type(value).__name__
    except Exception:  # a hostile metaclass
        return "object"
    return name if type(name) is str else "object"


def describe(value: object, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters, or ``<T object>`` when ``repr`` fails."""
    if type(value) is int and not -_SMALL_INT < value < _SMALL_INT:
        return f"<int of {value.bit_length()} bits>"
    try:
        text = repr(value)
    except Exception:
        return f"<{type_name(value)} object>"
    if type(text) is not str:  # pragma: no cover - repr() itself insists on str
        return f"<{type_name(value)} object>"
    if len(text) > limit:
        return text[: limit - 3] + "..."
    return text


def error_message(error: BaseException) -> str:
    """``str(error)`` cut to 320 characters, safe for exceptions whose ``str`` raises."""
    try:
        text = str(error)
    except Exception:
        return "<no message>"
    if len(text) > 4 * MAX_SHOWN:
        return text[: 4 * MAX_SHOWN - 3] + "..."
    return text


def describe_error(error: BaseException) -> str:
    """``Type: message`` of an exception (just ``Type`` when it has no message)."""
    text = error_message(error)
    return f"{type_name(error)}: {text}" if text else type_name(error)
