"""Access control contracts (ACL-*): denied operations change nothing; every decision is logged."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import AccessDeniedError
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.fixtures import ClientMaker
from pytest_sanctum.observability import (
    EVENT_ACL_DECISION,
    RecordingLogHandler,
    correlation_scope,
)
from pytest_sanctum.types import Layer

ACL = {"*": {"reader": ["record.get"], "admin": ["*"]}}
"""``reader`` may only read records, ``admin`` may do anything, ``writer`` nothing."""


def _decisions(logs: RecordingLogHandler, decision: str) -> list[tuple[object, ...]]:
    """(op, namespace, principal, correlation_id) of each logged ACL decision ``decision``."""
    return [
        (event["op"], event["namespace"], event["principal"], event["correlation_id"])
        for event in logs.of(EVENT_ACL_DECISION)
        if event["decision"] == decision
    ]


@contract("ACL-001")
@pytest.mark.parametrize("principal", ["writer", "reader"])
def test_denied_put_is_refused_stores_nothing_and_logs_deny(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
    sanctum_logs: RecordingLogHandler,
    principal: str,
) -> None:
    """A put the principal is not granted raises AccessDeniedError, stores nothing, logs deny."""
    client = sanctum_make_client(acl=ACL, principal=principal)
    with pytest.raises(AccessDeniedError) as raised:
        client.records.put(sanctum_namespace, "secret", {"n": 1})
    error = raised.value
    observed = (error.code, error.principal, error.op, error.namespace)
    assert observed == ("access_denied", principal, "record.put", sanctum_namespace), (
        f"{explain('ACL-001')} (code, principal, op, namespace) were {observed}"
    )
    stored = sanctum_backdoor.read_object(Layer.RECORD, sanctum_namespace, "secret")
    assert stored is None, f"{explain('ACL-001')} the denied put stored {stored}"
    expected = [("record.put", sanctum_namespace, principal, error.correlation_id)]
    assert _decisions(sanctum_logs, "deny") == expected, (
        f"{explain('ACL-001')} expected the deny decisions {expected}, "
        f"logged {sanctum_logs.of(EVENT_ACL_DECISION)}"
    )


ATTEMPTS: dict[str, Callable[[StorageClient, str], object]] = {
    "record.put": lambda client, ns: client.records.put(ns, "doc", {"owner": "intruder"}),
    "record.delete": lambda client, ns: client.records.delete(ns, "doc"),
    "record.get": lambda client, ns: client.records.get(ns, "doc"),
}


@contract("ACL-001")
@pytest.mark.parametrize(
    ("op", "principal"),
    [("record.put", "reader"), ("record.delete", "reader"), ("record.get", "writer")],
)
def test_denied_operation_leaves_an_existing_record_alone(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
    sanctum_logs: RecordingLogHandler,
    op: str,
    principal: str,
) -> None:
    """A denied put, delete or get of an existing record raises and leaves the record as it was."""
    admin = sanctum_make_client(acl=ACL, principal="admin")
    written = admin.records.put(sanctum_namespace, "doc", {"owner": "admin"})
    with pytest.raises(AccessDeniedError) as raised:
        ATTEMPTS[op](admin.as_principal(principal), sanctum_namespace)
    stored = sanctum_backdoor.read_object(Layer.RECORD, sanctum_namespace, "doc")
    assert stored is not None, f"{explain('ACL-001')} the denied {op} removed the record"
    assert (json.loads(stored.data), stored.version, stored.etag) == (
        {"owner": "admin"},
        1,
        written.etag,
    ), f"{explain('ACL-001')} after the denied {op} the backend holds {stored}"
    expected = [(op, sanctum_namespace, principal, raised.value.correlation_id)]
    assert _decisions(sanctum_logs, "deny") == expected, (
        f"{explain('ACL-001')} expected the deny decisions {expected}, "
        f"logged {sanctum_logs.of(EVENT_ACL_DECISION)}"
    )


@contract("ACL-002")
@pytest.mark.parametrize(
    "grants",
    [
        {"*": {"writer": ["record.put"]}},
        {"*": {"writer": ["record.*"]}},
        {"*": {"*": ["record.put"]}},
        {"*": {"writer": ["record.get"]}, "<namespace>": {"writer": ["*"]}},
    ],
    ids=["exact-op", "op-pattern", "any-principal", "namespace-entry"],
)
def test_granted_put_runs_and_logs_allow(
    sanctum_make_client: ClientMaker,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
    sanctum_logs: RecordingLogHandler,
    grants: dict[str, dict[str, list[str]]],
) -> None:
    """A granted put stores the record and logs an allow decision with its correlation id."""
    ns = sanctum_namespace
    acl = {ns if name == "<namespace>" else name: rules for name, rules in grants.items()}
    client = sanctum_make_client(acl=acl, principal="writer")
    with correlation_scope("acl-002-put") as cid:
        written = client.records.put(ns, "doc", {"owner": "writer"})
    stored = sanctum_backdoor.read_object(Layer.RECORD, ns, "doc")
    assert stored is not None, f"{explain('ACL-002')} the granted put stored nothing"
    assert (stored.version, stored.etag) == (1, written.etag), (
        f"{explain('ACL-002')} put returned {written}, the backend holds {stored}"
    )
    assert _decisions(sanctum_logs, "allow") == [("record.put", ns, "writer", cid)], (
        f"{explain('ACL-002')} logged the decisions {sanctum_logs.of(EVENT_ACL_DECISION)}"
    )


@contract("ACL-002")
def test_granted_read_runs_and_logs_allow(
    sanctum_make_client: ClientMaker, sanctum_namespace: str, sanctum_logs: RecordingLogHandler
) -> None:
    """A principal granted record.get reads the record, and the allow decision is logged."""
    admin = sanctum_make_client(acl=ACL, principal="admin")
    written = admin.records.put(sanctum_namespace, "doc", {"owner": "admin"})
    sanctum_logs.clear()
    with correlation_scope("acl-002-get") as cid:
        read = admin.as_principal("reader").records.get(sanctum_namespace, "doc")
    assert (read.value, read.version, read.etag) == ({"owner": "admin"}, 1, written.etag), (
        f"{explain('ACL-002')} the granted read returned {read}"
    )
    expected = [("record.get", sanctum_namespace, "reader", cid)]
    assert _decisions(sanctum_logs, "allow") == expected, (
        f"{explain('ACL-002')} expected the allow decisions {expected}, "
        f"logged {sanctum_logs.of(EVENT_ACL_DECISION)}"
    )
    assert _decisions(sanctum_logs, "deny") == [], (
        f"{explain('ACL-002')} a granted read logged a deny: {sanctum_logs.of(EVENT_ACL_DECISION)}"
    )
