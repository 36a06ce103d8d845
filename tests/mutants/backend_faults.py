"""Mutants of the error mapping under real backend faults (provoked by the memory fault
injector): transient failures and serialisation conflicts reported as the wrong thing."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from mutants.base import VERSIONED, Mutated, Wrap, adapter_mutant, swap, swap_full
from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import (
    BackendUnavailableError,
    ConflictError,
    PreconditionFailedError,
)


class _Remapped(Wrap):
    """Every store method's errors pass through ``remap``."""

    @staticmethod
    def remap(error: Exception) -> Exception | None:
        return None

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as error:
                replaced = self.remap(error)
                if replaced is None:
                    raise
                raise replaced from None

        return call


def _remapped(remap: Callable[[Exception], Exception | None]) -> type[_Remapped]:
    return type("_RemappedStore", (_Remapped,), {"remap": staticmethod(remap)})


STORES = ("blobs", "records", "streams", "checkpoints", "cache")


def _transient(error: Exception) -> bool:
    return isinstance(error, BackendUnavailableError) and "closed" not in error.message


@adapter_mutant("ERR-006")
def busy_leaks_as_driver_error(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A locked, unreachable or stalled backend leaks the driver's own exception."""
    store = _remapped(
        lambda error: sqlite3.OperationalError("database is locked") if _transient(error) else None
    )
    return swap(options, clock, store, *STORES)


@adapter_mutant("ERR-006")
def busy_mapped_to_conflict(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A locked, unreachable or stalled backend is reported as ``ConflictError``."""
    store = _remapped(
        lambda error: (
            ConflictError(str(error), namespace=getattr(error, "namespace", None))
            if _transient(error)
            else None
        )
    )
    return swap(options, clock, store, *STORES)


@adapter_mutant("ERR-007")
def serialization_as_precondition(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A serialisation failure is reported as a failed precondition (412)."""
    store = _remapped(
        lambda error: (
            PreconditionFailedError(str(error)) if isinstance(error, ConflictError) else None
        )
    )
    return swap(options, clock, store, *VERSIONED)


@adapter_mutant("ERR-007")
def serialization_leaks_as_driver_error(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A serialisation failure leaks the driver's own exception (SQLSTATE 40001)."""
    store = _remapped(
        lambda error: (
            RuntimeError("could not serialize access (40001)")
            if isinstance(error, ConflictError)
            else None
        )
    )
    return swap(options, clock, store, *VERSIONED)


class _Swallowed(Wrap):
    """``method`` returns ``fallback`` instead of raising a transient backend fault."""

    method = ""
    fallback: object = None

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name != self.method:
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return found(*args, **kwargs)
            except BackendUnavailableError as error:
                if not _transient(error):
                    raise
                return self.fallback

        return call


def _swallowing(method: str, fallback: object) -> type[_Swallowed]:
    return type("_SwallowingStore", (_Swallowed,), {"method": method, "fallback": fallback})


@adapter_mutant("ERR-040")
def ack_swallows_backend_faults(options: Mapping[str, object], clock: Clock) -> Mutated:
    """An ack during an outage reports that nothing was pending instead of failing."""
    return swap_full(options, clock, _swallowing("ack", 0), "checkpoints")


@adapter_mutant("ERR-040")
def blob_list_empty_on_backend_faults(options: Mapping[str, object], clock: Clock) -> Mutated:
    """A blob listing during an outage returns an empty page instead of failing."""
    return swap(options, clock, _swallowing("list", []), "blobs")


@adapter_mutant("ERR-040")
def cache_faults_leak_as_driver_errors(options: Mapping[str, object], clock: Clock) -> Mutated:
    """The cache store lets a locked, unreachable or stalled backend leak the driver's own
    exception (its error mapping covers the other stores only)."""
    store = _remapped(
        lambda error: (
            ConnectionResetError("connection reset by peer") if _transient(error) else None
        )
    )
    return swap(options, clock, store, "cache")
