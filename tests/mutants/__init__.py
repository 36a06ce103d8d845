"""Deliberately broken adapters and facades: each must make the conformance kit fail.

A kit whose tests cannot fail proves nothing. Every mutant here breaks exactly one
behaviour of the in-memory reference and names, in ``MUTANTS``, the contracts the kit
must then report as ``fail``; ``test_kit_mutants.py`` runs the kit against each one.

- **Adapter mutants** are factories ``(options, clock) -> StorageAdapter`` wrapping
  ``create_memory_adapter``: run them with ``--sanctum-adapter=mutants:<name>``.
- **Facade mutants** break the facade itself, for contracts no adapter can break (ACL,
  observability, read levels, validation). Their ``factory`` patches the facade with a
  ``MonkeyPatch``; this module is also a pytest plugin applying one of them for a run:
  ``--sanctum-adapter=memory -p mutants --facade-mutant=<name>``.

Mutants are grouped by the layer or the bug class they break (``versioned``,
``streams``, ``cache``, ``facade``, ``identity``, ``lifecycle``, ``boundaries``,
``faults``, ``keys``, ``races``); ``base`` holds the registry and building blocks. Every
contract of the
catalogue is killed by at least one mutant. Correct adapters the kit must pass live in
``honest_adapters.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from mutants import (
    backend_faults,
    boundaries,
    cache,
    facade,
    generated,
    identity,
    keys,
    lifecycle,
    races,
    streams,
    versioned,
)
from mutants.base import KNOWN_GAPS, MUTANTS, Mutant

__all__ = [
    "KNOWN_GAPS",
    "MUTANTS",
    "Mutant",
    "backend_faults",
    "boundaries",
    "cache",
    "facade",
    "generated",
    "identity",
    "keys",
    "lifecycle",
    "races",
    "streams",
    "versioned",
]


def __getattr__(name: str) -> Any:
    """``mutants:<name>`` names a registered or generated mutant's factory
    (``--sanctum-adapter``)."""
    found = MUTANTS.get(name)
    if found is not None:
        return found.factory
    if name in generated.GENERATED:
        return generated.GENERATED[name]
    raise AttributeError(f"module 'mutants' has no mutant {name!r}")


# -- the plugin applying a facade mutant -----------------------------------------------

_UNDO: pytest.StashKey[pytest.MonkeyPatch] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--facade-mutant",
        metavar="NAME",
        help="break the facade with this facade mutant of tests/mutants/ for the run",
    )


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("facade_mutant")
    if not name:
        return
    found = MUTANTS.get(name)
    if found is None or found.kind != "facade":
        known = sorted(n for n, m in MUTANTS.items() if m.kind == "facade")
        raise pytest.UsageError(f"--facade-mutant={name!r}: not a facade mutant; known: {known}")
    patcher = config.stash[_UNDO] = pytest.MonkeyPatch()
    found.factory(patcher)


def pytest_unconfigure(config: pytest.Config) -> None:
    patcher = config.stash.get(_UNDO, None)
    if patcher is not None:
        patcher.undo()
