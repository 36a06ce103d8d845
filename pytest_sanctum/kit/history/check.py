"""Checks a whole history: versioned objects key by key, then streams."""

from __future__ import annotations

from pytest_sanctum.kit.history.check_objects import check_objects
from pytest_sanctum.kit.history.check_streams import check_streams
from pytest_sanctum.kit.history.record import History
from pytest_sanctum.kit.history.verdict import Verdict


def check_history(history: History) -> Verdict:
    """Every anomaly of ``history`` against ADR-001 (see ``docs/concurrency.md``)."""
    return Verdict(check_objects(history) + check_streams(history), len(history.operations))
