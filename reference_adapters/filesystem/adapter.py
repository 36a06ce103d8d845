"""The ``filesystem`` adapter object, its backdoor, its fault injector and its factory."""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import BackendUnavailableError, ConfigError
from pytest_sanctum.kit.backend_faults import LOCKED, UNREACHABLE
from pytest_sanctum.types import Blob, Capabilities, Layer, StoredMessage
from reference_adapters.filesystem.errors import map_os_error
from reference_adapters.filesystem.files import DIRECTORY, Files, Syscalls
from reference_adapters.filesystem.names import decode_namespace, encode_name, encode_namespace
from reference_adapters.filesystem.options import FilesystemOptions, parse_options
from reference_adapters.filesystem.stores import (
    END,
    INDEX,
    LOG,
    STREAMS,
    FilesystemCheckpointStore,
    FilesystemStreamLog,
    FilesystemVersionedStore,
    State,
    parse_frame,
    parse_header,
)

CAPABILITIES: Final = Capabilities(
    blobs=True,
    records=True,
    streams=True,
    cache=False,
    read_after_write=True,
    conditional_writes=True,
    distributed_cache=False,
    idempotent_append=True,
    durable_checkpoints=True,
)
"""Everything but a cache: a cache in files would cost the read it saves (see
``docs/adapters.md``); deploy the adapter behind another adapter's cache."""

LOCKED_TIMEOUT_MS: Final = 200.0
"""The adapter's lock timeout while the fault injector holds every lock."""


class FilesystemBackdoor:
    """Reads the adapter's files directly, with plain ``open``, bypassing its stores."""

    def __init__(self, root: str) -> None:
        self._root = root

    def read_object(self, layer: Layer, namespace: str, key: str) -> Blob | None:
        """The live blob or record, or ``None``."""
        path = os.path.join(
            self._root, encode_namespace(namespace), Layer(layer).value, encode_name(key.encode())
        )
        try:
            with open(path, "rb") as file:
                content = file.read()
        except FileNotFoundError:
            return None
        header, length = parse_header(content)
        if not header.live or header.key != key:
            return None
        return Blob(key, content[length:], header.version, header.etag, header.content_type)

    def stream_messages(self, namespace: str, stream: str) -> list[StoredMessage]:
        """Every message the stream's index lists, in sequence order."""
        directory = os.path.join(
            self._root, encode_namespace(namespace), STREAMS, encode_name(stream.encode())
        )
        try:
            with open(os.path.join(directory, INDEX), "rb") as file:
                index = file.read()
            with open(os.path.join(directory, LOG), "rb") as file:
                log = file.read()
        except FileNotFoundError:
            return []
        messages: list[StoredMessage] = []
        start = 0
        for sequence, (end,) in enumerate(END.iter_unpack(index[: len(index) // 8 * 8]), 1):
            found = parse_frame(log[start:end], sequence)
            if found is None:
                break
            messages.append(StoredMessage(sequence, found[1]))
            start = end
        return messages

    def close(self) -> None:
        """Nothing to release: every probe opens and closes its files."""


class FilesystemFaultInjector:
    """Real faults of the filesystem backend, for the kit's error contracts (``ERR-006``).

    - ``locked``: another holder takes ``flock`` on every directory under the root (as
      another process would); the adapter's writes wait ``LOCKED_TIMEOUT_MS`` and fail,
      its reads go on (they take no lock).
    - ``unreachable``: the adapter's root is pointed below a regular file, as when the
      volume is unmounted and a file left in its place: every call fails with ``ENOTDIR``.

    ``timeout`` is not offered: a local filesystem call has no timeout to hit. Neither is
    ``serialization``: every conditional write runs under a lock, so none ever loses a
    conflict.
    """

    faults: Final = frozenset({LOCKED, UNREACHABLE})

    def __init__(self, files: Files) -> None:
        self._files = files

    @contextmanager
    def provoke(self, fault: str) -> Iterator[None]:
        """A context during which the adapter's backend suffers ``fault``."""
        if fault not in self.faults:
            raise ValueError(
                f"filesystem cannot provoke fault {fault!r}; it offers {sorted(self.faults)}"
            )
        files = self._files
        if fault == UNREACHABLE:
            root = files.root
            blocker = os.path.join(root, f".unreachable-{secrets.token_hex(4)}")
            with open(blocker, "wb"):
                pass
            files.root = os.path.join(blocker, "root")
            try:
                yield
            finally:
                files.root = root
                os.unlink(blocker)
            return
        held: list[int] = []
        timeout, files.lock_timeout_ms = files.lock_timeout_ms, LOCKED_TIMEOUT_MS
        try:
            for directory, _, _ in os.walk(files.root):
                fd = os.open(directory, DIRECTORY)
                held.append(fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            files.lock_timeout_ms = timeout
            for fd in held:
                os.close(fd)


class FilesystemAdapter:
    """A ``StorageAdapter`` on one directory: blobs, records, streams and checkpoints in files
    shared by every adapter (and process) on the same root."""

    __slots__ = ("_blobs", "_checkpoints", "_options", "_records", "_state", "_streams")

    def __init__(self, options: FilesystemOptions, syscalls: Syscalls | None = None) -> None:
        self._options = options
        files = Files(options.root, options.lock_timeout_ms, syscalls or Syscalls())
        try:
            os.makedirs(options.root, exist_ok=True)
        except FileExistsError:
            pass  # a file: refused below
        except OSError as error:
            raise map_os_error(error) from error
        if not os.path.isdir(options.root):
            raise ConfigError(
                f"filesystem option 'root' names a file, not a directory: {options.root!r}",
                field="options.root",
            )
        self._state = State(files)
        self._blobs = FilesystemVersionedStore(self._state, Layer.BLOB)
        self._records = FilesystemVersionedStore(self._state, Layer.RECORD)
        self._streams = FilesystemStreamLog(self._state)
        self._checkpoints = FilesystemCheckpointStore(self._state)

    @property
    def name(self) -> str:
        return "filesystem"

    @property
    def options(self) -> FilesystemOptions:
        """The validated options the adapter was opened with."""
        return self._options

    @property
    def files(self) -> Files:
        """The adapter's file primitives (``files.os`` is the system-call seam tests count)."""
        return self._state.files

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    @property
    def blobs(self) -> FilesystemVersionedStore:
        return self._blobs

    @property
    def records(self) -> FilesystemVersionedStore:
        return self._records

    @property
    def streams(self) -> FilesystemStreamLog:
        return self._streams

    @property
    def checkpoints(self) -> FilesystemCheckpointStore:
        return self._checkpoints

    @property
    def cache(self) -> None:
        return None

    def backdoor(self) -> FilesystemBackdoor:
        """A probe reading the files directly."""
        self._check_open()
        return FilesystemBackdoor(self._options.root)

    def fault_injector(self) -> FilesystemFaultInjector:
        """Provokes held locks and a vanished root on this adapter, for the kit's error
        contracts."""
        return FilesystemFaultInjector(self._state.files)

    def _check_open(self) -> None:
        if self._state.closed:
            raise BackendUnavailableError("the filesystem adapter is closed")

    def reset(self, namespace_prefix: str) -> None:
        """Remove the directories of namespaces starting with the prefix: each is renamed
        away (atomically, so no reader sees half of it), the root ``fsync``ed, then deleted."""
        self._check_open()
        root = self._state.files.root
        try:
            doomed: list[str] = []
            for name in os.listdir(root):
                namespace = None if name.startswith(".") else decode_namespace(name)
                if namespace is not None and namespace.startswith(namespace_prefix):
                    trash = os.path.join(root, f".trash-{secrets.token_hex(8)}")
                    os.rename(os.path.join(root, name), trash)
                    doomed.append(trash)
            if doomed:
                self._state.files.sync_dir(root)
            for trash in doomed:
                shutil.rmtree(trash)
        except OSError as error:
            raise map_os_error(error, namespace_prefix) from error

    def close(self) -> None:
        """Every store method then raises ``BackendUnavailableError``; the files stay."""
        self._state.closed = True

    def __repr__(self) -> str:
        state = "closed" if self._state.closed else "open"
        return f"FilesystemAdapter(root={self._options.root!r}, {state})"


def create_filesystem_adapter(options: Mapping[str, object], clock: Clock) -> FilesystemAdapter:
    """The ``filesystem`` adapter factory (the ``filesystem`` entry point).

    Options: ``root`` (required: the directory holding the data, created if missing),
    ``lock_timeout_ms`` (5000). Raises ``ConfigError(field="options.<name>")`` for a bad
    option or a root that is a file, and ``BackendUnavailableError`` when the root cannot
    be created. The clock is
    not used: the adapter keeps no time of its own (dedupe windows use the facade's).
    """
    del clock
    return FilesystemAdapter(parse_options(options))


# Processes that open the same root share the data, so the kit runs HIST-008.
create_filesystem_adapter.opens_across_processes = True  # type: ignore[attr-defined]
