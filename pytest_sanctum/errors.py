"""The canonical error hierarchy: every failure the facade reports is a ``SanctumError``.

Each class has a stable ``code`` (part of the public API, used in metrics labels and
logs) and a ``retryable`` flag. ``docs/errors.md`` lists what backend errors map to each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class SanctumError(Exception):
    """Base class of all pytest-sanctum errors.

    ``op``, ``namespace``, ``key`` and ``correlation_id`` say where it happened; the
    facade fills in whatever the raiser left empty.
    """

    code: ClassVar[str] = "sanctum_error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        op: str | None = None,
        namespace: str | None = None,
        key: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.op = op
        self.namespace = namespace
        self.key = key
        self.correlation_id = correlation_id

    def context(self) -> Mapping[str, object]:
        """The error as a flat mapping for structured logs and reports."""
        fields: dict[str, object] = {
            "code": self.code,
            "retryable": self.retryable,
            "message": self.message,
            "op": self.op,
            "namespace": self.namespace,
            "key": self.key,
            "correlation_id": self.correlation_id,
        }
        fields.update(self._extra())
        return fields

    def _extra(self) -> Mapping[str, object]:
        return {}

    def __str__(self) -> str:
        where = ", ".join(
            f"{name}={value}"
            for name, value in (
                ("op", self.op),
                ("namespace", self.namespace),
                ("key", self.key),
                ("correlation_id", self.correlation_id),
            )
            if value is not None
        )
        return f"[{self.code}] {self.message}" + (f" ({where})" if where else "")


class NotFoundError(SanctumError):
    """The key, stream or blob does not exist (HTTP 404)."""

    code = "not_found"


class PreconditionFailedError(SanctumError):
    """An ``if_match`` / ``if_none_match`` condition did not hold (HTTP 412).

    Carries the key's current etag and version (for a conditional read, those of the value
    read); both ``None`` when the key does not exist. An adapter whose backend does not
    report them looks them up (contracts ``REC-010`` and ``ERR-030``).
    """

    code = "precondition_failed"

    def __init__(
        self,
        message: str,
        *,
        current_etag: str | None = None,
        current_version: int | None = None,
        **where: str | None,
    ) -> None:
        super().__init__(message, **where)
        self.current_etag = current_etag
        self.current_version = current_version

    def _extra(self) -> Mapping[str, object]:
        return {"current_etag": self.current_etag, "current_version": self.current_version}


class ConflictError(SanctumError):
    """A concurrent conditional write collided (S3 409 ConditionalRequestConflict); retry after re-reading."""

    code = "conflict"
    retryable = True


class ConsistencyError(SanctumError):
    """A strong read could not observe this client's latest write within the window.

    Retry after ``retry_after_ms`` (already jittered).
    """

    code = "consistency_error"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after_ms: float,
        expected_version: int | None = None,
        observed_version: int | None = None,
        **where: str | None,
    ) -> None:
        super().__init__(message, **where)
        self.retry_after_ms = retry_after_ms
        self.expected_version = expected_version
        self.observed_version = observed_version

    def _extra(self) -> Mapping[str, object]:
        return {
            "retry_after_ms": self.retry_after_ms,
            "expected_version": self.expected_version,
            "observed_version": self.observed_version,
        }


class AccessDeniedError(SanctumError):
    """The principal is not granted this operation on this namespace (HTTP 403)."""

    code = "access_denied"

    def __init__(self, message: str, *, principal: str | None = None, **where: str | None) -> None:
        super().__init__(message, **where)
        self.principal = principal

    def _extra(self) -> Mapping[str, object]:
        return {"principal": self.principal}


class ConfigError(SanctumError):
    """The configuration is invalid; ``field`` names the offending field (dotted path)."""

    code = "config_error"

    def __init__(self, message: str, *, field: str | None = None, **where: str | None) -> None:
        super().__init__(message, **where)
        self.field = field

    def _extra(self) -> Mapping[str, object]:
        return {"field": self.field}


class InvalidRequestError(SanctumError):
    """A bad argument: key, payload, option or unknown namespace (HTTP 400). Nothing was stored."""

    code = "invalid_request"

    def __init__(self, message: str, *, argument: str | None = None, **where: str | None) -> None:
        super().__init__(message, **where)
        self.argument = argument

    def _extra(self) -> Mapping[str, object]:
        return {"argument": self.argument}


class BackendUnavailableError(SanctumError):
    """The backend could not be reached or timed out (HTTP 503, connection errors).

    For a write the outcome is unknown: it may or may not have been applied.
    """

    code = "backend_unavailable"
    retryable = True


class AdapterError(SanctumError):
    """The adapter raised something it did not map to a canonical error (an adapter bug)."""

    code = "adapter_error"


class UnsupportedOperationError(SanctumError):
    """The adapter behind this namespace lacks the capability the operation needs."""

    code = "unsupported_operation"

    def __init__(self, message: str, *, capability: str | None = None, **where: str | None) -> None:
        super().__init__(message, **where)
        self.capability = capability

    def _extra(self) -> Mapping[str, object]:
        return {"capability": self.capability}


class CacheMissError(SanctumError):
    """A ``cache_only`` read found no usable cache entry; the backend was not asked."""

    code = "cache_miss"


ALL_ERRORS: tuple[type[SanctumError], ...] = (
    NotFoundError,
    PreconditionFailedError,
    ConflictError,
    ConsistencyError,
    AccessDeniedError,
    ConfigError,
    InvalidRequestError,
    BackendUnavailableError,
    AdapterError,
    UnsupportedOperationError,
    CacheMissError,
)
"""Every concrete error class, in documentation order."""
