"""Finding adapter factories by name: an entry point, or ``package.module:factory``.

Only the adapter asked for is imported, so an unused backend's client library is never
loaded.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points

from pytest_sanctum.adapters.base import AdapterFactory, StorageAdapter
from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import ConfigError, SanctumError

ENTRY_POINT_GROUP = "pytest_sanctum.adapters"
"""The entry-point group adapters register their factory under."""


@functools.cache
def _registered() -> tuple[EntryPoint, ...]:
    """The group's entry points, read once per process (reading package metadata costs ms)."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def registered_adapters() -> tuple[str, ...]:
    """Names of every adapter registered under the entry-point group, sorted."""
    return tuple(sorted({ep.name for ep in _registered()}))


def load_adapter_factory(kind: str, *, field: str = "kind") -> AdapterFactory:
    """Resolve ``kind`` (a registered name or ``package.module:factory``) to a factory."""
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"adapter kind must be a non-empty string, got {kind!r}", field=field)
    if ":" in kind:
        module_name, _, attribute = kind.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ConfigError(
                f"cannot import adapter module {module_name!r}: {error}", field=field
            ) from error
        factory = getattr(module, attribute, None)
        if factory is None:
            raise ConfigError(f"module {module_name!r} has no attribute {attribute!r}", field=field)
    else:
        matches = [ep for ep in _registered() if ep.name == kind]
        if not matches:
            known = ", ".join(registered_adapters()) or "none"
            raise ConfigError(
                f"no adapter named {kind!r} is registered (registered: {known}); "
                "use a registered name or 'package.module:factory'",
                field=field,
            )
        try:
            factory = matches[0].load()
        except ImportError as error:
            raise ConfigError(_missing_library(kind, matches[0], error), field=field) from error
    if not callable(factory):
        raise ConfigError(f"adapter factory {kind!r} is not callable", field=field)
    return factory  # type: ignore[no-any-return]


def _missing_library(kind: str, entry_point: EntryPoint, error: ImportError) -> str:
    """Why adapter ``kind`` cannot be loaded: the module missing and, when the adapter's
    distribution declares an extra requiring it, the ``pip install`` that brings it."""
    missing = (error.name or "").partition(".")[0]
    if not isinstance(error, ModuleNotFoundError) or not missing:
        return f"cannot load adapter {kind!r} ({entry_point.value}): {error}"
    found = sys.modules.get(missing)
    if found is not None and missing == entry_point.module.partition(".")[0]:
        where = getattr(found, "__file__", None) or repr(found)
        return (
            f"cannot load adapter {kind!r} ({entry_point.value}): {error}; the package "
            f"{missing!r} imported from {where} is not "
            "the one that registered the adapter (a package of the same name earlier on "
            "sys.path, such as the project's own, shadows it)"
        )
    message = f"adapter {kind!r} needs the module {missing!r}, which is not installed"
    extras = _extras_providing(entry_point, missing)
    if extras:
        wanted = ",".join(extras)
        return f"{message}: pip install '{entry_point.dist.name}[{wanted}]'"  # type: ignore[union-attr]
    return f"{message}: install it next to the adapter"


def _extras_providing(entry_point: EntryPoint, module: str) -> list[str]:
    """Extras of the entry point's distribution that require a distribution named like
    ``module`` (``psycopg_pool`` matches ``psycopg-pool``), development extras left out."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    dist = entry_point.dist
    if dist is None:
        return []
    wanted = canonicalize_name(module)
    extras = [name for name in dist.metadata.get_all("Provides-Extra") or [] if name != "dev"]
    found = []
    for line in dist.requires or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != wanted or requirement.marker is None:
            continue
        found += [e for e in extras if requirement.marker.evaluate({"extra": e})]
    return sorted(set(found))


def build_adapter(
    kind: str, options: Mapping[str, object], clock: Clock, *, field: str = "kind"
) -> StorageAdapter:
    """Build an adapter and check it implements the ``StorageAdapter`` protocol."""
    factory = load_adapter_factory(kind, field=field)
    try:
        adapter = factory(options, clock)
    except SanctumError:
        raise
    except Exception as error:
        raise ConfigError(
            f"adapter factory {kind!r} failed: {type(error).__name__}: {error}", field=field
        ) from error
    check_adapter(adapter, field=field)
    return adapter


def check_adapter(adapter: object, *, field: str = "kind") -> None:
    """Refuse an object that is not a ``StorageAdapter`` or lacks a store it declares."""
    if not isinstance(adapter, StorageAdapter):
        raise ConfigError(
            f"{type(adapter).__name__} does not implement the StorageAdapter protocol",
            field=field,
        )
    caps = adapter.capabilities
    required = {
        "blobs": (caps.blobs, adapter.blobs),
        "records": (caps.records, adapter.records),
        "streams": (caps.streams, adapter.streams),
        "cache": (caps.cache, adapter.cache),
    }
    for capability, (declared, store) in required.items():
        if declared and store is None:
            raise ConfigError(
                f"adapter {adapter.name!r} declares {capability} but offers no {capability} store",
                field=field,
            )
    if caps.streams and adapter.checkpoints is None:
        raise ConfigError(
            f"adapter {adapter.name!r} declares streams but offers no checkpoint store",
            field=field,
        )
