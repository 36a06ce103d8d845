"""``BypassMachine`` (PROP-004): whatever is poisoned into the cache, a bypass read
returns the backend's current value."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st
from hypothesis.stateful import (
    invariant,
    precondition,
    rule,
)

from pytest_sanctum.core import cache_key
from pytest_sanctum.errors import (
    CacheMissError,
    ConsistencyError,
    SanctumError,
)
from pytest_sanctum.fanout import LocalFanout
from pytest_sanctum.kit.machines.models import KEY_CHOICE, NODE_CHOICE, NODES, describe
from pytest_sanctum.kit.machines.versioned import VersionedMachine
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.types import CacheEntry, Layer


class BypassMachine(VersionedMachine):
    """PROP-004: whatever is poisoned into the cache, a bypass read returns the backend's value.

    Two nodes share a ``LocalFanout``. After a bypass read, a ``cache_only`` read on the
    same node returns what the bypass read returned (or misses when it found nothing, or
    when the cache evicted the entry, which a cache may do at any moment).
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
                cached == result or isinstance(cached, CacheMissError),
                f"after a bypass read of {key} on {node} returned {result}, a cache_only read "
                f"returned {describe(cached)} (bypass refreshes the cache with what it read; "
                "an eviction may leave nothing)",
            )

    @invariant()
    def backend_matches_model(self) -> None:
        self.check_backdoor(self.adapters["A"])


# -- streams ---------------------------------------------------------------------------
