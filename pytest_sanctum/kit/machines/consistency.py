"""``ConsistencyMachine`` (PROP-001): reads at every level on two nodes, with caches,
fan-out and poison, checked against the model of ADR-001."""

from __future__ import annotations

import itertools
import json

from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    precondition,
    rule,
)

from pytest_sanctum.adapters.base import CacheStore
from pytest_sanctum.client import StorageClient
from pytest_sanctum.core import cache_key
from pytest_sanctum.errors import (
    CacheMissError,
    ConsistencyError,
    InvalidRequestError,
    SanctumError,
)
from pytest_sanctum.fanout import QueuedFanout
from pytest_sanctum.kit.eviction import EVICTION_ATTEMPTS
from pytest_sanctum.kit.machines.models import (
    KEY_CHOICE,
    KEYS,
    NODE_CHOICE,
    NODES,
    Cached,
    Outcome,
    Seen,
    describe,
)
from pytest_sanctum.kit.machines.versioned import VersionedMachine
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.types import CacheEntry, Layer


class ConsistencyMachine(VersionedMachine):
    """PROP-001: read levels, staleness budget, TTL, fan-out and poisoning on two nodes.

    Nodes A and B are clients over their own adapter instances (their own local caches,
    unless the adapter declares ``distributed_cache``), sharing a ``QueuedFanout`` whose
    deliveries are rules. The model predicts every cache entry; a strong read may return
    a cache entry only within the staleness budget, else the backend's current value.
    A cache may evict at any moment: an entry the model expects may be missing (a read
    then reads the backend, a ``cache_only`` read misses), but never replaced by another.
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
        entry = CacheEntry(b"{}", 1, "probe", now, None, now + 1000)
        try:
            for _ in range(EVICTION_ATTEMPTS):  # a shared cache may evict the probe too
                a.set(self.ns, probe, entry, 1000)
                if b.get(self.ns, probe) is not None:
                    return True
            return False
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

    def evicted(self, cache: str, key: str) -> None:
        """The cache no longer holds the model's entry of ``key``: it was evicted (allowed)."""
        dropped = self.caches[cache].pop(key, None)
        if dropped is not None and dropped.live(self.now()):
            self.remark(f"cache {cache} evicted {key} ({dropped.show(self.t0)})")

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
            elif isinstance(result, CacheMissError):
                self.evicted(cache, key)
            else:
                self.expect(
                    result == entry.seen,
                    f"{op}: a cache_only read must return the live {entry.show(self.t0)} "
                    f"(or miss, had the cache evicted it), got {describe(result)}",
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
        if usable:  # served from the entry, or from the backend had the cache evicted it
            allowed: list[Outcome] = [entry.seen, *backend]  # type: ignore[union-attr]
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
        """After a read, the cache holds what the read's source implies, or nothing (an
        eviction); the model follows it."""
        now = self.now()
        cache = self.cache_of(node)
        found = self.peek(cache, key)
        if found is None:
            self.evicted(cache, key)
            return
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
        for candidate in candidates:
            if candidate is not None and candidate.matches(found, self.decode):
                self.caches[cache][key] = candidate
                return
        self.expect(
            False,
            f"after {op} the cache holds {self.show(found)}; expected one of "
            f"{[self.show(c) for c in candidates]} "
            "(a backend read fills the cache, bypass_cache refreshes it; an eviction leaves "
            "nothing)",
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
                if found is None:
                    self.evicted(cache, key)
                wanted = self.entry(cache, key)
                same = (found is None and wanted is None) or (
                    found is not None and wanted is not None and wanted.matches(found, self.decode)
                )
                self.expect(
                    same,
                    f"cache {cache} holds {self.show(found)} for {key}, the model expects "
                    f"{self.show(wanted)} (writes purge the writer's cache at once and other "
                    "nodes' caches on fan-out delivery; an eviction may drop an entry, never "
                    "bring one back)",
                )
