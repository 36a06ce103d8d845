"""Record layer contracts (REC-*): versioned JSON objects with etag preconditions."""

from __future__ import annotations

import json
import threading
from typing import Any, cast

import pytest

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import ConflictError, NotFoundError, PreconditionFailedError
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.fixtures import ClientMaker
from pytest_sanctum.types import JSONValue, Layer, ReadLevelName, WriteResult

RAW_WINDOW_MS = 100.0
"""ADR-001's read-after-write window. Before an eventual read, which the window's retries
do not cover, a test waits it out with ``sleep_ms``: an adapter without read_after_write has
had the window to replicate the write (the kit's clock then waits in real time too, for a
replica lagging in real time); one with read_after_write needs no wait."""


@contract("REC-001")
def test_put_then_get_round_trips(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor
) -> None:
    """A record put then read returns an equal value, version and etag."""
    written = sanctum_client.records.put(sanctum_namespace, "order-1", {"total": 42})
    read = sanctum_client.records.get(sanctum_namespace, "order-1")
    stored = sanctum_backdoor.read_object(Layer.RECORD, sanctum_namespace, "order-1")
    assert (read.key, read.value, read.version, read.etag) == (
        "order-1",
        {"total": 42},
        1,
        written.etag,
    ), f"{explain('REC-001')} put returned {written}, read returned {read}"
    assert stored is not None, f"{explain('REC-001')} the backend holds nothing after the put"
    assert (json.loads(stored.data), stored.version, stored.etag) == (
        {"total": 42},
        written.version,
        written.etag,
    ), f"{explain('REC-001')} put returned {written}, the backend holds {stored}"


@contract("REC-002")
def test_versions_increase_and_continue_after_delete(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor
) -> None:
    """Record versions go 1, 2, 3 and a re-created record continues from its last version."""
    records, ns = sanctum_client.records, sanctum_namespace
    versions = [
        records.put(ns, "user", {"n": 1}).version,
        records.put(ns, "user", {"n": 2}).version,
    ]
    records.delete(ns, "user")
    versions.append(records.put(ns, "user", {"n": 3}).version)
    records.delete(ns, "user")
    versions.append(records.put(ns, "user", {"n": 4}).version)
    read = records.get(ns, "user")
    stored = sanctum_backdoor.read_object(Layer.RECORD, ns, "user")
    assert versions == [1, 2, 3, 4], (
        f"{explain('REC-002')} put, put, delete, put, delete, put returned versions {versions}"
    )
    assert (read.value, read.version) == ({"n": 4}, 4), f"{explain('REC-002')} read {read}"
    assert stored is not None, f"{explain('REC-002')} the backend holds nothing"
    assert stored.version == 4, f"{explain('REC-002')} the backend holds {stored}"


@contract("REC-003")
def test_stale_etag_upsert_is_refused(
    sanctum_client: StorageClient, sanctum_namespace: str
) -> None:
    """A put with a stale if_match fails with the current etag and changes nothing."""
    first = sanctum_client.records.put(sanctum_namespace, "k", {"n": 1})
    second = sanctum_client.records.put(sanctum_namespace, "k", {"n": 2})
    with pytest.raises(PreconditionFailedError) as raised:
        sanctum_client.records.put(sanctum_namespace, "k", {"n": 3}, if_match=first.etag)
    current = sanctum_client.records.get(sanctum_namespace, "k", bypass_cache=True)
    assert raised.value.current_etag == second.etag, (
        f"{explain('REC-003')} the error carried {raised.value.current_etag!r}, "
        f"the current etag is {second.etag!r}"
    )
    assert (current.value, current.version, current.etag) == ({"n": 2}, 2, second.etag), (
        f"{explain('REC-003')} the record changed to {current}"
    )


@contract("REC-004")
def test_matching_etag_upsert_applies(
    sanctum_client: StorageClient, sanctum_namespace: str
) -> None:
    """Each put with the current etag as if_match applies and returns the next version."""
    records, ns = sanctum_client.records, sanctum_namespace
    first = records.put(ns, "cart", {"items": 1})
    second = records.put(ns, "cart", {"items": 2}, if_match=first.etag)
    third = records.put(ns, "cart", {"items": 3}, if_match=second.etag)
    read = records.get(ns, "cart")
    assert (second.version, third.version) == (2, 3), (
        f"{explain('REC-004')} conditional puts after {first} returned {second}, {third}"
    )
    assert len({first.etag, second.etag, third.etag}) == 3, (
        f"{explain('REC-004')} versions share etags: {first}, {second}, {third}"
    )
    assert (read.value, read.version, read.etag) == ({"items": 3}, 3, third.etag), (
        f"{explain('REC-004')} after the conditional puts the record reads {read}"
    )


@contract("REC-005")
@pytest.mark.parametrize("history", ["never-written", "deleted"])
def test_create_only_put(
    sanctum_client: StorageClient, sanctum_namespace: str, history: str
) -> None:
    """if_none_match="*" creates a missing (or deleted) key and refuses an existing one."""
    records, ns = sanctum_client.records, sanctum_namespace
    if history == "deleted":
        records.put(ns, "lock", {"owner": "old"})
        records.delete(ns, "lock")
    expected_version = 2 if history == "deleted" else 1
    created = records.put(ns, "lock", {"owner": "a"}, if_none_match="*")
    with pytest.raises(PreconditionFailedError) as raised:
        records.put(ns, "lock", {"owner": "b"}, if_none_match="*")
    read = records.get(ns, "lock", bypass_cache=True)
    assert created.version == expected_version, (
        f"{explain('REC-005')} the create-only put on a {history} key returned {created}"
    )
    assert (read.value, read.version, read.etag) == (
        {"owner": "a"},
        created.version,
        created.etag,
    ), f"{explain('REC-005')} after a refused create-only put the record reads {read}"
    assert raised.value.current_etag in (None, created.etag), (
        f"{explain('REC-005')} the error carried etag {raised.value.current_etag!r}, "
        f"the current one is {created.etag!r}"
    )


@contract("REC-006")
def test_stale_etag_delete_is_refused(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor
) -> None:
    """A delete with a stale if_match raises PreconditionFailedError and the record stays."""
    records, ns = sanctum_client.records, sanctum_namespace
    first = records.put(ns, "k", {"n": 1})
    second = records.put(ns, "k", {"n": 2})
    with pytest.raises(PreconditionFailedError) as raised:
        records.delete(ns, "k", if_match=first.etag)
    read = records.get(ns, "k", bypass_cache=True)
    stored = sanctum_backdoor.read_object(Layer.RECORD, ns, "k")
    assert (read.value, read.version, read.etag) == ({"n": 2}, 2, second.etag), (
        f"{explain('REC-006')} after the refused delete the record reads {read}"
    )
    assert stored is not None, f"{explain('REC-006')} the refused delete removed the record"
    assert stored.version == 2, f"{explain('REC-006')} the backend holds {stored}"
    assert raised.value.current_etag in (None, second.etag), (
        f"{explain('REC-006')} the error carried etag {raised.value.current_etag!r}"
    )


@contract("REC-006")
def test_current_etag_delete_applies(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor
) -> None:
    """A delete with the current etag as if_match removes the record."""
    records, ns = sanctum_client.records, sanctum_namespace
    records.put(ns, "k", {"n": 1})
    current = records.put(ns, "k", {"n": 2})
    records.delete(ns, "k", if_match=current.etag)
    with pytest.raises(NotFoundError):
        records.get(ns, "k")
    stored = sanctum_backdoor.read_object(Layer.RECORD, ns, "k")
    assert stored is None, f"{explain('REC-006')} after the delete the backend holds {stored}"


@contract("REC-007")
@pytest.mark.parametrize("level", ["strong", "eventual"])
def test_values_are_independent_of_callers(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    level: ReadLevelName,
) -> None:
    """Mutating a value after put, or a value a read returned, changes nothing stored."""
    records, ns = sanctum_client.records, sanctum_namespace
    value: dict[str, Any] = {"items": [1, 2], "meta": {"tag": "a"}}
    records.put(ns, "doc", value)
    value["items"].append(3)
    value["meta"]["tag"] = "changed after put"
    sanctum_clock.sleep_ms(RAW_WINDOW_MS)
    first = records.get(ns, "doc", level=level)
    returned = cast(dict[str, Any], first.value)
    returned["items"].append(99)
    returned["meta"]["tag"] = "changed after read"
    returned["added"] = True
    second = records.get(ns, "doc", level=level)
    original = {"items": [1, 2], "meta": {"tag": "a"}}
    assert (first.version, second.version) == (1, 1), (
        f"{explain('REC-007')} reads returned versions {first.version}, {second.version}"
    )
    assert second.value == original, (
        f"{explain('REC-007')} after mutating the written and the read values, a {level} "
        f"read returns {second.value}, {original} was written"
    )


def _shape(value: JSONValue) -> object:
    """``value`` with every scalar tagged by type, so 1 != 1.0 != True and -0.0 != 0.0."""
    if isinstance(value, dict):
        return ("object", sorted((key, _shape(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", [_shape(item) for item in value])
    return (type(value).__name__, repr(value))


@contract("REC-008")
@pytest.mark.parametrize(
    "value",
    [
        {"text": "héllo wörld ✓ 日本語 🎉 \u200f עברית e\u0301", "escapes": '"q" \\ / \n\t\r\b\f'},
        {"nul": "before\u0000after", "control": "\u0001\u001f\u007f", "surrogate-pair": "𝄞"},
        {"": "empty key", "a.b": 1, "$ref": 2, "ключ": 3, " spaced key ": 4},
        {"nested": [1, [2, [3, {"deep": [[], {}]}]], {"x": {"y": {"z": None}}}], "empty": {}},
        {"floats": [0.1, 1.5, -2.25, 1e-300, 1.7976931348623157e308, 5e-324, 1.0, -0.0, 0.0]},
        {"ints": [0, -1, 2**31, 2**53 + 1, -(2**63), 2**63 - 1]},
        {"true": True, "false": False, "null": None, "mixed": [True, 1, 1.0, False, 0, None, ""]},
    ],
    ids=["unicode", "control-chars", "odd-keys", "nesting", "floats", "integers", "bool-null"],
)
def test_json_values_round_trip_exactly(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
    value: dict[str, Any],
) -> None:
    """Text, nesting, floats, integers, booleans and nulls come back with equal types and values."""
    records, ns = sanctum_client.records, sanctum_namespace
    records.put(ns, "json", value)
    strong = records.get(ns, "json")
    eventual = records.get(ns, "json", level="eventual")  # served from the cache if any
    stored = sanctum_backdoor.read_object(Layer.RECORD, ns, "json")
    decoded = json.loads(stored.data) if stored is not None else None
    for where, found in [("strong read", strong.value), ("eventual read", eventual.value)]:
        assert _shape(dict(found)) == _shape(value), (
            f"{explain('REC-008')} the {where} returned {found!r}, {value!r} was written"
        )
    assert _shape(decoded) == _shape(value), (
        f"{explain('REC-008')} the backend holds {decoded!r}, {value!r} was written"
    )


RACERS = 8
"""Writers in each round of REC-009."""

ROUNDS = 5
"""Rounds of REC-009: a lost update may hide in one round, rarely in all of them."""


def _race(clients: list[StorageClient], ns: str, etag: str) -> list[WriteResult | BaseException]:
    """Every client puts ``race`` with ``if_match=etag`` at the same moment; the outcomes."""
    barrier = threading.Barrier(len(clients), timeout=30)
    outcomes: list[WriteResult | BaseException] = [TimeoutError("never ran")] * len(clients)

    def write(index: int) -> None:
        try:
            barrier.wait()
            outcomes[index] = clients[index].records.put(
                ns, "race", {"writer": index}, if_match=etag
            )
        except BaseException as error:
            outcomes[index] = error

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@contract("REC-009")
@pytest.mark.parametrize("topology", ["one-client", "one-node-per-writer"])
def test_concurrent_conditional_writers(
    sanctum_make_client: ClientMaker, sanctum_namespace: str, topology: str
) -> None:
    """Of writers racing with the same if_match, exactly one wins; the rest are refused."""
    ns = sanctum_namespace
    if topology == "one-client":
        clients = [sanctum_make_client()] * RACERS
    else:
        clients = [sanctum_make_client.node() for _ in range(RACERS)]
    current = clients[0].records.put(ns, "race", {"writer": -1})
    for round_number in range(ROUNDS):
        outcomes = _race(clients, ns, current.etag)
        winners = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, WriteResult)]
        refused = [o for o in outcomes if isinstance(o, PreconditionFailedError | ConflictError)]
        unexpected = [
            o
            for o in outcomes
            if not isinstance(o, WriteResult | PreconditionFailedError | ConflictError)
        ]
        assert (len(winners), len(refused)) == (1, RACERS - 1), (
            f"{explain('REC-009')} round {round_number}: {len(winners)} writers won "
            f"{winners}, {len(refused)} were refused, unexpected outcomes {unexpected!r}"
        )
        writer, current = winners[0]
        read = clients[writer].records.get(ns, "race", bypass_cache=True)  # sees its own write
        assert (current.version, read.version, read.value) == (
            round_number + 2,
            round_number + 2,
            {"writer": writer},
        ), f"{explain('REC-009')} round {round_number}: writer {writer} won {current}, read {read}"
