"""``KitMachine``: the base of every machine, one fresh world (clock, namespace, adapters,
clients) per hypothesis example."""

from __future__ import annotations

import sys
from typing import ClassVar

from hypothesis import note
from hypothesis.errors import HypothesisException
from hypothesis.stateful import (
    RuleBasedStateMachine,
)

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.client import StorageClient, create_storage_client
from pytest_sanctum.fanout import InvalidationFanout
from pytest_sanctum.kit.contracts import explain
from pytest_sanctum.kit.machines.models import Cached
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.types import CacheEntry


class KitMachine(RuleBasedStateMachine):
    """Base of the kit's machines: one fresh world per hypothesis example.

    The world is a virtual clock, a namespace of its own, and the adapter instances and
    clients the machine opens; ``teardown`` resets the namespace and closes them all.
    """

    contract: ClassVar[str] = ""

    def __init__(self, kit: KitSession) -> None:
        super().__init__()
        self.kit = kit
        self.clock = kit.new_clock()
        self.t0 = self.clock.now_ms()
        self.ns = kit.new_namespace()
        self._adapters: list[StorageAdapter] = []
        self._clients: list[StorageClient] = []
        self.ops = 0
        self.steps: list[str] = []
        """The narrated steps of this example, its operation log."""
        self._last: dict[str, int] = {}

    def log(self, text: str) -> None:
        """Narrate a step (``hypothesis.note``): a shrunk failure prints them as its log."""
        self.ops += 1
        self.steps.append(text)
        note(text)

    def remark(self, text: str) -> None:
        """Narrate something that is no operation (an eviction): unlike ``log`` it does not
        count for ``spaced``, so it cannot change which rules run next."""
        self.steps.append(text)
        note(text)

    def spaced(self, kind: str, gap: int) -> bool:
        """A deterministic throttle: more than ``gap`` operations since the last ``kind``.

        Hypothesis favours rules with few arguments; throttling clock advances, fan-out
        and poisoning keeps the examples busy with reads and writes.
        """
        return self.ops - self._last.get(kind, -gap - 1) > gap

    def did(self, kind: str) -> None:
        """Record that an operation of ``kind`` just ran (see ``spaced``)."""
        self._last[kind] = self.ops

    def advance_clock(self, ms: int) -> None:
        self.clock.advance(ms)
        self.log(f"clock +{ms} ms -> {self.at(self.now())}")
        self.did("advance")

    def open_adapter(self) -> StorageAdapter:
        """A new adapter instance on the run's backend (a node, or a restarted process)."""
        adapter = self.kit.open_adapter(self.clock)
        self._adapters.append(adapter)
        return adapter

    def make_client(
        self,
        adapter: StorageAdapter,
        fanout: InvalidationFanout | None = None,
        **settings: object,
    ) -> StorageClient:
        """A facade client over ``adapter``; ``settings`` go to ``KitSession.client_config``."""
        client = create_storage_client(
            self.kit.client_config(**settings),  # type: ignore[arg-type]
            clock=self.clock,
            adapters={"kit": adapter},
            fanout=fanout,
        )
        self._clients.append(client)
        return client

    def now(self) -> float:
        return self.clock.now_ms()

    def at(self, ms: float) -> str:
        """A facade-clock time for the log, relative to the example's start."""
        return f"t={ms - self.t0:g}"

    def show(self, entry: Cached | CacheEntry | None) -> str:
        """A model or stored cache entry for the log (times relative to the start)."""
        if entry is None:
            return "nothing live"
        if isinstance(entry, Cached):
            return entry.show(self.t0)
        return (
            f"entry v{entry.version} {entry.data!r} etag={entry.etag} "
            f"stored_at=t{entry.stored_at_ms - self.t0:+g} "
            f"expires_at=t{entry.expires_at_ms - self.t0:+g}"
        )

    def expect(self, condition: bool, message: str) -> None:
        """Fail the example with the contract restated when ``condition`` is false."""
        if not condition:
            raise AssertionError(f"{explain(self.contract)} {message}")

    def teardown(self) -> None:
        """Close what the example opened; report a failing example to the kit's witness.

        Hypothesis runs ``teardown`` in a ``finally`` block, so the exception the example is
        failing with, if any, is the one being handled here.
        """
        failure = sys.exc_info()[1]
        witness = self.kit.witness
        if (
            witness is not None
            and isinstance(failure, Exception)
            and not isinstance(failure, HypothesisException)
        ):
            witness.saw(failure, self.steps)
        try:
            if self._adapters:
                self._adapters[-1].reset(self.ns)
        finally:
            for client in self._clients:
                client.close()
            for adapter in self._adapters:
                adapter.close()
