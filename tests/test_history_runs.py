"""History runs end to end: every race mutant is caught in 20 runs out of 20 at the default
profile, and by its contract's contention rounds or staleness probes alone (no random
walk) in 10 out of 10; the memory, SQLite and Redis adapters pass 20 runs in a row with
every fault on. Runs use real threads and a real clock; each is a fraction of a second."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from backends import require_redis
from mutants import MUTANTS

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.clock import Clock
from pytest_sanctum.faults import FAULT_KINDS
from pytest_sanctum.kit.history.contract import run_scenario
from pytest_sanctum.kit.history.rounds import shortfall
from pytest_sanctum.kit.history.run import RunSize
from pytest_sanctum.kit.history.scenarios import SIZES, WORKLOADS
from reference_adapters.memory import create_memory_adapter, drop_server
from reference_adapters.redis_adapter import create_redis_adapter
from reference_adapters.sqlite import create_sqlite_adapter

RUNS = 20
HISTORY_CONTRACTS = sorted(WORKLOADS)
REDIS_URL = "redis://127.0.0.1:6379/15"

RACE_MUTANTS = sorted(
    name
    for name, found in MUTANTS.items()
    if any(k.startswith("HIST-") for k in found.kills) and "HIST-008" not in found.kills
)
"""The mutants of the in-process history contracts (HIST-008's runs child processes and is
checked by ``test_kit_mutants.py``)."""


def _history_contract(name: str) -> str:
    return min(k for k in MUTANTS[name].kills if k.startswith("HIST-"))


@pytest.mark.parametrize("name", RACE_MUTANTS)
def test_each_race_mutant_is_caught_in_every_run(name: str) -> None:
    """At the default profile, the mutant's history contract fails in each of 20 seeded runs."""
    contract_id = _history_contract(name)
    server = f"hist-mutant-{uuid.uuid4().hex[:8]}"
    missed = []
    try:
        for seed in range(RUNS):
            _, verdict = run_scenario(
                lambda clock: MUTANTS[name].factory({"server": server}, clock),
                contract_id,
                f"ns{seed}",
                seed=seed,
                size=SIZES["default"],
            )
            if verdict.valid:
                missed.append(seed)
    finally:
        drop_server(server)
    assert missed == [], f"{contract_id} missed mutant {name} in runs with seeds {missed}"


FORCED = sorted(
    name
    for name in RACE_MUTANTS
    if WORKLOADS[_history_contract(name)].rounds or WORKLOADS[_history_contract(name)].probes
)
"""The race mutants whose contract forces its races (contention rounds, staleness probes)."""


@pytest.mark.parametrize("name", FORCED)
def test_each_race_mutant_is_caught_by_the_forced_races_alone(name: str) -> None:
    """With no random walk, the rounds or probes alone catch the mutant in each of 10 runs,
    after at least two contended rounds of each kind."""
    contract_id = _history_contract(name)
    server = f"hist-forced-{uuid.uuid4().hex[:8]}"
    missed = []
    try:
        for seed in range(10):
            history, verdict = run_scenario(
                lambda clock: MUTANTS[name].factory({"server": server}, clock),
                contract_id,
                f"ns{seed}",
                seed=seed,
                size=RunSize(clients=3, nodes=3, operations=0),
            )
            assert shortfall(history.contention) == [], history.contention
            if verdict.valid:
                missed.append(seed)
    finally:
        drop_server(server)
    assert missed == [], f"{contract_id}'s rounds missed mutant {name} in runs {missed}"


def _honest_runs(
    open_adapter: Callable[[Clock], StorageAdapter], contracts: list[str], every: bool = True
) -> None:
    """``RUNS`` runs in a row with every fault on, each of every contract (or, with
    ``every=False``, of the contracts in turn): no anomaly at all."""
    for seed in range(RUNS):
        for contract_id in contracts if every else [contracts[seed % len(contracts)]]:
            namespace = f"ns{seed}-{contract_id}"
            history, verdict = run_scenario(
                open_adapter,
                contract_id,
                namespace,
                seed=seed,
                size=RunSize(clients=4, nodes=2, operations=20),
                faults=tuple(FAULT_KINDS),
            )
            assert verdict.valid, (
                f"run {seed} of {contract_id}: {verdict.anomalies[:3]} "
                f"({len(history.operations)} operations)"
            )


def test_memory_passes_every_history_contract_with_faults() -> None:
    server = f"hist-honest-{uuid.uuid4().hex[:8]}"
    try:
        _honest_runs(
            lambda clock: create_memory_adapter({"server": server}, clock), HISTORY_CONTRACTS
        )
    finally:
        drop_server(server)


MIXED = ["HIST-002", "HIST-007"]
"""The contracts the real adapters run 20 times: conditional writes and shared groups, the
two that exercise their compare-and-set scripts and transactions hardest. Redis takes them
in turn (a run there costs about 0.5 s, mostly connections opened by each node and crash)."""


def test_sqlite_passes_history_contracts_with_faults(tmp_path: Path) -> None:
    options = {"path": str(tmp_path / "history.db"), "synchronous": "NORMAL"}
    _honest_runs(lambda clock: create_sqlite_adapter(options, clock), MIXED)


def test_redis_passes_history_contracts_with_faults() -> None:
    require_redis(REDIS_URL)
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    prefix = f"sanctum-history-{uuid.uuid4().hex[:10]}:"
    options = {"url": REDIS_URL, "key_prefix": prefix}
    try:
        _honest_runs(lambda clock: create_redis_adapter(options, clock), MIXED, every=False)
    finally:
        found = list(client.scan_iter(match=prefix + "*", count=500))
        if found:
            client.unlink(*found)
        client.close()
