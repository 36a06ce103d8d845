"""Access control: per-namespace, per-principal operation grants, and their log events."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from facade_helpers import NS, MakeClient

from pytest_sanctum.acl import OPERATIONS, AccessPolicy
from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import (
    AccessDeniedError,
    CacheMissError,
    InvalidRequestError,
    NotFoundError,
)
from pytest_sanctum.observability import (
    EVENT_ACL_DECISION,
    EVENT_FIELDS,
    capture_logs,
    correlation_scope,
)

ACL: dict[str, Any] = {
    "acl": {
        "orders": {"alice": ["record.*"], "*": ["record.get"]},
        "*": {"admin": ["*"], "*": ["blob.get"]},
    }
}

CALLS: dict[str, Callable[[StorageClient, str], object]] = {
    "blob.put": lambda c, ns: c.blobs.put(ns, "k", b"x"),
    "blob.get": lambda c, ns: c.blobs.get(ns, "k"),
    "blob.head": lambda c, ns: c.blobs.head(ns, "k"),
    "blob.delete": lambda c, ns: c.blobs.delete(ns, "k"),
    "blob.list": lambda c, ns: c.blobs.list(ns),
    "record.put": lambda c, ns: c.records.put(ns, "k", {"v": 1}),
    "record.get": lambda c, ns: c.records.get(ns, "k"),
    "record.delete": lambda c, ns: c.records.delete(ns, "k"),
    "stream.append": lambda c, ns: c.streams.append(ns, "s", 1),
    "stream.read": lambda c, ns: c.streams.read(ns, "s", "g", "c"),
    "stream.ack": lambda c, ns: c.streams.ack(ns, "s", "g", ["1"]),
    "cache.get": lambda c, ns: c.cache.get(ns, "k"),
    "cache.set": lambda c, ns: c.cache.set(ns, "k", b"x"),
    "cache.delete": lambda c, ns: c.cache.delete(ns, "k"),
}


def test_every_operation_has_a_call() -> None:
    assert set(CALLS) == set(OPERATIONS)


def test_without_an_acl_everything_is_allowed_and_nothing_logged(make_client: MakeClient) -> None:
    client = make_client(principal="anyone")
    with capture_logs() as logs:
        for call in CALLS.values():
            with contextlib.suppress(NotFoundError, CacheMissError):
                call(client, NS)
    assert logs.of(EVENT_ACL_DECISION) == []


@pytest.mark.parametrize(
    ("namespace", "op"),
    [("orders", op) for op in OPERATIONS if op != "record.get"]
    + [("inventory", op) for op in OPERATIONS if op != "blob.get"],
)
def test_an_operation_not_granted_is_denied(
    make_client: MakeClient, namespace: str, op: str
) -> None:
    client = make_client(ACL, principal="mallory")
    with pytest.raises(AccessDeniedError) as info:
        CALLS[op](client, namespace)
    assert info.value.principal == "mallory"
    assert (info.value.op, info.value.namespace) == (op, namespace)
    assert info.value.code == "access_denied"


def test_a_denied_write_stores_nothing(make_client: MakeClient) -> None:
    admin = make_client(ACL, principal="alice")
    bob = admin.as_principal("bob")
    with pytest.raises(AccessDeniedError):
        bob.records.put("orders", "k", {"v": 1})
    with pytest.raises(NotFoundError):
        admin.records.get("orders", "k")


def test_grants_by_principal_and_by_star_principal(make_client: MakeClient) -> None:
    alice = make_client(ACL, principal="alice")
    alice.records.put("orders", "k", {"v": 1})
    alice.records.delete("orders", "k")
    alice.records.put("orders", "k", {"v": 2})

    bob = alice.as_principal("bob")
    assert bob.principal == "bob"
    assert bob.records.get("orders", "k").value == {"v": 2}  # the "*" principal's grant
    with pytest.raises(AccessDeniedError):
        bob.records.delete("orders", "k")
    with pytest.raises(AccessDeniedError):
        alice.blobs.put("orders", "k", b"x")


def test_an_exact_namespace_entry_replaces_the_star_namespace_entry(
    make_client: MakeClient,
) -> None:
    admin = make_client(ACL, principal="admin")
    admin.blobs.put("inventory", "k", b"x")  # "*" namespace: admin may do anything
    admin.streams.append("inventory", "s", 1)
    assert admin.as_principal("bob").blobs.get("inventory", "k").data == b"x"
    with pytest.raises(AccessDeniedError):
        admin.as_principal("bob").blobs.put("inventory", "k", b"y")
    with pytest.raises(AccessDeniedError):
        admin.records.put("orders", "k", {})  # "orders" has its own entry without admin


def test_as_principal_shares_the_adapters_and_checks_the_name(make_client: MakeClient) -> None:
    client = make_client(ACL, principal="admin")
    view = client.as_principal("alice")
    assert view.adapters is client.adapters
    assert view.node_id == client.node_id
    for bad in ["", "a\nb", 5, None]:
        with pytest.raises(InvalidRequestError) as info:
            client.as_principal(bad)  # type: ignore[arg-type]
        assert info.value.argument == "principal"


def test_decisions_are_logged_allow_at_debug_and_deny_at_warning(make_client: MakeClient) -> None:
    client = make_client(ACL, principal="alice")
    with capture_logs() as logs, correlation_scope("req-acl"):
        client.records.put("orders", "k", {"v": 1})
        with pytest.raises(AccessDeniedError):
            client.as_principal("bob").records.put("orders", "k", {"v": 2})

    allow, deny = logs.of(EVENT_ACL_DECISION)
    fields = {"event", "level", *EVENT_FIELDS[EVENT_ACL_DECISION]}
    assert set(allow) == set(deny) == fields
    assert allow == {
        "event": EVENT_ACL_DECISION,
        "level": "DEBUG",
        "op": "record.put",
        "namespace": "orders",
        "principal": "alice",
        "decision": "allow",
        "correlation_id": "req-acl",
    }
    assert deny == {**allow, "level": "WARNING", "principal": "bob", "decision": "deny"}


def test_allow_events_can_be_turned_off(make_client: MakeClient) -> None:
    client = make_client({**ACL, "observability": {"log_acl_allows": False}}, principal="alice")
    with capture_logs() as logs:
        client.records.put("orders", "k", {"v": 1})
        with pytest.raises(AccessDeniedError):
            client.blobs.put("orders", "k", b"x")
    assert [e["decision"] for e in logs.of(EVENT_ACL_DECISION)] == ["deny"]


def test_the_policy_caches_grants_per_namespace_and_principal() -> None:
    policy = AccessPolicy({"ns": {"p": ["blob.get", "record.*"]}})
    first = policy.granted("ns", "p")
    assert first == {"blob.get", "record.put", "record.get", "record.delete"}
    assert policy.granted("ns", "p") is first
    assert policy.granted("ns", "q") == frozenset()
    assert policy.granted("other", "p") == frozenset()
    assert not AccessPolicy({}).enabled
