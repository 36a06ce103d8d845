"""Differential contracts (DIFF-*): the adapter and the in-memory reference side by side.

Each test runs one machine of ``pytest_sanctum.kit.differential`` with the kit's seed and
profile (``--sanctum-profile``, ``--sanctum-seed``); a failure prints the shrunk operation
log and the command reproducing it. The number of examples each contract ran is shown in
the terminal summary and the report.
"""

from __future__ import annotations

from pytest_sanctum.kit.contracts import contract
from pytest_sanctum.kit.differential import (
    FacadeDifferential,
    LifecycleDifferential,
    StoreDifferential,
)
from pytest_sanctum.kit.session import KitSession


@contract("DIFF-001")
def test_facade_agrees_with_the_reference(sanctum_kit: KitSession) -> None:
    """Every facade operation answers as over the reference, on every namespace and layer."""
    sanctum_kit.run_machine(lambda: FacadeDifferential(sanctum_kit))


@contract("DIFF-002")
def test_stores_agree_with_the_reference(sanctum_kit: KitSession) -> None:
    """Every store method answers as the reference's store does."""
    sanctum_kit.run_machine(lambda: StoreDifferential(sanctum_kit))


@contract("DIFF-003")
def test_instances_and_lifecycle_agree_with_the_reference(sanctum_kit: KitSession) -> None:
    """Second instances, reopens, resets and closed stores answer as the reference's do."""
    sanctum_kit.run_machine(lambda: LifecycleDifferential(sanctum_kit))
