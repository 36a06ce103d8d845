"""The workload of each history contract, and how large a run is under each profile."""

from __future__ import annotations

from pytest_sanctum.kit.history.run import RunSize
from pytest_sanctum.kit.history.workload import Workload

SIZES: dict[str, RunSize] = {
    "default": RunSize(clients=4, nodes=3, operations=30),
    "ci": RunSize(clients=4, nodes=3, operations=40),
    "thorough": RunSize(clients=8, nodes=3, operations=250),
}
"""Clients, nodes and operations per client of one history run, per ``--sanctum-profile``."""

WORKLOADS: dict[str, Workload] = {
    "HIST-001": Workload(
        {"put": 5, "delete": 1, "get_strong_bypass": 2, "get_strong": 2, "get_eventual": 1},
        keys=2,
        rounds=("put", "delete"),
    ),
    "HIST-002": Workload(
        {"cas": 3, "create": 4, "cdelete": 4, "put": 5, "delete": 2, "get_strong_bypass": 1},
        keys=1,
        rounds=("create", "cas", "cdelete", "cdelete_put"),
    ),
    "HIST-003": Workload(
        {"put": 2, "cas": 2, "delete": 1, "get_strong": 4, "get_strong_bypass": 2}, keys=3
    ),
    "HIST-004": Workload(
        {"put": 2, "delete": 0.3, "get_strong": 8, "get_eventual": 1, "get_strong_bypass": 1},
        keys=2,
        staleness_budget_ms=5.0,
        ttl_ms=60.0,
        fanout_delay_ms=40.0,
        pause_ms=(0.5, 3.0),
        probes=2,
    ),
    "HIST-005": Workload({"append": 6, "consume": 3}, groups=2, rounds=("append",)),
    "HIST-006": Workload(
        {"append_idempotent": 4, "append": 1, "consume": 2},
        idempotency_keys=4,
        rounds=("append_idempotent",),
    ),
    "HIST-007": Workload(
        {"append": 2, "consume": 6}, groups=1, batch=2, ack_probability=0.7, rounds=("consume",)
    ),
    "HIST-008": Workload(
        {
            "put": 2,
            "cas": 2,
            "create": 1,
            "delete": 1,
            "get_strong_bypass": 2,
            "append": 2,
            "append_idempotent": 2,
            "consume": 3,
        },
        keys=2,
        idempotency_keys=3,
    ),
}
"""What the clients of each history contract do: the random walk, then the contention
rounds (``rounds``) or staleness probes (``probes``) that force the races it is about."""

PROCESSES = {"HIST-008": 2}
"""Contracts whose clients also run in child processes, and how many children."""
