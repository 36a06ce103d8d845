"""History contracts (HIST-*): concurrent clients on several nodes, the history checked.

Each test runs its contract's workload (``pytest_sanctum.kit.history.scenarios``) with
clients in threads over several adapter instances, records every operation with its
real-time interval, and checks the history against ADR-001. The faults given with
``--sanctum-faults`` are injected; the run's size follows ``--sanctum-profile``.
"""

from __future__ import annotations

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.kit.contracts import contract
from pytest_sanctum.kit.history.contract import check_contract
from pytest_sanctum.kit.session import KitSession


@contract("HIST-001")
def test_versions_under_concurrent_writers(
    sanctum_kit: KitSession, sanctum_adapter: StorageAdapter, sanctum_namespace: str
) -> None:
    """Versions stay unique and ordered in real time when nodes write one key at once."""
    check_contract(sanctum_kit, "HIST-001", sanctum_namespace)


@contract("HIST-002")
def test_conditional_writes_under_concurrency(
    sanctum_kit: KitSession, sanctum_adapter: StorageAdapter, sanctum_namespace: str
) -> None:
    """One winner per etag, one create per life of a key, across nodes."""
    check_contract(sanctum_kit, "HIST-002", sanctum_namespace)


@contract("HIST-003")
def test_strong_reads_are_linearizable(
    sanctum_kit: KitSession, sanctum_adapter: StorageAdapter, sanctum_namespace: str
) -> None:
    """Strong reads with a budget of 0 are linearizable in the writes' version order."""
    check_contract(sanctum_kit, "HIST-003", sanctum_namespace)


@contract("HIST-004")
def test_cached_reads_are_delta_atomic(
    sanctum_kit: KitSession, sanctum_adapter: StorageAdapter, sanctum_namespace: str
) -> None:
    """Cached strong reads are at most the budget stale, eventual reads at most the TTL."""
    check_contract(sanctum_kit, "HIST-004", sanctum_namespace)


@contract("HIST-005")
def test_concurrent_appends(
    sanctum_kit: KitSession, sanctum_adapter: StorageAdapter, sanctum_namespace: str
) -> None:
    """Appends from several nodes: unique, gap-free sequences; every group gets every append."""
    check_contract(sanctum_kit, "HIST-005", sanctum_namespace)


@contract("HIST-006")
def test_idempotent_appends_across_nodes(
    sanctum_kit: KitSession, sanctum_adapter: StorageAdapter, sanctum_namespace: str
) -> None:
    """One message per idempotency key per window, whichever nodes append it."""
    check_contract(sanctum_kit, "HIST-006", sanctum_namespace)


@contract("HIST-007")
def test_consumers_on_several_nodes(
    sanctum_kit: KitSession, sanctum_adapter: StorageAdapter, sanctum_namespace: str
) -> None:
    """No two holders of a message before its timeout; no delivery after an ack."""
    check_contract(sanctum_kit, "HIST-007", sanctum_namespace)


@contract("HIST-008")
def test_clients_in_several_processes(
    sanctum_kit: KitSession, sanctum_adapter: StorageAdapter, sanctum_namespace: str
) -> None:
    """Every history guarantee holds when clients also run in two other processes."""
    check_contract(sanctum_kit, "HIST-008", sanctum_namespace)
