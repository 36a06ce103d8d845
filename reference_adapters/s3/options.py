"""The ``s3`` adapter's options, validated into one frozen value.

Every refused option raises ``ConfigError(field="options.<name>")``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from pytest_sanctum.errors import ConfigError


@dataclass(frozen=True, slots=True)
class S3Options:
    """Where the adapter's objects live and how long it waits. Times are milliseconds."""

    bucket: str = ""
    """The bucket holding every object (required; it must exist unless ``create_bucket``)."""
    prefix: str = "sanctum/"
    """Every object key starts with it, so adapters sharing a bucket stay apart."""
    endpoint_url: str = ""
    """An S3-compatible endpoint (``http://127.0.0.1:9000``); empty: AWS's own for ``region``."""
    region: str = "us-east-1"
    """The bucket's region (signs every request)."""
    access_key_id: str = ""
    """With ``secret_access_key``; both empty: boto3's default credential chain."""
    secret_access_key: str = ""
    """The secret of ``access_key_id``."""
    addressing_style: str = "auto"
    """``auto``, ``path`` (``endpoint/bucket/key``) or ``virtual`` (``bucket.endpoint/key``)."""
    connect_timeout_ms: float = 5000.0
    """How long a request waits for its connection."""
    read_timeout_ms: float = 30000.0
    """How long a request waits for the response, then ``BackendUnavailableError``."""
    max_pool_connections: int = 10
    """Connections kept to the endpoint: the requests that run at once (``list`` sends its
    ``HEAD`` requests that many at a time)."""
    create_bucket: bool = False
    """Create the bucket on open when it does not exist (for test servers such as moto)."""


NAMES: Final = tuple(S3Options.__dataclass_fields__)

_BUCKET: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
"""S3's bucket naming rule (3 to 63 characters: lower-case letters, digits, dots, hyphens)."""

_STYLES: Final = ("auto", "path", "virtual")


def _refuse(name: str, what: str, value: object) -> ConfigError:
    return ConfigError(f"s3 option {name!r} must be {what}, got {value!r}", field=f"options.{name}")


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise _refuse(name, "a string", value)
    return value


def _bucket(name: str, value: object) -> str:
    if not isinstance(value, str) or not _BUCKET.fullmatch(value):
        raise _refuse(name, "an S3 bucket name (3-63 of a-z, 0-9, '.', '-')", value)
    return value


def _prefix(name: str, value: object) -> str:
    text = _text(name, value)
    if len(text.encode("utf-8", "surrogatepass")) > 512 or not text.isprintable():
        raise _refuse(name, "a printable string of at most 512 UTF-8 bytes", value)
    return text


def _style(name: str, value: object) -> str:
    if value not in _STYLES:
        raise _refuse(name, f"one of {', '.join(_STYLES)}", value)
    return str(value)


def _millis(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise _refuse(name, "a finite number > 0", value)
    return float(value)


def _count(name: str, value: object) -> int:
    if type(value) is not int or value < 1:
        raise _refuse(name, "an integer >= 1", value)
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _refuse(name, "true or false", value)
    return value


_PARSERS: Final[Mapping[str, Callable[[str, object], object]]] = {
    "bucket": _bucket,
    "prefix": _prefix,
    "endpoint_url": _text,
    "region": _text,
    "access_key_id": _text,
    "secret_access_key": _text,
    "addressing_style": _style,
    "connect_timeout_ms": _millis,
    "read_timeout_ms": _millis,
    "max_pool_connections": _count,
    "create_bucket": _flag,
}


def parse_options(options: Mapping[str, object]) -> S3Options:
    """Validate the adapter's options; unknown names are refused, ``bucket`` is required."""
    found: dict[str, object] = {}
    for name, value in options.items():
        parser = _PARSERS.get(name)
        if parser is None:
            raise ConfigError(
                f"unknown s3 option {name!r} (known: {', '.join(NAMES)})", field=f"options.{name}"
            )
        found[name] = parser(name, value)
    if "bucket" not in found:
        raise ConfigError("s3 option 'bucket' is required", field="options.bucket")
    parsed = S3Options(**found)  # type: ignore[arg-type]
    if bool(parsed.access_key_id) != bool(parsed.secret_access_key):
        raise ConfigError(
            "s3 options 'access_key_id' and 'secret_access_key' go together",
            field="options.access_key_id"
            if not parsed.access_key_id
            else "options.secret_access_key",
        )
    return parsed
