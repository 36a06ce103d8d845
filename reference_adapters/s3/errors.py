"""Mapping botocore errors to the canonical errors, by HTTP status and S3 error code.

The stores handle 404 and 412 themselves (they decide between ``NotFoundError`` and
``PreconditionFailedError`` and look up the current state); everything else reaches
``map_s3_error``, so no botocore exception ever leaves the adapter.
"""

from __future__ import annotations

from typing import Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
)

from pytest_sanctum.errors import (
    AdapterError,
    BackendUnavailableError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
)

UNAVAILABLE_CODES: Final = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
    }
)
"""Error codes S3 uses for throttling and its own failures: retrying later may succeed."""

UNAVAILABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})


def status_of(error: ClientError) -> tuple[int, str]:
    """The HTTP status and the S3 error code of a refused request."""
    response = error.response
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return status, str(response.get("Error", {}).get("Code", ""))


def map_s3_error(
    error: BaseException, namespace: str | None = None, key: str | None = None
) -> SanctumError:
    """The canonical error of a botocore error raised by an operation.

    Throttling, S3's 5xx and a connection that failed or timed out are
    ``BackendUnavailableError`` (retryable; a write's outcome is then unknown); 409
    (``ConditionalRequestConflict``: another conditional write to the key was in flight)
    is ``ConflictError``; 412 is ``PreconditionFailedError``; 404 ``NoSuchKey`` is
    ``NotFoundError``; a 400 (``KeyTooLongError``, ``InvalidArgument``, ``EntityTooLarge``)
    or a parameter botocore refuses is ``InvalidRequestError``; anything else (a bucket
    that vanished, a refused signature) is ``AdapterError``.
    """
    if isinstance(error, SanctumError):
        return error
    where: dict[str, str | None] = {"namespace": namespace, "key": key}
    if isinstance(error, ConnectionError | HTTPClientError):
        return BackendUnavailableError(f"s3 unreachable: {type(error).__name__}: {error}", **where)
    if isinstance(error, ParamValidationError):
        return InvalidRequestError(f"s3 refused a parameter: {error}", **where)
    if isinstance(error, NoCredentialsError):
        return AdapterError(f"s3: no credentials: {error}", **where)
    if isinstance(error, ClientError):
        status, code = status_of(error)
        detail = f"{code or 'error'} (HTTP {status}): {error}"
        if status in UNAVAILABLE_STATUSES or code in UNAVAILABLE_CODES:
            return BackendUnavailableError(f"s3 unavailable: {detail}", **where)
        if status == 409:
            return ConflictError(f"s3: a concurrent write won: {detail}", **where)
        if status == 412:
            return PreconditionFailedError(
                f"s3: precondition failed: {detail}", namespace=namespace, key=key
            )
        if status == 404 and code in ("NoSuchKey", "404", "NotFound"):
            return NotFoundError("no such key", **where)
        if status == 400:
            return InvalidRequestError(f"s3 refused the request: {detail}", **where)
        return AdapterError(f"s3 error: {detail}", **where)
    if isinstance(error, BotoCoreError):
        return AdapterError(f"s3: {type(error).__name__}: {error}", **where)
    return AdapterError(f"s3: unexpected {type(error).__name__}: {error}", **where)
