"""Key contracts (KEY-*): keys are untrusted, opaque, exact strings.

The facade checks a key's grammar (a non-empty printable string of at most 1024 UTF-8
bytes) and passes it on unchanged. An adapter stores it as it is: a backend that treats
keys as file paths, folds case, normalises Unicode or matches list prefixes as patterns
lets one caller's key reach another key, or another namespace.
"""

from __future__ import annotations

import pytest

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import NotFoundError
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.types import Layer

RAW_WINDOW_MS = 100.0
"""ADR-001's read-after-write window: before listing, a test lets it pass, so an adapter
without read_after_write has replicated every write."""

PATH_LIKE = [
    "../x",
    "/etc/passwd",
    "a/../../b",
    "a//b",
    "./a",
    "a/./b",
    "..",
    ".",
    "../../../../../../etc/shadow",
    "a/b/",
    "~/x",
    "a\\..\\b",
    "%2e%2e/x",
    "a/b",
]
"""Keys a path-interpreting backend would merge, escape with, or strip."""

NORMALISED_FORMS = ["x", "etc/passwd", "b", "a", "etc/shadow", "a\\b", "a/b/c"]
"""What the path-like keys become under normalisation (none of them is written)."""

EXACT_VARIANTS = [
    "key",
    "Key",
    "KEY",
    "caf\u00e9",  # NFC
    "cafe\u0301",  # NFD of the same word
    "\ufb01le",  # the ligature 'fi': NFKC folds it to "file"
    "file",
    "\u212bngstr\u00f6m",  # ANGSTROM SIGN: NFC folds it to U+00C5
    "\u00c5ngstr\u00f6m",
    "stra\u00dfe",  # casefold gives "strasse"
    "strasse",
    "key ",
    " key",
    "key.",
    "key/",
    "\uff4b\uff45\uff59",  # full-width "key": NFKC folds it to "key"
]
"""Keys that differ only by a normalisation some backends apply silently."""

LITERAL_PREFIX_KEYS = [
    "a*b",
    "a?c",
    "a[b]c",
    "a%b",
    "a_b",
    "a.b",
    "a\\b",
    "axb",
    "ab",
    "a",
    "[b]x",
    "bx",
]

LITERAL_PREFIXES = {
    "a*": ["a*b"],
    "a?": ["a?c"],
    "a[": ["a[b]c"],
    "a[b]": ["a[b]c"],
    "[b]": ["[b]x"],
    "a%": ["a%b"],
    "a_": ["a_b"],
    "a.": ["a.b"],
    "a\\": ["a\\b"],
    "%": [],
    "_": [],
    "*": [],
    ".": [],
}
"""Each prefix with the keys of ``LITERAL_PREFIX_KEYS`` that start with it literally."""


def _store_each(client: StorageClient, ns: str, keys: list[str]) -> None:
    for index, key in enumerate(keys):
        client.blobs.put(ns, key, f"value {index}".encode())


def _values(client: StorageClient, ns: str, keys: list[str]) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for key in keys:
        try:
            found[key] = client.blobs.get(ns, key).data
        except NotFoundError:
            found[key] = None
    return found


def _listed(client: StorageClient, ns: str, prefix: str = "") -> list[str]:
    return [info.key for info in client.blobs.list(ns, prefix, limit=10_000)]


@contract("KEY-001")
def test_path_like_keys_each_keep_their_own_value(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """Each path-like key reads back its own value and lists as itself; nothing else exists."""
    ns = sanctum_namespace
    _store_each(sanctum_client, ns, PATH_LIKE)
    expected = {key: f"value {index}".encode() for index, key in enumerate(PATH_LIKE)}
    assert _values(sanctum_client, ns, PATH_LIKE) == expected, (
        f"{explain('KEY-001')} reading each key back gave another key's value or nothing"
    )
    sanctum_clock.advance(RAW_WINDOW_MS)
    assert _listed(sanctum_client, ns) == sorted(PATH_LIKE), (
        f"{explain('KEY-001')} list returned other keys than the {len(PATH_LIKE)} written"
    )
    strays = _values(sanctum_client, ns, NORMALISED_FORMS)
    assert set(strays.values()) == {None}, (
        f"{explain('KEY-001')} keys never written exist: {strays}"
    )


@contract("KEY-001")
def test_path_like_keys_never_reach_another_namespace(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
    sanctum_clock: VirtualClock,
) -> None:
    """A key climbing out of its namespace (``../<sibling>/k``) stays a key of its own namespace."""
    ns, sibling = sanctum_namespace, f"{sanctum_namespace}-sibling"
    climbing = [f"../{sibling}/k", f"../../{sibling}/k", f"/../{sibling}/k", f"x/../../{sibling}/k"]
    sanctum_client.blobs.put(sibling, "k", b"the sibling's own")
    _store_each(sanctum_client, ns, climbing)
    sanctum_clock.advance(RAW_WINDOW_MS)
    assert sanctum_client.blobs.get(sibling, "k").data == b"the sibling's own", (
        f"{explain('KEY-001')} a write in {ns!r} changed key 'k' of namespace {sibling!r}"
    )
    assert _listed(sanctum_client, sibling) == ["k"], (
        f"{explain('KEY-001')} namespace {sibling!r} gained keys from writes to {ns!r}"
    )
    stored = {key: sanctum_backdoor.read_object(Layer.BLOB, ns, key) for key in climbing}
    missing = sorted(key for key, blob in stored.items() if blob is None)
    assert not missing, f"{explain('KEY-001')} the backend holds no {missing} in {ns!r}"


@contract("KEY-001")
def test_deleting_a_path_like_key_deletes_only_that_key(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """Deleting ``a/../b`` leaves ``b`` and ``a/b``; deleting ``..`` leaves ``.``."""
    ns = sanctum_namespace
    _store_each(sanctum_client, ns, ["b", "a/b", "a/../b", ".", ".."])
    sanctum_client.blobs.delete(ns, "a/../b")
    sanctum_client.blobs.delete(ns, "..")
    sanctum_clock.advance(RAW_WINDOW_MS)
    assert _listed(sanctum_client, ns) == [".", "a/b", "b"], (
        f"{explain('KEY-001')} deleting 'a/../b' and '..' left {_listed(sanctum_client, ns)}"
    )


@contract("KEY-002")
def test_keys_differing_only_by_normalisation_are_separate(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """Case, NFC/NFD/NFKC forms, spaces, dots and slashes make different keys, listed as written."""
    ns = sanctum_namespace
    _store_each(sanctum_client, ns, EXACT_VARIANTS)
    expected = {key: f"value {index}".encode() for index, key in enumerate(EXACT_VARIANTS)}
    found = _values(sanctum_client, ns, EXACT_VARIANTS)
    merged = {key: found[key] for key in EXACT_VARIANTS if found[key] != expected[key]}
    assert not merged, (
        f"{explain('KEY-002')} these keys read back another key's value or nothing: "
        f"{ {key.encode('unicode_escape').decode(): value for key, value in merged.items()} }"
    )
    sanctum_clock.advance(RAW_WINDOW_MS)
    listed = _listed(sanctum_client, ns)
    assert listed == sorted(EXACT_VARIANTS), (
        f"{explain('KEY-002')} list returned "
        f"{[key.encode('unicode_escape').decode() for key in listed]}"
    )


@contract("KEY-003")
@pytest.mark.parametrize("prefix", sorted(LITERAL_PREFIXES))
def test_list_prefixes_match_literally(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    prefix: str,
) -> None:
    """``list(prefix)`` returns exactly the keys starting with those characters."""
    ns = sanctum_namespace
    _store_each(sanctum_client, ns, LITERAL_PREFIX_KEYS)
    sanctum_clock.advance(RAW_WINDOW_MS)
    listed = _listed(sanctum_client, ns, prefix)
    assert listed == LITERAL_PREFIXES[prefix], (
        f"{explain('KEY-003')} list(prefix={prefix!r}) returned {listed}, expected "
        f"{LITERAL_PREFIXES[prefix]}"
    )


@contract("KEY-004")
def test_stream_names_are_separate_streams(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor
) -> None:
    """Each path-like or near-identical stream name holds its own messages only."""
    ns = sanctum_namespace
    names = ["events", "../events", "a/../events", "./events", "Events", "caf\u00e9", "cafe\u0301"]
    for index, name in enumerate(names):
        sanctum_client.streams.append(ns, name, {"index": index})
    stored = {
        name: [message.payload for message in sanctum_backdoor.stream_messages(ns, name)]
        for name in names
    }
    expected = {name: [f'{{"index":{index}}}'.encode()] for index, name in enumerate(names)}
    assert stored == expected, (
        f"{explain('KEY-004')} each stream should hold its one message; the backend holds "
        f"{ {name.encode('unicode_escape').decode(): got for name, got in stored.items()} }"
    )
    for index, name in enumerate(names):
        payloads = [d.payload for d in sanctum_client.streams.read(ns, name, "g", "c")]
        assert payloads == [{"index": index}], (
            f"{explain('KEY-004')} group read of {name!r} delivered {payloads}"
        )
