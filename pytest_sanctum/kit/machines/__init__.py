"""Hypothesis state machines behind the property contracts PROP-001 to PROP-005.

Each machine builds a fresh world per example (a virtual clock, a namespace, adapter
instances, facade clients), drives it with random operations and checks every answer
against a plain-Python reference model of ADR-001. The model is not the memory adapter,
so the reference adapter is checked as well. Every step narrates itself with
``hypothesis.note``, so a shrunk failure reads as an operation log::

    B.put k1 {'n': 3} if_match=<stale 1-7c0e…> -> PreconditionFailedError(current v2 …)

Adapter authors can run the machines directly::

    kit.run_machine(lambda: ConsistencyMachine(kit))
"""

from pytest_sanctum.kit.machines.base import KitMachine
from pytest_sanctum.kit.machines.bypass import BypassMachine
from pytest_sanctum.kit.machines.consistency import ConsistencyMachine
from pytest_sanctum.kit.machines.models import Cached, KeyModel, QueueModel, Seen
from pytest_sanctum.kit.machines.preconditions import PreconditionMachine
from pytest_sanctum.kit.machines.streams import IdempotentConsumerMachine, StreamMachine
from pytest_sanctum.kit.machines.versioned import VersionedMachine

__all__ = [
    "BypassMachine",
    "Cached",
    "ConsistencyMachine",
    "IdempotentConsumerMachine",
    "KeyModel",
    "KitMachine",
    "PreconditionMachine",
    "QueueModel",
    "Seen",
    "StreamMachine",
    "VersionedMachine",
]
