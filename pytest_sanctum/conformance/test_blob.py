"""Blob layer contracts (BLOB-*): versioned byte payloads with metadata and prefix listing."""

from __future__ import annotations

import pytest

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import NotFoundError
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.types import BlobInfo, Layer

EVERY_BYTE = bytes(range(256))

RAW_WINDOW_MS = 100.0
"""ADR-001's read-after-write window. Before a head, which reads the backend once, a test
waits it out with ``sleep_ms``: an adapter without read_after_write has had the window to
replicate the write (the kit's clock then waits in real time too, for a replica lagging in
real time); one with read_after_write needs no wait."""


@contract("BLOB-001")
@pytest.mark.parametrize("content_type", [None, "application/octet-stream"])
def test_put_then_get_round_trips(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
    content_type: str | None,
) -> None:
    """A blob put then read returns the same bytes, version and etag; the backend holds them."""
    payload = b"invoice #1\x00\x01 total=42"
    written = sanctum_client.blobs.put(
        sanctum_namespace, "invoice-1.bin", payload, content_type=content_type
    )
    read = sanctum_client.blobs.get(sanctum_namespace, "invoice-1.bin")
    stored = sanctum_backdoor.read_object(Layer.BLOB, sanctum_namespace, "invoice-1.bin")
    assert (read.key, read.data, read.version, read.etag) == (
        "invoice-1.bin",
        payload,
        1,
        written.etag,
    ), f"{explain('BLOB-001')} put returned {written}, read returned {read}"
    assert stored is not None, f"{explain('BLOB-001')} the backend holds nothing after the put"
    assert (stored.data, stored.version, stored.etag) == (
        payload,
        written.version,
        written.etag,
    ), f"{explain('BLOB-001')} put returned {written}, the backend holds {stored}"


@contract("BLOB-002")
def test_versions_increase_and_continue_after_delete(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor
) -> None:
    """Versions go 1, 2, 3 and a key written again after deletes continues from its last version."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    versions = [blobs.put(ns, "doc", b"a").version, blobs.put(ns, "doc", b"b").version]
    blobs.delete(ns, "doc")
    versions.append(blobs.put(ns, "doc", b"c").version)
    blobs.delete(ns, "doc")
    versions.append(blobs.put(ns, "doc", b"d").version)
    read = blobs.get(ns, "doc")
    stored = sanctum_backdoor.read_object(Layer.BLOB, ns, "doc")
    assert versions == [1, 2, 3, 4], (
        f"{explain('BLOB-002')} put, put, delete, put, delete, put returned versions {versions}"
    )
    assert (read.data, read.version) == (b"d", 4), f"{explain('BLOB-002')} read returned {read}"
    assert stored is not None, f"{explain('BLOB-002')} the backend holds nothing"
    assert stored.version == 4, f"{explain('BLOB-002')} the backend holds {stored}"


@contract("BLOB-003")
def test_same_bytes_get_a_new_etag_per_version(
    sanctum_client: StorageClient, sanctum_namespace: str
) -> None:
    """Rewriting identical bytes, even after a delete, yields a new version and a new etag."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    results = [blobs.put(ns, "same", b"unchanged") for _ in range(3)]
    blobs.delete(ns, "same")
    results.append(blobs.put(ns, "same", b"unchanged"))
    etags = [result.etag for result in results]
    assert [result.version for result in results] == [1, 2, 3, 4], (
        f"{explain('BLOB-003')} four writes of the same bytes returned {results}"
    )
    assert len(set(etags)) == 4, (
        f"{explain('BLOB-003')} four versions of the same bytes share etags: {etags}"
    )
    assert blobs.get(ns, "same").etag == etags[-1], (
        f"{explain('BLOB-003')} the read etag is not the last write's {etags[-1]!r}"
    )


@contract("BLOB-004")
@pytest.mark.parametrize(
    ("first_type", "second_type"),
    [("text/plain", "application/json"), ("image/png", "text/plain; charset=utf-8")],
)
def test_head_returns_current_metadata(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    first_type: str,
    second_type: str,
) -> None:
    """head returns the key, size, version, etag and content type of the current version."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    blobs.put(ns, "report", b"first version, longer payload", content_type=first_type)
    second = blobs.put(ns, "report", b"second", content_type=second_type)
    sanctum_clock.sleep_ms(RAW_WINDOW_MS)
    info = blobs.head(ns, "report")
    expected = ("report", 6, 2, second.etag, second_type)
    observed = (info.key, info.size, info.version, info.etag, info.content_type)
    assert observed == expected, (
        f"{explain('BLOB-004')} expected (key, size, version, etag, content_type) "
        f"{expected}, head returned {observed}"
    )


@contract("BLOB-005")
def test_delete_removes_the_blob(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor
) -> None:
    """After delete, get and head raise NotFoundError and the backend holds nothing."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    blobs.put(ns, "gone", b"payload")
    blobs.get(ns, "gone")  # may fill a cache the delete must purge
    blobs.delete(ns, "gone")
    with pytest.raises(NotFoundError) as by_get:
        blobs.get(ns, "gone")
    with pytest.raises(NotFoundError) as by_head:
        blobs.head(ns, "gone")
    stored = sanctum_backdoor.read_object(Layer.BLOB, ns, "gone")
    assert (by_get.value.key, by_head.value.key) == ("gone", "gone"), (
        f"{explain('BLOB-005')} errors named keys {by_get.value.key!r}, {by_head.value.key!r}"
    )
    assert stored is None, f"{explain('BLOB-005')} the backend still holds {stored}"


@contract("BLOB-005")
@pytest.mark.parametrize("history", ["never-written", "already-deleted"])
def test_deleting_a_missing_blob_raises_not_found(
    sanctum_client: StorageClient, sanctum_namespace: str, history: str
) -> None:
    """Deleting a blob that does not exist raises NotFoundError naming the key."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    if history == "already-deleted":
        blobs.put(ns, "missing", b"x")
        blobs.delete(ns, "missing")
    with pytest.raises(NotFoundError) as raised:
        blobs.delete(ns, "missing")
    assert (raised.value.op, raised.value.key) == ("blob.delete", "missing"), (
        f"{explain('BLOB-005')} the error was {raised.value}"
    )


LISTED_KEYS = ["img/c", "img/a", "doc/a", "img/B", "img/c/d", "imh/x", "img/b", "im", "img/0"]
"""Written in this (unsorted) order; ``img/b`` is deleted afterwards."""


@contract("BLOB-006")
@pytest.mark.parametrize(
    ("prefix", "start_after", "limit", "expected"),
    [
        ("img/", None, 1000, ["img/0", "img/B", "img/a", "img/c", "img/c/d"]),
        ("", None, 1000, ["doc/a", "im", "img/0", "img/B", "img/a", "img/c", "img/c/d", "imh/x"]),
        ("img/", "img/B", 1000, ["img/a", "img/c", "img/c/d"]),
        ("img/", "img/a", 2, ["img/c", "img/c/d"]),
        ("img/", None, 2, ["img/0", "img/B"]),
        ("img/", "a", 1, ["img/0"]),
        ("img/", "img/c/d", 1000, []),
        ("img/c", None, 1000, ["img/c", "img/c/d"]),
        ("img/", None, 0, []),
        ("zzz", None, 1000, []),
    ],
)
def test_list_by_prefix(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    prefix: str,
    start_after: str | None,
    limit: int,
    expected: list[str],
) -> None:
    """list returns live keys with the prefix, sorted, after start_after, min(limit, remaining)."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    for key in LISTED_KEYS:
        blobs.put(ns, key, key.encode())
    blobs.delete(ns, "img/b")
    listed = [info.key for info in blobs.list(ns, prefix, start_after=start_after, limit=limit)]
    assert listed == expected, (
        f"{explain('BLOB-006')} list(prefix={prefix!r}, start_after={start_after!r}, "
        f"limit={limit}) returned {listed}, expected {expected}"
    )


@contract("BLOB-006")
def test_list_pages_cover_every_key_once_with_current_metadata(
    sanctum_client: StorageClient, sanctum_namespace: str
) -> None:
    """Paging with start_after visits every live key once, with its current version and size;
    every page is full but the last, whatever page size the adapter's backend uses."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    expected = {f"part-{n:02d}": blobs.put(ns, f"part-{n:02d}", b"x" * n) for n in range(7)}
    expected["part-03"] = blobs.put(ns, "part-03", b"rewritten")
    blobs.put(ns, "parts", b"not under the prefix 'part-'")
    pages: list[list[str]] = []
    seen: list[BlobInfo] = []
    for _ in range(len(expected)):  # bounded: an adapter ignoring start_after repeats pages
        page = blobs.list(ns, "part-", start_after=seen[-1].key if seen else None, limit=3)
        pages.append([info.key for info in page])
        seen.extend(page)
        if len(page) < 3:  # a short page is the last one
            break
    assert [len(page) for page in pages] == [3, 3, 1], (
        f"{explain('BLOB-006')} pages of 3 over 7 keys were {pages}"
    )
    observed = {info.key: (info.version, info.etag, info.size) for info in seen}
    wanted = {
        key: (result.version, result.etag, 9 if key == "part-03" else int(key[-2:]))
        for key, result in expected.items()
    }
    assert [info.key for info in seen] == sorted(expected), (
        f"{explain('BLOB-006')} pages of 3 were {pages}"
    )
    assert observed == wanted, (
        f"{explain('BLOB-006')} listed (version, etag, size) {observed}, expected {wanted}"
    )


@contract("BLOB-007")
@pytest.mark.parametrize(
    "payload",
    [
        b"",
        EVERY_BYTE,
        EVERY_BYTE[::-1] * 4,
        b"\x00" * 1024,
        b"\xef\xbb\xbf\xff\xfe\r\n\x1a",
        bytes(n * 7 % 256 for n in range(1 << 20)),
    ],
    ids=["empty", "every-byte", "every-byte-reversed", "nul-run", "bom-crlf-eof", "one-mib"],
)
def test_binary_payloads_round_trip(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
    payload: bytes,
) -> None:
    """Any bytes round-trip unchanged through the backend and the cache, with the right size."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    blobs.put(ns, "binary", payload)
    strong = blobs.get(ns, "binary").data
    eventual = blobs.get(ns, "binary", level="eventual").data  # served from the cache if any
    stored = sanctum_backdoor.read_object(Layer.BLOB, ns, "binary")
    size = blobs.head(ns, "binary").size
    # Compared as booleans: pytest's own diff of two large byte strings takes minutes.
    for where, data in [("strong read", strong), ("eventual read", eventual)]:
        same = data == payload
        assert same, (
            f"{explain('BLOB-007')} the {where} returned {len(data)} bytes differing from the "
            f"{len(payload)} written at offset {_first_difference(data, payload)}"
        )
    assert stored is not None, f"{explain('BLOB-007')} the backend holds nothing"
    same = stored.data == payload
    assert same, (
        f"{explain('BLOB-007')} the backend holds {len(stored.data)} bytes differing from the "
        f"{len(payload)} written at offset {_first_difference(stored.data, payload)}"
    )
    assert size == len(payload), f"{explain('BLOB-007')} head size {size}, wrote {len(payload)}"


def _first_difference(left: bytes, right: bytes) -> int:
    """The first offset where two byte strings differ (the shorter length if one is a prefix)."""
    return next(
        (index for index, (a, b) in enumerate(zip(left, right, strict=False)) if a != b),
        min(len(left), len(right)),
    )


PLANE_KEYS = sorted(
    [
        *("ab", "aba", "abz", "ab\u00e9", "ab\u4e2d", "ab\uff5a", "ac"),
        *("ab\U0001f600", "ab\U0001f600x", "ab\U0001f601"),
        *("\u4e2d", "\u4e2d\u6587", "\uff5a", "\uff5a\uff5a"),
        *("\U0001f600", "\U0001f600a", "\U0001f600\U0001f600", "\U0001f601"),
    ]
)
"""Keys whose characters after a shared prefix come from Latin-1 (é), CJK (中), the fullwidth
forms (ｚ, above the U+F8FF sentinel some adapters bound prefix ranges with) and the astral
plane (😀, a surrogate pair in UTF-16); sorted by code point, as listings are."""

PLANE_PREFIXES = ["ab", "ab\U0001f600", "ab\uff5a", "\u4e2d", "\uff5a", "\U0001f600"]


@contract("BLOB-020")
@pytest.mark.parametrize("prefix", PLANE_PREFIXES, ids=[f"prefix-{n}" for n in range(6)])
def test_prefixes_in_every_script_and_plane(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock, prefix: str
) -> None:
    """list(prefix) returns exactly the keys starting with the prefix, whatever plane the
    prefix's last character or the next character of a key comes from."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    for key in PLANE_KEYS:
        blobs.put(ns, key, key.encode())
    sanctum_clock.advance(RAW_WINDOW_MS)
    listed = [info.key for info in blobs.list(ns, prefix)]
    expected = [key for key in PLANE_KEYS if key.startswith(prefix)]
    assert listed == expected, (
        f"{explain('BLOB-020')} list(prefix={prefix!r}) returned {listed}, expected {expected}"
    )
