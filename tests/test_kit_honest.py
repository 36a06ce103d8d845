"""The kit never fails a correct adapter: honest-but-unusual adapters pass the whole suite.

Each adapter of ``honest_adapters.py`` (and the SQLite adapter) keeps ADR-001 while doing
something a real backend does differently: replicas lagging on the kit's clock or in real
time without ``read_after_write``, random etags, short ``list`` pages, a cache evicting at
random, no streams and no cache. The whole kit runs against each; every contract must
pass, or be ``unsupported`` exactly when it needs a capability the adapter lacks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from honest_adapters import (
    honest_blobs_and_records,
    honest_evicting_cache,
    honest_lagging_replica,
    honest_paged_list,
    honest_random_etags,
    honest_realtime_replica,
)
from kit_helpers import declared, expected_results, preload_suite, run_kit

from pytest_sanctum.types import Capabilities
from reference_adapters.sqlite import create_sqlite_adapter


class Honest(NamedTuple):
    """An adapter the kit must pass, how to name it, and what it honestly lacks."""

    spec: str
    factory: Callable[..., Any]
    options: dict[str, object]
    lacks: frozenset[str]
    reference_cache: bool = False
    untestable: frozenset[str] = frozenset()
    """Contracts reported ``unsupported`` for want of a test hook rather than a capability."""


def _spec(factory: Callable[..., Any]) -> str:
    return f"honest_adapters:{factory.__name__}"


NO_RAW = frozenset({"read_after_write", "distributed_cache"})
LAYERS_ONLY = frozenset(
    {"streams", "cache", "distributed_cache", "idempotent_append", "durable_checkpoints"}
)

HONEST = {
    "lagging-replica": Honest(_spec(honest_lagging_replica), honest_lagging_replica, {}, NO_RAW),
    "lagging-replica-shared-cache": Honest(
        _spec(honest_lagging_replica),
        honest_lagging_replica,
        {"shared_cache": True},
        frozenset({"read_after_write"}),
    ),
    "real-time-replica": Honest(
        _spec(honest_realtime_replica), honest_realtime_replica, {}, NO_RAW
    ),
    "random-etags": Honest(
        _spec(honest_random_etags),
        honest_random_etags,
        {"seed": 7},
        frozenset({"distributed_cache"}),
    ),
    "paged-list": Honest(
        _spec(honest_paged_list), honest_paged_list, {}, frozenset({"distributed_cache"})
    ),
    "evicting-cache": Honest(
        _spec(honest_evicting_cache),
        honest_evicting_cache,
        {"seed": 7},
        frozenset({"distributed_cache"}),
    ),
    "blobs-and-records-only": Honest(
        _spec(honest_blobs_and_records),
        honest_blobs_and_records,
        {},
        LAYERS_ONLY,
        reference_cache=True,
    ),
    "sqlite": Honest(
        "sqlite",
        create_sqlite_adapter,
        {"path": "{tmp}/kit.sqlite"},
        frozenset(),
        untestable=frozenset({"ERR-007"}),  # its fault injector provokes no serialization failure
    ),
}


@pytest.fixture(scope="module", autouse=True)
def _suite_loaded() -> None:
    preload_suite()


@pytest.mark.parametrize("name", list(HONEST))
def test_an_honest_adapter_passes_the_whole_kit(
    pytester: pytest.Pytester, tmp_path: Path, name: str
) -> None:
    """No contract fails; exactly the contracts needing a capability it lacks are unsupported."""
    honest = HONEST[name]
    options = {
        key: value.format(tmp=tmp_path) if isinstance(value, str) else value
        for key, value in honest.options.items()
    }
    args = [f"--sanctum-adapter={honest.spec}", f"--sanctum-adapter-options={json.dumps(options)}"]
    if honest.reference_cache:
        args.append("--sanctum-reference-cache")

    run = run_kit(pytester, *args, profile="default")

    own = declared(options, honest.factory)
    assert own == set(Capabilities.field_names()) - honest.lacks
    usable = own | {"cache"} if honest.reference_cache else own
    cross_process = getattr(honest.factory, "opens_across_processes", False)
    expected = expected_results(frozenset(usable), cross_process)
    expected.update(dict.fromkeys(honest.untestable, "unsupported"))
    assert run.results == expected, run.output
    outcomes = run.result.parseoutcomes()
    assert not {"failed", "errors", "xfailed", "xpassed"} & set(outcomes), outcomes
    assert run.ret == pytest.ExitCode.OK, run.output
    assert run.report is not None
    assert run.report["capabilities"] == [n for n in Capabilities.field_names() if n in own]
    assert run.report["reference_cache"] is honest.reference_cache
