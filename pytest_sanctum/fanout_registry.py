"""Finding fan-out factories by name: an entry point, or ``package.module:factory``.

The configuration's ``fanout`` section names one (``{"kind": "postgres", "options":
{...}}``); only that one is imported, so an unused broker's client library is never loaded.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points

from pytest_sanctum.errors import ConfigError, SanctumError
from pytest_sanctum.fanout import BrokerFanout

ENTRY_POINT_GROUP = "pytest_sanctum.fanouts"
"""The entry-point group fan-outs register their factory under."""

FanoutFactory = Callable[[Mapping[str, object]], BrokerFanout]
"""Builds a fan-out from its config options (raising ``ConfigError(field="options.<name>")``
for a bad one)."""


@functools.cache
def _registered() -> tuple[EntryPoint, ...]:
    """The group's entry points, read once per process."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def registered_fanouts() -> tuple[str, ...]:
    """Names of every fan-out registered under the entry-point group, sorted."""
    return tuple(sorted({ep.name for ep in _registered()}))


def _factory(kind: str, field: str) -> object:
    if ":" in kind:
        module_name, _, attribute = kind.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ConfigError(
                f"cannot import fan-out module {module_name!r}: {error}", field=field
            ) from error
        if not hasattr(module, attribute):
            raise ConfigError(f"module {module_name!r} has no attribute {attribute!r}", field=field)
        return getattr(module, attribute)
    matches = [ep for ep in _registered() if ep.name == kind]
    if not matches:
        known = ", ".join(registered_fanouts()) or "none"
        raise ConfigError(
            f"no fan-out named {kind!r} is registered (registered: {known}); "
            "use a registered name or 'package.module:factory'",
            field=field,
        )
    try:
        return matches[0].load()
    except ImportError as error:
        raise ConfigError(
            f"fan-out {kind!r} cannot be imported (is its extra installed?): {error}", field=field
        ) from error


def build_fanout(
    kind: str, options: Mapping[str, object], *, field: str = "fanout.kind"
) -> BrokerFanout:
    """Build the fan-out ``kind`` names and check it is a ``BrokerFanout``."""
    factory = _factory(kind, field)
    if not callable(factory):
        raise ConfigError(f"fan-out factory {kind!r} is not callable", field=field)
    try:
        fanout = factory(options)
    except SanctumError:
        raise
    except Exception as error:
        raise ConfigError(
            f"fan-out factory {kind!r} failed: {type(error).__name__}: {error}", field=field
        ) from error
    if not isinstance(fanout, BrokerFanout):
        if hasattr(fanout, "close"):
            fanout.close()
        raise ConfigError(
            f"{type(fanout).__name__} is not a BrokerFanout (publish, subscribe, close)",
            field=field,
        )
    return fanout
