"""The canonical error hierarchy: codes, retry flags, context and rendering."""

from __future__ import annotations

import pytest

from pytest_sanctum.errors import (
    ALL_ERRORS,
    AccessDeniedError,
    AdapterError,
    BackendUnavailableError,
    CacheMissError,
    ConfigError,
    ConflictError,
    ConsistencyError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
    UnsupportedOperationError,
)

EXPECTED = {
    NotFoundError: ("not_found", False),
    PreconditionFailedError: ("precondition_failed", False),
    ConflictError: ("conflict", True),
    ConsistencyError: ("consistency_error", True),
    AccessDeniedError: ("access_denied", False),
    ConfigError: ("config_error", False),
    InvalidRequestError: ("invalid_request", False),
    BackendUnavailableError: ("backend_unavailable", True),
    AdapterError: ("adapter_error", False),
    UnsupportedOperationError: ("unsupported_operation", False),
    CacheMissError: ("cache_miss", False),
}


def _make(cls: type[SanctumError]) -> SanctumError:
    if cls is ConsistencyError:
        return ConsistencyError("late", retry_after_ms=12.5, op="record.get")
    return cls("boom", op="record.get")


def test_every_error_is_listed_once_with_its_stable_code() -> None:
    assert set(ALL_ERRORS) == set(EXPECTED)
    assert len({cls.code for cls in ALL_ERRORS}) == len(ALL_ERRORS)


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_code_and_retry_flag(cls: type[SanctumError]) -> None:
    error = _make(cls)
    assert isinstance(error, SanctumError)
    assert (error.code, error.retryable) == EXPECTED[cls]


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_context_has_the_common_fields(cls: type[SanctumError]) -> None:
    context = _make(cls).context()
    assert context["code"] == cls.code
    assert context["retryable"] == cls.retryable
    assert context["op"] == "record.get"
    assert {"message", "namespace", "key", "correlation_id"} <= set(context)


@pytest.mark.parametrize(
    ("error", "extra"),
    [
        (
            PreconditionFailedError("stale", current_etag="e2", current_version=2),
            {"current_etag": "e2", "current_version": 2},
        ),
        (
            ConsistencyError("late", retry_after_ms=7.0, expected_version=3, observed_version=2),
            {"retry_after_ms": 7.0, "expected_version": 3, "observed_version": 2},
        ),
        (AccessDeniedError("no", principal="bob"), {"principal": "bob"}),
        (ConfigError("bad", field="cache.ttl_ms"), {"field": "cache.ttl_ms"}),
        (InvalidRequestError("bad", argument="key"), {"argument": "key"}),
        (UnsupportedOperationError("no", capability="streams"), {"capability": "streams"}),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, SanctumError) else "",
)
def test_context_carries_the_specific_fields(error: SanctumError, extra: dict[str, object]) -> None:
    context = error.context()
    assert {name: context[name] for name in extra} == extra


def test_str_shows_code_message_and_only_known_context() -> None:
    error = NotFoundError("missing", op="blob.get", namespace="ns", key="k", correlation_id="c1")
    assert str(error) == "[not_found] missing (op=blob.get, namespace=ns, key=k, correlation_id=c1)"
    assert str(NotFoundError("missing")) == "[not_found] missing"


def test_errors_are_raised_and_caught_as_exceptions() -> None:
    with pytest.raises(SanctumError) as raised:
        raise ConflictError("collided", namespace="ns")
    assert raised.value.namespace == "ns"
    assert raised.value.message == "collided"
