"""Runs a workload: clients in threads over several nodes, recorded into one history.

Each node is an adapter instance opened by ``open_adapter`` (the kit opens it through
``KitSession.open_adapter``), wrapped in a ``DeleteTap`` and in a ``FaultyAdapter`` that
injects the run's faults; nodes share one fan-out, wrapped in a ``FaultyFanout``. Every
client has its own facade client over its node, so read-after-write memory is per client
while the node's local cache is shared by the clients on it. After the clients finish,
the faults are paused and a ``drain`` client reads every stream to the end for every
group, and reads every key once more from the backend: the quiescent part of the run.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from pytest_sanctum.adapters.base import AdapterFactory, StorageAdapter
from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import SanctumError
from pytest_sanctum.fanout import LocalFanout
from pytest_sanctum.faults import FaultPlan, FaultyAdapter, FaultyFanout
from pytest_sanctum.kit.history.client import RecordingClient
from pytest_sanctum.kit.history.clock import RealClock
from pytest_sanctum.kit.history.gate import ContentionGate, GatedAdapter
from pytest_sanctum.kit.history.probes import probe_staleness
from pytest_sanctum.kit.history.processes import child_main, factory_reference, spawn_context
from pytest_sanctum.kit.history.record import History, HistorySettings, Operation, Recorder
from pytest_sanctum.kit.history.rounds import play_rounds
from pytest_sanctum.kit.history.tap import DeletedVersions, DeleteTap
from pytest_sanctum.kit.history.workload import (
    NAMESPACE_KEY_PREFIX,
    STREAM_PREFIX,
    ClientRun,
    Workload,
)
from pytest_sanctum.types import InvalidationEvent

OpenAdapter = Callable[[Clock], StorageAdapter]

CHILD_TIMEOUT_S = 120.0
"""How long the parent waits for a client process before giving up on it."""

DRAIN_ROUNDS = 30
"""At most this many reads per group while draining (a broken adapter may never drain)."""


@dataclass(frozen=True)
class RunSize:
    """How big a history run is: clients, nodes and operations per client."""

    clients: int = 4
    nodes: int = 2
    operations: int = 25


def client_config(workload: Workload, spec: str, options: dict[str, object]) -> Any:
    """The facade configuration every client of the run uses."""
    from pytest_sanctum.config import parse_config

    return parse_config(
        {
            "schema_version": 1,
            "adapters": {"kit": {"kind": spec, "options": options}},
            "namespaces": {"*": {"adapter": "kit"}},
            "cache": {
                "ttl_ms": workload.ttl_ms,
                "staleness_budget_ms": workload.staleness_budget_ms,
            },
            "streams": {"visibility_timeout_ms": workload.visibility_timeout_ms},
        }
    )


class DelayedFanout(LocalFanout):
    """An asynchronous fan-out: each event reaches the other nodes ``delay_ms`` after its
    publication, on a timer thread (the window in which other nodes hold a purged entry)."""

    def __init__(self, delay_ms: float) -> None:
        super().__init__()
        self.delay_s = delay_ms / 1000.0
        self._timers: list[threading.Timer] = []

        self._held: list[InvalidationEvent] | None = None

    def publish(self, event: InvalidationEvent) -> None:
        if self._held is not None:
            self._held.append(event)
            return
        timer = threading.Timer(self.delay_s, self.deliver, (event,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def hold(self) -> None:
        """Keep every event published from now on until ``release`` (a fan-out running late)."""
        self._held = []

    def release(self) -> None:
        """Send the held events on their way, each ``delay_ms`` from now."""
        held, self._held = self._held or [], None
        for event in held:
            self.publish(event)

    def settle(self) -> None:
        """Wait until every published event has been delivered."""
        for timer in list(self._timers):
            timer.join()


class HistoryRun:
    """The nodes, clients and recorder of one run; ``run()`` returns the history."""

    def __init__(
        self,
        open_adapter: OpenAdapter,
        workload: Workload,
        namespace: str,
        *,
        size: RunSize = RunSize(),
        seed: int = 0,
        plan: FaultPlan | None = None,
        clock: Clock | None = None,
        spec: str = "kit",
        options: dict[str, object] | None = None,
        processes: int = 0,
        spawn: tuple[AdapterFactory, dict[str, object], tuple[str, ...]] | None = None,
    ) -> None:
        """``processes`` child processes (needs ``spawn``: the factory, its options and the
        mask) each run a share of the clients on a node of their own."""
        self.open_adapter = open_adapter
        self.spec = spec
        self.options = dict(options or {})
        self.processes = processes if spawn is not None else 0
        self.spawn = spawn
        self.workload = workload
        self.namespace = namespace
        self.size = size
        self.seed = seed
        self.plan = plan or FaultPlan()
        self.clock = clock or RealClock()
        self.config = client_config(workload, spec, options or {})
        self.deleted = DeletedVersions()
        self.gate = ContentionGate()
        self.delivery: LocalFanout = (
            DelayedFanout(workload.fanout_delay_ms) if workload.fanout_delay_ms else LocalFanout()
        )
        self.fanout = FaultyFanout(self.delivery, self.plan)

    def _open_node(self) -> StorageAdapter:
        return GatedAdapter(DeleteTap(self.open_adapter(self.clock), self.deleted), self.gate)

    @contextmanager
    def _nodes(self) -> Iterator[list[FaultyAdapter]]:
        with ExitStack() as stack:
            nodes = []
            for _ in range(self.size.nodes):
                node = FaultyAdapter(self._open_node(), self.plan, reopen=self._open_node)
                stack.callback(node.close)
                nodes.append(node)
            yield nodes

    def _client(self, node: FaultyAdapter, recorder: Recorder, name: str, node_name: str) -> Any:
        from pytest_sanctum.client import create_storage_client

        facade = create_storage_client(
            self.config, clock=self.clock, fanout=self.fanout, adapters={"kit": node}
        )
        return RecordingClient(facade, recorder, name, node_name, self.deleted)

    def _settings(self, node: StorageAdapter) -> HistorySettings:
        capabilities = node.capabilities
        return HistorySettings(
            read_after_write=capabilities.read_after_write,
            cached=capabilities.cache,
            staleness_budget_ms=self.workload.staleness_budget_ms,
            ttl_ms=self.workload.ttl_ms,
            visibility_timeout_ms=self.workload.visibility_timeout_ms,
            dedupe_window_ms=self.config.streams.dedupe_window_ms,
            real_clock=isinstance(self.clock, RealClock),
        )

    def run_share(self, indices: list[int], node_name: str, barrier: Any) -> list[Operation]:
        """A child process's part: clients ``indices`` on one new node, started at ``barrier``."""
        node = FaultyAdapter(self._open_node(), self.plan, reopen=self._open_node)
        try:
            recorder = Recorder(self.clock, self._settings(node))
            clients = [self._client(node, recorder, f"c{i}", node_name) for i in indices]
            barrier.wait()
            try:
                self._run_clients(clients, indices)
            finally:
                for client in clients:
                    client.client.close()
            return recorder.history().operations
        finally:
            node.close()

    def _start_children(self, groups: list[list[int]]) -> tuple[list[Any], Any, Any]:
        assert self.spawn is not None
        factory, options, mask = self.spawn
        context = spawn_context()
        barrier, results = context.Barrier(len(groups) + 1), context.Queue()
        offset = self.clock.offset_ms if isinstance(self.clock, RealClock) else 0.0
        children = []
        for number, indices in enumerate(groups, start=1):
            run_args = {
                "workload": self.workload,
                "namespace": self.namespace,
                "size": self.size,
                "seed": self.seed,
                "plan": FaultPlan(self.plan.kinds, rate=self.plan.rate, seed=self.seed + number),
                "spec": self.spec,
                "options": self.options,
            }
            child = context.Process(
                target=child_main,
                args=(
                    factory_reference(factory),
                    options,
                    mask,
                    run_args,
                    indices,
                    f"p{number}",
                    offset,
                ),
                kwargs={"barrier": barrier, "results": results},
                daemon=True,
            )
            child.start()
            children.append(child)
        return children, barrier, results

    def _collect(self, children: list[Any], results: Any) -> list[Operation]:
        operations: list[Operation] = []
        for _ in children:
            found = results.get(timeout=CHILD_TIMEOUT_S)
            if isinstance(found, str):
                raise RuntimeError(f"a history client process failed: {found}")
            for raw in found:
                raw["deliveries"] = [tuple(d) for d in raw["deliveries"]]
                operations.append(Operation(**raw))
        for child in children:
            child.join(CHILD_TIMEOUT_S)
        return operations

    def run(self) -> History:
        """Run the clients (some in child processes), drain, and return the history."""
        share = self.processes + 1
        groups = [
            [i for i in range(self.size.clients) if i % share == number]
            for number in range(1, share)
        ]
        own = [i for i in range(self.size.clients) if i % share == 0]
        with self._nodes() as nodes:
            recorder = Recorder(self.clock, self._settings(nodes[0]))
            clients = [
                self._client(nodes[n % len(nodes)], recorder, f"c{i}", f"n{n % len(nodes)}")
                for n, i in enumerate(own)
            ]
            try:
                children, barrier, results = (
                    self._start_children(groups) if self.processes else ([], None, None)
                )
                if barrier is not None:
                    barrier.wait(timeout=CHILD_TIMEOUT_S)
                self._run_clients(clients, own)
                if children:
                    recorder.extend(self._collect(children, results))
                self.plan.paused = True
                self.fanout.flush()
                if isinstance(self.delivery, DelayedFanout):
                    self.delivery.settle()
                recorder.contention = self._contend(clients)
                drain = self._client(nodes[0], recorder, "drain", "n0")
                try:
                    self._drain(drain)
                finally:
                    drain.client.close()
            finally:
                for client in clients:
                    client.client.close()
            return recorder.history()

    def _run_clients(self, clients: list[RecordingClient], indices: list[int]) -> None:
        barrier = threading.Barrier(len(clients))
        errors: list[BaseException] = []

        def work(index: int, client: RecordingClient) -> None:
            rng = random.Random(self.seed * 7919 + index)
            walk = ClientRun(client, self.workload, self.namespace, rng)
            low, high = self.workload.pause_ms
            try:
                barrier.wait()
                for _ in range(self.size.operations):
                    walk.step()
                    if high > 0:
                        self.clock.sleep_ms(rng.uniform(low, high))
            except BaseException as error:  # surfaced after the join
                errors.append(error)

        threads = [
            threading.Thread(target=work, args=(i, client), name=f"history-{client.name}")
            for i, client in zip(indices, clients, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _contend(self, clients: list[RecordingClient]) -> dict[str, list[int]]:
        """After the walk, with faults paused: the workload's contention rounds, one client
        per node, and its staleness probes (reader on the first node, writer on the second)."""
        workload, ns = self.workload, self.namespace
        participants = clients[: self.size.nodes]
        if len(participants) < 2 or self.processes:
            return {}
        tally = play_rounds(workload.rounds, participants, self.gate, ns)
        if workload.probes and isinstance(self.delivery, DelayedFanout):
            probe_staleness(
                participants[1],
                participants[0],
                self.delivery,
                ns,
                workload.staleness_budget_ms,
                workload.probes,
            )
        return tally

    def _drain(self, drain: RecordingClient) -> None:
        """Read every key from the backend, and every stream to its end for every group."""
        workload, ns = self.workload, self.namespace
        if workload.objects:
            for index in range(workload.keys):
                with suppress(SanctumError):
                    drain.records.get(
                        ns, f"{NAMESPACE_KEY_PREFIX}{index}", level="strong", bypass_cache=True
                    )
        if not workload.uses_streams:
            return
        groups = [f"g{index}" for index in range(workload.groups)] + ["fresh"]
        for index in range(workload.streams):
            for group in groups:
                self._drain_group(drain, f"{STREAM_PREFIX}{index}", group)

    def _drain_group(self, drain: RecordingClient, stream: str, group: str) -> None:
        ns, timeout = self.namespace, self.workload.visibility_timeout_ms
        for _ in range(DRAIN_ROUNDS):
            try:
                found = drain.streams.read(
                    ns, stream, group, "drain", count=100, visibility_timeout_ms=timeout
                )
                if found:
                    drain.streams.ack(ns, stream, group, [d.message_id for d in found])
                    continue
                if not drain.client.streams.checkpoint(ns, stream, group).pending:
                    return
            except SanctumError:
                pass
            self.clock.sleep_ms(timeout)
