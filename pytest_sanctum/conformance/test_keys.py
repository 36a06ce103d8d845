"""Key contracts (KEY-*): untrusted keys and stream names are never read as paths.

The facade checks a key's grammar (a non-empty printable string of at most 1024 UTF-8
bytes) and passes it on unchanged. An adapter stores it as it is: a backend that joins
``namespace/key`` into a file path and normalises it lets one caller's key overwrite
another key, or reach another namespace. (Case, Unicode normalisation and literal list
prefixes are the identity contracts ``ID-004`` to ``ID-007``.)
"""

from __future__ import annotations

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
def test_path_like_stream_names_are_separate_streams(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_backdoor: Backdoor
) -> None:
    """Each path-like stream name holds its own messages only; no other namespace's stream changes."""
    ns, sibling = sanctum_namespace, f"{sanctum_namespace}-sibling"
    names = ["events", "../events", "a/../events", "./events", "events/", f"../{sibling}/events"]
    sanctum_client.streams.append(sibling, "events", {"index": "sibling"})
    for index, name in enumerate(names):
        sanctum_client.streams.append(ns, name, {"index": index})
    stored = {
        name: [message.payload for message in sanctum_backdoor.stream_messages(ns, name)]
        for name in names
    }
    expected = {name: [f'{{"index":{index}}}'.encode()] for index, name in enumerate(names)}
    assert stored == expected, (
        f"{explain('KEY-002')} each stream should hold its one message; the backend holds {stored}"
    )
    sibling_stream = [m.payload for m in sanctum_backdoor.stream_messages(sibling, "events")]
    assert sibling_stream == [b'{"index":"sibling"}'], (
        f"{explain('KEY-002')} stream 'events' of namespace {sibling!r} holds {sibling_stream}"
    )
    for index, name in enumerate(names):
        payloads = [d.payload for d in sanctum_client.streams.read(ns, name, "g", "c")]
        assert payloads == [{"index": index}], (
            f"{explain('KEY-002')} group read of {name!r} delivered {payloads}"
        )
