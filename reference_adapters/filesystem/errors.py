"""Mapping ``OSError`` to the canonical errors, by ``errno``.

A full or read-only disk, an I/O error, a refused permission, a vanished mount or a lock
held too long leave the data as it was and may pass: ``BackendUnavailableError``
(retryable). A value the filesystem cannot hold is an ``InvalidRequestError``; anything
else is an ``AdapterError``. No ``OSError`` leaves the adapter.
"""

from __future__ import annotations

import errno
from typing import Final

from pytest_sanctum.errors import (
    AdapterError,
    BackendUnavailableError,
    InvalidRequestError,
    SanctumError,
)

UNAVAILABLE: Final = frozenset(
    {
        errno.ENOSPC,  # disk full
        errno.EDQUOT,  # quota exceeded
        errno.EIO,  # I/O error
        errno.EACCES,  # permission refused
        errno.EPERM,
        errno.EROFS,  # read-only filesystem
        errno.ENOTDIR,  # a directory on the path was replaced or unmounted
        errno.ENOENT,  # the root vanished under an operation that needs it
        errno.ESTALE,  # stale network file handle
        errno.EMFILE,  # too many open files (process)
        errno.ENFILE,  # too many open files (system)
        errno.ENOMEM,
        errno.EAGAIN,  # a lock not granted
        errno.EINTR,
        errno.EBUSY,
        errno.ENOLCK,
    }
)
"""Errors that leave the data intact and may pass with time or an operator's help."""

INVALID: Final = frozenset({errno.EFBIG, errno.ENAMETOOLONG, errno.EOVERFLOW})
"""A value too large for the filesystem, or a name it refuses."""


def map_os_error(
    error: BaseException, namespace: str | None = None, key: str | None = None
) -> SanctumError:
    """The canonical error of an ``OSError`` (or anything else) raised by an operation."""
    if isinstance(error, SanctumError):
        return error
    where = {"namespace": namespace, "key": key}
    if isinstance(error, OSError) and error.errno is not None:
        detail = f"{errno.errorcode.get(error.errno, error.errno)}: {error.strerror}"
        if error.errno in UNAVAILABLE:
            return BackendUnavailableError(f"filesystem unavailable: {detail}", **where)
        if error.errno in INVALID:
            return InvalidRequestError(f"the filesystem cannot store the value: {detail}", **where)
        return AdapterError(f"filesystem error: {detail}", **where)
    if isinstance(error, OverflowError):
        return InvalidRequestError(f"the filesystem cannot store the value: {error}", **where)
    return AdapterError(f"filesystem: unexpected {type(error).__name__}: {error}", **where)
