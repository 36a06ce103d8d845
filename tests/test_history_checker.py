"""The history checker on hand-built histories: each anomaly is found, and what ADR-001
allows (concurrency, unknown outcomes, staleness within its bounds) is accepted."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sanctum.kit.history.check import check_history
from pytest_sanctum.kit.history.explain import explain, text_timeline
from pytest_sanctum.kit.history.record import History, HistorySettings, Operation
from pytest_sanctum.kit.history.timeline import render_html
from pytest_sanctum.kit.history.verdict import ANOMALIES, Anomaly

MS = 1_000_000


class Build:
    """Builds a history: ``op(kind, key, start_ms, end_ms, **fields)``."""

    def __init__(self, **settings: Any) -> None:
        self.ops: list[Operation] = []
        self.settings = HistorySettings(**settings)

    def op(self, kind: str, key: str, start: float, end: float, **fields: Any) -> Operation:
        fields.setdefault("outcome", "ok")
        fields.setdefault("client", f"c{len(self.ops)}")
        op = Operation(
            len(self.ops),
            fields.pop("client"),
            fields.pop("node", "n0"),
            kind,
            key,
            int(start * MS),
            start,
            int(end * MS),
            end,
            **fields,
        )
        self.ops.append(op)
        return op

    def write(self, start: float, end: float, tag: str, version: int, **fields: Any) -> Operation:
        fields.setdefault("etag", f"e{version}")
        return self.op(
            fields.pop("kind", "put"), "k", start, end, tag=tag, version=version, **fields
        )

    def read(
        self, start: float, end: float, tag: str | None, version: int | None, **fields: Any
    ) -> Operation:
        fields.setdefault("level", "strong")
        fields.setdefault("bypass", True)
        etag = f"e{version}" if version is not None else None
        return self.op("get", "k", start, end, tag=tag, version=version, etag=etag, **fields)

    def kinds(self) -> set[str]:
        return check_history(History(self.ops, self.settings)).kinds()


def test_sequential_writes_and_reads_are_valid() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.read(2, 3, "a", 1)
    h.write(4, 5, "b", 2)
    h.read(6, 7, "b", 2)
    h.op("delete", "k", 8, 9, version=2)
    h.read(10, 11, None, None)
    h.write(12, 13, "c", 3, kind="create")
    assert h.kinds() == set()


def test_concurrent_read_may_see_either_value() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.write(2, 10, "b", 2)
    h.read(3, 4, "b", 2)
    h.read(5, 6, "b", 2)
    assert h.kinds() == set()


def test_stale_read_is_found() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.write(2, 3, "b", 2)
    h.read(4, 5, "a", 1)
    assert h.kinds() == {"stale-read"}


def test_new_then_old_read_is_not_linearizable() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.write(2, 20, "b", 2)
    h.read(3, 4, "b", 2)
    h.read(5, 6, "a", 1)
    assert h.kinds() == {"stale-read"}


def test_future_read_is_found() -> None:
    h = Build()
    h.read(0, 1, "a", 1)
    h.write(2, 3, "a", 1)
    assert "future-read" in h.kinds()


def test_garbage_read_is_found() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.read(2, 3, "zzz", 1)
    assert h.kinds() == {"garbage-read"}


def test_duplicate_version_is_found() -> None:
    h = Build()
    h.write(0, 2, "a", 1)
    h.write(1, 3, "b", 1)
    assert "duplicate-version" in h.kinds()


def test_versions_against_real_time_are_found() -> None:
    h = Build()
    h.write(0, 1, "a", 2)
    h.write(2, 3, "b", 1)
    assert "version-order" in h.kinds()


def test_two_winners_with_one_etag_are_a_lost_update() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.write(2, 4, "b", 2, kind="cas", if_match="e1")
    h.write(3, 5, "c", 3, kind="cas", if_match="e1")
    assert "lost-update" in h.kinds()


def test_create_only_twice_in_one_life_is_a_lost_update() -> None:
    h = Build()
    h.write(0, 2, "a", 1, kind="create")
    h.write(1, 3, "b", 2, kind="create")
    assert "lost-update" in h.kinds()


def test_create_after_an_unknown_delete_is_accepted() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.op("delete", "k", 2, 3, outcome="info")
    h.write(4, 5, "b", 2, kind="create")
    assert h.kinds() == set()


def test_conditional_delete_of_another_version_is_a_lost_update() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.write(2, 3, "b", 2)
    h.op("delete", "k", 1.5, 4, version=2, if_match="e1")
    assert "lost-update" in h.kinds()


def test_unknown_write_may_or_may_not_apply() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.write(2, 3, "b", None, outcome="info", etag=None)
    h.read(4, 5, "b", 2)
    h.read(6, 7, "b", 2)
    assert h.kinds() == set()
    h2 = Build()
    h2.write(0, 1, "a", 1)
    h2.write(2, 3, "b", None, outcome="info", etag=None)
    h2.read(4, 5, "a", 1)
    assert h2.kinds() == set()


def test_refused_write_is_never_read() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.write(2, 3, "b", None, outcome="fail", error="precondition_failed", etag=None)
    h.read(4, 5, "b", 2)
    assert h.kinds() == {"garbage-read"}


def test_not_found_after_a_completed_write_is_stale() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.read(2, 3, None, None)
    assert h.kinds() == {"stale-read"}


def test_not_found_during_a_delete_is_accepted() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.op("delete", "k", 2, 5, version=1)
    h.read(3, 4, None, None)
    assert h.kinds() == set()


def test_cached_strong_read_within_the_budget_is_accepted_and_beyond_is_not() -> None:
    def run(read_at: float) -> set[str]:
        h = Build(cached=True, staleness_budget_ms=10.0)
        h.write(0, 1, "a", 1, node="n1")
        h.read(1, 1.1, "a", 1, bypass=False, node="n0")
        h.write(2, 3, "b", 2, node="n1")
        h.read(read_at, read_at + 0.1, "a", 1, bypass=False, node="n0")
        return h.kinds()

    assert run(12.0) == set()
    assert run(14.0) == {"stale-read-beyond-delta"}


def test_fill_slack_counts_only_reads_that_could_have_fetched_the_value() -> None:
    """A fill may be as old as the read that fetched it; a read begun after the value was
    overwritten could not fetch it, however long it took, and lends no slack."""

    def run(fill_ends: float, late_read_takes: float, fill_outcome: str = "ok") -> set[str]:
        h = Build(cached=True, staleness_budget_ms=10.0)
        h.write(0, 1, "a", 1, node="n1")
        if fill_outcome == "ok":
            h.read(1, fill_ends, "a", 1, bypass=False, node="n0")
        else:
            h.op("get", "k", 1, fill_ends, outcome="info", node="n0", level="strong")
        h.write(2, 3, "b", 2, node="n1")
        h.read(20.0, 20.0 + late_read_takes, "a", 1, bypass=False, node="n0")
        return h.kinds()

    assert run(1.1, 0.1) == {"stale-read-beyond-delta"}
    assert run(1.1, 30.0) == {"stale-read-beyond-delta"}
    assert run(12.0, 0.1) == set()
    assert run(12.0, 0.1, fill_outcome="info") == set()


def test_eventual_reads_are_bounded_by_the_ttl() -> None:
    def run(read_at: float) -> set[str]:
        h = Build(cached=True, ttl_ms=50.0)
        h.write(0, 1, "a", 1)
        h.write(2, 3, "b", 2)
        h.read(read_at, read_at + 0.1, "a", 1, level="eventual", bypass=False)
        return h.kinds()

    assert run(52.0) == set()
    assert run(54.0) == {"stale-read-beyond-ttl"}


def test_without_read_after_write_only_own_writes_bind() -> None:
    h = Build(read_after_write=False)
    h.write(0, 1, "a", 1, client="c0")
    h.write(2, 3, "b", 2, client="c0")
    h.read(4, 5, "a", 1, client="c1")
    assert h.kinds() == set()
    h.read(6, 7, "a", 1, client="c0")
    assert h.kinds() == {"read-your-writes"}


def test_virtual_clock_histories_do_not_bound_cached_staleness() -> None:
    h = Build(cached=True, real_clock=False)
    h.write(0, 1, "a", 1)
    h.write(2, 3, "b", 2)
    h.read(500, 501, "a", 1, bypass=False)
    assert h.kinds() == set()


def _stream(h: Build, kind: str, start: float, end: float, **fields: Any) -> Operation:
    return h.op(kind, "s", start, end, **fields)


def test_stream_history_valid_and_lost_message() -> None:
    h = Build(visibility_timeout_ms=10.0)
    _stream(h, "append", 0, 1, tag="a", sequence=1)
    _stream(h, "append", 0, 1, tag="b", sequence=2)
    _stream(h, "read", 2, 3, client="drain", group="g", deliveries=[(1, "a", 1), (2, "b", 1)])
    assert h.kinds() == set()
    lost = Build()
    _stream(lost, "append", 0, 1, tag="a", sequence=1)
    _stream(lost, "append", 0, 1, tag="b", sequence=2)
    _stream(lost, "read", 2, 3, client="drain", group="g", deliveries=[(1, "a", 1)])
    assert lost.kinds() == {"lost-message"}


def test_stream_duplicate_sequences_and_garbage() -> None:
    h = Build()
    _stream(h, "append", 0, 1, tag="a", sequence=1)
    _stream(h, "append", 0, 1, tag="b", sequence=1)
    _stream(h, "read", 2, 3, client="drain", group="g", deliveries=[(1, "b", 1)])
    assert {"duplicate-sequence", "lost-message"} <= h.kinds()


def test_stream_gap_is_found() -> None:
    h = Build()
    _stream(h, "append", 0, 1, tag="a", sequence=1)
    _stream(h, "append", 0, 1, tag="b", sequence=3)
    _stream(h, "read", 2, 3, client="drain", group="g", deliveries=[(1, "a", 1), (3, "b", 1)])
    assert h.kinds() == {"sequence-gap"}


def test_double_delivery_and_redelivery_after_ack() -> None:
    h = Build(visibility_timeout_ms=10.0)
    _stream(h, "append", 0, 1, tag="a", sequence=1)
    _stream(h, "read", 2, 3, group="g", deliveries=[(1, "a", 1)])
    _stream(h, "read", 2.5, 3.5, group="g", deliveries=[(1, "a", 1)])
    assert h.kinds() == {"double-delivery"}
    early = Build(visibility_timeout_ms=10.0)
    _stream(early, "append", 0, 1, tag="a", sequence=1)
    _stream(early, "read", 2, 3, group="g", deliveries=[(1, "a", 1)])
    _stream(early, "read", 5, 6, group="g", deliveries=[(1, "a", 2)])
    assert early.kinds() == {"double-delivery"}
    late = Build(visibility_timeout_ms=10.0)
    _stream(late, "append", 0, 1, tag="a", sequence=1)
    _stream(late, "read", 2, 3, group="g", deliveries=[(1, "a", 1)])
    _stream(late, "read", 13, 14, group="g", deliveries=[(1, "a", 2)])
    assert late.kinds() == set()
    _stream(late, "ack", 15, 16, group="g", sequence=1, count=1)
    _stream(late, "read", 40, 41, group="g", deliveries=[(1, "a", 3)])
    assert late.kinds() == {"redelivered-after-ack"}


def test_idempotency_key_appending_twice_is_found() -> None:
    h = Build()
    _stream(h, "append", 0, 1, tag="a", sequence=1, idempotency_key="i")
    _stream(h, "append", 0, 1, tag="b", sequence=2, idempotency_key="i")
    assert h.kinds() == {"duplicate-idempotent-append"}
    ok = Build()
    _stream(ok, "append", 0, 1, tag="a", sequence=1, idempotency_key="i")
    _stream(ok, "append", 0, 1, tag="b", sequence=1, idempotency_key="i", duplicate=True)
    assert ok.kinds() == set()


def test_explanations_name_the_anomaly_and_draw_the_sub_history() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    h.write(2, 3, "b", 2)
    h.read(4, 5, "a", 1)
    history = History(h.ops, h.settings)
    verdict = check_history(history)
    text = explain(history, verdict.anomalies[0])
    assert text.startswith("stale-read on k: " + ANOMALIES["stale-read"])
    assert len(text_timeline(history.operations)) == 3
    page = render_html(history, verdict, "t")
    assert page.count("<rect") == 3
    assert 'class="op bad"' in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_history_round_trips_through_json() -> None:
    h = Build()
    h.write(0, 1, "a", 1)
    _stream(h, "read", 2, 3, group="g", deliveries=[(1, "a", 1)])
    history = History(h.ops, h.settings, {"create": [2, 3]})
    again = History.from_json(history.to_json())
    assert again == history


def test_unknown_anomaly_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="made-up"):
        Anomaly("made-up", "k", "", ())
