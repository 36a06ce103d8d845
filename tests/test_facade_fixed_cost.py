"""Exact counts of the facade's fixed work per operation: what the usual put and strong get
leave out (option checks, option objects, cache calls, metrics calls), and that they still
do all of it as soon as a caller passes an option or metrics are on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from facade_helpers import NS, AdapterDouble, CountingStore, MakeClient

from pytest_sanctum import keyed
from pytest_sanctum.observability import create_noop_metrics
from pytest_sanctum.types import ReadLevel, ReadOptions
from reference_adapters.memory import MemoryAdapter

OpenAdapter = Callable[..., MemoryAdapter]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the option checks and ``ReadOptions`` the blob and record layers make."""
    counts: Counter[str] = Counter()
    for name in (
        "ReadOptions",
        "check_read_level",
        "check_bool",
        "check_etag",
        "check_content_type",
        "check_if_none_match",
    ):
        real = getattr(keyed, name)

        def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
            counts[_name] += 1
            return _real(*args)

        monkeypatch.setattr(keyed, name, counted)
    return counts


def test_a_read_without_options_checks_and_builds_none(client: Any, calls: Counter[str]) -> None:
    """The usual read shares one ``ReadOptions`` per client, built from the config."""
    client.records.put(NS, "k", {"v": 1})
    calls.clear()
    assert client.records.get(NS, "k").value == {"v": 1}
    assert client.blobs.put(NS, "b", b"x")
    assert client.blobs.get(NS, "b").data == b"x"
    assert calls == Counter()
    assert client._core.default_read_options == ReadOptions(ReadLevel.STRONG, False, None)


def test_a_read_with_an_option_checks_every_option_once(client: Any, calls: Counter[str]) -> None:
    written = client.records.put(NS, "k", {"v": 1})
    calls.clear()
    client.records.get(NS, "k", level="eventual")
    client.records.get(NS, "k", bypass_cache=True)
    client.records.get(NS, "k", if_match=written.etag)
    each = {"ReadOptions": 3, "check_read_level": 3, "check_bool": 3, "check_etag": 3}
    assert calls == Counter(each)


def test_a_put_without_options_checks_none_of_them(client: Any, calls: Counter[str]) -> None:
    client.records.put(NS, "k", {"v": 1})
    client.blobs.put(NS, "b", b"x")
    assert calls == Counter()


@pytest.mark.parametrize(
    "options",
    [{"content_type": "text/plain"}, {"if_match": "1-x"}, {"if_none_match": "*"}],
    ids=["content_type", "if_match", "if_none_match"],
)
def test_a_put_with_an_option_checks_every_option_once(
    client: Any, calls: Counter[str], options: dict[str, str]
) -> None:
    if "if_match" in options:
        options = {"if_match": client.blobs.put(NS, "b", b"x").etag}
    calls.clear()
    client.blobs.put(NS, "b", b"y", **options)
    each = {"check_content_type": 1, "check_etag": 1, "check_if_none_match": 1}
    assert calls == Counter(each)


def test_a_read_of_a_namespace_that_does_not_cache_reads_never_calls_the_cache(
    make_client: MakeClient, open_adapter: OpenAdapter
) -> None:
    """One backend ``get`` per read at every level that reads the backend, nothing else."""
    inner = open_adapter()
    cache, records = CountingStore(inner.cache), CountingStore(inner.records)
    adapter = AdapterDouble(inner, cache=cache, records=records)
    client = make_client({"namespaces": {"*": {"cache": False}}}, adapter=adapter)
    written = client.records.put(NS, "k", {"v": 1})
    cache.calls.clear()
    records.calls.clear()
    client.records.get(NS, "k")
    client.records.get(NS, "k", level="eventual")
    client.records.get(NS, "k", bypass_cache=True)
    client.records.get(NS, "k", if_match=written.etag)
    assert records.calls == Counter({"get": 4})
    assert cache.calls == Counter()


@pytest.mark.parametrize("enabled", [False, True], ids=["noop-metrics", "recording-metrics"])
def test_a_read_calls_the_metrics_only_when_they_are_on(
    make_client: MakeClient, enabled: bool
) -> None:
    client = make_client() if enabled else make_client(metrics=create_noop_metrics())
    client.records.put(NS, "k", {"v": 1})
    core: Any = client._core  # type: ignore[attr-defined]
    recorded: list[str] = []
    real = core.succeeded

    def succeeded(op: str, *rest: Any) -> None:
        recorded.append(op)
        real(op, *rest)

    core.succeeded = succeeded
    client.records.get(NS, "k")
    assert recorded == (["record.get"] if enabled else [])
