"""The registry of mutants and the building blocks they share: a memory adapter with
swapped stores (``Mutated``), a forwarding wrapper (``Wrap``), and the two decorators
that register a mutant with the contracts it must kill."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

from facade_helpers import AdapterDouble

from pytest_sanctum.clock import Clock
from reference_adapters.memory import (
    MemoryBackdoor,
    MemoryFaultInjector,
    create_memory_adapter,
)

MutantKind = Literal["adapter", "facade"]


class Mutant(NamedTuple):
    """A registered mutant: ``factory`` builds the adapter (adapter mutants) or patches the
    facade (facade mutants); ``kills`` are the contracts the kit must report as failing."""

    factory: Callable[..., Any]
    kills: frozenset[str]
    kind: MutantKind


MUTANTS: dict[str, Mutant] = {}
"""Every mutant by name: the adapter factory or facade patch, the contracts it must fail."""

KNOWN_GAPS: dict[str, str] = {}
"""Mutants the kit does not catch yet, and why: each is a test to sharpen. Their runs are
strict expected failures, so a sharpened test makes them fail until removed from here."""


def _register(kind: MutantKind, kills: tuple[str, ...]) -> Callable[[Any], Any]:
    def register(factory: Any) -> Any:
        name = factory.__name__.removeprefix("_")
        MUTANTS[name] = Mutant(factory, frozenset(kills), kind)
        return factory

    return register


def adapter_mutant(*kills: str) -> Callable[[Any], Any]:
    """Register an adapter factory as a mutant that must fail ``kills``."""
    return _register("adapter", kills)


def facade_mutant(*kills: str) -> Callable[[Any], Any]:
    """Register a facade patch ``(monkeypatch) -> None`` as a mutant that must fail ``kills``."""
    return _register("facade", kills)


# -- building blocks -----------------------------------------------------------------


class Mutated(AdapterDouble):
    """A memory adapter with stores or capabilities swapped; keeps the memory backdoor,
    which reads what was really stored whatever the swapped stores do, and the memory
    fault injector, whose faults the swapped stores meet when they call the real ones."""

    def backdoor(self) -> MemoryBackdoor:
        return self.inner.backdoor()

    def fault_injector(self) -> MemoryFaultInjector:
        return self.inner.fault_injector()


class Wrap:
    """Forwards every attribute to ``inner``; subclasses override the broken method."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def basic_memory(options: Mapping[str, object], clock: Clock) -> Any:
    """A memory adapter offering only the base protocols (``interface: basic``).

    Mutants that break a base method wrap its stores: the facade then calls the broken
    method itself, where a full store would route around it through its one-call methods.
    """
    return create_memory_adapter({**options, "interface": "basic"}, clock)


def swap(options: Mapping[str, object], clock: Clock, wrap: Any, *stores: str) -> Mutated:
    """The base-protocol memory adapter with ``wrap`` around each of the named stores."""
    inner = basic_memory(options, clock)
    return Mutated(inner, **{store: wrap(getattr(inner, store)) for store in stores})


def swap_full(options: Mapping[str, object], clock: Clock, wrap: Any, *stores: str) -> Mutated:
    """The memory adapter with every optional protocol, ``wrap`` around the named stores:
    for mutants that break a one-call method (``put_and_purge``, ``claim``, ...)."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, **{store: wrap(getattr(inner, store)) for store in stores})


VERSIONED = ("blobs", "records")
