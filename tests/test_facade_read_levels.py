"""Read levels of ADR-001: strong with a staleness budget, eventual up to the TTL, cache_only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from facade_helpers import NS, AdapterDouble, CountingStore, MakeClient

from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import (
    CacheMissError,
    InvalidRequestError,
    PreconditionFailedError,
    UnsupportedOperationError,
)
from pytest_sanctum.types import ReadLevel
from reference_adapters.memory import MemoryAdapter

OpenAdapter = Callable[..., MemoryAdapter]


def counted(open_adapter: OpenAdapter, **capabilities: bool) -> AdapterDouble:
    """A memory adapter whose blob and record stores count their calls."""
    inner = open_adapter()
    return AdapterDouble(
        inner,
        capabilities=capabilities,
        blobs=CountingStore(inner.blobs),
        records=CountingStore(inner.records),
    )


def backend_gets(adapter: AdapterDouble) -> int:
    """Backend reads: ``get``, or ``get_and_fill`` where the store fills the cache itself."""
    return sum(
        int(store.calls[method])
        for store in (adapter.records, adapter.blobs)
        for method in ("get", "get_and_fill")
    )


# --- strong -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "namespace", "budget"),
    [
        ({"namespaces": {"fast": {"adapter": "memory", "staleness_budget_ms": 50}}}, "fast", 50),
        ({"cache": {"staleness_budget_ms": 20}}, NS, 20),
        ({}, NS, 0),
    ],
    ids=["namespace-budget", "cache-budget", "default-budget-0"],
)
def test_strong_read_uses_a_cache_entry_only_within_the_staleness_budget(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    clock: VirtualClock,
    overrides: dict[str, Any],
    namespace: str,
    budget: float,
) -> None:
    adapter = counted(open_adapter)
    client = make_client(overrides, adapter=adapter)
    client.records.put(namespace, "k", {"v": 1})
    client.records.get(namespace, "k")  # fills the cache
    assert backend_gets(adapter) == 1

    clock.advance(budget)
    assert client.records.get(namespace, "k").value == {"v": 1}
    assert backend_gets(adapter) == 1  # age == budget: served from the cache

    clock.advance(1)
    assert client.records.get(namespace, "k").value == {"v": 1}
    assert backend_gets(adapter) == 2  # age == budget + 1: the backend


def test_strong_read_within_budget_may_return_data_written_behind_the_facade(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    adapter = counted(open_adapter)
    client = make_client({"cache": {"staleness_budget_ms": 30}}, adapter=adapter)
    client.records.put(NS, "k", {"v": 1})
    client.records.get(NS, "k")
    adapter.inner.records.put(NS, "k", b'{"v":2}')  # another writer, no purge here

    clock.advance(30)
    assert client.records.get(NS, "k").version == 1
    clock.advance(1)
    assert client.records.get(NS, "k").version == 2


@pytest.mark.parametrize("level", ["strong", "eventual"])
def test_bypass_cache_reads_the_backend_at_any_level_and_refreshes_the_entry(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock, level: Any
) -> None:
    adapter = counted(open_adapter)
    client = make_client({"cache": {"staleness_budget_ms": 1000}}, adapter=adapter)
    client.blobs.put(NS, "b", b"one")
    client.blobs.get(NS, "b")
    adapter.inner.blobs.put(NS, "b", b"two")  # behind the facade's back

    assert client.blobs.get(NS, "b", level=level, bypass_cache=True).data == b"two"

    assert backend_gets(adapter) == 2
    assert client.blobs.get(NS, "b", level="cache_only").data == b"two"


# --- eventual -----------------------------------------------------------------------------


def test_eventual_read_serves_the_cache_until_the_ttl(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    adapter = counted(open_adapter)
    client = make_client({"cache": {"ttl_ms": 1000}}, adapter=adapter)
    client.records.put(NS, "k", {"v": 1})
    client.records.get(NS, "k", level="eventual")
    adapter.inner.records.put(NS, "k", b'{"v":2}')  # behind the facade's back

    clock.advance(999)
    assert client.records.get(NS, "k", level="eventual").value == {"v": 1}
    assert backend_gets(adapter) == 1

    clock.advance(1)
    assert client.records.get(NS, "k", level="eventual").value == {"v": 2}
    assert backend_gets(adapter) == 2


def test_namespace_ttl_overrides_the_cache_ttl(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    adapter = counted(open_adapter)
    client = make_client(
        {"namespaces": {"short": {"adapter": "memory", "cache_ttl_ms": 10}}}, adapter=adapter
    )
    client.records.put("short", "k", {"v": 1})
    client.records.get("short", "k", level="eventual")
    clock.advance(9)
    client.records.get("short", "k", level="eventual")
    assert backend_gets(adapter) == 1
    clock.advance(1)
    client.records.get("short", "k", level="eventual")
    assert backend_gets(adapter) == 2


# --- cache_only ---------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["records", "blobs"])
def test_cache_only_reads_never_call_the_backend(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock, layer: str
) -> None:
    adapter = counted(open_adapter)
    client = make_client({"cache": {"ttl_ms": 100}}, adapter=adapter)
    facade = getattr(client, layer)
    written = facade.put(NS, "k", {"v": 1} if layer == "records" else b"v1")
    with pytest.raises(CacheMissError) as miss:
        facade.get(NS, "k", level="cache_only")
    assert miss.value.key == "k"
    facade.get(NS, "k", level="eventual")
    store = getattr(adapter, layer)
    store.calls.clear()

    hit = facade.get(NS, "k", level=ReadLevel.CACHE_ONLY)
    assert (hit.version, hit.etag) == (1, written.etag)
    assert facade.get(NS, "k", level="cache_only", if_match=written.etag).version == 1
    with pytest.raises(PreconditionFailedError):
        facade.get(NS, "k", level="cache_only", if_match="other")
    clock.advance(100)
    with pytest.raises(CacheMissError):
        facade.get(NS, "k", level="cache_only")

    assert sum(store.calls.values()) == 0


def test_cache_only_refuses_bypass_cache(client: Any) -> None:
    client.records.put(NS, "k", {"v": 1})
    with pytest.raises(InvalidRequestError) as info:
        client.records.get(NS, "k", level="cache_only", bypass_cache=True)
    assert info.value.argument == "bypass_cache"


@pytest.mark.parametrize(
    ("overrides", "namespace"),
    [
        ({"namespaces": {"uncached": {"adapter": "memory", "cache": False}}}, "uncached"),
        ({"cache": {"enabled": False}}, NS),
    ],
    ids=["namespace-cache-off", "cache-disabled"],
)
def test_cache_only_without_a_cache_for_the_namespace_is_a_miss(
    make_client: MakeClient,
    open_adapter: OpenAdapter,
    clock: VirtualClock,
    overrides: dict[str, Any],
    namespace: str,
) -> None:
    adapter = counted(open_adapter)
    client = make_client(overrides, adapter=adapter)
    client.records.put(namespace, "k", {"v": 1})
    client.records.get(namespace, "k", level="eventual")
    client.records.get(namespace, "k", level="eventual")
    assert backend_gets(adapter) == 2  # nothing is cached

    with pytest.raises(CacheMissError):
        client.records.get(namespace, "k", level="cache_only")
    assert backend_gets(adapter) == 2
    assert adapter.inner.cache.get(namespace, "record/k") is None


def test_cache_only_on_an_adapter_without_a_cache_is_unsupported(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    client = make_client(
        adapter=AdapterDouble(open_adapter(), capabilities={"cache": False}, cache=None)
    )
    client.records.put(NS, "k", {"v": 1})
    assert client.records.get(NS, "k").version == 1
    with pytest.raises(UnsupportedOperationError) as info:
        client.records.get(NS, "k", level="cache_only")
    assert info.value.capability == "cache"


# --- conditional reads --------------------------------------------------------------------


def test_strong_conditional_read_always_reads_the_backend(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    adapter = counted(open_adapter)
    client = make_client({"cache": {"staleness_budget_ms": 1000}}, adapter=adapter)
    written = client.records.put(NS, "k", {"v": 1})
    client.records.get(NS, "k")
    assert backend_gets(adapter) == 1

    assert client.records.get(NS, "k", if_match=written.etag).version == 1
    assert backend_gets(adapter) == 2
    with pytest.raises(PreconditionFailedError) as info:
        client.records.get(NS, "k", if_match="not-the-etag")
    assert backend_gets(adapter) == 3
    assert (info.value.current_etag, info.value.current_version) == (written.etag, 1)


def test_eventual_conditional_read_is_checked_against_the_cached_entry(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    adapter = counted(open_adapter)
    client = make_client(adapter=adapter)
    written = client.records.put(NS, "k", {"v": 1})
    client.records.get(NS, "k", level="eventual")

    assert client.records.get(NS, "k", level="eventual", if_match=written.etag).version == 1
    with pytest.raises(PreconditionFailedError):
        client.records.get(NS, "k", level="eventual", if_match="stale")
    assert backend_gets(adapter) == 1


# --- default level ------------------------------------------------------------------------


def test_default_read_level_comes_from_the_config(
    make_client: MakeClient, open_adapter: OpenAdapter, clock: VirtualClock
) -> None:
    adapter = counted(open_adapter)
    client = make_client({"consistency": {"default_read_level": "eventual"}}, adapter=adapter)
    client.records.put(NS, "k", {"v": 1})
    client.records.get(NS, "k")
    clock.advance(100)

    client.records.get(NS, "k")
    assert backend_gets(adapter) == 1  # eventual: a 100 ms old entry is fine
    client.records.get(NS, "k", level="strong")
    assert backend_gets(adapter) == 2  # an explicit level wins


def test_default_read_level_cache_only(make_client: MakeClient) -> None:
    client = make_client({"consistency": {"default_read_level": "cache_only"}})
    client.blobs.put(NS, "b", b"x")
    with pytest.raises(CacheMissError):
        client.blobs.get(NS, "b")
    assert client.blobs.get(NS, "b", level="strong").data == b"x"
    assert client.blobs.get(NS, "b").data == b"x"
