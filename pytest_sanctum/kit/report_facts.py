"""Facts about a run the report records: software versions and the adapter's package."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Callable

import pytest

import pytest_sanctum
from pytest_sanctum.kit.report_model import Versions


def versions() -> Versions:
    """The versions of the kit, Python, pytest, hypothesis and the platform of this process."""
    return Versions(
        kit=pytest_sanctum.__version__,
        python=platform.python_version(),
        python_implementation=platform.python_implementation(),
        pytest=pytest.__version__,
        hypothesis=importlib.metadata.version("hypothesis"),
        platform=platform.platform(),
    )


def factory_name(factory: Callable[..., object]) -> str:
    """``module:qualified name`` of an adapter factory (its ``repr`` for odd callables)."""
    module = getattr(factory, "__module__", None)
    name = getattr(factory, "__qualname__", None)
    return f"{module}:{name}" if module and name else repr(factory)


def distribution_of(factory: Callable[..., object]) -> tuple[str | None, str | None]:
    """The installed distribution holding the factory's top-level package, and its version;
    ``(None, None)`` for a module that no installed distribution provides."""
    module = getattr(factory, "__module__", None) or ""
    top = module.partition(".")[0]
    names = importlib.metadata.packages_distributions().get(top, [])
    if not names:
        return None, None
    try:
        return names[0], importlib.metadata.version(names[0])
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - metadata went away
        return names[0], None
