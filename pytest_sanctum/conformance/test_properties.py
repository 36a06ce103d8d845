"""Property-based contracts (PROP-*): hypothesis state machines against a reference model.

Each test runs one machine of ``pytest_sanctum.kit.machines`` with the kit's seed and
profile (``--sanctum-profile``, ``--sanctum-seed``); a failure prints the shrunk
operation log.
"""

from __future__ import annotations

from pytest_sanctum.kit.contracts import contract
from pytest_sanctum.kit.machines import (
    BypassMachine,
    ConsistencyMachine,
    IdempotentConsumerMachine,
    PreconditionMachine,
    StreamMachine,
)
from pytest_sanctum.kit.session import KitSession


@contract("PROP-001")
def test_consistency_model(sanctum_kit: KitSession) -> None:
    """Reads at every level on two nodes agree with the model under writes, fan-out and poison."""
    sanctum_kit.run_machine(lambda: ConsistencyMachine(sanctum_kit))


@contract("PROP-002")
def test_etag_preconditions(sanctum_kit: KitSession) -> None:
    """Conditional writes and deletes succeed exactly when the etag is current."""
    sanctum_kit.run_machine(lambda: PreconditionMachine(sanctum_kit))


@contract("PROP-003")
def test_stream_duplicates_and_crashes(sanctum_kit: KitSession) -> None:
    """No acknowledged append is lost or invented, and each message is acknowledged once."""
    sanctum_kit.run_machine(lambda: StreamMachine(sanctum_kit))


@contract("PROP-004")
def test_cache_bypass(sanctum_kit: KitSession) -> None:
    """Whatever is poisoned into the cache, a bypass read returns the backend's current value."""
    sanctum_kit.run_machine(lambda: BypassMachine(sanctum_kit))


@contract("PROP-005")
def test_idempotent_consumer_under_crashes(sanctum_kit: KitSession) -> None:
    """The idempotent consumer runs its handler once per message through crashes and retries."""
    sanctum_kit.run_machine(lambda: IdempotentConsumerMachine(sanctum_kit))
