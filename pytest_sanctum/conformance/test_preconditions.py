"""Precondition details (REC-010, REC-011, REC-012, ERR-030): what a 412 carries, what a
conditional delete of a missing key raises, and where a fresh key's versions start (ADR-001)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import NotFoundError, PreconditionFailedError, SanctumError
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.types import WriteResult

FailingCall = Callable[[StorageClient, str, WriteResult], object]
"""A call that must fail its precondition, given the namespace and the key's first write."""

FAILURES: dict[str, tuple[bool, FailingCall]] = {
    "put-stale-if-match": (
        True,
        lambda c, ns, first: c.records.put(ns, "k", {"n": 3}, if_match=first.etag),
    ),
    "put-if-none-match": (
        True,
        lambda c, ns, first: c.records.put(ns, "k", {"n": 3}, if_none_match="*"),
    ),
    "delete-stale-if-match": (
        True,
        lambda c, ns, first: c.records.delete(ns, "k", if_match=first.etag),
    ),
    "put-if-match-on-missing-key": (
        False,
        lambda c, ns, first: c.records.put(ns, "absent", {"n": 1}, if_match=first.etag),
    ),
}
"""Each failing precondition: whether the key it addresses exists, and the call."""


@contract("REC-010")
@pytest.mark.parametrize("case", sorted(FAILURES))
def test_a_failed_precondition_reports_the_current_state(
    sanctum_client: StorageClient, sanctum_namespace: str, case: str
) -> None:
    """A 412 on an existing key carries its current version and etag; on a missing key, neither."""
    exists, call = FAILURES[case]
    first = sanctum_client.records.put(sanctum_namespace, "k", {"n": 1})
    current = sanctum_client.records.put(sanctum_namespace, "k", {"n": 2})
    attempt = partial(call, sanctum_client, sanctum_namespace, first)
    _assert_current_state("REC-010", case, attempt, current if exists else None)


def _assert_current_state(
    contract_id: str, case: str, attempt: Callable[[], object], current: WriteResult | None
) -> None:
    """``attempt`` raises PreconditionFailedError carrying ``current``'s version and etag
    (neither when ``current`` is ``None``: the key does not exist)."""
    with pytest.raises(PreconditionFailedError) as raised:
        attempt()
    carried = (raised.value.current_version, raised.value.current_etag)
    expected = (None, None) if current is None else (current.version, current.etag)
    assert carried == expected, (
        f"{explain(contract_id)} {case}: the error carried (current_version, current_etag) "
        f"{carried}, expected {expected}"
    )


BLOB_FAILURES: dict[str, tuple[bool, FailingCall]] = {
    "put-stale-if-match": (
        True,
        lambda c, ns, first: c.blobs.put(ns, "k", b"three", if_match=first.etag),
    ),
    "put-if-none-match": (
        True,
        lambda c, ns, first: c.blobs.put(ns, "k", b"three", if_none_match="*"),
    ),
    "delete-stale-if-match": (
        True,
        lambda c, ns, first: c.blobs.delete(ns, "k", if_match=first.etag),
    ),
    "get-stale-if-match": (
        True,
        lambda c, ns, first: c.blobs.get(ns, "k", if_match=first.etag),
    ),
    "put-if-match-on-missing-key": (
        False,
        lambda c, ns, first: c.blobs.put(ns, "absent", b"one", if_match=first.etag),
    ),
}
"""Each failing blob precondition: whether the key it addresses exists, and the call."""


@contract("ERR-030")
@pytest.mark.parametrize("case", sorted(BLOB_FAILURES))
def test_a_failed_blob_precondition_reports_the_current_state(
    sanctum_client: StorageClient, sanctum_namespace: str, case: str
) -> None:
    """A blob 412 on an existing key carries its current version and etag; on a missing key,
    neither: the same rule as records (REC-010), on every operation."""
    exists, call = BLOB_FAILURES[case]
    first = sanctum_client.blobs.put(sanctum_namespace, "k", b"one")
    current = sanctum_client.blobs.put(sanctum_namespace, "k", b"two")
    attempt = partial(call, sanctum_client, sanctum_namespace, first)
    _assert_current_state("ERR-030", case, attempt, current if exists else None)


@contract("REC-011")
@pytest.mark.parametrize("history", ["never-written", "deleted"])
def test_a_conditional_delete_of_a_missing_key_is_not_found(
    sanctum_client: StorageClient, sanctum_namespace: str, history: str
) -> None:
    """delete(if_match=...) of a missing key raises NotFoundError, not PreconditionFailedError."""
    records, ns = sanctum_client.records, sanctum_namespace
    etag = records.put(ns, "other", {"n": 1}).etag
    if history == "deleted":
        etag = records.put(ns, "gone", {"n": 1}).etag
        records.delete(ns, "gone")
    try:
        records.delete(ns, "gone", if_match=etag)
        outcome = "the delete succeeded"
    except NotFoundError as error:
        outcome = "" if (error.op, error.key) == ("record.delete", "gone") else f"{error}"
    except SanctumError as error:
        outcome = f"{type(error).__name__}: {error}"
    assert outcome == "", f"{explain('REC-011')} ({history}) {outcome}"


@contract("REC-012")
def test_a_fresh_key_starts_at_version_1(
    sanctum_client: StorageClient, sanctum_namespace: str
) -> None:
    """Keys never written start at 1, after other keys (longer, shorter, siblings) were deleted."""
    records, ns = sanctum_client.records, sanctum_namespace
    for key in ("ab", "abc", "b"):
        for n in range(3):
            records.put(ns, key, {"n": n})
        records.delete(ns, key)
    firsts = {
        key: records.put(ns, key, {"fresh": True}).version for key in ("a", "abcd", "c", "Ab")
    }
    assert firsts == dict.fromkeys(firsts, 1), (
        f"{explain('REC-012')} after keys 'ab', 'abc' and 'b' reached version 3 and were "
        f"deleted, the first writes of fresh keys returned versions {firsts}"
    )
