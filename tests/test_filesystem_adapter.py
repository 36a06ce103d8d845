"""Tests of the filesystem adapter: the kit certifies it on a fresh root, and unit tests
cover what the kit does not see (options, names that must not escape the root, system
calls per operation, error mapping, recovery from torn writes, races between processes,
durability across a SIGKILL)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from processes import kill_after_acks, run_children

from pytest_sanctum.adapters.base import (
    BatchStreamLog,
    CheckpointStore,
    StorageAdapter,
    StreamLog,
    VersionedStore,
)
from pytest_sanctum.client import create_storage_client
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.config import StorageConfigV1, parse_config
from pytest_sanctum.errors import (
    AdapterError,
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.kit.contracts import CATALOG
from pytest_sanctum.types import Blob, Capabilities, GroupCheckpoint, Layer, StoredMessage
from reference_adapters.filesystem import (
    CAPABILITIES,
    FilesystemAdapter,
    create_filesystem_adapter,
    map_os_error,
    names,
    stores,
)
from reference_adapters.filesystem.names import (
    MAX_PLAIN,
    decode_name,
    decode_namespace,
    encode_name,
    encode_namespace,
)
from reference_adapters.filesystem.stores import Header, parse_header

NS = "ns"
Open = Callable[..., FilesystemAdapter]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def open_adapter(root: Path, clock: VirtualClock) -> Iterator[Open]:
    """Opens adapters on the test's root (each call is another node)."""
    opened: list[FilesystemAdapter] = []

    def build(**options: Any) -> FilesystemAdapter:
        adapter = create_filesystem_adapter({"root": str(root), **options}, clock)
        opened.append(adapter)
        return adapter

    yield build
    for adapter in opened:
        adapter.close()


@pytest.fixture
def adapter(open_adapter: Open) -> FilesystemAdapter:
    return open_adapter()


def fs_config(root: Path) -> StorageConfigV1:
    """A facade configuration routing every namespace to the root."""
    return parse_config(
        {
            "schema_version": 1,
            "adapters": {"fs": {"kind": "filesystem", "options": {"root": str(root)}}},
            "namespaces": {"*": {"adapter": "fs"}},
            "streams": {"visibility_timeout_ms": 600000},
        }
    )


def every_file(root: Path) -> list[Path]:
    return [Path(d) / name for d, dirs, files in os.walk(root) for name in [*dirs, *files]]


# --- 1. the kit certifies it -----------------------------------------------------------


def test_the_kit_certifies_every_contract(pytester: pytest.Pytester, root: Path) -> None:
    """The whole suite on two xdist workers behind the reference cache, each worker on a
    directory of its own that the kit plugin creates and removes."""
    root.mkdir()
    (root / "keep").write_text("left alone")
    result = pytester.runpytest_subprocess(
        "--sanctum-adapter=filesystem",
        f"--sanctum-adapter-options={json.dumps({'root': str(root)})}",
        "--sanctum-reference-cache",
        "-p",
        "reference_adapters.filesystem.kit",
        "-n",
        "2",
        "--sanctum-report=report.json",
        "-p",
        "no:cacheprovider",
        "-q",
        timeout=600,
    )
    assert result.ret == 0, "\n".join(result.outlines[-40:])
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["adapter"] == "filesystem"
    assert report["environment_error"] is None
    assert report["capabilities"] == list(CAPABILITIES.names())
    results = {contract["id"]: contract["result"] for contract in report["contracts"]}
    # No cache of its own (CACHE-007 needs a shared one); every write runs under a lock,
    # so no serialisation conflict can be provoked (ERR-007).
    assert results == {
        **dict.fromkeys(CATALOG, "pass"),
        "CACHE-007": "unsupported",
        "ERR-007": "unsupported",
    }
    assert sorted(p.name for p in root.iterdir()) == ["keep"]  # the workers' roots are gone


# --- protocols, capabilities, registry, options ----------------------------------------


def test_adapter_and_stores_satisfy_the_protocols(adapter: FilesystemAdapter) -> None:
    assert isinstance(adapter, StorageAdapter)
    assert isinstance(adapter.blobs, VersionedStore)
    assert isinstance(adapter.records, VersionedStore)
    assert isinstance(adapter.streams, StreamLog)
    assert isinstance(adapter.streams, BatchStreamLog)
    assert isinstance(adapter.checkpoints, CheckpointStore)
    assert adapter.cache is None
    assert adapter.name == "filesystem"
    assert adapter.capabilities == Capabilities(
        blobs=True,
        records=True,
        streams=True,
        read_after_write=True,
        conditional_writes=True,
        idempotent_append=True,
        durable_checkpoints=True,
    )


def test_registered_as_the_filesystem_entry_point() -> None:
    (point,) = entry_points(group="pytest_sanctum.adapters", name="filesystem")
    assert point.load() is create_filesystem_adapter


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "options.root"),
        ({"root": ""}, "options.root"),
        ({"root": 5}, "options.root"),
        ({"root": "a\x00b"}, "options.root"),
        ({"root": "/tmp", "lock_timeout_ms": 0}, "options.lock_timeout_ms"),
        ({"root": "/tmp", "lock_timeout_ms": True}, "options.lock_timeout_ms"),
        ({"root": "/tmp", "lock_timeout_ms": float("nan")}, "options.lock_timeout_ms"),
        ({"root": "/tmp", "path": "/tmp"}, "options.path"),
    ],
)
def test_invalid_options(options: dict[str, object], field: str, clock: VirtualClock) -> None:
    with pytest.raises(ConfigError) as caught:
        create_filesystem_adapter(options, clock)
    assert caught.value.field == field


def test_a_root_that_cannot_be_a_directory_is_refused(tmp_path: Path, clock: VirtualClock) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError) as caught:
        create_filesystem_adapter({"root": str(tmp_path / "file")}, clock)
    assert caught.value.field == "options.root"
    with pytest.raises(BackendUnavailableError, match="ENOTDIR"):
        create_filesystem_adapter({"root": str(tmp_path / "file" / "below")}, clock)


# --- names -------------------------------------------------------------------------------

HOSTILE = [
    ".",
    "..",
    "...",
    "/",
    "../../outside",
    "a/../../b",
    "/etc/passwd",
    "\\..\\x",
    "A",
    "a",
    "Straße",
    "STRASSE",
    "\u00e9",  # NFC é
    "e\u0301",  # NFD é: a normalising filesystem must not merge it with the NFC form
    "%2e",
    "%2E",
    "~",
    "x~0",
    ".tmp-0000",
    "nul\x00inside",
    "x" * 1024,
    "x" * 1023 + "y",
    "\u00e9" * 512,
    "%" * 1024,
    "CON",
    "\U0001f600",
]


def test_hostile_names_stay_inside_the_root_and_never_collide(
    adapter: FilesystemAdapter, root: Path, tmp_path: Path
) -> None:
    for n, key in enumerate(HOSTILE):
        adapter.blobs.put(NS, key, b"%d" % n)
        adapter.streams.append(NS, key, b"%d" % n, idempotency_key=key, dedupe_window_ms=1e9)
        adapter.checkpoints.save(NS, "s", key, GroupCheckpoint(cursor=n))
    for n, key in enumerate(HOSTILE):
        assert adapter.blobs.get(NS, key).data == b"%d" % n
        assert adapter.streams.read(NS, key, after=0, limit=5) == [StoredMessage(1, b"%d" % n)]
        assert adapter.checkpoints.load(NS, "s", key).cursor == n
    assert [i.key for i in adapter.blobs.list(NS)] == sorted(HOSTILE)
    assert [i.key for i in adapter.blobs.list(NS, "x" * 1000)] == ["x" * 1024, "x" * 1023 + "y"]
    assert list(tmp_path.iterdir()) == [root]  # nothing written beside the root
    for path in every_file(root):
        assert path.resolve().is_relative_to(root.resolve())
        assert len(path.name.encode()) <= 255
        assert path.name.isascii()
        assert path.name == path.name.lower()
    for directory, dirs, files in os.walk(root):  # a case-folding filesystem merges nothing
        names = [*dirs, *files]
        assert len({name.casefold() for name in names}) == len(names), directory


def test_names_encode_injectively_and_decode_back() -> None:
    seen: dict[str, str] = {}
    for name in [*HOSTILE, "", "a" * MAX_PLAIN, "a" * (MAX_PLAIN + 1), "%" * 66, "%" * 67]:
        encoded = encode_name(name.encode())
        assert seen.setdefault(encoded, name) == name
        assert decode_name(encoded) in (name, None)
        assert (decode_name(encoded) is None) == ("~" in encoded)
        assert set(encoded) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-%~")
    long = encode_name(b"%" * 1024)
    assert "~" in long
    assert len(long) <= 120 + 65
    assert long.split("~")[0].endswith("%25")


@pytest.mark.parametrize("namespace", ["a", "A", "aB", "Ab", "a.b-c_d", "Z" * 128, "0" + "x" * 127])
def test_namespaces_encode_without_upper_case_and_decode_back(namespace: str) -> None:
    encoded = encode_namespace(namespace)
    assert encoded == encoded.lower()
    assert len(encoded) <= 255
    assert decode_namespace(encoded) == namespace


def test_names_that_are_not_namespaces_decode_to_none() -> None:
    assert decode_namespace("a~zz") is None
    assert decode_namespace("a~0") is None  # not how "a" encodes
    assert decode_namespace("kit-1") == "kit-1"
    with pytest.raises(InvalidRequestError):
        encode_namespace("../x")


def test_a_lone_surrogate_is_an_invalid_request(adapter: FilesystemAdapter) -> None:
    with pytest.raises(InvalidRequestError):
        adapter.blobs.put(NS, "surrogate\ud800", b"x")
    with pytest.raises(InvalidRequestError):
        adapter.streams.append(NS, "s\udfff", b"x")
    assert adapter.blobs.list(NS) == []


# --- objects -----------------------------------------------------------------------------


def test_delete_keeps_a_tombstone_so_versions_continue(
    adapter: FilesystemAdapter, root: Path
) -> None:
    adapter.blobs.put(NS, "k", b"a")
    adapter.blobs.put(NS, "k", b"b")
    assert adapter.blobs.delete(NS, "k") == 2
    (tombstone,) = (root / encode_namespace(NS) / "blob").iterdir()
    assert parse_header(tombstone.read_bytes()) == (Header("k", 2, "", None, False), 22)
    assert tombstone.stat().st_size == 22  # the header alone: no data
    with pytest.raises(NotFoundError):
        adapter.blobs.get(NS, "k")
    with pytest.raises(NotFoundError):
        adapter.blobs.head(NS, "k")
    with pytest.raises(NotFoundError):
        adapter.blobs.delete(NS, "k")
    assert adapter.blobs.list(NS) == []
    assert adapter.blobs.put(NS, "k", b"c").version == 3


def test_preconditions_carry_the_current_etag_and_version(adapter: FilesystemAdapter) -> None:
    first = adapter.records.put(NS, "k", b"{}")
    second = adapter.records.put(NS, "k", b'{"a":1}', if_match=first.etag)
    with pytest.raises(PreconditionFailedError) as stale:
        adapter.records.put(NS, "k", b"{}", if_match=first.etag)
    assert (stale.value.current_etag, stale.value.current_version) == (second.etag, 2)
    with pytest.raises(PreconditionFailedError) as exists:
        adapter.records.put(NS, "k", b"{}", if_none_match=True)
    assert (exists.value.current_etag, exists.value.current_version) == (second.etag, 2)
    with pytest.raises(PreconditionFailedError) as missing:
        adapter.records.put(NS, "absent", b"{}", if_match=first.etag)
    assert (missing.value.current_etag, missing.value.current_version) == (None, None)
    with pytest.raises(PreconditionFailedError):
        adapter.records.delete(NS, "k", if_match=first.etag)
    assert adapter.records.get(NS, "k").data == b'{"a":1}'
    assert adapter.records.head(NS, "k").size == 7


def test_etags_are_unique_per_write_even_after_a_reset(adapter: FilesystemAdapter) -> None:
    seen = {adapter.blobs.put(NS, "k", b"same").etag for _ in range(3)}
    adapter.reset(NS)
    seen |= {adapter.blobs.put(NS, "k", b"same").etag for _ in range(3)}
    assert len(seen) == 6


def test_list_orders_by_code_point_and_pages(adapter: FilesystemAdapter) -> None:
    keys = ["b", "a_c", "a%c", "aXc", "\u00e4", "\U0001f600", "Z", "a", "ab\uffff", "ab"]
    for key in keys:
        adapter.blobs.put(NS, key, b"x")
    adapter.blobs.put(NS, "gone", b"x")
    adapter.blobs.delete(NS, "gone")
    assert [i.key for i in adapter.blobs.list(NS)] == sorted(keys)
    assert [i.key for i in adapter.blobs.list(NS, "a%")] == ["a%c"]
    assert [i.key for i in adapter.blobs.list(NS, "a", start_after="a_c", limit=2)] == [
        "ab",
        "ab\uffff",
    ]
    assert adapter.blobs.list(NS, limit=0) == []
    assert len(adapter.blobs.list(NS, limit=2**70)) == len(keys)
    with pytest.raises(InvalidRequestError):
        adapter.blobs.list(NS, limit=-1)


def test_large_values_round_trip(adapter: FilesystemAdapter) -> None:
    data = os.urandom(3 * 65536 + 17)
    adapter.blobs.put(NS, "big", data, content_type="application/octet-stream")
    assert adapter.blobs.get(NS, "big") == Blob(
        "big", data, 1, adapter.blobs.head(NS, "big").etag, "application/octet-stream"
    )
    assert adapter.blobs.head(NS, "big").size == len(data)
    adapter.streams.append(NS, "s", data)
    assert adapter.streams.read(NS, "s", after=0, limit=1) == [StoredMessage(1, data)]


# --- streams -----------------------------------------------------------------------------


def test_dedupe_window_runs_from_the_first_append(adapter: FilesystemAdapter) -> None:
    log = adapter.streams
    first = log.append(NS, "s", b"a", idempotency_key="i", dedupe_window_ms=100, now_ms=1000.0)
    again = log.append(NS, "s", b"b", idempotency_key="i", dedupe_window_ms=100, now_ms=1099.9)
    after = log.append(NS, "s", b"c", idempotency_key="i", dedupe_window_ms=100, now_ms=1100.0)
    assert (first.sequence, first.duplicate) == (1, False)
    assert (again.sequence, again.duplicate) == (1, True)
    assert (after.sequence, after.duplicate) == (2, False)
    assert [m.payload for m in log.read(NS, "s", after=0, limit=10)] == [b"a", b"c"]
    assert log.read_sequences(NS, "s", [2, 7, 1, 0]) == [
        StoredMessage(2, b"c"),
        StoredMessage(1, b"a"),
    ]
    assert log.read(NS, "s", after=2**70, limit=2**70) == []
    assert log.read(NS, "never", after=0, limit=5) == []
    assert log.read_sequences(NS, "never", [1]) == []


def _stream_dir(root: Path, stream: str = "s") -> Path:
    return root / encode_namespace(NS) / "streams" / encode_name(stream.encode())


def test_an_append_overwrites_a_frame_whose_index_entry_never_landed(
    adapter: FilesystemAdapter, root: Path
) -> None:
    for n in range(3):
        adapter.streams.append(NS, "s", b"%d" % n)
    with open(_stream_dir(root) / "log", "ab") as log:  # a crash after the frame's write
        log.write(b"\x00\x00\x00\x00\x00\x00\x00\x04half a frame")
    assert adapter.streams.read(NS, "s", after=0, limit=10)[-1] == StoredMessage(3, b"2")
    assert adapter.streams.append(NS, "s", b"3").sequence == 4
    assert [m.payload for m in adapter.streams.read(NS, "s", after=0, limit=10)] == [
        b"0",
        b"1",
        b"2",
        b"3",
    ]


@pytest.mark.parametrize("junk", [b"\x00" * 8, b"\xff" * 8, b"\x00\x00\x00"])
def test_an_index_entry_whose_frame_never_landed_is_dropped(
    adapter: FilesystemAdapter, root: Path, junk: bytes
) -> None:
    """A power loss can leave the index longer than the frames it points at: readers stop
    before that entry and the next append takes its sequence."""
    for n in range(2):
        adapter.streams.append(NS, "s", b"%d" % n)
    with open(_stream_dir(root) / "index", "ab") as index:
        index.write(junk)
    assert [m.sequence for m in adapter.streams.read(NS, "s", after=0, limit=10)] == [1, 2]
    assert adapter.streams.append(NS, "s", b"2").sequence == 3
    assert [m.payload for m in adapter.streams.read(NS, "s", after=0, limit=10)] == [
        b"0",
        b"1",
        b"2",
    ]
    assert (_stream_dir(root) / "index").stat().st_size == 3 * 8


def test_a_corrupt_frame_before_the_last_is_an_adapter_error(
    adapter: FilesystemAdapter, root: Path
) -> None:
    for n in range(3):
        adapter.streams.append(NS, "s", b"payload-%d" % n)
    log = _stream_dir(root) / "log"
    data = bytearray(log.read_bytes())
    data[data.index(b"payload-0")] ^= 1
    log.write_bytes(bytes(data))
    with pytest.raises(AdapterError, match="message 1"):
        adapter.streams.read(NS, "s", after=0, limit=10)
    assert adapter.streams.read(NS, "s", after=1, limit=10)[0].sequence == 2


def test_a_key_file_left_by_a_crashed_append_is_no_duplicate(
    adapter: FilesystemAdapter, root: Path
) -> None:
    """The key's file is written before its frame: when the frame never landed, the key
    points at a sequence not stored, or later taken by another message."""
    first = adapter.streams.append(NS, "s", b"a", idempotency_key="k", dedupe_window_ms=1e9)
    key_file = _stream_dir(root) / ("i-" + encode_name(b"k"))
    left = key_file.read_bytes()
    adapter.reset(NS)
    adapter.streams.append(NS, "s", b"other")
    key_file.write_bytes(left)  # points at 1, which now holds a message without the key
    again = adapter.streams.append(NS, "s", b"a", idempotency_key="k", dedupe_window_ms=1e9)
    assert (first.sequence, again.sequence, again.duplicate) == (1, 2, False)
    key_file.write_bytes(left[:3])  # torn
    assert adapter.streams.append(NS, "s", b"a", idempotency_key="k").sequence == 3


def test_checkpoints_are_compare_and_set(adapter: FilesystemAdapter) -> None:
    groups = adapter.checkpoints
    assert groups.load(NS, "s", "g") == GroupCheckpoint()
    saved = groups.save(NS, "s", "g", GroupCheckpoint(floor=1, cursor=2))
    assert saved.revision == 1
    assert groups.load(NS, "s", "g") == saved
    with pytest.raises(ConflictError):
        groups.save(NS, "s", "g", GroupCheckpoint(cursor=5))
    assert groups.save(NS, "s", "g", saved._replace(cursor=3)).revision == 2
    assert groups.load(NS, "s", "other").revision == 0


# --- reset, close, backdoor ----------------------------------------------------------------


def test_reset_removes_only_matching_namespaces(adapter: FilesystemAdapter, root: Path) -> None:
    for ns in ("run-1", "run-10", "run_1", "run-2", "Run-1", "RUN-1x"):
        adapter.records.put(ns, "k", b"{}")
        adapter.streams.append(ns, "s", b"m", idempotency_key="i", dedupe_window_ms=1e9)
        adapter.checkpoints.save(ns, "s", "g", GroupCheckpoint())
    adapter.reset("run-1")
    left = sorted(decode_namespace(p.name) or "?" for p in root.iterdir())
    assert left == ["RUN-1x", "Run-1", "run-2", "run_1"]
    adapter.reset("R")
    assert sorted(decode_namespace(p.name) or "?" for p in root.iterdir()) == ["run-2", "run_1"]
    adapter.reset("")
    assert list(root.iterdir()) == []


def test_closed_adapter_raises_backend_unavailable(open_adapter: Open) -> None:
    adapter = open_adapter()
    adapter.blobs.put(NS, "k", b"x")
    adapter.close()
    calls: list[Callable[[], object]] = [
        lambda: adapter.blobs.put(NS, "k", b"y"),
        lambda: adapter.blobs.get(NS, "k"),
        lambda: adapter.blobs.head(NS, "k"),
        lambda: adapter.blobs.delete(NS, "k"),
        lambda: adapter.blobs.list(NS),
        lambda: adapter.blobs.list(NS, limit=0),
        lambda: adapter.streams.append(NS, "s", b"m"),
        lambda: adapter.streams.read(NS, "s", after=0, limit=0),
        lambda: adapter.streams.read_sequences(NS, "s", []),
        lambda: adapter.checkpoints.load(NS, "s", "g"),
        lambda: adapter.checkpoints.save(NS, "s", "g", GroupCheckpoint()),
        lambda: adapter.reset(NS),
        lambda: adapter.backdoor(),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailableError, match="closed"):
            call()
    assert open_adapter().blobs.get(NS, "k").data == b"x"  # the data stays


def test_backdoor_reads_the_files_not_the_adapter(adapter: FilesystemAdapter) -> None:
    written = adapter.records.put(NS, "r", b'{"a":1}')
    backdoor = adapter.backdoor()
    assert backdoor.read_object(Layer.RECORD, NS, "r") == Blob("r", b'{"a":1}', 1, written.etag)
    assert backdoor.read_object(Layer.BLOB, NS, "r") is None
    adapter.records.delete(NS, "r")
    assert backdoor.read_object(Layer.RECORD, NS, "r") is None
    adapter.streams.append(NS, "s", b"m")
    adapter.close()
    assert backdoor.stream_messages(NS, "s") == [StoredMessage(1, b"m")]
    assert backdoor.stream_messages(NS, "none") == []
    backdoor.close()


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.ENOSPC, BackendUnavailableError),
        (errno.EIO, BackendUnavailableError),
        (errno.EACCES, BackendUnavailableError),
        (errno.EROFS, BackendUnavailableError),
        (errno.EDQUOT, BackendUnavailableError),
        (errno.EMFILE, BackendUnavailableError),
        (errno.EFBIG, InvalidRequestError),
        (errno.ENAMETOOLONG, InvalidRequestError),
        (errno.EINVAL, AdapterError),
    ],
)
def test_os_errors_are_mapped_by_errno(code: int, expected: type[Exception]) -> None:
    mapped = map_os_error(OSError(code, os.strerror(code)), NS, "k")
    assert type(mapped) is expected
    assert (mapped.namespace, mapped.key) == (NS, "k")
    assert errno.errorcode[code] in mapped.message


def test_anything_else_is_an_adapter_error() -> None:
    assert type(map_os_error(RuntimeError("boom"))) is AdapterError
    assert type(map_os_error(OverflowError("big"))) is InvalidRequestError
    error = NotFoundError("x")
    assert map_os_error(error) is error


def _failing(adapter: FilesystemAdapter, call: str, code: int, after: int = 0) -> None:
    """Make the adapter's ``call`` system call fail with ``code``, after ``after`` successes."""
    real = getattr(adapter.files.os, call)
    calls = [0]

    def fail(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] > after:
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    setattr(adapter.files.os, call, fail)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.EACCES])
def test_a_failed_write_is_unavailable_changes_nothing_and_leaves_no_file(
    open_adapter: Open, root: Path, code: int
) -> None:
    adapter = open_adapter()
    adapter.blobs.put(NS, "k", b"old")
    adapter.streams.append(NS, "s", b"m1")
    for call in ("fsync", "write", "rename"):
        broken = open_adapter()
        _failing(broken, call, code)
        with pytest.raises(BackendUnavailableError) as caught:
            broken.blobs.put(NS, "k", b"new")
        assert caught.value.retryable
        assert (caught.value.namespace, caught.value.key) == (NS, "k")
    broken = open_adapter()
    _failing(broken, "pwrite", code)
    with pytest.raises(BackendUnavailableError):
        broken.streams.append(NS, "s", b"m2")
    broken = open_adapter()
    _failing(broken, "open", code)
    with pytest.raises(BackendUnavailableError):
        broken.blobs.get(NS, "k")
    assert adapter.blobs.get(NS, "k").data == b"old"
    assert adapter.streams.read(NS, "s", after=0, limit=5) == [StoredMessage(1, b"m1")]
    assert not [p for p in every_file(root) if p.name.startswith(".tmp")]


def test_a_hashed_file_holding_another_key_is_an_adapter_error(
    adapter: FilesystemAdapter, root: Path
) -> None:
    """Two keys whose names share a SHA-256 would share a file: reads check the key."""
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    adapter.blobs.put(NS, long_a, b"x")
    layer = root / encode_namespace(NS) / "blob"
    os.rename(layer / encode_name(long_a.encode()), layer / encode_name(long_b.encode()))
    with pytest.raises(AdapterError, match="holds key"):
        adapter.blobs.get(NS, long_b)


def test_a_lock_held_by_another_process_is_unavailable_after_lock_timeout(
    open_adapter: Open, root: Path
) -> None:
    adapter = open_adapter(lock_timeout_ms=100)
    adapter.records.put(NS, "k", b"1")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.readline()\n",
            str(root / encode_namespace(NS) / "record"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(BackendUnavailableError, match=r"EAGAIN.*lock_timeout_ms") as caught:
            adapter.records.put(NS, "k", b"2")
        assert caught.value.retryable
        assert adapter.records.get(NS, "k").data == b"1"  # readers take no lock
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert adapter.records.put(NS, "k", b"2").version == 2  # released with the process


def test_writers_creating_one_namespace_at_once_all_succeed(open_adapter: Open) -> None:
    adapters = [open_adapter() for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(adapters))

    def write(index: int) -> None:
        try:
            start.wait()
            adapters[index].records.put("fresh", f"k{index}", b"{}")
            adapters[index].streams.append("fresh", "s", b"m")
        except BaseException as error:  # surfaced below
            errors.append(error)

    workers = [threading.Thread(target=write, args=(i,)) for i in range(len(adapters))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert len(adapters[0].records.list("fresh")) == 4
    assert len(adapters[0].streams.read("fresh", "s", after=0, limit=10)) == 4


# --- faults the kit provokes -------------------------------------------------------------


@pytest.mark.parametrize("fault", ["locked", "unreachable"])
def test_each_provoked_fault_is_backend_unavailable_and_passes(
    adapter: FilesystemAdapter, fault: str
) -> None:
    adapter.records.put(NS, "k", b"1")
    adapter.streams.append(NS, "s", b"m")
    injector = adapter.fault_injector()
    assert injector.faults == {"locked", "unreachable"}
    calls: list[Callable[[], object]] = [
        lambda: adapter.records.put(NS, "k", b"2"),
        lambda: adapter.records.delete(NS, "k"),
        lambda: adapter.streams.append(NS, "s", b"m"),
        lambda: adapter.checkpoints.save(NS, "s", "g", GroupCheckpoint()),
    ]
    with injector.provoke(fault):
        for call in calls:
            with pytest.raises(BackendUnavailableError) as caught:
                call()
            assert caught.value.retryable
        if fault == "locked":
            assert adapter.records.get(NS, "k").data == b"1"  # readers take no lock
        else:
            with pytest.raises(BackendUnavailableError, match="ENOTDIR"):
                adapter.records.get(NS, "k")
    assert adapter.records.put(NS, "k", b"3").version == 2  # nothing was applied meanwhile
    with pytest.raises(ValueError, match="timeout"):
        injector.provoke("timeout").__enter__()


# --- system calls per operation ------------------------------------------------------------

COUNTED = ("open", "fsync", "rename", "flock")


def count_calls(adapter: FilesystemAdapter) -> Callable[[Callable[[], object]], dict[str, int]]:
    """Wrap the adapter's system calls; the returned function counts those of one call."""
    counts: Counter[str] = Counter()
    for name in COUNTED:
        real = getattr(adapter.files.os, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            counts[_name] += 1
            return _real(*args, **kwargs)

        setattr(adapter.files.os, name, counted)

    def of(call: Callable[[], object]) -> dict[str, int]:
        counts.clear()
        call()
        return {name: counts[name] for name in COUNTED}

    return of


def refused(call: Callable[[], object]) -> None:
    with pytest.raises(PreconditionFailedError):
        call()


def calls(opens: int, fsyncs: int = 0, renames: int = 0, flocks: int = 0) -> dict[str, int]:
    return {"open": opens, "fsync": fsyncs, "rename": renames, "flock": flocks}


def test_system_calls_per_operation(adapter: FilesystemAdapter) -> None:
    """Exact counts: a write opens the locked directory, reads the current file and writes
    a temporary one (two fsyncs, one rename); a read opens one file; an append opens the
    directory, the index and the log and fsyncs the last two."""
    blobs, log, groups = adapter.blobs, adapter.streams, adapter.checkpoints
    of = count_calls(adapter)
    first = blobs.put(NS, "k", b"v")
    log.append(NS, "s", b"m")
    saved = groups.save(NS, "s", "g", GroupCheckpoint())
    assert of(lambda: blobs.put(NS, "new", b"v")) == calls(3, 2, 1, 1)
    assert of(lambda: blobs.put(NS, "k", b"v", if_match=first.etag)) == calls(3, 2, 1, 1)
    assert of(lambda: refused(lambda: blobs.put(NS, "k", b"v", if_none_match=True))) == calls(
        2, 0, 0, 1
    )
    assert of(lambda: blobs.get(NS, "k")) == calls(1)
    assert of(lambda: blobs.head(NS, "k")) == calls(1)
    assert of(lambda: blobs.delete(NS, "new")) == calls(3, 2, 1, 1)
    assert of(lambda: blobs.list(NS)) == calls(2)  # each key's header, the tombstone's too
    assert of(lambda: log.append(NS, "s", b"m")) == calls(3, 2, 0, 1)
    idempotent = calls(5, 4, 1, 1)  # + the key's file: looked up, then written atomically
    assert (
        of(lambda: log.append(NS, "s", b"m", idempotency_key="i", dedupe_window_ms=1e9))
        == idempotent
    )
    assert of(
        lambda: log.append(NS, "s", b"m", idempotency_key="i", dedupe_window_ms=1e9)
    ) == calls(4, 0, 0, 1)
    assert of(lambda: log.read(NS, "s", after=0, limit=10)) == calls(2)
    assert of(lambda: log.read_sequences(NS, "s", [1, 2])) == calls(2)
    assert of(lambda: groups.load(NS, "s", "g")) == calls(1)
    assert of(lambda: groups.save(NS, "s", "g", saved)) == calls(3, 2, 1, 1)
    # A first write creates its directories (the namespace's and the layer's; then
    # ``streams`` and the stream's), each fsynced in its parent; a first append creates
    # the index and the log, and fsyncs the stream's directory once they are written.
    assert of(lambda: blobs.put("fresh", "k", b"v")) == calls(6, 4, 1, 1)
    assert of(lambda: log.append("fresh", "s", b"m")) == calls(7, 5, 0, 1)


class CountingHeader:
    """The object header's ``Struct``, counting how often a header is unpacked."""

    def __init__(self) -> None:
        self.inner = stores.OBJECT_HEADER
        self.size = self.inner.size
        self.unpacks = 0

    def unpack_from(self, buffer: bytes, offset: int = 0) -> tuple[Any, ...]:
        self.unpacks += 1
        return self.inner.unpack_from(buffer, offset)

    def pack(self, *values: Any) -> bytes:
        return self.inner.pack(*values)


def test_a_read_unpacks_the_header_once_and_encodes_its_key_once_per_process(
    adapter: FilesystemAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every read parses one header, with one unpack of its fixed part; a key's file name
    is encoded on its first use only (a bounded cache), by reads and writes alike."""
    header = CountingHeader()
    monkeypatch.setattr(stores, "OBJECT_HEADER", header)
    encoded: list[bytes] = []
    real = names.encode_name

    def encode_name(raw: bytes) -> str:
        encoded.append(raw)
        return real(raw)

    monkeypatch.setattr(names, "encode_name", encode_name)
    names._key_name.cache_clear()
    adapter.records.put(NS, "k", b"{}")  # a new key: no header to read
    written = adapter.records.put(NS, "k", b"{}")  # reads the current header
    for _ in range(3):
        assert adapter.records.get(NS, "k") == Blob("k", b"{}", 2, written.etag, None)
    assert adapter.records.head(NS, "k").version == 2
    assert header.unpacks == 1 + 3 + 1
    assert encoded == [b"k"]
    with pytest.raises(InvalidRequestError):
        adapter.records.get(NS, "surrogate\ud800")  # no UTF-8 form: refused, not cached


# --- processes: races and a hard kill ----------------------------------------------------

_RACER = r"""
import json, sys
from pytest_sanctum.clock import SystemClock
from pytest_sanctum.errors import ConflictError, PreconditionFailedError
from pytest_sanctum.client import create_storage_client
from pytest_sanctum.config import parse_config
from reference_adapters.filesystem import create_filesystem_adapter

root, task, index, rounds = sys.argv[1:5]
adapter = create_filesystem_adapter({"root": root}, SystemClock())
index, rounds = int(index), int(rounds)
base_etag = adapter.blobs.head("ns", "base").etag if task == "replace" else None
client = create_storage_client(parse_config({
    "schema_version": 1,
    "adapters": {"fs": {"kind": "filesystem", "options": {"root": root}}},
    "namespaces": {"*": {"adapter": "fs"}},
    "streams": {"visibility_timeout_ms": 600000},
})) if task == "claim" else None
print("READY", flush=True)
sys.stdin.readline()  # every process starts together
out = {}
if task == "create":
    try:
        out["won"] = adapter.blobs.put("ns", "only", str(index).encode(), if_none_match=True).etag
    except PreconditionFailedError:
        out["won"] = None
elif task == "replace":
    try:
        out["won"] = adapter.blobs.put("ns", "base", str(index).encode(), if_match=base_etag).etag
    except PreconditionFailedError:
        out["won"] = None
elif task == "increment":
    done = tries = 0
    while done < rounds:
        tries += 1
        current = adapter.blobs.get("ns", "counter")
        try:
            adapter.blobs.put("ns", "counter", str(int(current.data) + 1).encode(), if_match=current.etag)
            done += 1
        except PreconditionFailedError:
            pass
    out["tries"] = tries
elif task == "append":
    out["seqs"] = [adapter.streams.append("ns", "log", b"%d-%d" % (index, n)).sequence for n in range(rounds)]
    out["once"] = [
        adapter.streams.append("ns", "log", b"k%d" % n, idempotency_key="k%d" % n,
                               dedupe_window_ms=60_000, now_ms=0.0).sequence
        for n in range(5)
    ]
elif task == "claim":
    got = []
    while True:
        try:
            delivered = client.streams.read("ns", "jobs", "g", "c%d" % index, count=3)
        except ConflictError:
            continue
        if not delivered:
            break
        got += [d.sequence for d in delivered]
        while True:
            try:
                client.streams.ack("ns", "jobs", "g", [d.message_id for d in delivered])
                break
            except ConflictError:
                pass
    out["got"] = got
    client.close()
adapter.close()
print(json.dumps(out))
"""


def _race(tmp_path: Path, root: Path, task: str, processes: int, rounds: int = 0) -> list[Any]:
    args = [[str(root), task, str(i), str(rounds)] for i in range(processes)]
    return run_children(_RACER, args, tmp_path)


def test_processes_racing_a_create_only_write_have_exactly_one_winner(
    adapter: FilesystemAdapter, root: Path, tmp_path: Path
) -> None:
    results = _race(tmp_path, root, "create", 4)
    winners = [r["won"] for r in results if r["won"] is not None]
    assert len(winners) == 1
    stored = adapter.blobs.get(NS, "only")
    assert (stored.version, stored.etag) == (1, winners[0])


def test_processes_racing_on_one_etag_have_exactly_one_winner(
    adapter: FilesystemAdapter, root: Path, tmp_path: Path
) -> None:
    adapter.blobs.put(NS, "base", b"start")
    results = _race(tmp_path, root, "replace", 4)
    winners = [r["won"] for r in results if r["won"] is not None]
    assert len(winners) == 1
    assert (adapter.blobs.get(NS, "base").version, adapter.blobs.head(NS, "base").etag) == (
        2,
        winners[0],
    )


def test_processes_incrementing_with_if_match_lose_no_update(
    adapter: FilesystemAdapter, root: Path, tmp_path: Path
) -> None:
    adapter.blobs.put(NS, "counter", b"0")
    processes, rounds = 4, 15
    _race(tmp_path, root, "increment", processes, rounds)
    final = adapter.blobs.get(NS, "counter")
    assert (int(final.data), final.version) == (processes * rounds, 1 + processes * rounds)


def test_processes_appending_at_once_get_gap_free_sequences(
    adapter: FilesystemAdapter, root: Path, tmp_path: Path
) -> None:
    processes, rounds = 4, 25
    results = _race(tmp_path, root, "append", processes, rounds)
    acknowledged = sorted(seq for r in results for seq in r["seqs"])
    stored = adapter.backdoor().stream_messages(NS, "log")
    total = processes * rounds + 5  # every idempotent key stored once
    assert [m.sequence for m in stored] == list(range(1, total + 1))  # no gap, no duplicate
    assert set(acknowledged) <= {m.sequence for m in stored}  # no acknowledged append lost
    assert len(acknowledged) == len(set(acknowledged))
    payloads = {m.sequence: m.payload for m in stored}
    for index, r in enumerate(results):
        assert r["seqs"] == sorted(r["seqs"])  # each process sees its appends in order
        assert [payloads[s] for s in r["seqs"]] == [b"%d-%d" % (index, n) for n in range(rounds)]
    once = [r["once"] for r in results]
    assert all(o == once[0] for o in once)  # every process got the same message per key
    assert [payloads[s] for s in once[0]] == [b"k%d" % n for n in range(5)]


def test_processes_reading_one_group_never_share_a_message(
    adapter: FilesystemAdapter, root: Path, tmp_path: Path, clock: VirtualClock
) -> None:
    count = 30
    for n in range(count):
        adapter.streams.append(NS, "jobs", b'{"n":%d}' % n)
    results = _race(tmp_path, root, "claim", 3)
    got = [seq for r in results for seq in r["got"]]
    assert sorted(got) == list(range(1, count + 1))  # each message exactly once
    state = adapter.checkpoints.load(NS, "jobs", "g")
    assert (state.floor, state.cursor, dict(state.pending)) == (count, count, {})


def test_threads_of_one_process_exclude_each_other(open_adapter: Open) -> None:
    """``flock`` belongs to an open file description: threads sharing one adapter lock
    each other out as processes do."""
    adapter = open_adapter()
    adapter.blobs.put(NS, "counter", b"0")
    start = threading.Barrier(4)

    def increment() -> None:
        start.wait()
        for _ in range(10):
            while True:
                current = adapter.blobs.get(NS, "counter")
                try:
                    adapter.blobs.put(
                        NS, "counter", b"%d" % (int(current.data) + 1), if_match=current.etag
                    )
                    break
                except PreconditionFailedError:
                    pass

    workers = [threading.Thread(target=increment) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert adapter.blobs.get(NS, "counter").data == b"40"


_DURABLE = r"""
import json, sys
from pytest_sanctum.client import create_storage_client
from pytest_sanctum.config import parse_config

root = sys.argv[1]
client = create_storage_client(parse_config({
    "schema_version": 1,
    "adapters": {"fs": {"kind": "filesystem", "options": {"root": root}}},
    "namespaces": {"*": {"adapter": "fs"}},
    "streams": {"visibility_timeout_ms": 600000},
}))
ids = [client.streams.append("durable", "jobs", {"n": n}).message_id for n in range(10)]
delivered = client.streams.read("durable", "jobs", "workers", "w1", count=10)
acked = [d.message_id for d in delivered if d.sequence % 2 == 0]
client.streams.ack("durable", "jobs", "workers", acked)
record = client.records.put("durable", "r", {"n": 1})
print("READY " + json.dumps({"ids": ids, "acked": acked, "etag": record.etag}), flush=True)
n = 0
while True:  # keep writing until killed: the kill lands in the middle of writes
    appended = client.streams.append("durable", "tail", {"n": n}).message_id
    written = client.records.put("durable", "tail", {"n": n})
    print(f"DONE {appended} {written.version}", flush=True)
    n += 1
"""


def test_acknowledged_writes_appends_and_acks_survive_a_sigkill(
    root: Path, tmp_path: Path, clock: VirtualClock
) -> None:
    """A SIGKILL keeps the page cache, so this shows the on-disk state is consistent at
    every instant (atomic renames, index after frame); the fsyncs are what carry the same
    through a power loss, and are counted in ``test_system_calls_per_operation``."""
    told, fields = kill_after_acks(_DURABLE, [str(root)], tmp_path)
    acknowledged = [tuple(int(x) for x in found) for found in fields]

    with create_storage_client(fs_config(root), clock=clock) as client:
        adapter = client.adapters["fs"]
        assert isinstance(adapter, FilesystemAdapter)
        backdoor = adapter.backdoor()
        jobs = backdoor.stream_messages("durable", "jobs")
        assert [str(m.sequence) for m in jobs] == told["ids"] == [str(n) for n in range(1, 11)]
        tail = [m.sequence for m in backdoor.stream_messages("durable", "tail")]
        last_append, last_version = acknowledged[-1]
        assert tail[:last_append] == list(range(1, last_append + 1))  # lost = 0
        assert len(tail) - last_append in (0, 1)  # at most the one in flight
        stored = backdoor.read_object(Layer.RECORD, "durable", "tail")
        assert stored is not None
        assert stored.version in (last_version, last_version + 1)
        assert client.records.get("durable", "r").etag == told["etag"]
        state = client.streams.checkpoint("durable", "jobs", "workers")
        pending = {str(s) for s in state.pending}
        assert pending == {i for i in told["ids"] if i not in told["acked"]}
        assert state.cursor == 10
        # the next append continues gap-free after whatever the kill left
        assert client.streams.append("durable", "tail", {"n": -1}).message_id == str(len(tail) + 1)
