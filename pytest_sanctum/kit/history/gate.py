"""``ContentionGate``: lines up the clients of a contention round at the adapter's door.

A race between two nodes needs their calls to be in the backend at the same time; a
loaded machine may run the clients one after the other, and then no race can happen
whatever the adapter does. The gate wraps every node of a run. A client thread that is
*armed* stops at its first store call (records, blobs, streams, checkpoints: never the
cache, which reads consult first) until every participant of the round has reached its
own, then all go into the adapter together. Each notes the moment it went in; the gap
between the first two says whether the round really ran two calls together
(``contended``) or the scheduler kept them apart, so an uncontended round is measured,
never mistaken for evidence.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pytest_sanctum.adapters.base import StorageAdapter

GATED_STORES = ("blobs", "records", "streams", "checkpoints")
"""The stores whose first call an armed thread waits at (the cache is consulted before)."""

ROUND_TIMEOUT_S = 2.0
"""How long a participant waits at the gate for the others (a participant whose operation
never reaches the adapter, such as a refused argument, must not hang the round)."""


class ContentionGate:
    """The rendezvous of one round at a time, shared by every node of a run.

    In a round with a leader, the leader goes in first and the others only once it has:
    a race between an operation that checks and one that writes then needs the check to
    come first, and the gap measured is from the leader to the first of the others.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(1)
        self._leader_in = threading.Event()
        self._led = False
        self._leader_entered: int | None = None
        self._entered: list[int] = []

    def start_round(self, parties: int, *, led: bool = False) -> None:
        """Open a new round for ``parties`` participants (call before they start); with
        ``led``, the participant armed as leader goes in before the others."""
        self._barrier = threading.Barrier(parties, timeout=ROUND_TIMEOUT_S)
        self._leader_in = threading.Event()
        self._led = led
        self._leader_entered = None
        self._entered = []

    def arm(self, *, leader: bool = False) -> None:
        """Make this thread's next store call wait at the gate for the round."""
        self._local.armed = True
        self._local.leader = leader

    def disarm(self) -> None:
        self._local.armed = False

    def enter(self) -> None:
        """Called before a gated store call: an armed thread waits for the others here."""
        if not getattr(self._local, "armed", False):
            return
        self._local.armed = False
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            return
        if self._led and self._local.leader:
            self._leader_entered = time.monotonic_ns()
            self._leader_in.set()
            return
        if self._led and not self._await_leader():
            return
        entered = time.monotonic_ns()
        with self._lock:
            self._entered.append(entered)

    def _await_leader(self) -> bool:
        """Poll for the leader's entry, yielding the interpreter between looks: a thread
        woken from a blocking wait may come far later than the leader's call goes on."""
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        while not self._leader_in.is_set():
            if time.monotonic() > deadline:
                return False
            time.sleep(0)
        return True

    def first_gap_ns(self) -> float:
        """How far apart the first two participants went into the adapter (in a led round,
        the leader and the first of the others); infinite when fewer than two did. A race
        needs two calls together, before a third one lands."""
        with self._lock:
            entered = sorted(self._entered)
        if self._led:
            entered = [] if self._leader_entered is None else [self._leader_entered, *entered]
        if len(entered) < 2:
            return float("inf")
        return float(entered[1] - entered[0])


class GatedAdapter:
    """Wraps an adapter so that armed threads wait at ``gate`` before their first store call;
    everything else (name, capabilities, cache, reset, close, backdoor) is the inner one's."""

    def __init__(self, inner: StorageAdapter, gate: ContentionGate) -> None:
        self.inner = inner
        self._stores = {
            name: _GatedStore(getattr(inner, name), gate)
            for name in GATED_STORES
            if getattr(inner, name) is not None
        }

    def __getattr__(self, name: str) -> Any:
        if name in GATED_STORES:
            return self._stores.get(name)
        return getattr(self.inner, name)


class _GatedStore:
    """A store whose every method passes the gate first; offers only what ``inner`` offers."""

    def __init__(self, inner: Any, gate: ContentionGate) -> None:
        self._inner = inner
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if not callable(found):
            return found
        gate = self._gate

        def call(*args: Any, **kwargs: Any) -> Any:
            gate.enter()
            return found(*args, **kwargs)

        call.__name__ = name
        return call
