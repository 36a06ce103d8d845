"""``HistoryRecorder``: app teams record their own concurrent use of a client and check it.

The ``sanctum_history`` fixture gives one per test. Wrap each client your threads use
with ``recorder.record(client, name=...)``, run your code, then call
``recorder.assert_valid()``: the same checker as the kit's ``HIST-*`` contracts runs on
what your code did, and a failure names the anomaly, prints the operations that prove it
and writes an HTML timeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.clock import Clock
from pytest_sanctum.kit.history.check import check_history
from pytest_sanctum.kit.history.client import RecordingClient
from pytest_sanctum.kit.history.clock import RealClock
from pytest_sanctum.kit.history.explain import explain_verdict
from pytest_sanctum.kit.history.record import History, HistorySettings, Recorder
from pytest_sanctum.kit.history.tap import DeletedVersions, DeleteTap
from pytest_sanctum.kit.history.timeline import write_timeline
from pytest_sanctum.kit.history.verdict import Verdict


class HistoryRecorder:
    """Records clients' operations into one history and checks it.

    ``settings`` tell the checker what the clients were configured with (read-after-write,
    cache, budget, TTL, visibility timeout, dedupe window); staleness bounds are checked
    only when ``settings.real_clock`` is true (the clients' clock moves with real time).
    By default reads may come from a cache and the adapter has read-after-write.
    """

    def __init__(
        self, clock: Clock, artefacts: Path, settings: HistorySettings | None = None
    ) -> None:
        self.settings = settings or HistorySettings(
            cached=True, real_clock=isinstance(clock, RealClock)
        )
        self.recorder = Recorder(clock, self.settings)
        self.artefacts = artefacts
        self.deleted = DeletedVersions()

    def adapter(self, adapter: StorageAdapter) -> StorageAdapter:
        """``adapter`` wrapped so that deletes made through it record the version removed."""
        return DeleteTap(adapter, self.deleted)

    def record(self, client: Any, name: str, node: str = "n0") -> RecordingClient:
        """``client`` with its record, blob and stream operations recorded as client ``name``."""
        return RecordingClient(client, self.recorder, name, node, self.deleted)

    def history(self) -> History:
        return self.recorder.history()

    def check(self) -> Verdict:
        """The verdict on everything recorded so far."""
        return check_history(self.history())

    def assert_valid(self) -> Verdict:
        """Check; on an anomaly, write the timeline and raise ``AssertionError`` explaining it."""
        history = self.history()
        verdict = check_history(history)
        if verdict.valid:
            return verdict
        page = write_timeline(history, verdict, self.artefacts / "history.html", "history")
        raise AssertionError(
            f"{len(verdict.anomalies)} anomalies in {len(history.operations)} recorded "
            f"operations\n\n{explain_verdict(history, verdict)}\n\ntimeline: {page}"
        )
