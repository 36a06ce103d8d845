"""The adapter's stores: versioned objects, the stream log and consumer-group checkpoints.

Layout under the root (names encoded by ``names``)::

    <namespace>/blob/<key>              one file per key: a binary header, then the data
    <namespace>/record/<key>
    <namespace>/streams/<stream>/log    frames, appended
    <namespace>/streams/<stream>/index  the end offset of frame n at byte 8 * (n - 1)
    <namespace>/streams/<stream>/i-<idempotency key>   (sequence, first append time)
    <namespace>/streams/<stream>/g-<group>             revision line, then the checkpoint

Writers lock the directory they change (``Files.locked``): puts and deletes the layer's
directory, appends and checkpoint saves the stream's. Under the lock a put reads the
current header, checks the precondition and replaces the file atomically (``fsync`` of
file and directory), so of two conditional writers in any processes exactly one wins.
A delete replaces the file with a tombstone (the header with ``live`` false), so versions
continue after it. Readers take no lock: a rename is atomic, and an append writes and
``fsync``s its frame before the index entry that makes it visible.

An append counts the index entries under the stream lock, so sequences are gap-free
across processes. A crash can leave an index entry whose frame never reached the disk
(only after a power loss) or a frame without its entry; the next append drops the first
(its trailer does not carry its sequence) and overwrites the second. An idempotent append
first stores its key's file pointing at the sequence it is about to take, then the frame,
which carries the key too: a key file counts only when its frame exists and names the key,
so a crash between the two loses nothing and invents no duplicate.
"""

from __future__ import annotations

import os
import secrets
import struct
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final, NamedTuple, NoReturn

from pytest_sanctum.adapters.codec import checkpoint_from_json, checkpoint_to_json
from pytest_sanctum.errors import (
    AdapterError,
    BackendUnavailableError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.types import (
    AppendResult,
    Blob,
    BlobInfo,
    ETag,
    GroupCheckpoint,
    Layer,
    StoredMessage,
    Version,
    WriteResult,
)
from reference_adapters.filesystem.errors import map_os_error
from reference_adapters.filesystem.files import CHUNK, READ, Files
from reference_adapters.filesystem.names import (
    decode_name,
    encode_name,
    encode_namespace,
    key_file_name,
    utf8,
)

FRAME_HEADER: Final = struct.Struct(">QQHI")
"""sequence, payload length, idempotency-key length, CRC-32 of key and payload."""
FRAME_TRAILER: Final = struct.Struct(">Q")
"""The sequence again: an append finds the last durable frame by it."""
END: Final = struct.Struct(">Q")
"""One index entry: the end offset of a frame in the log."""
KEY_FILE: Final = struct.Struct(">Qd")
"""An idempotency key's file: the sequence it took and the time of its first append."""
STREAMS: Final = "streams"
LOG: Final = "log"
INDEX: Final = "index"
RDWR: Final = os.O_RDWR | os.O_CLOEXEC

_new = tuple.__new__
"""Builds a named tuple from a ready tuple, skipping its generated Python ``__new__``."""


class State:
    """What every store of one adapter shares: its files and whether it is closed."""

    __slots__ = ("closed", "files")

    def __init__(self, files: Files) -> None:
        self.files = files
        self.closed = False

    def namespace_dir(self, namespace: str) -> str:
        return f"{self.files.root}/{encode_namespace(namespace)}"

    def stream_dir(self, namespace: str, stream: str) -> str:
        name = encode_name(utf8(stream, namespace, "stream"))
        return f"{self.files.root}/{encode_namespace(namespace)}/{STREAMS}/{name}"

    def check_open(self, namespace: str, key: str) -> None:
        """Refuse calls on a closed adapter."""
        if self.closed:
            raise BackendUnavailableError(
                "the filesystem adapter is closed", namespace=namespace, key=key
            )

    @contextmanager
    def guard(self, namespace: str, key: str) -> Iterator[None]:
        """Refuse calls on a closed adapter; map every ``OSError`` to a canonical error.

        The reads (``get``, ``head``) do the same inline: a generator-based context
        manager costs about as much as the rest of their Python.
        """
        self.check_open(namespace, key)
        try:
            yield
        except (OSError, OverflowError) as error:
            raise map_os_error(error, namespace, key) from error


def check_limit(limit: int, namespace: str, key: str) -> None:
    if limit < 0:
        raise InvalidRequestError(
            f"limit must be >= 0, got {limit}", argument="limit", namespace=namespace, key=key
        )


# --- objects ---------------------------------------------------------------------------


OBJECT_HEADER: Final = struct.Struct(">4sBQIHH")
"""An object file's fixed header: magic, live, version, then the sizes of the key, the
etag and the content type (``NO_TYPE``: none), which follow it, then the data."""
MAGIC: Final = b"sfo1"
NO_TYPE: Final = 0xFFFF


class Header(NamedTuple):
    """An object file's header: its exact key, version, etag, content type and liveness.

    A named tuple: every read builds one, and ``parse_header`` makes it from a ready tuple.
    """

    key: str
    version: int
    etag: str
    content_type: str | None
    live: bool

    def encode(self) -> bytes:
        key, etag = self.key.encode(), self.etag.encode()
        kind = b"" if self.content_type is None else self.content_type.encode()
        if len(kind) >= NO_TYPE:
            raise InvalidRequestError(
                f"content type too long ({len(kind)} bytes)", argument="content_type"
            )
        sizes = (len(key), len(etag), NO_TYPE if self.content_type is None else len(kind))
        return OBJECT_HEADER.pack(MAGIC, self.live, self.version, *sizes) + key + etag + kind


def header_length(content: bytes) -> int:
    """The header's length, or the fixed part's when ``content`` is shorter than that."""
    if len(content) < OBJECT_HEADER.size:
        return OBJECT_HEADER.size
    key: int
    etag: int
    kind: int
    _, _, _, key, etag, kind = OBJECT_HEADER.unpack_from(content)
    return OBJECT_HEADER.size + key + etag + (0 if kind == NO_TYPE else kind)


def parse_header(content: bytes) -> tuple[Header, int]:
    """The header at the start of an object file's content, and its length.

    The fixed part is unpacked once: every read of an object parses one header.
    """
    if len(content) < OBJECT_HEADER.size:
        raise AdapterError("filesystem: an object file has no complete header")
    magic, live, version, key_size, etag_size, kind_size = OBJECT_HEADER.unpack_from(content)
    start = OBJECT_HEADER.size
    etag_start = start + key_size
    kind_start = etag_start + etag_size
    length = kind_start + (0 if kind_size == NO_TYPE else kind_size)
    if len(content) < length:
        raise AdapterError("filesystem: an object file has no complete header")
    if magic != MAGIC:
        raise AdapterError("filesystem: a file in a layer directory is not an object file")
    key = content[start:etag_start].decode()
    etag = content[etag_start:kind_start].decode()
    kind = None if kind_size == NO_TYPE else content[kind_start:length].decode()
    return _new(Header, (key, version, etag, kind, live != 0)), length


class FilesystemVersionedStore:
    """A ``VersionedStore``: one file per key, replaced atomically under the layer's lock."""

    __slots__ = ("_files", "_layer", "_state")

    def __init__(self, state: State, layer: Layer) -> None:
        self._state = state
        self._files = state.files
        self._layer = layer.value

    def _dir(self, namespace: str) -> str:
        return f"{self._state.files.root}/{encode_namespace(namespace)}/{self._layer}"

    def _read_header(
        self, fd: int, key: str, namespace: str, *, whole: bool
    ) -> tuple[Header, int, bytes]:
        """The header of the open object file, its length, and the rest of the content (all
        of it when ``whole``, else what the first read brought)."""
        content = self._files.os.read(fd, CHUNK)
        complete = len(content) < CHUNK  # files are replaced, never changed: a short read ends it
        while not complete and len(content) < header_length(content):
            more = self._files.os.read(fd, CHUNK)
            complete = len(more) < CHUNK
            content += more
        header, length = parse_header(content)
        if header.key != key:  # only two keys whose encodings share a SHA-256
            raise AdapterError(
                f"filesystem: the file for key {key!r} holds key {header.key!r}",
                namespace=namespace,
                key=key,
            )
        rest = content[length:]
        if whole and not complete:
            tail = self._files.read_all(fd)
            if tail:
                rest += tail
        return header, length, rest

    def _current(self, dir_fd: int, name: str, key: str, namespace: str) -> Header | None:
        """The key's header (live or tombstone) read under the lock, or ``None``."""
        try:
            fd = self._files.os.open(name, READ, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        try:
            return self._read_header(fd, key, namespace, whole=False)[0]
        finally:
            self._files.os.close(fd)

    def put(
        self,
        namespace: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        if_match: ETag | None = None,
        if_none_match: bool = False,
    ) -> WriteResult:
        """Store the next version; the precondition is checked under the layer's lock."""
        with self._state.guard(namespace, key):
            name = key_file_name(key, namespace)
            with self._files.locked(self._dir(namespace)) as dir_fd:
                current = self._current(dir_fd, name, key, namespace)
                live = current if current is not None and current.live else None
                if live is None:
                    if if_match is not None:
                        raise PreconditionFailedError(
                            "if_match given but the key does not exist",
                            namespace=namespace,
                            key=key,
                        )
                elif if_none_match or (if_match is not None and if_match != live.etag):
                    _refuse(live, if_match, namespace, key)
                version = (0 if current is None else current.version) + 1
                etag = f"{version:x}-{secrets.token_hex(8)}"
                header = Header(key, version, etag, content_type, True).encode()
                self._files.replace(dir_fd, name, header + bytes(data))
        return WriteResult(version, etag)

    def get(self, namespace: str, key: str) -> Blob:
        """The current version, read without a lock, or ``NotFoundError``."""
        self._state.check_open(namespace, key)
        try:
            header, data, _ = self._open(namespace, key, whole=True)
        except (OSError, OverflowError) as error:
            raise map_os_error(error, namespace, key) from error
        return Blob(key, data, header.version, header.etag, header.content_type)

    def head(self, namespace: str, key: str) -> BlobInfo:
        """The current version's metadata (the size from ``fstat``), or ``NotFoundError``."""
        self._state.check_open(namespace, key)
        try:
            header, _, size = self._open(namespace, key, whole=False)
        except (OSError, OverflowError) as error:
            raise map_os_error(error, namespace, key) from error
        return BlobInfo(key, header.version, header.etag, size, header.content_type)

    def _open(self, namespace: str, key: str, *, whole: bool) -> tuple[Header, bytes, int]:
        """The live key's header, its data when ``whole``, and the data's size."""
        name = key_file_name(key, namespace)
        try:
            fd = self._files.os.open(f"{self._dir(namespace)}/{name}", READ)
        except FileNotFoundError:
            raise NotFoundError("no such key", namespace=namespace, key=key) from None
        try:
            header, length, rest = self._read_header(fd, key, namespace, whole=whole)
            if not header.live:
                raise NotFoundError("no such key", namespace=namespace, key=key)
            if whole:
                return header, rest, len(rest)
            return header, b"", self._files.os.fstat(fd).st_size - length
        finally:
            self._files.os.close(fd)

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> Version:
        """Replace the key's file by a tombstone keeping its version; return that version."""
        with self._state.guard(namespace, key):
            name = key_file_name(key, namespace)
            with self._files.locked(self._dir(namespace)) as dir_fd:
                current = self._current(dir_fd, name, key, namespace)
                if current is None or not current.live:
                    raise NotFoundError("no such key", namespace=namespace, key=key)
                if if_match is not None and if_match != current.etag:
                    _refuse(current, if_match, namespace, key)
                tombstone = Header(key, current.version, "", None, False).encode()
                self._files.replace(dir_fd, name, tombstone)
            return current.version

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        """Live keys with ``prefix`` above ``start_after``, sorted by code point.

        File names decode back to keys (a hashed one is read from its file), so only the
        files of the page and the tombstones among them are opened.
        """
        with self._state.guard(namespace, prefix):
            check_limit(limit, namespace, prefix)
            directory = self._dir(namespace)
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                return []
            keys: list[tuple[str, str]] = []
            for name in names:
                if name.startswith("."):
                    continue  # a temporary file
                key = decode_name(name)
                if key is None:  # hashed: the file knows its key
                    content = self._files.read_file(os.path.join(directory, name))
                    if content is None:
                        continue
                    key = parse_header(content)[0].key
                if key.startswith(prefix) and (start_after is None or key > start_after):
                    keys.append((key, name))
            keys.sort()
            page: list[BlobInfo] = []
            for key, _ in keys:
                if len(page) >= limit:
                    break
                try:
                    header, _, size = self._open(namespace, key, whole=False)
                except NotFoundError:
                    continue  # a tombstone, or deleted since the listing
                page.append(BlobInfo(key, header.version, header.etag, size, header.content_type))
            return page


def _refuse(current: Header, if_match: ETag | None, namespace: str, key: str) -> NoReturn:
    reason = (
        "if_none_match given but the key exists"
        if if_match is None
        else f"if_match {if_match!r} does not match the current etag"
    )
    raise PreconditionFailedError(
        reason,
        current_etag=current.etag,
        current_version=current.version,
        namespace=namespace,
        key=key,
    )


# --- streams ---------------------------------------------------------------------------


def frame(sequence: int, key: bytes, payload: bytes) -> bytes:
    """One message as the log stores it."""
    crc = zlib.crc32(payload, zlib.crc32(key))
    return b"".join(
        (
            FRAME_HEADER.pack(sequence, len(payload), len(key), crc),
            key,
            payload,
            FRAME_TRAILER.pack(sequence),
        )
    )


def parse_frame(data: bytes | memoryview, sequence: int) -> tuple[bytes, bytes] | None:
    """(idempotency key, payload) of a frame that is complete and carries ``sequence``."""
    if len(data) < FRAME_HEADER.size + FRAME_TRAILER.size:
        return None
    seq, size, key_size, crc = FRAME_HEADER.unpack_from(data)
    start = FRAME_HEADER.size
    end = start + key_size + size
    if seq != sequence or end + FRAME_TRAILER.size != len(data):
        return None
    key, payload = bytes(data[start : start + key_size]), bytes(data[start + key_size : end])
    if FRAME_TRAILER.unpack_from(data, end)[0] != sequence:
        return None
    if zlib.crc32(payload, zlib.crc32(key)) != crc:
        return None
    return key, payload


class FilesystemStreamLog:
    """A ``BatchStreamLog``: an append-only log file and its index per stream."""

    __slots__ = ("_files", "_state")

    def __init__(self, state: State) -> None:
        self._state = state
        self._files = state.files

    def append(
        self,
        namespace: str,
        stream: str,
        payload: bytes,
        *,
        idempotency_key: str | None = None,
        dedupe_window_ms: float = 0.0,
        now_ms: float = 0.0,
    ) -> AppendResult:
        """Append under the stream's lock: the frame, ``fsync``, the index entry, ``fsync``.

        With an idempotency key seen within the window (from its first append), return the
        original message instead.
        """
        with self._state.guard(namespace, stream):
            directory = self._state.stream_dir(namespace, stream)
            key = b"" if idempotency_key is None else utf8(idempotency_key, namespace, "key")
            sys = self._files.os
            with self._files.locked(directory) as dir_fd:
                index, log, created = self._open_log(dir_fd)
                try:
                    count, end = self._tail(index, log)
                    if idempotency_key is not None:
                        key_file = "i-" + encode_name(key)
                        seen = self._remembered(dir_fd, key_file, key, index, log, count)
                        if seen is not None and now_ms - seen[1] < dedupe_window_ms:
                            return AppendResult(str(seen[0]), seen[0], duplicate=True)
                        self._files.replace(dir_fd, key_file, KEY_FILE.pack(count + 1, now_ms))
                    sequence = count + 1
                    data = frame(sequence, key, bytes(payload))
                    _pwrite_all(self._files, log, data, end)
                    sys.fsync(log)
                    sys.pwrite(index, END.pack(end + len(data)), count * END.size)
                    sys.fsync(index)
                    if created:
                        sys.fsync(dir_fd)
                finally:
                    sys.close(log)
                    sys.close(index)
        return AppendResult(str(sequence), sequence, False)

    def _open_log(self, dir_fd: int) -> tuple[int, int, bool]:
        """The stream's index and log, open for writing; created (and then reported) when
        the stream has none yet."""
        sys = self._files.os
        try:
            index = sys.open(INDEX, RDWR, dir_fd=dir_fd)
            created = False
        except FileNotFoundError:
            index = sys.open(INDEX, RDWR | os.O_CREAT, 0o644, dir_fd=dir_fd)
            created = True
        try:
            log = sys.open(LOG, RDWR | os.O_CREAT, 0o644, dir_fd=dir_fd)
        except BaseException:
            sys.close(index)
            raise
        return index, log, created

    def _tail(self, index: int, log: int) -> tuple[int, int]:
        """(messages, end of the last frame), after dropping index entries whose frame is
        not in the log (a power loss between the two writes)."""
        sys = self._files.os
        size = sys.fstat(index).st_size
        log_size = sys.fstat(log).st_size
        count = size // END.size
        end = 0
        while count:
            end = END.unpack(sys.pread(index, END.size, (count - 1) * END.size))[0]
            if FRAME_TRAILER.size <= end <= log_size:
                trailer = sys.pread(log, FRAME_TRAILER.size, end - FRAME_TRAILER.size)
                if len(trailer) == FRAME_TRAILER.size and FRAME_TRAILER.unpack(trailer)[0] == count:
                    break
            count -= 1
            end = 0
        if count * END.size != size:
            sys.ftruncate(index, count * END.size)
        return count, end

    def _remembered(
        self, dir_fd: int, key_file: str, key: bytes, index: int, log: int, count: int
    ) -> tuple[int, float] | None:
        """(sequence, first append time) of an idempotency key whose message is stored."""
        content = self._files.read_file(key_file, dir_fd)
        if content is None or len(content) != KEY_FILE.size:
            return None
        sequence, first_ms = KEY_FILE.unpack(content)
        if not 1 <= sequence <= count:
            return None  # the append that wrote the key file never finished
        found = self._frame(index, log, sequence)
        if found is None or found[0] != key:
            return None
        return sequence, first_ms

    def _frame(self, index: int, log: int, sequence: int) -> tuple[bytes, bytes] | None:
        """(idempotency key, payload) of message ``sequence`` (at most the index's count)."""
        ends = _ends(self._files, index, sequence - 1, sequence, self._files.os.fstat(log).st_size)
        if len(ends) < 2:
            return None
        return parse_frame(_pread_all(self._files, log, ends[1] - ends[0], ends[0]), sequence)

    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages after ``after``: one index read and one log read."""
        with self._state.guard(namespace, stream):
            check_limit(limit, namespace, stream)
            directory = self._state.stream_dir(namespace, stream)
            opened = self._open_for_reading(directory)
            if opened is None:
                return []
            index, log, count = opened
            try:
                first = max(after, 0) + 1
                last = min(count, first + limit - 1)
                if first > last:
                    return []
                ends = _ends(self._files, index, first - 1, last, self._files.os.fstat(log).st_size)
                if len(ends) < last - first + 2:  # an entry past the log's durable frames
                    _torn(first + len(ends) - 1, count, namespace, stream)
                base = ends[0]
                data = memoryview(_pread_all(self._files, log, ends[-1] - base, base))
                messages: list[StoredMessage] = []
                for offset in range(len(ends) - 1):
                    sequence = first + offset
                    start, stop = ends[offset] - base, ends[offset + 1] - base
                    found = parse_frame(data[start:stop], sequence)
                    if found is None:
                        _torn(sequence, count, namespace, stream)
                        break
                    messages.append(StoredMessage(sequence, found[1]))
                return messages
            finally:
                self._files.os.close(log)
                self._files.os.close(index)

    def read_sequences(
        self, namespace: str, stream: str, sequences: Sequence[int]
    ) -> list[StoredMessage]:
        """The stored messages among ``sequences``, in the order given."""
        with self._state.guard(namespace, stream):
            directory = self._state.stream_dir(namespace, stream)
            opened = self._open_for_reading(directory) if sequences else None
            if opened is None:
                return []
            index, log, count = opened
            try:
                messages: list[StoredMessage] = []
                for sequence in sequences:
                    if 1 <= sequence <= count:
                        found = self._frame(index, log, sequence)
                        if found is None:
                            _torn(sequence, count, namespace, stream)
                            continue
                        messages.append(StoredMessage(sequence, found[1]))
                return messages
            finally:
                self._files.os.close(log)
                self._files.os.close(index)

    def _open_for_reading(self, directory: str) -> tuple[int, int, int] | None:
        """(index, log, messages) of a stream, or ``None`` for a stream never appended to."""
        sys = self._files.os
        try:
            index = sys.open(os.path.join(directory, INDEX), READ)
        except FileNotFoundError:
            return None
        try:
            log = sys.open(os.path.join(directory, LOG), READ)
        except BaseException:
            sys.close(index)
            raise
        return index, log, sys.fstat(index).st_size // END.size


def _torn(sequence: int, count: int, namespace: str, stream: str) -> None:
    """A frame that does not check out: the last one may be an unacknowledged append lost to a
    power failure (the next append drops it); any other is corruption."""
    if sequence != count:
        raise AdapterError(
            f"filesystem: message {sequence} of the stream's log is corrupt",
            namespace=namespace,
            key=stream,
        )


def _ends(files: Files, index: int, low: int, high: int, log_size: int) -> list[int]:
    """The end offsets of frames ``low`` to ``high`` (frame 0 ends at 0), cut before the
    first that does not grow or lies past the log's end: a power loss left that entry
    without its frame."""
    first = max(low, 1)
    raw = _pread_all(files, index, (high - first + 1) * END.size, (first - 1) * END.size)
    ends = [0] if low == 0 else []
    for (end,) in END.iter_unpack(raw[: len(raw) - len(raw) % END.size]):
        if end > log_size or (ends and end <= ends[-1]):
            break
        ends.append(end)
    return ends


def _pread_all(files: Files, fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset``, or fewer at the end of the file."""
    parts: list[bytes] = []
    while size > 0:
        part = files.os.pread(fd, min(size, 1 << 30), offset)
        if not part:
            break
        parts.append(part)
        size -= len(part)
        offset += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _pwrite_all(files: Files, fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = files.os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


# --- consumer groups ---------------------------------------------------------------------


class FilesystemCheckpointStore:
    """A ``CheckpointStore``: one file per group, saved with compare-and-set on its revision
    under the stream's lock."""

    __slots__ = ("_files", "_state")

    def __init__(self, state: State) -> None:
        self._state = state
        self._files = state.files

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        """The saved checkpoint, read without a lock, or ``GroupCheckpoint()``."""
        with self._state.guard(namespace, stream):
            name = "g-" + encode_name(utf8(group, namespace, "group"))
            path = os.path.join(self._state.stream_dir(namespace, stream), name)
            content = self._files.read_file(path)
            return GroupCheckpoint() if content is None else _checkpoint(content)

    def save(
        self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint
    ) -> GroupCheckpoint:
        """Store ``checkpoint`` with ``revision + 1`` if the stored revision still equals it."""
        with self._state.guard(namespace, stream):
            name = "g-" + encode_name(utf8(group, namespace, "group"))
            with self._files.locked(self._state.stream_dir(namespace, stream)) as dir_fd:
                content = self._files.read_file(name, dir_fd)
                stored = 0 if content is None else _checkpoint(content).revision
                if stored != checkpoint.revision:
                    raise ConflictError(
                        f"group {group!r}: checkpoint revision {checkpoint.revision} is stale"
                        f" (stored revision {stored})",
                        namespace=namespace,
                        key=stream,
                    )
                saved = checkpoint.saved()
                text = f"{saved.revision}\n{checkpoint_to_json(checkpoint)}"
                self._files.replace(dir_fd, name, text.encode())
            return saved


def _checkpoint(content: bytes) -> GroupCheckpoint:
    revision, _, body = content.partition(b"\n")
    return checkpoint_from_json(body, int(revision))
