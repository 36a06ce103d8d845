"""Hypothesis state machines behind the property contracts PROP-001 to PROP-005.

Each machine builds a fresh world per example (a virtual clock, a namespace, adapter
instances, facade clients), drives it with random operations and checks every answer
against a plain-Python reference model of ADR-001. The model is not the memory adapter,
so the reference adapter is checked as well. Every step narrates itself with
``hypothesis.note``, so a shrunk failure reads as an operation log::

    B.put k1 {'n': 3} if_match=<stale 1-7c0e…> -> PreconditionFailedError(current v2 …)

Adapter authors can run the machines directly::

    kit.run_machine(lambda: ConsistencyMachine(kit))
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from pytest_sanctum.adapters.base import CacheStore, StorageAdapter
from pytest_sanctum.client import StorageClient, create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.consumer import IdempotentConsumer
from pytest_sanctum.core import cache_key
from pytest_sanctum.errors import (
    CacheMissError,
    ConsistencyError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
)
from pytest_sanctum.fanout import InvalidationFanout, LocalFanout, QueuedFanout
from pytest_sanctum.kit.contracts import explain
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.streams import StreamLayer
from pytest_sanctum.types import CacheEntry, Delivery, JSONValue, Layer, WriteResult

__all__ = [
    "BypassMachine",
    "Cached",
    "ConsistencyMachine",
    "KeyModel",
    "KitMachine",
    "PreconditionMachine",
    "QueueModel",
    "Seen",
    "StreamMachine",
    "VersionedMachine",
]

_T = TypeVar("_T")

NODES = ("A", "B")
"""The two nodes (clients over their own adapter instances) of the multi-node machines."""

KEYS = ("k1", "k2")
"""Few keys, so operations collide on them."""

KEY_CHOICE = st.sampled_from(["k1", "k1", "k1", "k2"])
"""Mostly ``k1``: sequences on one key find more bugs; ``k2`` checks that keys stay apart."""

NODE_CHOICE = st.sampled_from(["A", "A", "B"])
"""Mostly ``A``: same-node sequences (fill, write, read) are as telling as cross-node ones."""


# -- the reference model ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    """One version of a key as a read shows it. ``payload`` is a dict (record) or bytes (blob)."""

    version: int
    payload: object
    etag: str

    def __str__(self) -> str:
        return f"v{self.version} {self.payload!r} etag={self.etag}"


Outcome = Seen | None
"""What a read of a key can find: a version, or ``None`` for NotFound."""


@dataclass(frozen=True, slots=True)
class Span:
    """An interval of model time during which ``outcome`` was the key's current state."""

    outcome: Outcome
    start: float
    end: float | None = None


class KeyModel:
    """The history of one key: every version and deletion with the times it was current."""

    def __init__(self) -> None:
        self.spans: list[Span] = [Span(None, -math.inf)]
        self.high = 0
        """The highest version ever issued for the key (kept across deletes)."""
        self.issued: list[str] = []
        """Every etag ever issued for the key, oldest first."""

    @property
    def current(self) -> Outcome:
        """The key's state now."""
        return self.spans[-1].outcome

    def _close(self, outcome: Outcome, now_ms: float) -> None:
        last = self.spans[-1]
        self.spans[-1] = Span(last.outcome, last.start, now_ms)
        self.spans.append(Span(outcome, now_ms))

    def write(self, seen: Seen, now_ms: float) -> None:
        """A write of ``seen`` was acknowledged at ``now_ms``."""
        self._close(seen, now_ms)
        self.high = seen.version
        self.issued.append(seen.etag)

    def delete(self, now_ms: float) -> None:
        """A delete was acknowledged at ``now_ms``."""
        self._close(None, now_ms)

    def outcomes(self) -> list[Outcome]:
        """Every state the key ever had (NotFound included), oldest first, without repeats."""
        found: list[Outcome] = []
        for span in self.spans:
            if span.outcome not in found:
                found.append(span.outcome)
        return found

    def current_within(self, outcome: Outcome, since_ms: float) -> bool:
        """Whether ``outcome`` was current at some moment of ``[since_ms, now]``."""
        return any(
            span.outcome == outcome and (span.end is None or span.end >= since_ms)
            for span in self.spans
        )

    def current_after(self, outcome: Outcome, after_ms: float) -> bool:
        """Whether ``outcome`` was current at some moment later than ``after_ms``."""
        return any(
            span.outcome == outcome and (span.end is None or span.end > after_ms)
            for span in self.spans
        )

    def older(self) -> list[Seen]:
        """The key's earlier versions (not the current one), oldest first."""
        current = self.current
        return [
            span.outcome
            for span in self.spans
            if span.outcome is not None and span.outcome != current
        ]


@dataclass(frozen=True, slots=True)
class Cached:
    """A cache entry as the model expects it. ``poisoned`` marks entries the machine planted."""

    seen: Seen
    stored_at_ms: float
    expires_at_ms: float
    poisoned: bool = False

    def live(self, now_ms: float) -> bool:
        """Whether the facade may serve it (``now < expires_at``)."""
        return now_ms < self.expires_at_ms

    def matches(self, entry: CacheEntry, decode: Callable[[bytes], object]) -> bool:
        """Whether a stored entry holds this payload, version, etag and stamps."""
        try:
            payload = decode(entry.data)
        except ValueError:
            return False
        return (payload, entry.version, entry.etag, entry.stored_at_ms, entry.expires_at_ms) == (
            self.seen.payload,
            self.seen.version,
            self.seen.etag,
            self.stored_at_ms,
            self.expires_at_ms,
        )

    def show(self, t0: float = 0.0) -> str:
        """The entry for the log, with its stamps relative to ``t0``."""
        kind = "poisoned " if self.poisoned else ""
        return (
            f"{kind}entry {self.seen} stored_at=t{self.stored_at_ms - t0:+g} "
            f"expires_at=t{self.expires_at_ms - t0:+g}"
        )

    def __str__(self) -> str:
        return self.show()


@dataclass(slots=True)
class Held:
    """A delivered, unacknowledged stream message: who holds it, how often sent, until when."""

    consumer: str
    deliveries: int
    visible_at_ms: float


@dataclass(slots=True)
class QueueModel:
    """Jepsen total-queue accounting for one consumer group."""

    appended: dict[str, JSONValue] = field(default_factory=dict)
    """Message id -> payload, in append order (payloads are unique)."""
    sequences: dict[str, int] = field(default_factory=dict)
    idempotency: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> the message id its first append created."""
    pending: dict[str, Held] = field(default_factory=dict)
    delivered: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    ack_total: int = 0
    """Sum of what the acks returned: each id must count once over the whole run."""

    def available(self, now_ms: float) -> list[str]:
        """Ids a read may deliver now: expired pending ones and never delivered ones."""
        expired = [mid for mid, held in self.pending.items() if held.visible_at_ms <= now_ms]
        fresh = [mid for mid in self.appended if mid not in self.delivered]
        return expired + fresh


# -- small helpers ---------------------------------------------------------------------


def attempt(call: Callable[[], _T]) -> _T | SanctumError:
    """Run ``call``; a ``SanctumError`` is returned as the outcome instead of raised."""
    try:
        return call()
    except SanctumError as error:
        return error


def describe(result: object) -> str:
    """A short text of an operation's outcome for the operation log."""
    if isinstance(result, PreconditionFailedError):
        if result.current_version is None and result.current_etag is None:
            return "PreconditionFailedError(key absent)"
        return (
            f"PreconditionFailedError(current v{result.current_version} etag={result.current_etag})"
        )
    if isinstance(result, SanctumError):
        return type(result).__name__
    if isinstance(result, WriteResult):
        return f"v{result.version} etag={result.etag}"
    if result is None:
        return "NotFound"
    return str(result)


def _decode_record(data: bytes) -> object:
    return json.loads(data)


def _decode_blob(data: bytes) -> object:
    return bytes(data)


def _outcome(result: object) -> Outcome | SanctumError:
    """A read's answer as the model compares it: a version, None (NotFound) or the error."""
    if isinstance(result, NotFoundError):
        return None
    if isinstance(result, SanctumError | Seen):
        return result
    raise TypeError(f"not a read outcome: {result!r}")


# -- the machines ----------------------------------------------------------------------


class KitMachine(RuleBasedStateMachine):
    """Base of the kit's machines: one fresh world per hypothesis example.

    The world is a virtual clock, a namespace of its own, and the adapter instances and
    clients the machine opens; ``teardown`` resets the namespace and closes them all.
    """

    contract: ClassVar[str] = ""

    def __init__(self, kit: KitSession) -> None:
        super().__init__()
        self.kit = kit
        self.clock = VirtualClock()
        self.t0 = self.clock.now_ms()
        self.ns = kit.new_namespace()
        self._adapters: list[StorageAdapter] = []
        self._clients: list[StorageClient] = []
        self.ops = 0
        self._last: dict[str, int] = {}

    def log(self, text: str) -> None:
        """Narrate a step (``hypothesis.note``): a shrunk failure prints them as its log."""
        self.ops += 1
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
        try:
            if self._adapters:
                self._adapters[-1].reset(self.ns)
        finally:
            for client in self._clients:
                client.close()
            for adapter in self._adapters:
                adapter.close()


class VersionedMachine(KitMachine):
    """Shared model and checks of versioned objects (records or blobs) on one or more nodes."""

    layer: ClassVar[Layer] = Layer.RECORD

    def __init__(self, kit: KitSession) -> None:
        super().__init__(kit)
        self.keys = {key: KeyModel() for key in KEYS}
        self.own: dict[tuple[str, str], tuple[int, bool]] = {}
        """(node, key) -> (version, deleted) of the node's own last write, for read-after-write."""
        self.raw = True
        self._never = itertools.count(1)

    @property
    def decode(self) -> Callable[[bytes], object]:
        return _decode_record if self.layer is Layer.RECORD else _decode_blob

    # -- operations through the facade -----------------------------------------------

    def _put(
        self,
        client: StorageClient,
        key: str,
        payload: object,
        if_match: str | None,
        create: bool,
    ) -> WriteResult | SanctumError:
        none_match = "*" if create else None
        if self.layer is Layer.RECORD:
            value: dict[str, object] = payload  # type: ignore[assignment]
            return attempt(
                lambda: client.records.put(
                    self.ns, key, value, if_match=if_match, if_none_match=none_match
                )
            )
        data: bytes = payload  # type: ignore[assignment]
        return attempt(
            lambda: client.blobs.put(
                self.ns, key, data, if_match=if_match, if_none_match=none_match
            )
        )

    def _delete(self, client: StorageClient, key: str, if_match: str | None) -> SanctumError | None:
        if self.layer is Layer.RECORD:
            return attempt(lambda: client.records.delete(self.ns, key, if_match=if_match))
        return attempt(lambda: client.blobs.delete(self.ns, key, if_match=if_match))

    def _get(
        self, client: StorageClient, key: str, level: str, bypass: bool
    ) -> Outcome | SanctumError:
        def read() -> Seen:
            if self.layer is Layer.RECORD:
                record = client.records.get(
                    self.ns,
                    key,
                    level=level,  # type: ignore[arg-type]
                    bypass_cache=bypass,
                )
                return Seen(record.version, dict(record.value), record.etag)
            blob = client.blobs.get(
                self.ns,
                key,
                level=level,  # type: ignore[arg-type]
                bypass_cache=bypass,
            )
            return Seen(blob.version, blob.data, blob.etag)

        return _outcome(attempt(read))

    def etag_for(self, key: str, mode: str, pick: int) -> tuple[str | None, str]:
        """The ``if_match`` a rule's ``mode`` asks for, and its label for the log."""
        model = self.keys[key]
        current = model.current
        if mode == "plain" or mode == "create":
            return None, ""
        if mode == "current" and current is not None:
            return current.etag, f" if_match=<current {current.etag}>"
        if mode == "stale":
            stale = [etag for etag in model.issued if current is None or etag != current.etag]
            if stale:
                etag = stale[pick % len(stale)]
                return etag, f" if_match=<stale {etag}>"
        etag = f"sanctum-never-issued-{next(self._never)}"
        return etag, f" if_match=<never issued {etag}>"

    # -- checks shared by the machines -------------------------------------------------

    def check_precondition_error(self, error: PreconditionFailedError, key: str, op: str) -> None:
        """A 412 carries the current etag and version when the key exists, else neither."""
        current = self.keys[key].current
        carried = (error.current_etag, error.current_version)
        wanted = (None, None) if current is None else (current.etag, current.version)
        self.expect(
            carried == wanted,
            f"{op}: PreconditionFailedError carried (etag, version) {carried}, "
            f"the key's current state is {wanted}",
        )

    def put_and_check(
        self, node: str, client: StorageClient, key: str, payload: object, mode: str, pick: int
    ) -> Seen | None:
        """Run a put of ``mode``; check it against the model; return the new version or None."""
        model = self.keys[key]
        if_match, label = self.etag_for(key, mode, pick)
        create = mode == "create"
        now = self.now()
        result = self._put(client, key, payload, if_match, create)
        create_label = ' if_none_match="*"' if create else ""
        self.log(f"{node}.put {key} {payload!r}{label}{create_label} -> {describe(result)}")
        current = model.current
        if create:
            should = current is None
        else:
            should = if_match is None or (current is not None and if_match == current.etag)
        op = f"{node}.put {key}{label}{create_label}"
        if not should:
            self.expect(
                isinstance(result, PreconditionFailedError),
                f"{op} must fail with PreconditionFailedError (current state "
                f"{describe(current)}), it returned {describe(result)}",
            )
            assert isinstance(result, PreconditionFailedError)
            self.check_precondition_error(result, key, op)
            return None
        self.expect(
            isinstance(result, WriteResult),
            f"{op} must succeed (current state {describe(current)}), it returned {describe(result)}",
        )
        assert isinstance(result, WriteResult)
        if model.high == 0:
            self.expect(
                result.version == 1,
                f"{op}: the first write of a key must return version 1, got {result.version}",
            )
        else:
            self.expect(
                result.version > model.high,
                f"{op} returned version {result.version}, not above the key's highest "
                f"version so far ({model.high}): versions must never be reused",
            )
        self.expect(
            result.etag not in model.issued,
            f"{op} returned etag {result.etag!r}, already issued for an earlier version",
        )
        seen = Seen(result.version, payload, result.etag)
        model.write(seen, now)
        self.own[(node, key)] = (result.version, False)
        return seen

    def delete_and_check(
        self, node: str, client: StorageClient, key: str, mode: str, pick: int
    ) -> int | None:
        """Run a delete of ``mode``; check it; return the deleted version or None."""
        model = self.keys[key]
        if_match, label = self.etag_for(key, mode, pick)
        now = self.now()
        result = self._delete(client, key, if_match)
        self.log(
            f"{node}.delete {key}{label} -> {'deleted' if result is None else describe(result)}"
        )
        current = model.current
        op = f"{node}.delete {key}{label}"
        if current is None:
            # ADR-001: a missing key fails the condition too; deleting a missing key is 404.
            allowed: tuple[type[SanctumError], ...] = (
                (NotFoundError, PreconditionFailedError)
                if if_match is not None
                else (NotFoundError,)
            )
            self.expect(
                isinstance(result, allowed),
                f"{op} of a missing key must raise one of {[t.__name__ for t in allowed]}, "
                f"it returned {describe(result)}",
            )
            if isinstance(result, PreconditionFailedError):
                self.check_precondition_error(result, key, op)
            return None
        if if_match is not None and if_match != current.etag:
            self.expect(
                isinstance(result, PreconditionFailedError),
                f"{op} must fail with PreconditionFailedError (current {current}), "
                f"it returned {describe(result)}",
            )
            assert isinstance(result, PreconditionFailedError)
            self.check_precondition_error(result, key, op)
            return None
        self.expect(
            result is None, f"{op} must delete (current {current}), it returned {describe(result)}"
        )
        model.delete(now)
        self.own[(node, key)] = (current.version, True)
        return current.version

    def backend_answers(self, node: str, key: str, strong: bool) -> list[Outcome]:
        """What a backend read of ``key`` by ``node`` may return.

        With ``read_after_write``: exactly the current state. Without it: any state the key
        had, and a strong read only one no older than the node's own last write.
        """
        model = self.keys[key]
        if self.raw:
            return [model.current]
        found = model.outcomes()
        own = self.own.get((node, key))
        if not strong or own is None:
            return found
        version, deleted = own
        if deleted:
            return [o for o in found if o is None or o.version > version]
        return [o for o in found if o is not None and o.version >= version]

    def superseded(self, node: str, key: str, seen: Seen) -> bool:
        """Whether the node's own last write or delete is newer than ``seen`` (no fill then).

        Only tracked without ``read_after_write``; a delete of version v supersedes v.
        """
        own = self.own.get((node, key))
        if self.raw or own is None:
            return False
        version, deleted = own
        return seen.version <= version if deleted else seen.version < version

    def may_raise_consistency(self, node: str, key: str) -> bool:
        """A strong read may raise ConsistencyError only when it waits for its own write."""
        return not self.raw and (node, key) in self.own

    def check_backdoor(self, backdoor_adapter: StorageAdapter) -> None:
        """What the backend holds equals the model's current state of every key."""
        backdoor = self.kit.backdoor(backdoor_adapter)
        for key, model in self.keys.items():
            stored = backdoor.read_object(self.layer, self.ns, key)
            found: Outcome = (
                None
                if stored is None
                else Seen(stored.version, self.decode(stored.data), stored.etag)
            )
            self.expect(
                found == model.current,
                f"the backend holds {describe(found)} for {key}, the model expects "
                f"{describe(model.current)}",
            )


class ConsistencyMachine(VersionedMachine):
    """PROP-001: read levels, staleness budget, TTL, fan-out and poisoning on two nodes.

    Nodes A and B are clients over their own adapter instances (their own local caches,
    unless the adapter declares ``distributed_cache``), sharing a ``QueuedFanout`` whose
    deliveries are rules. The model predicts every cache entry; a strong read may return
    a cache entry only within the staleness budget, else the backend's current value.
    """

    contract = "PROP-001"
    layer = Layer.RECORD
    TTL_MS = 1000.0

    def __init__(self, kit: KitSession) -> None:
        super().__init__(kit)
        self.fanout = QueuedFanout()
        self.adapters = {node: self.open_adapter() for node in NODES}
        caps = self.adapters["A"].capabilities
        self.declared_shared = caps.distributed_cache
        self.shared = self.declared_shared
        self.raw = caps.read_after_write
        self.budget = 0.0
        self.clients: dict[str, StorageClient] = {}
        self.caches: dict[str, dict[str, Cached]] = {}
        self.pending: list[tuple[str, int, str]] = []
        """Fan-out events not yet delivered or dropped: (key, version, origin node)."""
        self._payloads = itertools.count(1)
        self._poisons = itertools.count(1)

    @initialize(budget=st.sampled_from([0, 50]))
    def start(self, budget: int) -> None:
        self.shared = self._probe_shared()
        self.expect(
            self.shared or not self.declared_shared,
            "the adapter declares distributed_cache, but an entry set through one adapter "
            "instance is not visible through another",
        )
        self.caches = {name: {} for name in (("shared",) if self.shared else NODES)}
        self.budget = float(budget)
        for node in NODES:
            self.clients[node] = self.make_client(
                self.adapters[node],
                self.fanout,
                staleness_budget_ms=self.budget,
                ttl_ms=self.TTL_MS,
            )
        self.log(
            f"world: budget {budget} ms, ttl {self.TTL_MS:g} ms, "
            f"{'one shared cache' if self.shared else 'a cache per node'} "
            f"(distributed_cache {'declared' if self.declared_shared else 'not declared'}), "
            f"read_after_write {'declared' if self.raw else 'not declared'}"
        )
        for key in KEYS:  # start from live keys, so reads have something to cache
            self.put("A", key, "plain", 0)

    def _probe_shared(self) -> bool:
        """Whether the two instances share one cache, observed rather than taken as declared.

        An adapter may share a cache without declaring it (that is conservative); the
        model then follows the real topology.
        """
        a, b = self.adapters["A"].cache, self.adapters["B"].cache
        assert a is not None, "PROP-001 requires the cache capability"
        assert b is not None, "PROP-001 requires the cache capability"
        probe = cache_key(self.layer, "sanctum-topology-probe")
        now = self.now()
        a.set(self.ns, probe, CacheEntry(b"{}", 1, "probe", now, None, now + 1000), 1000)
        try:
            return b.get(self.ns, probe) is not None
        finally:
            a.delete(self.ns, probe)

    # -- model helpers -----------------------------------------------------------------

    def cache_of(self, node: str) -> str:
        return "shared" if self.shared else node

    def store_of(self, cache: str) -> CacheStore:
        store = self.adapters["A" if cache == "shared" else cache].cache
        assert store is not None, "PROP-001 requires the cache capability"
        return store

    def entry(self, cache: str, key: str) -> Cached | None:
        """The model's live entry of ``key`` in ``cache`` (dead entries count as absent)."""
        cached = self.caches[cache].get(key)
        return cached if cached is not None and cached.live(self.now()) else None

    def peek(self, cache: str, key: str) -> CacheEntry | None:
        """The live entry the cache store holds (bypassing the facade)."""
        entry = self.store_of(cache).get(self.ns, cache_key(self.layer, key))
        return entry if entry is not None and self.now() < entry.expires_at_ms else None

    def after_write(self, node: str, key: str, version: int) -> None:
        self.caches[self.cache_of(node)].pop(key, None)
        self.pending.append((key, version, node))

    # -- rules -------------------------------------------------------------------------

    @rule(
        node=NODE_CHOICE,
        key=KEY_CHOICE,
        mode=st.sampled_from(
            ["plain", "current", "plain", "current", "stale", "garbage", "create"]
        ),
        pick=st.integers(0, 3),
    )
    def put(self, node: str, key: str, mode: str, pick: int) -> None:
        payload = {"n": next(self._payloads)}
        seen = self.put_and_check(node, self.clients[node], key, payload, mode, pick)
        if seen is not None:
            self.after_write(node, key, seen.version)

    @rule(
        node=NODE_CHOICE,
        key=KEY_CHOICE,
        mode=st.sampled_from(["plain", "current", "plain", "current", "stale", "garbage"]),
        pick=st.integers(0, 3),
    )
    def delete(self, node: str, key: str, mode: str, pick: int) -> None:
        version = self.delete_and_check(node, self.clients[node], key, mode, pick)
        if version is not None:
            self.after_write(node, key, version)

    @rule(
        node=NODE_CHOICE,
        key=KEY_CHOICE,
        level=st.sampled_from(["strong", "eventual", "strong", "cache_only"]),
        bypass=st.sampled_from([False, False, True]),
    )
    def read(self, node: str, key: str, level: str, bypass: bool) -> None:
        now = self.now()
        cache = self.cache_of(node)
        entry = self.entry(cache, key)
        result = self._get(self.clients[node], key, level, bypass)
        op = f"{node}.get {key} {level}{' bypass' if bypass else ''}"
        self.log(f"{op} -> {describe(result)}")
        if level == "cache_only":
            if bypass:
                self.expect(
                    isinstance(result, InvalidRequestError),
                    f"{op}: bypass_cache with cache_only must be refused with "
                    f"InvalidRequestError, got {describe(result)}",
                )
                return
            if entry is None:
                self.expect(
                    isinstance(result, CacheMissError),
                    f"{op}: with no live cache entry a cache_only read must raise "
                    f"CacheMissError, got {describe(result)}",
                )
            else:
                self.expect(
                    result == entry.seen,
                    f"{op}: a cache_only read must return the live {entry.show(self.t0)}, "
                    f"got {describe(result)}",
                )
            return
        strong = level == "strong"
        if not strong:
            self.expect(
                not isinstance(result, ConsistencyError),
                f"{op}: an eventual read must never raise ConsistencyError",
            )
        usable = (
            entry is not None
            and not bypass
            and (not strong or now - entry.stored_at_ms <= self.budget)
        )
        backend = self.backend_answers(node, key, strong)
        if usable and not strong:
            allowed: list[Outcome] = [entry.seen]  # type: ignore[union-attr]
        elif usable:
            allowed = [entry.seen, *backend]  # type: ignore[union-attr]
        else:
            allowed = backend
        if (
            isinstance(result, ConsistencyError)
            and strong
            and self.may_raise_consistency(node, key)
        ):
            return
        why = (
            f"a cache entry may serve it only when its age is within the {self.budget:g} ms "
            "budget; otherwise it reads the backend"
            if strong
            else "a live cache entry serves it, else the backend"
        )
        self.expect(
            not isinstance(result, SanctumError) and result in allowed,
            f"{op} at {self.at(now)} returned {describe(result)}; allowed: "
            f"{[describe(a) for a in allowed]} ({why}; the cache held {self.show(entry)})",
        )
        assert not isinstance(result, SanctumError)
        served_poison = usable and entry is not None and entry.poisoned and result == entry.seen
        if self.raw and not served_poison:
            model = self.keys[key]
            if strong:
                self.expect(
                    model.current_within(result, now - self.budget),
                    f"{op} at {self.at(now)} returned {describe(result)}, which was not current at "
                    f"any time in the last {self.budget:g} ms (strong reads are Δ-atomic)",
                )
            else:
                self.expect(
                    model.current_after(result, now - self.TTL_MS),
                    f"{op} at {self.at(now)} returned {describe(result)}, which stopped being current "
                    f"more than the TTL ({self.TTL_MS:g} ms) ago",
                )
        self._settle_cache(node, key, entry, usable, bypass, strong, result, op)

    def _settle_cache(
        self,
        node: str,
        key: str,
        entry: Cached | None,
        usable: bool,
        bypass: bool,
        strong: bool,
        result: Outcome,
        op: str,
    ) -> None:
        """After a read, the cache must hold what its source implies; the model follows it."""
        now = self.now()
        cache = self.cache_of(node)
        candidates: list[Cached | None] = []
        if usable and entry is not None and result == entry.seen:
            candidates.append(entry)  # served from the cache: unchanged
        if result in self.backend_answers(node, key, strong):
            if result is None:
                candidates.append(None if bypass else entry)
            elif self.superseded(node, key, result):
                candidates.append(entry)  # a fill older than the node's own write is skipped
            else:
                candidates.append(Cached(result, now, now + self.TTL_MS))
        found = self.peek(cache, key)
        for candidate in candidates:
            if (found is None and candidate is None) or (
                found is not None
                and candidate is not None
                and candidate.matches(found, self.decode)
            ):
                if candidate is None:
                    self.caches[cache].pop(key, None)
                else:
                    self.caches[cache][key] = candidate
                return
        self.expect(
            False,
            f"after {op} the cache holds {self.show(found)}; expected one of "
            f"{[self.show(c) for c in candidates]} "
            "(a backend read fills the cache, bypass_cache refreshes it)",
        )

    @precondition(lambda self: self.spaced("advance", 0))
    @rule(ms=st.sampled_from([1, 49, 50, 51, 999, 1000, 1001]) | st.integers(1, 1500))
    def advance(self, ms: int) -> None:
        self.advance_clock(ms)

    @precondition(lambda self: bool(self.pending) and self.spaced("fanout", 2))
    @rule(action=st.sampled_from(["deliver_next", "drop_next", "deliver_all"]))
    def fanout_step(self, action: str) -> None:
        """Deliver or drop the oldest pending invalidation, or deliver them all."""
        if action == "drop_next":
            key, version, origin = self.pending.pop(0)
            self.fanout.drop_next()
            self.log(f"fan-out drop {key} v{version} from {origin}")
        elif action == "deliver_next":
            self._deliver_next()
        else:
            self.log(f"fan-out deliver all ({len(self.pending)} events)")
            while self.pending:
                self._deliver_next()
        self.did("fanout")

    def _deliver_next(self) -> None:
        key, version, origin = self.pending.pop(0)
        self.fanout.deliver_next()
        self.log(f"fan-out deliver {key} v{version} from {origin}")
        if not self.declared_shared:  # a declared shared cache was purged by the writer
            for node in NODES:
                if node != origin:
                    self.caches[self.cache_of(node)].pop(key, None)

    @precondition(lambda self: self.spaced("poison", 3))
    @rule(
        node=NODE_CHOICE,
        key=KEY_CHOICE,
        kind=st.sampled_from(["older", "garbage"]),
        age=st.sampled_from([0, 50, 51, 500]),
        expired=st.booleans(),
        bump=st.integers(0, 3),
    )
    def poison(self, node: str, key: str, kind: str, age: int, expired: bool, bump: int) -> None:
        """Plant an entry in a node's cache: an older version, or garbage with a fake version."""
        model = self.keys[key]
        now = self.now()
        older = model.older()
        if kind == "older" and older:
            seen = older[-1 - bump % len(older)]
        else:
            n = next(self._poisons)
            seen = Seen(model.high + bump, {"poison": n}, f"sanctum-poison-{n}")
        stored_at = now - age
        expires_at = now if expired else stored_at + self.TTL_MS
        entry = CacheEntry(
            json.dumps(seen.payload).encode(), seen.version, seen.etag, stored_at, None, expires_at
        )
        cache = self.cache_of(node)
        self.store_of(cache).set(self.ns, cache_key(self.layer, key), entry, self.TTL_MS)
        self.caches[cache][key] = Cached(seen, stored_at, expires_at, poisoned=True)
        self.log(
            f"poison {node} cache {key} with {seen} stored_at=t-{age} "
            f"{'expired' if expired else f'expires t+{expires_at - now:g}'}"
        )
        self.did("poison")

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def backend_matches_model(self) -> None:
        self.check_backdoor(self.adapters["A"])

    @invariant()
    def fanout_matches_model(self) -> None:
        published = [
            (event.layer, event.namespace, event.key, event.version, event.origin)
            for event in self.fanout.pending
        ]
        wanted = [
            (self.layer, self.ns, key, version, self.clients[origin].node_id)
            for key, version, origin in self.pending
        ]
        self.expect(
            published == wanted,
            f"the fan-out holds {published}, the model expects {wanted} (every acknowledged "
            "write or delete publishes one invalidation; a failed one publishes none)",
        )

    @invariant()
    def caches_match_model(self) -> None:
        for cache in self.caches:
            for key in KEYS:
                found = self.peek(cache, key)
                wanted = self.entry(cache, key)
                same = (found is None and wanted is None) or (
                    found is not None and wanted is not None and wanted.matches(found, self.decode)
                )
                self.expect(
                    same,
                    f"cache {cache} holds {self.show(found)} for {key}, the model expects "
                    f"{self.show(wanted)} (writes purge the "
                    "writer's cache at once and other nodes' caches on fan-out delivery)",
                )


class PreconditionMachine(VersionedMachine):
    """PROP-002: conditional blob writes and deletes succeed exactly when the etag is current."""

    contract = "PROP-002"
    layer = Layer.BLOB

    def __init__(self, kit: KitSession) -> None:
        super().__init__(kit)
        self.adapter = self.open_adapter()
        self.raw = self.adapter.capabilities.read_after_write
        self.client = self.make_client(self.adapter)

    @rule(
        key=KEY_CHOICE,
        data=st.binary(max_size=4),
        mode=st.sampled_from(["plain", "create", "current", "stale", "garbage"]),
        pick=st.integers(0, 3),
    )
    def put(self, key: str, data: bytes, mode: str, pick: int) -> None:
        before = self.keys[key].current
        if self.put_and_check("A", self.client, key, data, mode, pick) is None:
            self._unchanged(key, before, f"the refused put of {key}")

    @rule(
        key=KEY_CHOICE,
        mode=st.sampled_from(["plain", "current", "stale", "garbage"]),
        pick=st.integers(0, 3),
    )
    def delete(self, key: str, mode: str, pick: int) -> None:
        before = self.keys[key].current
        if self.delete_and_check("A", self.client, key, mode, pick) is None:
            self._unchanged(key, before, f"the refused delete of {key}")

    @rule(key=KEY_CHOICE, level=st.sampled_from(["strong", "eventual"]))
    def read_bypass(self, key: str, level: str) -> None:
        result = self._get(self.client, key, level, True)
        self.log(f"A.get {key} {level} bypass -> {describe(result)}")
        allowed = self.backend_answers("A", key, level == "strong")
        if isinstance(result, ConsistencyError) and self.may_raise_consistency("A", key):
            return
        self.expect(
            result in allowed,
            f"a bypass read of {key} returned {describe(result)}, the backend holds "
            f"{[describe(a) for a in allowed]}",
        )

    def _unchanged(self, key: str, before: Outcome, what: str) -> None:
        stored = self.kit.backdoor(self.adapter).read_object(self.layer, self.ns, key)
        found: Outcome = None if stored is None else Seen(stored.version, stored.data, stored.etag)
        self.expect(
            found == before,
            f"{what} changed the stored state from {describe(before)} to {describe(found)}",
        )

    @invariant()
    def backend_matches_model(self) -> None:
        self.check_backdoor(self.adapter)


class BypassMachine(VersionedMachine):
    """PROP-004: whatever is poisoned into the cache, a bypass read returns the backend's value.

    Two nodes share a ``LocalFanout``. After a bypass read, a ``cache_only`` read on the
    same node returns what the bypass read returned (or misses when it found nothing).
    """

    contract = "PROP-004"
    layer = Layer.BLOB

    def __init__(self, kit: KitSession) -> None:
        super().__init__(kit)
        fanout = LocalFanout()
        self.adapters = {node: self.open_adapter() for node in NODES}
        self.raw = self.adapters["A"].capabilities.read_after_write
        self.clients = {
            node: self.make_client(self.adapters[node], fanout, ttl_ms=5000.0) for node in NODES
        }
        self._poisons = itertools.count(1)

    @rule(node=NODE_CHOICE, key=KEY_CHOICE, data=st.binary(max_size=4))
    def put(self, node: str, key: str, data: bytes) -> None:
        self.put_and_check(node, self.clients[node], key, data, "plain", 0)

    @rule(node=NODE_CHOICE, key=KEY_CHOICE)
    def delete(self, node: str, key: str) -> None:
        self.delete_and_check(node, self.clients[node], key, "plain", 0)

    @precondition(lambda self: self.spaced("poison", 3))
    @rule(
        node=NODE_CHOICE,
        key=KEY_CHOICE,
        data=st.binary(max_size=4),
        version=st.sampled_from(["older", "current", "higher", "huge"]),
        etag=st.sampled_from(["issued", "garbage"]),
        stored=st.sampled_from([-6000, -1000, -1, 0, 1, 1000]),
        expires=st.sampled_from([-1, 0, 1, 1000, 5000]),
        ttl=st.sampled_from([1, 1000, 5000]),
    )
    def poison(
        self,
        node: str,
        key: str,
        data: bytes,
        version: str,
        etag: str,
        stored: int,
        expires: int,
        ttl: int,
    ) -> None:
        """Plant arbitrary bytes, versions, etags and stamps in a node's cache."""
        model = self.keys[key]
        n = next(self._poisons)
        fake_version = {
            "older": max(model.high - 1, 0),
            "current": model.high,
            "higher": model.high + 1,
            "huge": 2**62,
        }[version]
        fake_etag = model.issued[-1] if etag == "issued" and model.issued else f"poison-{n}"
        now = self.now()
        entry = CacheEntry(data, fake_version, fake_etag, now + stored, None, now + expires)
        cache = self.adapters[node].cache
        assert cache is not None, "PROP-004 requires the cache capability"
        cache.set(self.ns, cache_key(self.layer, key), entry, ttl)
        self.log(
            f"poison {node} cache {key} with {data!r} v{fake_version} etag={fake_etag} "
            f"stored_at=t{stored:+} expires_at=t{expires:+} store ttl {ttl}"
        )
        self.did("poison")

    @precondition(lambda self: self.spaced("advance", 0))
    @rule(ms=st.sampled_from([1, 999, 1000, 4999, 5000]) | st.integers(1, 6000))
    def advance(self, ms: int) -> None:
        self.advance_clock(ms)

    @rule(
        node=NODE_CHOICE,
        key=KEY_CHOICE,
        level=st.sampled_from(["strong", "eventual"]),
    )
    def read_bypass(self, node: str, key: str, level: str) -> None:
        client = self.clients[node]
        result = self._get(client, key, level, True)
        self.log(f"{node}.get {key} {level} bypass -> {describe(result)}")
        if isinstance(result, ConsistencyError) and self.may_raise_consistency(node, key):
            return
        allowed = self.backend_answers(node, key, level == "strong")
        self.expect(
            not isinstance(result, SanctumError) and result in allowed,
            f"a bypass read of {key} on {node} returned {describe(result)}; the backend "
            f"holds {[describe(a) for a in allowed]}",
        )
        assert not isinstance(result, SanctumError)
        if result is not None and self.superseded(node, key, result):
            return  # the fill of a version older than the node's own write is skipped
        cached = self._get(client, key, "cache_only", False)
        self.log(f"{node}.get {key} cache_only -> {describe(cached)}")
        if result is None:
            self.expect(
                isinstance(cached, CacheMissError),
                f"after a bypass read of {key} on {node} found nothing, a cache_only read "
                f"must miss; it returned {describe(cached)} (bypass refreshes the cache)",
            )
        else:
            self.expect(
                cached == result,
                f"after a bypass read of {key} on {node} returned {result}, a cache_only read "
                f"returned {describe(cached)} (bypass refreshes the cache with what it read)",
            )

    @invariant()
    def backend_matches_model(self) -> None:
        self.check_backdoor(self.adapters["A"])


# -- streams ---------------------------------------------------------------------------


class ConsumerCrash(Exception):
    """The simulated death of a consumer process (raised instead of an ack)."""


class _CrashBeforeAck(StreamLayer):
    """A stream layer whose acks never happen: the process dies after handling and marking."""

    def __init__(self, inner: StreamLayer) -> None:
        super().__init__(inner._core, inner._principal)

    def ack(self, namespace: str, stream: str, group: str, message_ids: Iterable[str]) -> int:
        raise ConsumerCrash(f"crashed before acking {list(message_ids)}")


class StreamMachine(KitMachine):
    """PROP-003: at-least-once delivery under duplicates, timeouts and crash-restarts.

    Consumers c1 and c2 of group ``g`` read and ack by hand, and the model does Jepsen
    total-queue accounting. At teardown the machine waits out the visibility timeout and
    drains the group: nothing acknowledged is lost, nothing unexpected arrives, every
    message is acknowledged once. ``IdempotentConsumerMachine`` adds the consumer helper.
    """

    contract = "PROP-003"
    WITH_CONSUMER: ClassVar[bool] = False
    """Whether an ``IdempotentConsumer`` on group ``h`` also runs (PROP-005)."""
    STREAM = "s"
    GROUP = "g"
    IDEMPOTENT_GROUP = "h"
    TIMEOUT_MS = 1000.0
    MAX_RESTARTS = 3

    def __init__(self, kit: KitSession) -> None:
        super().__init__(kit)
        self.adapter = self.open_adapter()
        caps = self.adapter.capabilities
        self.idempotent_append = caps.idempotent_append
        self.markers = self.WITH_CONSUMER
        self.client = self._connect()
        self.queue = QueueModel()
        self.handled: Counter[str] = Counter()
        self.restarts = 0
        self._payloads = itertools.count(1)

    def _connect(self) -> StorageClient:
        return self.make_client(self.adapter, visibility_timeout_ms=self.TIMEOUT_MS)

    def _restart(self, why: str) -> None:
        """Abandon the adapter instance and client without closing them; open new ones."""
        self.restarts += 1
        self.adapter = self.open_adapter()
        self.client = self._connect()
        self.log(f"restart after {why}: new adapter instance and client")

    # -- checks --------------------------------------------------------------------------

    def check_delivery(self, delivery: Delivery, consumer: str, group: str) -> None:
        """Unexpected = 0 and the payload is the appended one."""
        mid = delivery.message_id
        self.expect(
            mid in self.queue.appended,
            f"{consumer} of {group} got message {mid!r}, which was never appended "
            f"(unexpected message: {delivery})",
        )
        self.expect(
            delivery.payload == self.queue.appended[mid]
            and delivery.sequence == self.queue.sequences[mid],
            f"{consumer} of {group} got {mid} as seq {delivery.sequence} with payload "
            f"{delivery.payload!r}; it was appended as seq {self.queue.sequences[mid]} with "
            f"{self.queue.appended[mid]!r}",
        )
        self.expect(
            (delivery.stream, delivery.group, delivery.consumer) == (self.STREAM, group, consumer),
            f"the delivery names stream/group/consumer {delivery.stream}/{delivery.group}/"
            f"{delivery.consumer}, read as {self.STREAM}/{group}/{consumer}",
        )

    def read_and_check(self, consumer: str, count: int) -> list[Delivery]:
        """A group read by ``consumer``, checked and applied to the model."""
        queue = self.queue
        now = self.now()
        available = queue.available(now)
        batch = self.client.streams.read(self.ns, self.STREAM, self.GROUP, consumer, count=count)
        self.log(
            f"{consumer}.read {self.GROUP} count={count} -> "
            f"{[(d.message_id, d.payload, d.delivery_count) for d in batch]}"
        )
        self.expect(
            len(batch) <= count, f"{consumer} asked for {count} messages and got {len(batch)}"
        )
        self.expect(
            bool(batch) or not available,
            f"{consumer}.read returned nothing although {available} were deliverable "
            "(never delivered, or pending past their visibility timeout)",
        )
        ids = [d.message_id for d in batch]
        self.expect(len(set(ids)) == len(ids), f"one read delivered a message twice: {ids}")
        for delivery in batch:
            self.check_delivery(delivery, consumer, self.GROUP)
            mid = delivery.message_id
            self.expect(
                mid not in queue.acked,
                f"{mid} was acknowledged and must never be delivered again, but {consumer} "
                f"got it (delivery {delivery.delivery_count})",
            )
            held = queue.pending.get(mid)
            self.expect(
                held is None or held.visible_at_ms <= now,
                f"{mid} is held by {held.consumer if held else ''} until "
                f"{self.at(held.visible_at_ms if held else 0)}, yet {consumer} got it at "
                f"{self.at(now)} "
                "(delivered before its visibility timeout)",
            )
            previous = queue.counts.get(mid, 0)
            self.expect(
                delivery.delivery_count == previous + 1,
                f"{mid} came with delivery_count {delivery.delivery_count}; it was delivered "
                f"{previous} times before (the count rises by one per delivery)",
            )
            if mid not in queue.delivered:
                undelivered = [m for m in queue.appended if m not in queue.delivered]
                self.expect(
                    mid == undelivered[0],
                    f"{consumer} got {mid} first-time while {undelivered[0]} was appended "
                    "earlier and never delivered (messages are delivered in append order)",
                )
            queue.delivered.add(mid)
            queue.counts[mid] = delivery.delivery_count
            queue.pending[mid] = Held(consumer, delivery.delivery_count, now + self.TIMEOUT_MS)
        return batch

    def ack_and_check(self, ids: list[str]) -> None:
        queue = self.queue
        wanted = len({mid for mid in ids if mid in queue.pending})
        acked = self.client.streams.ack(self.ns, self.STREAM, self.GROUP, ids)
        self.log(f"ack {self.GROUP} {ids} -> {acked}")
        self.expect(
            acked == wanted,
            f"ack of {ids} returned {acked}; {wanted} of them were delivered and unacknowledged "
            "(repeats and never-delivered ids count zero)",
        )
        for mid in ids:
            if mid in queue.pending:
                del queue.pending[mid]
                queue.acked.add(mid)
        queue.ack_total += acked

    # -- rules -------------------------------------------------------------------------

    def _append(self, idempotency_key: str | None) -> None:
        queue = self.queue
        payload: JSONValue = {"n": next(self._payloads)}
        result = self.client.streams.append(
            self.ns, self.STREAM, payload, idempotency_key=idempotency_key
        )
        label = f" idempotency_key={idempotency_key}" if idempotency_key else ""
        self.log(
            f"append {payload}{label} -> id {result.message_id}"
            f"{' (duplicate)' if result.duplicate else ''}"
        )
        original = queue.idempotency.get(idempotency_key) if idempotency_key else None
        if original is not None:
            self.expect(
                result.duplicate and result.message_id == original,
                f"a repeat of idempotency key {idempotency_key!r} inside the dedupe window must "
                f"return the original id {original} with duplicate=True, got {result}",
            )
            return
        self.expect(
            not result.duplicate and result.message_id not in queue.appended,
            f"a new append returned {result}; ids already used: {list(queue.appended)}",
        )
        queue.appended[result.message_id] = payload
        queue.sequences[result.message_id] = result.sequence
        if idempotency_key:
            queue.idempotency[idempotency_key] = result.message_id

    @rule()
    def append(self) -> None:
        self._append(None)

    @precondition(lambda self: self.idempotent_append)
    @rule(idempotency_key=st.sampled_from(["i1", "i2", "i3"]))
    def append_keyed(self, idempotency_key: str) -> None:
        self._append(idempotency_key)

    @rule(consumer=st.sampled_from(["c1", "c2"]), count=st.integers(1, 3))
    def read(self, consumer: str, count: int) -> None:
        self.read_and_check(consumer, count)

    @precondition(lambda self: bool(self.queue.appended))
    @rule(
        source=st.sampled_from(["pending", "pending", "any"]),
        picks=st.lists(st.integers(0, 15), min_size=1, max_size=3),
    )
    def ack(self, source: str, picks: list[int]) -> None:
        order = self.queue.sequences
        pool = sorted(self.queue.pending if source == "pending" else order, key=order.__getitem__)
        if not pool:
            pool = list(order)
        self.ack_and_check(sorted({pool[i % len(pool)] for i in picks}, key=order.__getitem__))

    @precondition(lambda self: self.spaced("advance", 0))
    @rule(ms=st.sampled_from([1, 999, 1000, 1001]) | st.integers(1, 1500))
    def advance(self, ms: int) -> None:
        self.advance_clock(ms)

    @precondition(lambda self: self.restarts < self.MAX_RESTARTS)
    @rule()
    def crash_restart(self) -> None:
        self._restart("a crash (adapter abandoned, not closed)")

    def _handle(self, delivery: Delivery) -> None:
        self.check_delivery(delivery, delivery.consumer, self.IDEMPOTENT_GROUP)
        self.handled[delivery.message_id] += 1
        self.log(f"  handler({delivery.message_id}) call {self.handled[delivery.message_id]}")
        self.expect(
            self.handled[delivery.message_id] == 1,
            f"the idempotent consumer ran the handler {self.handled[delivery.message_id]} "
            f"times for {delivery.message_id}",
        )

    def poll(self, consumer: str, count: int, crash: bool) -> tuple[int, int] | None:
        """One ``IdempotentConsumer.poll`` on group h; ``crash`` dies before the first ack."""
        view = self.client.as_principal(self.client.principal)
        if crash:
            view.streams = _CrashBeforeAck(view.streams)
        helper = IdempotentConsumer(
            view, self.ns, self.STREAM, self.IDEMPOTENT_GROUP, consumer, self._handle
        )
        before = sum(self.handled.values())
        try:
            ran, skipped = helper.poll(count)
        except ConsumerCrash as crashed:
            self.log(f"{consumer}.poll {self.IDEMPOTENT_GROUP} count={count} -> {crashed}")
            self._restart(f"{consumer} died between marking and acking")
            return None
        self.log(
            f"{consumer}.poll {self.IDEMPOTENT_GROUP} count={count} -> ran {ran}, skipped {skipped}"
        )
        calls = sum(self.handled.values()) - before
        self.expect(ran == calls, f"poll reported {ran} handled, the handler ran {calls} times")
        return ran, skipped

    @precondition(lambda self: self.markers)
    @rule(
        consumer=st.sampled_from(["c1", "c2"]),
        count=st.integers(1, 3),
        crash=st.booleans(),
    )
    def idempotent_poll(self, consumer: str, count: int, crash: bool) -> None:
        self.poll(consumer, count, crash and self.restarts < self.MAX_RESTARTS)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def log_holds_every_append(self) -> None:
        stored = self.kit.backdoor(self.adapter).stream_messages(self.ns, self.STREAM)
        found = [(m.sequence, json.loads(m.payload)) for m in stored]
        wanted = [(self.queue.sequences[mid], p) for mid, p in self.queue.appended.items()]
        self.expect(
            found == wanted,
            f"the stream log holds {found}; the acknowledged appends were {wanted}",
        )

    @invariant()
    def checkpoint_matches_model(self) -> None:
        state = self.client.streams.checkpoint(self.ns, self.STREAM, self.GROUP)
        queue = self.queue
        pending = {
            seq: Held(p.consumer, p.deliveries, p.visible_at_ms) for seq, p in state.pending.items()
        }
        wanted = {queue.sequences[mid]: held for mid, held in queue.pending.items()}
        self.expect(
            pending == wanted,
            f"the durable checkpoint holds pending {self._pending_text(pending)}, the model "
            f"expects {self._pending_text(wanted)} (seq: holder, deliveries, visible again at)",
        )
        acked = set(range(1, state.floor + 1)) | set(state.acked)
        wanted_acked = {queue.sequences[mid] for mid in queue.acked}
        self.expect(
            acked == wanted_acked,
            f"the durable checkpoint records acked sequences {sorted(acked)}, the model "
            f"expects {sorted(wanted_acked)}",
        )

    def _pending_text(self, pending: dict[int, Held]) -> str:
        return str(
            {
                seq: f"{held.consumer}, {held.deliveries}, {self.at(held.visible_at_ms)}"
                for seq, held in sorted(pending.items())
            }
        )

    # -- the final accounting ------------------------------------------------------------

    def teardown(self) -> None:
        try:
            if sys.exc_info()[1] is None:
                self.drain_and_account()
        finally:
            super().teardown()

    def drain_and_account(self) -> None:
        """Wait out the visibility timeout, drain both groups, and check the totals."""
        queue = self.queue
        self.clock.advance(self.TIMEOUT_MS)
        self.log(f"final drain: clock +{self.TIMEOUT_MS:g} ms -> {self.at(self.now())}")
        for _ in range(2 * len(queue.appended) + 2):
            batch = self.read_and_check("c1", 10)
            if not batch:
                break
            self.ack_and_check([d.message_id for d in batch])
        lost = [mid for mid in queue.appended if mid not in queue.delivered]
        self.expect(not lost, f"lost messages (appended, never delivered): {lost}")
        unacked = [mid for mid in queue.appended if mid not in queue.acked]
        self.expect(not unacked, f"the drain left messages unacknowledged: {unacked}")
        self.expect(
            queue.ack_total == len(queue.appended),
            f"acks returned {queue.ack_total} in total for {len(queue.appended)} messages "
            "(each message is acknowledged exactly once)",
        )
        if not self.markers:
            return
        for _ in range(2 * len(queue.appended) + 2):
            outcome = self.poll("c1", 10, False)
            if outcome == (0, 0):
                break
        calls = {mid: self.handled[mid] for mid in queue.appended}
        self.expect(
            all(n == 1 for n in calls.values()) and set(self.handled) <= set(queue.appended),
            f"the idempotent consumer must handle every message once; handler calls: {calls}",
        )


class IdempotentConsumerMachine(StreamMachine):
    """PROP-005: the stream machine plus an ``IdempotentConsumer`` on group ``h`` whose
    handler must run once per message id through crashes between handling and acking."""

    contract = "PROP-005"
    WITH_CONSUMER = True
