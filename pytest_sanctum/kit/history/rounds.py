"""Contention rounds: one conflicting operation per node, sent into the adapter together.

The random walk of a history run leaves contention to the scheduler: on a loaded machine
the clients may run one after another, and a check-then-act race (a create-only write
that checks, then writes in a second round trip) never shows. After the walk, a run
therefore plays rounds. In a round, one client on each node runs the same conflicting
operation on one fresh key or stream: all create it, all write it with the etag of one
version, all append with one idempotency key, all read one group; or one *leader*
checks (a conditional delete) while the others write. A ``ContentionGate``
stops each at its first store call until all have reached theirs, then lets them into the
adapter together and measures how far apart the first two went in. A round is
*contended* when that gap is at most ``CONTENTION_WINDOW_MS``: then two nodes' calls
began together, before any third could land, and a race whose check and act are further
apart than that window cannot escape it (both checks pass before either acts). Rounds are repeated until ``ROUNDS_NEEDED`` of each kind
were contended, at most ``ROUNDS_AT_MOST`` times; the run records how many were, and a
contract whose rounds fell short is reported untested, never passed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pytest_sanctum.errors import SanctumError
from pytest_sanctum.kit.history.client import RecordingClient
from pytest_sanctum.kit.history.gate import ContentionGate
from pytest_sanctum.kit.history.workload import STREAM_PREFIX
from pytest_sanctum.types import JSONValue

CONTENTION_WINDOW_MS = 1.0
"""A round is contended when its participants went into the adapter at most this far apart."""

ROUNDS_NEEDED = 2
"""Contended rounds of each kind a run needs."""

ROUNDS_AT_MOST = 30
"""Rounds of each kind a run plays at most, contended or not."""

ROUND_PREFIX = "r"
"""Keys, streams and idempotency keys of rounds start with it (never a walk's ``k``/``s``)."""

Setup = Callable[[RecordingClient, str, str], str | None]
"""Prepares a round on its fresh name; returns what every participant needs (an etag)."""
Act = Callable[[RecordingClient, str, str, str | None], None]
"""One participant's conflicting operation on the round's name."""


@dataclass(frozen=True)
class RoundKind:
    """What the participants of one kind of round do; with ``leader``, the first participant
    does that instead and goes into the adapter before the others."""

    setup: Setup
    act: Act
    leader: Act | None = None


def _no_setup(client: RecordingClient, namespace: str, name: str) -> str | None:
    return None


def _written(client: RecordingClient, namespace: str, name: str) -> str | None:
    return client.records.put(namespace, name, {"tag": f"{client.name}-{name}"}).etag


def _appended(client: RecordingClient, namespace: str, name: str) -> str | None:
    for index in range(3):
        client.streams.append(namespace, name, {"tag": f"{client.name}-{name}-{index}"})
    return None


def _tag(client: RecordingClient, name: str) -> dict[str, JSONValue]:
    return {"tag": f"{client.name}-{name}"}


def _put(client: RecordingClient, namespace: str, name: str, etag: str | None) -> None:
    client.records.put(namespace, name, _tag(client, name))


def _delete(client: RecordingClient, namespace: str, name: str, etag: str | None) -> None:
    client.records.delete(namespace, name)


def _create(client: RecordingClient, namespace: str, name: str, etag: str | None) -> None:
    client.records.put(namespace, name, _tag(client, name), if_none_match="*")


def _cas(client: RecordingClient, namespace: str, name: str, etag: str | None) -> None:
    client.records.put(namespace, name, _tag(client, name), if_match=etag)


def _cdelete(client: RecordingClient, namespace: str, name: str, etag: str | None) -> None:
    client.records.delete(namespace, name, if_match=etag)


def _append(client: RecordingClient, namespace: str, name: str, etag: str | None) -> None:
    client.streams.append(namespace, f"{STREAM_PREFIX}0", _tag(client, name))


def _append_idempotent(
    client: RecordingClient, namespace: str, name: str, etag: str | None
) -> None:
    client.streams.append(namespace, f"{STREAM_PREFIX}0", _tag(client, name), idempotency_key=name)


def _consume(client: RecordingClient, namespace: str, name: str, etag: str | None) -> None:
    client.streams.read(namespace, name, "g0", client.name, count=1)


ROUND_KINDS: dict[str, RoundKind] = {
    "put": RoundKind(_no_setup, _put),
    "delete": RoundKind(_written, _delete),
    "create": RoundKind(_no_setup, _create),
    "cas": RoundKind(_written, _cas),
    "cdelete": RoundKind(_written, _cdelete),
    "cdelete_put": RoundKind(_written, _put, leader=_cdelete),
    "append": RoundKind(_no_setup, _append),
    "append_idempotent": RoundKind(_no_setup, _append_idempotent),
    "consume": RoundKind(_appended, _consume),
}
"""Every kind of round, by name (a workload lists the kinds its contract needs)."""


def _play(
    kind: RoundKind, clients: list[RecordingClient], gate: ContentionGate, namespace: str, name: str
) -> float:
    """One round; returns the gap between the first two entries into the adapter (ns)."""
    try:
        prepared = kind.setup(clients[0], namespace, name)
    except SanctumError:
        return float("inf")
    gate.start_round(len(clients), led=kind.leader is not None)

    def participate(client: RecordingClient, act: Act, leader: bool) -> None:
        gate.arm(leader=leader)
        try:
            with contextlib.suppress(SanctumError):  # the history decides if it was allowed
                act(client, namespace, name, prepared)
        finally:
            gate.disarm()

    acts = [(kind.leader or kind.act, kind.leader is not None)] + [(kind.act, False)] * (
        len(clients) - 1
    )
    threads = [
        threading.Thread(
            target=participate, args=(client, act, leader), name=f"round-{client.name}"
        )
        for client, (act, leader) in zip(clients, acts, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return gate.first_gap_ns()


def play_rounds(
    kinds: tuple[str, ...], clients: list[RecordingClient], gate: ContentionGate, namespace: str
) -> dict[str, list[int]]:
    """Play each kind until it had ``ROUNDS_NEEDED`` contended rounds (at most
    ``ROUNDS_AT_MOST``); returns, per kind, ``[contended, played]``."""
    tally: dict[str, list[int]] = {}
    for kind in kinds:
        contended = played = 0
        while contended < ROUNDS_NEEDED and played < ROUNDS_AT_MOST:
            name = f"{ROUND_PREFIX}-{kind}-{played}"
            gap = _play(ROUND_KINDS[kind], clients, gate, namespace, name)
            played += 1
            if gap <= CONTENTION_WINDOW_MS * 1e6:
                contended += 1
        tally[kind] = [contended, played]
    return tally


def shortfall(tally: dict[str, list[int]]) -> list[str]:
    """The kinds whose rounds were contended fewer than ``ROUNDS_NEEDED`` times, described."""
    return [
        f"{kind}: {contended} of {played} rounds contended"
        for kind, (contended, played) in sorted(tally.items())
        if contended < ROUNDS_NEEDED
    ]
