"""Fault injection for any adapter: latency, errors before and after the backend call,
lost, duplicated and delayed fan-out events, cache evictions, crash and reopen.

Public: app teams wrap their adapters in their own tests, and the kit's history contracts
run with the faults a vendor enables (``--sanctum-faults``). The facade never imports it.
"""

from pytest_sanctum.faults.adapter import FaultyAdapter
from pytest_sanctum.faults.fanout import FaultyFanout
from pytest_sanctum.faults.plan import FAULT_KINDS, FaultPlan, parse_faults

__all__ = ["FAULT_KINDS", "FaultPlan", "FaultyAdapter", "FaultyFanout", "parse_faults"]
