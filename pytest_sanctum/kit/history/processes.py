"""Clients in other processes: a history run's second kind of concurrency.

An adapter factory that can be opened from another process says so with the attribute
``opens_across_processes = True`` (the SQLite and Redis factories do; the memory adapter
keeps its data in its process and says ``False``; a factory without the attribute is
taken as in-process only). For such an adapter, a history run starts child processes
(``spawn``) that open their own adapter instance through the same factory and options,
run their share of the clients in threads, and send back what they recorded; every
process stamps operations with ``time.monotonic_ns``, one clock for the whole machine.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from typing import Any

from pytest_sanctum.adapters.base import AdapterFactory

CROSS_PROCESS_ATTRIBUTE = "opens_across_processes"

UNSUPPORTED_REASON = (
    f"unsupported: {CROSS_PROCESS_ATTRIBUTE}: the adapter factory does not declare that "
    f"another process can open its data (set {CROSS_PROCESS_ATTRIBUTE} = True on the factory)"
)
"""Why a cross-process history contract is skipped for an in-process adapter."""


def opens_across_processes(factory: object) -> bool:
    """Whether ``factory`` declares that another process can open its adapter's data."""
    return getattr(factory, CROSS_PROCESS_ATTRIBUTE, False) is True


def spawn_context() -> Any:
    """The multiprocessing context children run in (``spawn``: no inherited threads or sockets)."""
    return multiprocessing.get_context("spawn")


def child_main(
    factory: AdapterFactory,
    options: dict[str, object],
    mask: tuple[str, ...],
    run_args: dict[str, Any],
    clients: list[int],
    node: str,
    clock_offset_ms: float,
    barrier: Any,
    results: Any,
) -> None:
    """Run ``clients`` of a history run on one new node; put their operations on ``results``."""
    from pytest_sanctum.kit.history.clock import RealClock
    from pytest_sanctum.kit.history.run import HistoryRun
    from pytest_sanctum.kit.masks import MaskedAdapter

    def open_adapter(clock: Any) -> Any:
        adapter = factory(options, clock)
        return MaskedAdapter(adapter, mask) if mask else adapter

    try:
        run = HistoryRun(open_adapter, clock=RealClock(clock_offset_ms), **run_args)
        operations = run.run_share(clients, node, barrier)
        results.put([dataclasses.asdict(op) for op in operations])
    except BaseException as error:  # reported by the parent
        results.put(f"{type(error).__name__}: {error}")
        raise
