"""The facade's internal maps stay bounded whatever names callers use.

Routes per namespace, ACL decisions per (namespace, principal) and the memory adapter's
per-namespace cache tables each have a documented bound; past it the oldest entry is
dropped and rebuilt on demand, so behaviour does not change.
"""

from __future__ import annotations

import pytest
from facade_helpers import MakeClient

from pytest_sanctum.acl import MAX_CACHED_GRANTS
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.core import MAX_ROUTES
from pytest_sanctum.errors import AccessDeniedError
from reference_adapters.memory import MemoryAdapter

DISTINCT = 10_000


def test_routes_are_bounded_and_rebuilt_on_demand(make_client: MakeClient) -> None:
    # Issue 11: one route per distinct namespace, kept forever.
    client = make_client()
    client.records.put("first", "k", {"n": 1})
    for i in range(DISTINCT):
        client.cache.set(f"ns-{i}", "k", b"v")
    assert len(client._core._routes) <= MAX_ROUTES
    assert "first" not in client._core._routes
    assert client.records.get("first", "k").value == {"n": 1}


def test_acl_decisions_are_bounded_and_recomputed(make_client: MakeClient) -> None:
    # Issue 11: one cached grant per (namespace, principal), kept forever.
    client = make_client({"acl": {"*": {"*": ["cache.*"], "writer": ["record.*"]}}})
    writer = client.as_principal("writer")
    writer.records.put("ns", "k", {"n": 1})
    for i in range(DISTINCT):
        client.as_principal(f"p-{i}").cache.set(f"ns-{i % 100}", "k", b"v")
    assert len(client._core.policy._granted) <= MAX_CACHED_GRANTS
    assert writer.records.get("ns", "k").value == {"n": 1}
    with pytest.raises(AccessDeniedError):
        client.as_principal("p-1").records.get("ns", "k")


def test_cache_tables_of_emptied_namespaces_are_dropped(
    make_client: MakeClient, clock: VirtualClock
) -> None:
    # Issue 11: one cache dictionary per namespace ever cached, kept when empty.
    client = make_client()
    for i in range(DISTINCT):
        client.cache.set(f"ns-{i}", "k", b"v", ttl_ms=10)
        client.cache.set(f"gone-{i}", "k", b"v")
        client.cache.delete(f"gone-{i}", "k")
    adapter = client.adapters["memory"]
    assert isinstance(adapter, MemoryAdapter)
    assert not any(ns.startswith("gone-") for ns in adapter.cache._table.namespaces)
    clock.advance(10)
    client.cache.set("ns-0", "k", b"v")
    assert list(adapter.cache._table.namespaces) == ["ns-0"]
