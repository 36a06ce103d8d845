"""Record layer contracts (REC-*): versioned JSON objects with etag preconditions."""

from __future__ import annotations

import pytest

from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import PreconditionFailedError
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.types import Layer


@contract("REC-001")
def test_put_then_get_round_trips(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor
) -> None:
    """A record put then read returns an equal value, version and etag."""
    written = sanctum_client.records.put(sanctum_namespace, "order-1", {"total": 42})
    read = sanctum_client.records.get(sanctum_namespace, "order-1")
    stored = sanctum_backdoor.read_object(Layer.RECORD, sanctum_namespace, "order-1")
    assert (read.value, read.version, read.etag) == ({"total": 42}, 1, written.etag), (
        f"{explain('REC-001')} put returned {written}, read returned {read}"
    )
    assert stored is not None and stored.version == written.version, (
        f"{explain('REC-001')} the backend holds {stored} after the put"
    )


@contract("REC-003")
def test_stale_etag_upsert_is_refused(sanctum_client: StorageClient, sanctum_namespace: str) -> None:
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
    assert (current.value, current.version) == ({"n": 2}, 2), (
        f"{explain('REC-003')} the record changed to {current}"
    )
