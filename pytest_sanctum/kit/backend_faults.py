"""Fault injection: how the kit makes a backend busy, locked, unreachable or conflicting.

The error contracts ``ERR-006`` and ``ERR-007`` check what an adapter raises when its
backend really fails, not when it was merely closed. Only the adapter's own test support
knows how to make its backend fail for real (hold a lock from another connection, refuse
its connections, stall its replies), so it offers a ``FaultInjector``: through the
``pytest_sanctum_fault_injector`` hook, or as a ``fault_injector()`` method of the adapter.

An adapter that offers none gets ``untested`` for those contracts, never ``pass``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Final, Protocol, runtime_checkable

LOCKED: Final = "locked"
"""Another client holds the backend's write lock: the adapter's writes wait at most its busy
timeout (the injector may shorten it while the fault lasts), then fail."""

UNREACHABLE: Final = "unreachable"
"""The adapter's connections are cut and new ones refused: every call fails at once."""

TIMEOUT: Final = "timeout"
"""The backend accepts the adapter's requests but never answers: every call times out
(the injector may shorten the adapter's timeout while the fault lasts)."""

SERIALIZATION: Final = "serialization"
"""The next write and delete lose a serialisation conflict with a concurrent transaction
(SQLSTATE 40001, an aborted ``WATCH``, S3's 409), once each."""

UNAVAILABLE_FAULTS: Final = (LOCKED, UNREACHABLE, TIMEOUT)
"""The faults after which an operation must raise ``BackendUnavailableError`` (``ERR-006``)."""

FAULTS: Final = (*UNAVAILABLE_FAULTS, SERIALIZATION)
"""Every fault the kit knows, in the order it provokes them."""


@runtime_checkable
class FaultInjector(Protocol):
    """Provokes real faults of one adapter's backend; see the module's fault constants."""

    @property
    def faults(self) -> frozenset[str]:
        """The faults this backend can have and the injector can provoke.

        A fault the backend cannot have (a backend whose every write is one atomic script
        has no serialisation conflicts) is left out, and its contract is reported as
        ``unsupported`` with that reason.
        """
        ...

    def provoke(self, fault: str) -> AbstractContextManager[None]:
        """A context during which the adapter's backend suffers ``fault``.

        Leaving it ends the fault: the adapter then works again, without being reopened.
        Raises ``ValueError`` for a fault not in ``faults``.
        """
        ...
