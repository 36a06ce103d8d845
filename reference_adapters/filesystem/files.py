"""The adapter's file primitives: every system call it makes goes through one ``Syscalls``
object, so tests count them exactly.

- ``Files.locked`` opens a directory and takes ``flock`` on it (exclusive for writers):
  the directory is the lock, so there are no lock files, and its descriptor is the one
  ``fsync`` flushes after a rename. ``flock`` locks belong to an open file description,
  so two threads of one process exclude each other as two processes do. A lock not
  granted within ``lock_timeout_ms`` raises ``EAGAIN`` (``BackendUnavailableError``).
- ``Files.replace`` writes a file atomically: a temporary ``.tmp-<random>`` in the same
  directory, ``fsync``, ``rename`` over the target, ``fsync`` of the directory. A reader
  sees the old file or the new one, never a mix; after the call returns, a crash keeps
  the new one.
- ``Files.ensure_dir`` creates missing directories under the root and ``fsync``s each
  parent, so a new namespace or stream survives a crash with its first write.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Final

READ: Final = os.O_RDONLY | os.O_CLOEXEC
DIRECTORY: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
NEW_FILE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
CHUNK: Final = 1 << 16
"""Bytes read per ``read`` call."""


class Syscalls:
    """The operating-system calls the adapter makes; tests wrap them to count."""

    def __init__(self) -> None:
        self.open = os.open
        self.close = os.close
        self.read = os.read
        self.pread = os.pread
        self.write = os.write
        self.pwrite = os.pwrite
        self.fsync = os.fsync
        self.fstat = os.fstat
        self.ftruncate = os.ftruncate
        self.rename = os.rename
        self.unlink = os.unlink
        self.mkdir = os.mkdir
        self.flock = fcntl.flock


class Files:
    """File operations under one root, with the adapter's lock timeout."""

    def __init__(self, root: str, lock_timeout_ms: float, syscalls: Syscalls) -> None:
        self.root = root
        self.lock_timeout_ms = lock_timeout_ms
        self.os = syscalls

    # --- directories and locks -------------------------------------------------------

    def ensure_dir(self, path: str) -> None:
        """Create ``path`` and its missing parents below the root, each made durable by an
        ``fsync`` of its parent."""
        missing: list[str] = []
        while path != self.root and not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        for directory in reversed(missing):
            try:
                self.os.mkdir(directory, 0o755)
            except FileExistsError:
                continue  # another writer made it
            self.sync_dir(os.path.dirname(directory))

    def sync_dir(self, path: str) -> None:
        """``fsync`` a directory: its entries (a rename, a new file) become durable."""
        fd = self.os.open(path, DIRECTORY)
        try:
            self.os.fsync(fd)
        finally:
            self.os.close(fd)

    @contextmanager
    def locked(self, path: str, *, exclusive: bool = True, create: bool = True) -> Iterator[int]:
        """The open directory ``path`` under its ``flock``, created first when ``create``.

        Yields the descriptor, for ``*at`` calls and the directory ``fsync``; closing it
        releases the lock.
        """
        try:
            fd = self.os.open(path, DIRECTORY)
        except FileNotFoundError:
            if not create:
                raise
            self.ensure_dir(path)
            fd = self.os.open(path, DIRECTORY)
        try:
            self._lock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield fd
        finally:
            self.os.close(fd)

    def _lock(self, fd: int, mode: int) -> None:
        """``flock`` ``fd``, polling with a growing pause until ``lock_timeout_ms``."""
        try:
            self.os.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        deadline = time.monotonic() + self.lock_timeout_ms / 1000.0
        pause = 0.0005
        while True:
            time.sleep(pause)
            try:
                self.os.flock(fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BlockingIOError(
                        errno.EAGAIN,
                        "a lock held by another writer was not released within"
                        f" lock_timeout_ms ({self.lock_timeout_ms:g})",
                    ) from None
                pause = min(pause * 2, 0.02)

    # --- whole files ------------------------------------------------------------------

    def read_all(self, fd: int) -> bytes:
        """Everything left to read from ``fd``."""
        parts: list[bytes] = []
        while True:
            part = self.os.read(fd, CHUNK)
            if not part:
                return b"".join(parts)
            parts.append(part)

    def read_file(self, path: str, dir_fd: int | None = None) -> bytes | None:
        """The content of ``path`` (relative to ``dir_fd`` when given), or ``None`` if absent."""
        try:
            fd = self.os.open(path, READ, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        try:
            return self.read_all(fd)
        finally:
            self.os.close(fd)

    def write_all(self, fd: int, data: bytes | memoryview) -> None:
        """Write every byte of ``data`` to ``fd``."""
        view = memoryview(data)
        while view:
            view = view[self.os.write(fd, view) :]

    def replace(self, dir_fd: int, name: str, data: bytes) -> None:
        """Make ``data`` the content of ``name`` in the directory ``dir_fd``, atomically and
        durably: write a temporary file, ``fsync`` it, rename it over ``name``, ``fsync``
        the directory."""
        temporary = f".tmp-{secrets.token_hex(8)}"
        fd = self.os.open(temporary, NEW_FILE, 0o644, dir_fd=dir_fd)
        try:
            self.write_all(fd, data)
            self.os.fsync(fd)
        except BaseException:
            self.os.close(fd)
            self._discard(temporary, dir_fd)
            raise
        self.os.close(fd)
        try:
            self.os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            self._discard(temporary, dir_fd)
            raise
        self.os.fsync(dir_fd)

    def _discard(self, name: str, dir_fd: int) -> None:
        with suppress(OSError):  # the error that made the write fail matters more
            self.os.unlink(name, dir_fd=dir_fd)
