"""The differential tier compares what the rules allow: scripted steps that made it fail
correct adapters.

Each script calls the rules of a ``DIFF-*`` machine in a fixed order (inside one
hypothesis example, so the machine can narrate its steps) on an adapter that answers as
the rules allow and differently from the reference: a cache that evicted an entry the
reference still serves, a Redis idempotency index that forgot a key the reference keeps
(or kept one the reference forgot), a backend refusing keys at the facade's byte limit
when the baseline lists that known failure.
"""

from __future__ import annotations

import json

import pytest
from kit_helpers import preload_suite, run_kit
from test_redis_adapter import fakeredis_lua  # noqa: F401 (a fixture used here)

SCRIPTS = """
from hypothesis import given, settings, strategies as st

from pytest_sanctum.kit.contracts import contract
from pytest_sanctum.kit.differential import LifecycleDifferential
from pytest_sanctum.kit.differential.domain import AT_LIMIT
from pytest_sanctum.types import Layer


def play(kit, script):
    @settings(max_examples=1, database=None, deadline=None)
    @given(st.none())
    def example(_):
        machine = LifecycleDifferential(kit)
        try:
            script(machine)
        finally:
            machine.teardown()

    example()


def put(machine, ns, key, index=0):
    machine.facade_put(
        index=index, layer=Layer.BLOB, ns=ns, key=key, data=b"x", record={},
        content_type=None, how="none",
    )


@contract("DIFF-003")
def test_a_reset_then_a_read_another_instance_served_from_its_cache(sanctum_kit):
    def script(machine):
        machine.open_second()
        put(machine, 0, "a")
        machine.reset(ns=0, cut=0)

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_a_key_forgotten_under_a_short_window_repeated_under_a_long_one(sanctum_kit):
    def script(machine):
        append = machine.store_append
        append(index=0, ns=0, stream="s", payload=b"1", idempotency="i", window=0.5)
        machine.facade_append(index=0, ns=1, stream="s", payload={}, idempotency="I")
        append(index=0, ns=0, stream="s", payload=b"2", idempotency="I", window=0.5)
        machine.facade_append(index=0, ns=0, stream="s", payload={}, idempotency="i")

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_a_key_kept_under_a_short_window_repeated_under_a_long_one(sanctum_kit):
    def script(machine):
        append = machine.store_append
        append(index=0, ns=0, stream="s", payload=b"1", idempotency="i", window=0.5)
        machine.tick()
        append(index=0, ns=0, stream="t", payload=b"2", idempotency="I", window=0.5)
        machine.facade_append(index=0, ns=0, stream="s", payload={}, idempotency="i")

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_keys_at_the_byte_limit(sanctum_kit):
    def script(machine):
        for key in sorted(AT_LIMIT)[:3]:
            put(machine, 0, key)

    play(sanctum_kit, script)
"""


@pytest.fixture(scope="module", autouse=True)
def _suite_loaded() -> None:
    preload_suite()


def _script(pytester: pytest.Pytester, name: str, *args: str) -> dict[str, str]:
    """Run one script on the adapter ``args`` name; returns each contract's result."""
    pytester.makepyfile(test_scripts=SCRIPTS)
    run = run_kit(pytester, f"test_scripts.py::{name}", *args, profile="default")
    return run.results


EVICT_ALL = json.dumps({"eviction_chance": 1.0})


def test_a_cache_that_evicted_is_read_again_after_a_reset(pytester: pytest.Pytester) -> None:
    """An instance whose cache holds an entry filled in the same millisecond as a reset: the
    reference may serve it (within the zero staleness budget), a cache that evicted it
    reads the backend. The machine moves the clock before a reset, so both read the backend."""
    results = _script(
        pytester,
        "test_a_reset_then_a_read_another_instance_served_from_its_cache",
        "--sanctum-adapter=honest_adapters:honest_evicting_cache",
        f"--sanctum-adapter-options={EVICT_ALL}",
    )
    assert results == {"DIFF-003": "pass"}


@pytest.mark.usefixtures("fakeredis_lua")
@pytest.mark.parametrize(
    "name",
    [
        "test_a_key_forgotten_under_a_short_window_repeated_under_a_long_one",
        "test_a_key_kept_under_a_short_window_repeated_under_a_long_one",
    ],
)
def test_redis_forgets_idempotency_keys_per_namespace(pytester: pytest.Pytester, name: str) -> None:
    """Redis forgets a stream's idempotency keys older than the longest window appends to
    the namespace brought, the reference those older than the longest its server saw, and
    only at appends to the same stream: a key first appended under a short window may be
    remembered or not once that window passed, and a repeat under a longer window is a
    duplicate or a new message. The machine leaves such a repeat out."""
    results = _script(
        pytester,
        name,
        "--sanctum-adapter=reference_adapters.redis_adapter:create_fakeredis_adapter",
        f"--sanctum-adapter-options={json.dumps({'server': name})}",
    )
    assert results == {"DIFF-003": "pass"}


@pytest.mark.parametrize(("baseline", "result"), [(True, "pass"), (False, "fail")])
def test_keys_at_the_byte_limit_are_left_out_when_the_baseline_lists_id_004(
    pytester: pytest.Pytester, baseline: bool, result: str
) -> None:
    """A backend whose key limit is shorter (S3's) fails ID-004 and nothing else: with
    ID-004 baselined the machines use no key at the limit; without, they fail it."""
    args = ["--sanctum-adapter=honest_adapters:honest_short_keys"]
    if baseline:
        pytester.makefile(".txt", baseline="ID-004: keys share 1,024 bytes with the namespace\n")
        args.append("--sanctum-baseline=baseline.txt")
    results = _script(pytester, "test_keys_at_the_byte_limit", *args)
    assert results["DIFF-003"] == result
