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
from pytest_sanctum.kit.differential.domain import NAMES, at_limit
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
        machine.reset(which=0, cut=0)

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
def test_one_blob_put(sanctum_kit):
    play(sanctum_kit, lambda machine: put(machine, 0, "Key.x"))


@contract("DIFF-003")
def test_one_record_put_in_a_suffixed_namespace(sanctum_kit):
    def script(machine):
        machine.facade_put(
            index=0, layer=Layer.RECORD, ns=1, key="Key", data=b"", record={"a": 1},
            content_type=None, how="none",
        )

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_one_append_and_one_group_read(sanctum_kit):
    def script(machine):
        machine.facade_append(index=0, ns=0, stream="Key", payload={}, idempotency=None)
        machine.facade_read(index=0, which=0, group="Key", consumer="c1", count=1)

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_one_cache_set(sanctum_kit):
    def script(machine):
        machine.store_cache(
            index=0, ns=0, key="\ufb01le", data=b"x", ttl=5000.0, op="set", content_type=None
        )

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_retries_at_the_edges_of_a_fractional_window(sanctum_kit):
    def script(machine):
        machine.store_append(
            index=0, ns=0, stream="s", payload=b"1", idempotency="i", window=999.5
        )
        machine.append_again()

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_retries_at_the_edges_of_a_second(sanctum_kit):
    def script(machine):
        append = machine.store_append
        append(index=0, ns=0, stream="s", payload=b"1", idempotency="i", window=1000.0)
        machine.append_again()

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_a_record_then_a_reset_of_everything(sanctum_kit):
    def script(machine):
        machine.facade_put(
            index=0, layer=Layer.RECORD, ns=0, key="k", data=b"", record={},
            content_type=None, how="none",
        )
        machine.reset_everything()

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_a_record_written_again_by_the_other_instance(sanctum_kit):
    def script(machine):
        machine.open_second()
        machine.store_put(
            index=0, layer=Layer.RECORD, ns=0, key="k", data=b"", record={"a": 1},
            content_type=None, how="none", one_call=False,
        )
        machine.put_again(data=b"", record={"a": 2})

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_two_records_one_a_prefix_of_the_other(sanctum_kit):
    def script(machine):
        for key in ("k", "k!"):
            machine.store_put(
                index=0, layer=Layer.RECORD, ns=0, key=key, data=b"", record={},
                content_type=None, how="none", one_call=False,
            )

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_a_namespace_seeded_with_two_names_at_the_byte_limit(sanctum_kit):
    def script(machine):
        machine.seed_namespace(
            keys=["k" * 1023 + "a", "k" * 1023 + "b"],
            data=[b"", b"\x01" * 65536, b"x"],
            records=[{}, {"a": 2**63}, {}],
            window=0.5,
        )

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_a_cache_entry_evicted_then_filled_again_by_a_later_read(sanctum_kit):
    def script(machine):
        put(machine, 0, "k")
        namespace = machine.namespaces[0]
        machine.sut.store(0, "cache").delete(namespace, "blob/k")
        machine.facade_get(
            index=0, layer=Layer.BLOB, ns=0, key="k", level="eventual", bypass=False
        )
        machine.sweep_cache(namespace, "blob/k")

    play(sanctum_kit, script)


@contract("DIFF-003")
def test_keys_at_the_byte_limit(sanctum_kit):
    def script(machine):
        for key in sorted(filter(at_limit, NAMES))[:3]:
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


def test_a_cache_entry_filled_again_after_an_eviction_is_the_same_entry(
    pytester: pytest.Pytester,
) -> None:
    """A cache that evicted an entry fills it again at a later read, so its entry is stored
    later than the reference's, which never evicts: the same entry, not a mismatch."""
    results = _script(
        pytester,
        "test_a_cache_entry_evicted_then_filled_again_by_a_later_read",
        "--sanctum-adapter=memory",
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


SCRIPTED_KILLS = [
    ("test_one_blob_put", "gen-blob-keys-fold-case"),
    ("test_one_blob_put", "gen-blob-keys-punctuation"),
    ("test_one_record_put_in_a_suffixed_namespace", "gen-namespaces-fold-case"),
    ("test_one_record_put_in_a_suffixed_namespace", "gen-namespaces-strip-trailing-punctuation"),
    ("test_one_append_and_one_group_read", "gen-stream-names-strip"),
    ("test_one_append_and_one_group_read", "gen-group-names-fold-case"),
    ("test_one_append_and_one_group_read", "gen-shared-groups-across-streams"),
    ("test_one_cache_set", "gen-cache-keys-nfkc"),
    ("test_retries_at_the_edges_of_a_fractional_window", "gen-narrow-dedupe-window-integer"),
    ("test_retries_at_the_edges_of_a_second", "gen-narrow-append-time-whole-seconds"),
    ("test_a_record_then_a_reset_of_everything", "gen-lifecycle-reset-keeps-records"),
    ("test_a_record_then_a_reset_of_everything", "gen-lifecycle-reset-keeps-messages"),
    ("test_a_record_then_a_reset_of_everything", "gen-lifecycle-reset-keeps-checkpoints"),
    ("test_a_record_then_a_reset_of_everything", "gen-lifecycle-reset-keeps-blobs"),
    ("test_a_record_written_again_by_the_other_instance", "gen-stale-record-get"),
    ("test_two_records_one_a_prefix_of_the_other", "gen-records-list-filters-after-paging"),
    ("test_a_namespace_seeded_with_two_names_at_the_byte_limit", "gen-records-list-over-limit"),
    ("test_a_namespace_seeded_with_two_names_at_the_byte_limit", "gen-group-names-truncate-1000"),
    ("test_a_namespace_seeded_with_two_names_at_the_byte_limit", "gen-narrow-payload-uint16"),
    ("test_a_namespace_seeded_with_two_names_at_the_byte_limit", "gen-metadata-head-size-uint16"),
]


@pytest.mark.parametrize("name", sorted({name for name, _ in SCRIPTED_KILLS}))
def test_the_reference_passes_each_short_script(pytester: pytest.Pytester, name: str) -> None:
    """The short scripts below fail lossy mutants; the reference passes every one."""
    assert _script(pytester, name, "--sanctum-adapter=memory") == {"DIFF-003": "pass"}


@pytest.mark.parametrize(("name", "mutant"), SCRIPTED_KILLS)
def test_one_step_shows_a_lossy_mapping(pytester: pytest.Pytester, name: str, mutant: str) -> None:
    """The step that writes a name reads back the names a lossy mapping confuses with it
    (``domain.collisions``) and the name in the other namespaces, so one write of ``Key``
    shows a key, stream, group, cache or namespace mapping that folds it; a retry a quarter
    millisecond inside a window shows a window or time kept at a coarser precision; a
    reset, which first writes one entry of each kind, shows a table it forgets; a key
    written again through the other instance shows reads that keep the old value; a
    listing with a key as its prefix shows a page filtered after paging; the namespace
    every example starts with (``seed_namespace``) shows a page longer than asked, group
    names cut short and a 64 KiB payload's size or bytes cut to 16 bits."""
    results = _script(pytester, name, f"--sanctum-adapter=mutants:{mutant}")
    assert results == {"DIFF-003": "fail"}


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
