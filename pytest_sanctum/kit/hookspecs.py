"""Hooks adapter authors implement in a ``conftest.py`` or plugin to plug into the kit.

Their names start with ``pytest_`` because pytest registers no other function of a
conftest or plugin as a hook implementation (not even a decorated one). Mark an
implementation ``@pytest.hookimpl(optionalhook=True)`` when the plugin may also be loaded
without the kit (``-p no:sanctum``): pytest then ignores it instead of refusing an unknown
hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_sanctum.adapters.base import AdapterFactory, StorageAdapter
    from pytest_sanctum.kit.backdoor import Backdoor
    from pytest_sanctum.kit.backend_faults import FaultInjector
    from pytest_sanctum.kit.backend_info import BackendInfo


@pytest.hookspec(firstresult=True)
def pytest_sanctum_adapter_factory(config: pytest.Config, spec: str) -> AdapterFactory | None:
    """Return the factory for the selected adapter ``spec``, or ``None`` to let the kit
    resolve it (a registered name or ``package.module:factory``)."""


@pytest.hookspec(firstresult=True)
def pytest_sanctum_provision(config: pytest.Config, worker_id: str) -> Mapping[str, object] | None:
    """Prepare the backend for one worker (``"master"`` without xdist, else ``"gw0"``, ...)
    and return the adapter options to use, or ``None`` for the options given on the
    command line. Called once per worker before the first test."""


@pytest.hookspec
def pytest_sanctum_cleanup(
    config: pytest.Config, worker_id: str, options: Mapping[str, object]
) -> None:
    """Tear down what ``pytest_sanctum_provision`` set up, after the worker's last test."""


@pytest.hookspec(firstresult=True)
def pytest_sanctum_backdoor(config: pytest.Config, adapter: StorageAdapter) -> Backdoor | None:
    """Return a probe that reads ``adapter``'s backend directly, or ``None``."""


@pytest.hookspec(firstresult=True)
def pytest_sanctum_fault_injector(
    config: pytest.Config, adapter: StorageAdapter
) -> FaultInjector | None:
    """Return an injector that provokes real faults of ``adapter``'s backend (a lock held by
    another connection, refused connections, stalled replies, serialisation conflicts), or
    ``None``. Without one, the contracts that need it (``ERR-006``, ``ERR-007``) are
    reported ``untested``. The kit's own fallback calls the adapter's ``fault_injector()``
    method when it has one."""


@pytest.hookspec(firstresult=True)
def pytest_sanctum_backend_info(
    config: pytest.Config, adapter: StorageAdapter
) -> BackendInfo | None:
    """Return the backend ``adapter`` talks to and its version
    (``pytest_sanctum.kit.backend_info.BackendInfo``), or ``None``. Called once per pytest
    process (each xdist worker too), on an adapter the kit opened to read its capabilities;
    the report shows the answer (``backend``, ``backend_version``). A ``SanctumError`` leaves
    them unreported. The kit's own fallback calls the adapter's ``backend_info()`` method
    when it has one. Mark an implementation ``optionalhook=True``."""
