"""The filesystem group of ``benchmarks.adapters``: the facade against raw file I/O.

Both sides do the same file work in the same temporary directory, fsyncs included (an
fsync is most of a durable write's cost, so leaving it out of either side would make the
ratio meaningless): a put takes ``flock`` on the directory, reads the current file's
header, writes a temporary file, fsyncs it, renames it over the old one and fsyncs the
directory; a strong get opens and reads one file, unpacks its header and decodes the
record (``records.get`` returns it decoded); an append writes a frame and an index entry,
each fsynced, and a group read and an ack each rewrite the group's checkpoint file the
same way as a put.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson

from benchmarks.run import NS, Subject, make_message, make_record

if TYPE_CHECKING:
    from benchmarks.adapters import Group

_END = struct.Struct(">Q")
_HEADER = struct.Struct(">4sBQIHH")
"""The adapter's object header: magic, live, version, key, etag and content-type sizes."""


def _replace(dir_fd: int, name: str, data: bytes) -> None:
    """Temporary file, fsync, rename, fsync of the directory: what a raw durable write does."""
    fd = os.open(".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=dir_fd)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
    os.rename(".tmp", name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    os.fsync(dir_fd)


def _read(path: str) -> bytes:
    """The whole file, read in the adapter's 64 KiB chunks (a larger buffer costs more to
    allocate than the read itself, and its cost varies with the allocator's state)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        content = os.read(fd, 1 << 16)
        while len(content) % (1 << 16) == 0 and content:
            more = os.read(fd, 1 << 16)
            if not more:
                break
            content += more
        return content
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def filesystem_group(scale: float) -> Iterator[Group | str]:
    """Targets F1-F3: put, strong get and a stream cycle, facade vs raw file I/O."""
    from benchmarks.adapters import Group, Target, _client

    folder = tempfile.mkdtemp(prefix="sanctum-bench-fs-")
    plain = _client("filesystem", {"root": os.path.join(folder, "root")}, cache=False)
    raw_dir = os.path.join(folder, "raw")
    os.makedirs(raw_dir)
    try:
        record = make_record()
        payload = orjson.dumps(record)
        value = make_message()
        message = orjson.dumps(value)
        plain.records.put(NS, "order", record)
        plain.blobs.put(NS, "order", payload)
        records = plain.adapters["main"].records
        header = _HEADER.pack(b"sfo1", 1, 1, 5, 3, 0xFFFF) + b"order" + b"1-0"
        with _locked(raw_dir) as fd:
            _replace(fd, "order", header + payload)
        index = os.open(os.path.join(raw_dir, "index"), os.O_RDWR | os.O_CREAT, 0o644)
        log = os.open(os.path.join(raw_dir, "log"), os.O_RDWR | os.O_CREAT, 0o644)
        ends = [0]
        order = os.path.join(raw_dir, "order")

        def raw_put() -> None:
            with _locked(raw_dir) as fd:
                _HEADER.unpack_from(_read(order))
                _replace(fd, "order", header + payload)

        def raw_get() -> object:
            content = _read(order)
            _, _, version, key, etag, _ = _HEADER.unpack_from(content)
            start = _HEADER.size + key
            return version, content[start : start + etag], orjson.loads(content[start + etag :])

        def raw_cycle() -> None:
            with _locked(raw_dir):  # append: frame, fsync, index entry, fsync
                os.pwrite(log, message, ends[-1])
                os.fsync(log)
                ends.append(ends[-1] + len(message))
                os.pwrite(index, _END.pack(ends[-1]), (len(ends) - 2) * 8)
                os.fsync(index)
            for _ in range(2):  # group read, then ack: load the checkpoint, save it
                with contextlib.suppress(FileNotFoundError):
                    _read(os.path.join(raw_dir, "group"))
                with _locked(raw_dir) as fd:
                    _replace(fd, "group", b'1\n{"cursor":1}')
            os.pread(index, 8, (len(ends) - 2) * 8)
            os.pread(log, len(message), ends[-2])

        streams = plain.streams

        def facade_cycle() -> None:
            streams.append(NS, "orders", value)
            (delivery,) = streams.read(NS, "orders", "billing", "w1", count=1)
            streams.ack(NS, "orders", "billing", [delivery.message_id])

        n = max(30, int(300 * scale))
        yield Group(
            "filesystem",
            [
                Subject(
                    "filesystem.put/facade",
                    "records.put (filesystem)",
                    lambda: plain.records.put(NS, "order", record),
                    n,
                ),
                Subject("filesystem.put/raw", "flock, read, temp+fsync+rename+fsync", raw_put, n),
                Subject(
                    "filesystem.get/facade",
                    "records.get strong, reads not cached (filesystem)",
                    lambda: plain.records.get(NS, "order"),
                    n,
                ),
                Subject("filesystem.get/raw", "open+read+close, header, orjson.loads", raw_get, n),
                Subject(
                    "filesystem.get/blob",
                    "blobs.get strong, reads not cached (filesystem)",
                    lambda: plain.blobs.get(NS, "order"),
                    n,
                ),
                Subject(
                    "filesystem.get/adapter",
                    "the adapter's records.get, no facade",
                    lambda: records.get(NS, "order"),
                    n,
                ),
                Subject("filesystem.cycle/facade", "append+read+ack (filesystem)", facade_cycle, n),
                Subject("filesystem.cycle/raw", "the same file work, raw os calls", raw_cycle, n),
            ],
            [
                Target(
                    "F1",
                    "filesystem put: facade vs the same file work",
                    "filesystem.put/facade",
                    "filesystem.put/raw",
                    1.5,
                ),
                Target(
                    "F2",
                    "filesystem strong get: facade vs open+read+decode",
                    "filesystem.get/facade",
                    "filesystem.get/raw",
                    2.0,
                ),
                Target(
                    "F3",
                    "filesystem append+read+ack: facade vs the same file work",
                    "filesystem.cycle/facade",
                    "filesystem.cycle/raw",
                    1.5,
                ),
            ],
            [
                "filesystem.get/blob:filesystem.get/raw:strong blob get (no decoding) vs raw get",
                "filesystem.get/adapter:filesystem.get/raw:the adapter's get vs raw get",
            ],
        )
        os.close(index)
        os.close(log)
    finally:
        plain.close()
        shutil.rmtree(folder, ignore_errors=True)
