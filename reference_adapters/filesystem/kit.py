"""A pytest plugin that gives each conformance-kit worker a root directory of its own.

Load it next to the kit when certifying the ``filesystem`` adapter::

    pytest --sanctum-adapter=filesystem -p reference_adapters.filesystem.kit \\
        --sanctum-adapter-options='{"root": "/tmp/sanctum"}' --sanctum-reference-cache

Each worker (``master``, or ``gw0``, ``gw1``, ... under pytest-xdist) then runs on a new
directory ``<root>/kit-<random>-<worker>``, removed after the worker's last test. It
removes only directories it named itself, never the given root. For any other adapter it
does nothing.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from typing import Final

import pytest

from reference_adapters.filesystem.options import parse_options

_NAMES: Final = ("filesystem", "reference_adapters.filesystem:create_filesystem_adapter")
"""The adapter specs this plugin provisions for."""

_CREATED = pytest.StashKey[set[str]]()
"""The directories this plugin named (and so may remove)."""


def _spec(config: pytest.Config) -> str | None:
    from pytest_sanctum.plugin import kit_session

    return kit_session(config).choice.spec


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_provision(config: pytest.Config, worker_id: str) -> Mapping[str, object] | None:
    """The given options with a root of this worker's own, below the given one."""
    if _spec(config) not in _NAMES:
        return None
    from pytest_sanctum.plugin import kit_session

    options = dict(kit_session(config).options)
    root = os.path.join(
        parse_options(options).root, f"kit-{secrets.token_hex(4)}-{worker_id.lower()}"
    )
    config.stash.setdefault(_CREATED, set()).add(root)
    return {**options, "root": root}


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_cleanup(
    config: pytest.Config, worker_id: str, options: Mapping[str, object]
) -> None:
    """Remove the worker's directory, if this plugin named it."""
    root = options.get("root")
    if not isinstance(root, str) or root not in config.stash.get(_CREATED, set()):
        return
    shutil.rmtree(root, ignore_errors=True)
    config.stash[_CREATED].discard(root)
