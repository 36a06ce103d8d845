"""Metadata on every read path (BLOB-008, REC-013).

A blob or record is read through several paths: the backend by ``get`` at each level and
with ``bypass_cache``, the cache at ``eventual`` and ``cache_only``, the backend's metadata
by ``head`` and ``list``. Adapters often build each path separately (a listing API that
quotes etags, a cache entry that forgets the content type, a ``head`` served from stale
metadata), so each path is compared with what the write returned. A cache may miss at any
moment (ADR-001): a path that finds no cache entry is skipped, never compared.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import CacheMissError, UnsupportedOperationError
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.types import Blob, BlobInfo, RecordValue

RAW_WINDOW_MS = 100.0
"""ADR-001's read-after-write window, advanced before reads the facade does not retry
(``head``, ``list``, ``eventual``): an adapter without read_after_write has had it to replicate."""

READ_PATHS = ("strong", "eventual", "eventual again", "cache_only", "bypass", "cache_only again")
"""The ``get`` paths, in the order they run: the first fills the cache, the bypass refreshes it."""


def _read_paths(read: Callable[..., object]) -> dict[str, object]:
    """What each ``get`` path returns; paths the cache cannot serve are left out."""
    options: dict[str, dict[str, object]] = {
        "strong": {},
        "eventual": {"level": "eventual"},
        "eventual again": {"level": "eventual"},
        "cache_only": {"level": "cache_only"},
        "bypass": {"bypass_cache": True},
        "cache_only again": {"level": "cache_only"},
    }
    found: dict[str, object] = {}
    for path in READ_PATHS:
        try:
            found[path] = read(**options[path])
        except (CacheMissError, UnsupportedOperationError):
            continue  # no cache, or the entry was dropped: nothing to compare
    return found


def _described(found: Blob | BlobInfo) -> tuple[str, int, int, str, str | None]:
    size = len(found.data) if isinstance(found, Blob) else found.size
    return (found.key, size, found.version, found.etag, found.content_type)


@contract("BLOB-008")
@pytest.mark.parametrize(
    ("first_type", "second_type"),
    [(None, "text/plain; charset=utf-8"), ("application/vnd.sanctum+json", None)],
    ids=["type-added", "type-removed"],
)
def test_blob_metadata_is_the_same_on_every_read_path(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    first_type: str | None,
    second_type: str | None,
) -> None:
    """get at every level, head and list agree with the write on size, version, etag and type."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    blobs.put(ns, "doc", b"the first version, longer", content_type=first_type)
    written = blobs.put(ns, "doc", b"second", content_type=second_type)
    sanctum_clock.advance(RAW_WINDOW_MS)
    expected = ("doc", 6, 2, written.etag, second_type)
    found: dict[str, Blob | BlobInfo] = {}
    for path, blob in _read_paths(lambda **options: blobs.get(ns, "doc", **options)).items():
        assert isinstance(blob, Blob)
        found[path] = blob
    found["head"] = blobs.head(ns, "doc")
    listed = blobs.list(ns, "doc")
    assert [info.key for info in listed] == ["doc"], f"{explain('BLOB-008')} list gave {listed}"
    found["list"] = listed[0]
    wrong = {path: _described(got) for path, got in found.items() if _described(got) != expected}
    assert wrong == {}, (
        f"{explain('BLOB-008')} the write returned (key, size, version, etag, content_type) "
        f"{expected}; these read paths differ: {wrong}"
    )
    data = {path: got.data for path, got in found.items() if isinstance(got, Blob)}
    assert set(data.values()) == {b"second"}, f"{explain('BLOB-008')} payloads read: {data}"


@contract("REC-013")
def test_record_version_and_etag_are_the_same_on_every_read_path(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """A record reads back with the same value, version and etag at every level and on bypass."""
    records, ns = sanctum_client.records, sanctum_namespace
    records.put(ns, "rec", {"n": 1, "text": "first"})
    written = records.put(ns, "rec", {"n": 2})
    sanctum_clock.advance(RAW_WINDOW_MS)
    expected = ("rec", {"n": 2}, 2, written.etag)
    found = _read_paths(lambda **options: records.get(ns, "rec", **options))
    wrong = {}
    for path, got in found.items():
        assert isinstance(got, RecordValue)
        if (got.key, got.value, got.version, got.etag) != expected:
            wrong[path] = (got.key, got.value, got.version, got.etag)
    assert wrong == {}, (
        f"{explain('REC-013')} the write returned (key, value, version, etag) {expected}; "
        f"these read paths differ: {wrong}"
    )
