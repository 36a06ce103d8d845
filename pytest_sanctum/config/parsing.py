"""``parse_config``: any input becomes a ``StorageConfigV1`` or a ``ConfigError``.

The input is read once, with an explicit stack, into plain dicts and lists before
pydantic sees it: a mapping whose iteration raises, a key whose hash raises, nesting
deeper than ``MAX_CONFIG_DEPTH`` or a path holding a NUL byte is reported as a
``ConfigError`` naming the field, whatever the caller's stack depth. Each problem is one
line of the message; ``field`` is the dotted snake_case path of the first.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, cast

from pydantic import ValidationError

from pytest_sanctum.config.schema import SCHEMA_VERSION, StorageConfigV1
from pytest_sanctum.describe import describe, describe_error, type_name
from pytest_sanctum.errors import ConfigError
from pytest_sanctum.json_text import parse_json_text

__all__ = ["MAX_CONFIG_DEPTH", "default_config", "parse_config"]

MAX_CONFIG_DEPTH: Final = 32
"""Most objects and arrays a configuration may nest, adapter options included."""

_ERROR_TYPE = "sanctum_config"


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object hook: a key given twice would silently lose one value, so refuse it."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ConfigError(
                f"the configuration JSON gives key {describe(key)} twice in one object"
            )
        result[key] = value
    return result


def _load_json(text: str, origin: str) -> Any:
    try:
        return parse_json_text(text, pairs_hook=_refuse_duplicate_keys, max_depth=MAX_CONFIG_DEPTH)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{origin} is not valid JSON: {exc}") from None


def _dotted(path: tuple[object, ...]) -> str | None:
    return ".".join(str(part) for part in path) or None


def _unreadable(path: tuple[object, ...], what: str, error: BaseException) -> ConfigError:
    field = _dotted(path)
    return ConfigError(
        f"invalid configuration: {field or '<root>'}: {what}: {describe_error(error)}",
        field=field,
    )


def _plain(source: Mapping[Any, Any]) -> dict[Any, Any]:
    """A copy of ``source`` as plain dicts and lists, every mapping read exactly once.

    Keys and scalars are kept as given (pydantic judges them); what cannot be read, or
    nests deeper than ``MAX_CONFIG_DEPTH``, is a ``ConfigError`` naming where.
    """
    root: dict[Any, Any] = {}
    # (source container, copy to fill, path, depth)
    stack: list[tuple[object, Any, tuple[object, ...], int]] = [(source, root, (), 1)]
    while stack:
        container, copy, path, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(
                f"invalid configuration: {_dotted(path) or '<root>'}: nests more than"
                f" {MAX_CONFIG_DEPTH} levels of objects and arrays",
                field=_dotted(path),
            )
        try:
            items = (
                list(container.items())  # type: ignore[attr-defined]
                if type(copy) is dict
                else list(enumerate(cast(list[object], container)))
            )
        except Exception as error:
            raise _unreadable(path, "cannot be read", error) from None
        for key, item in items:
            where = (*path, key if type(key) is str or type(key) is int else describe(key))
            try:
                nested: Any = None
                if isinstance(item, Mapping):
                    nested = {}
                elif isinstance(item, list | tuple):
                    nested = []
                value = item if nested is None else nested
                if type(copy) is dict:
                    copy[key] = value
                else:
                    copy.append(value)
            except Exception as error:
                raise _unreadable(where, "cannot be read", error) from None
            if nested is not None:
                stack.append((item, nested, where, depth + 1))
    return root


def _describe(error: Mapping[str, Any]) -> tuple[str | None, str]:
    """The dotted snake_case path of one pydantic error and a readable line for it."""
    loc = list(error["loc"])
    if loc and loc[-1] == "[key]":  # the error is about a mapping key, not its value
        loc.pop()
    path = _dotted(tuple(loc))
    if error["type"] == _ERROR_TYPE:
        message = str(error["msg"])
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] == "missing":
        message = "required field is missing"
    else:
        message = f"{error['msg']} (got {describe(error['input'])})"
    return path, f"{path or '<root>'}: {message}"


def _config_error(exc: ValidationError) -> ConfigError:
    described = [_describe(error) for error in exc.errors(include_url=False)]
    count = len(described)
    lines = "\n".join(f"  {line}" for _, line in described)
    return ConfigError(
        f"invalid configuration ({count} error{'s' if count != 1 else ''}):\n{lines}",
        field=described[0][0],
    )


def _read(source: object) -> object:
    """The configuration data of ``source``: a mapping, JSON text or a JSON file's content."""
    if isinstance(source, Mapping):
        return source
    if type(source) is str and source.strip().startswith("{"):
        return _load_json(source, "the configuration text")
    if isinstance(source, str | os.PathLike):
        try:
            path = Path(source)
            origin = f"configuration file {describe(str(path))}"
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte; UnicodeDecodeError
            raise ConfigError(
                f"cannot read configuration file {describe(source)}: {describe_error(exc)}"
            ) from None
        return _load_json(text, origin)
    raise ConfigError(
        "a configuration must be a StorageConfigV1, a mapping, JSON text or a file path,"
        f" got {type_name(source)}"
    )


def parse_config(
    source: StorageConfigV1 | Mapping[str, Any] | str | os.PathLike[str],
) -> StorageConfigV1:
    """Validate a configuration given as a model, a mapping, JSON text or a JSON file path.

    A ``StorageConfigV1`` is returned as is; a string whose stripped text starts with
    ``{`` is JSON text; any other string or path names a JSON file. Every failure is a
    ``ConfigError``, whatever the input.
    """
    try:
        if isinstance(source, StorageConfigV1):
            return source
        data = _read(source)
        if not isinstance(data, Mapping):
            raise ConfigError(f"a configuration must be a JSON object, got {type_name(data)}")
        plain = _plain(data)
        return StorageConfigV1.model_validate(plain)
    except ConfigError:
        raise
    except ValidationError as exc:
        raise _config_error(exc) from None
    except Exception as exc:  # the input broke a check in a way no rule above names
        raise ConfigError(
            f"invalid configuration: it cannot be read ({describe_error(exc)})"
        ) from None


@functools.cache
def default_config() -> StorageConfigV1:
    """The configuration with every default: one in-memory adapter serving every namespace.

    Parsed once: a config is deeply frozen, so every caller can share it.
    """
    return parse_config({"schema_version": SCHEMA_VERSION})
