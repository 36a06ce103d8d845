"""Identity contracts (ID-*): namespaces are separate worlds, keys are exact strings.

Vendors' adapters lose identity in a few recurring ways: the namespace joined to the key
with a separator that may appear in either (``ns.key``, ``ns-key``, ``nskey``), names
folded to one case or sanitised of punctuation, keys normalised to NFC (macOS file
systems), trimmed (SQL ``PAD SPACE`` collations) or truncated to a column's length, and
prefix listings done with patterns in which ``%``, ``_``, ``*``, ``?`` and ``[`` are
wildcards. Each test below writes names that such an adapter would confuse, and checks
each reads back as its own.

Every namespace a test uses starts with the test's own namespace, so the fixture's
``reset`` removes them all. Caches may drop any entry at any moment (ADR-001): a cache
check accepts a miss, never another name's entry, and needs at least one hit to prove
anything.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import pytest

from pytest_sanctum.client import StorageClient
from pytest_sanctum.clock import VirtualClock
from pytest_sanctum.errors import CacheMissError
from pytest_sanctum.kit.backdoor import Backdoor
from pytest_sanctum.kit.contracts import contract, explain
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.types import Layer
from pytest_sanctum.validation import MAX_IDEMPOTENCY_KEY_BYTES, MAX_KEY_BYTES

RAW_WINDOW_MS = 100.0
"""ADR-001's read-after-write window, advanced before a list (which the facade does not
retry): an adapter without read_after_write has had the window to replicate the writes."""

WORLDS: list[tuple[str, str]] = [
    ("", "k"),
    ("", "x.k"),
    (".x", "k"),
    ("", "x-k"),
    ("-x", "k"),
    ("", "x_k"),
    ("_x", "k"),
    ("", "xk"),
    ("x", "k"),
    ("X", "k"),
    ("x", "yk"),
    ("xy", "k"),
]
"""(namespace suffix, key) pairs: joined with ``.``, ``-``, ``_`` or nothing, several give
the same string; the suffixes differ by punctuation, case, or one extends another."""


def _longest(stem: str, last: str, limit: int = MAX_KEY_BYTES) -> str:
    """A key of exactly ``limit`` UTF-8 bytes: ``stem`` repeated, then ``last`` (one ASCII char)."""
    size = len(stem.encode())
    return stem * ((limit - 1) // size) + "-" * ((limit - 1) % size) + last


NFC_E = unicodedata.normalize("NFC", "caf\u00e9")
NFD_E = unicodedata.normalize("NFD", "caf\u00e9")

DISTINCT_KEYS: list[str] = [
    "Key",
    "key",
    "KEY",
    "stra\u00dfe",
    "strasse",
    NFC_E,
    NFD_E,
    "\ufb01le",
    "file",
    "\uff21",
    "A",
    "k",
    " k",
    "k ",
    "k  ",
    "a/b",
    "a%b",
    "a_b",
    "a*b",
    "a?b",
    "a[b]",
    "a\\b",
    "a'b",
    'a"b',
    _longest("a", "1"),
    _longest("a", "2"),
    _longest("\u00e9", "1"),
    _longest("\u00e9", "2"),
    _longest("\U0001f600", "1"),
    _longest("\U0001f600", "2"),
]
"""Keys that differ only by case, case folding, Unicode normalisation (NFC/NFD, NFKC),
surrounding spaces, characters special to patterns, or the last character of a key of the
longest length the facade accepts (1,024 UTF-8 bytes, in 1-, 2- and 4-byte characters)."""

SHORT_DISTINCT_NAMES: list[str] = ["s", "S", NFC_E, NFD_E, " s", "s "]
"""Stream and group names that must stay distinct (the long ones are added per test)."""


def _label(name: str) -> str:
    """A short, readable form of a possibly 1,024-byte name for assertion messages."""
    return repr(name) if len(name) <= 24 else f"{name[:8]!r}…{name[-4:]!r} ({len(name)} chars)"


def _labels(names: Iterable[str]) -> list[str]:
    return [_label(name) for name in names]


# -- namespaces ----------------------------------------------------------------------


@contract("ID-001")
@pytest.mark.parametrize("layer", ["blobs", "records"])
def test_namespaces_never_share_objects(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock, layer: str
) -> None:
    """Objects written under confusable (namespace, key) pairs each read and list as their own."""
    client, base = sanctum_client, sanctum_namespace

    def put(ns: str, key: str, tag: str) -> None:
        if layer == "blobs":
            client.blobs.put(ns, key, tag.encode())
        else:
            client.records.put(ns, key, {"tag": tag})

    def read(ns: str, key: str) -> str:
        if layer == "blobs":
            return client.blobs.get(ns, key).data.decode()
        return str(client.records.get(ns, key).value["tag"])

    for suffix, key in WORLDS:
        put(base + suffix, key, f"{suffix}|{key}")
    read_back = {(suffix, key): read(base + suffix, key) for suffix, key in WORLDS}
    wrong = {world: tag for world, tag in read_back.items() if tag != "|".join(world)}
    assert wrong == {}, (
        f"{explain('ID-001')} (namespace suffix, key) -> the tag read back, where it is not "
        f"the pair's own: {wrong}"
    )
    if layer == "blobs":
        sanctum_clock.advance(RAW_WINDOW_MS)
        for suffix in sorted({suffix for suffix, _ in WORLDS}):
            listed = [info.key for info in client.blobs.list(base + suffix)]
            own = sorted(key for s, key in WORLDS if s == suffix)
            assert listed == own, (
                f"{explain('ID-001')} list of namespace suffix {suffix!r} returned {listed}, "
                f"its own keys are {own}"
            )
    for suffix, key in WORLDS:
        if suffix == "":
            getattr(client, layer).delete(base, key)
    survivors = {(s, k): read(base + s, k) for s, k in WORLDS if s != ""}
    wrong = {world: tag for world, tag in survivors.items() if tag != "|".join(world)}
    assert wrong == {}, (
        f"{explain('ID-001')} after deleting the base namespace's keys, other namespaces "
        f"read {wrong}"
    )


@contract("ID-002")
def test_namespaces_never_share_streams(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
    sanctum_kit: KitSession,
) -> None:
    """Streams of confusable (namespace, stream) pairs keep their own messages, groups and keys."""
    streams, base = sanctum_client.streams, sanctum_namespace
    idempotent = sanctum_kit.capabilities.idempotent_append
    appended = {}
    for suffix, name in WORLDS:
        tag = f"{suffix}|{name}"
        if idempotent:
            appended[(suffix, name)] = streams.append(
                base + suffix, name, {"tag": tag}, idempotency_key="same-key"
            )
        else:
            appended[(suffix, name)] = streams.append(base + suffix, name, {"tag": tag})
    wrong_appends = {
        world: result
        for world, result in appended.items()
        if (result.sequence, result.duplicate) != (1, False)
    }
    assert wrong_appends == {}, (
        f"{explain('ID-002')} the first append to each stream, all with one idempotency key, "
        f"must be sequence 1 and not a duplicate; these were not: {wrong_appends}"
    )
    stored = {
        world: [
            message.sequence
            for message in sanctum_backdoor.stream_messages(base + world[0], world[1])
        ]
        for world in WORLDS
    }
    assert all(sequences == [1] for sequences in stored.values()), (
        f"{explain('ID-002')} each stream must hold its one message; the backend holds {stored}"
    )
    delivered = {}
    for suffix, name in WORLDS:
        deliveries = streams.read(base + suffix, name, "g", "c")
        delivered[(suffix, name)] = [d.payload for d in deliveries]
    wrong = {
        world: payloads
        for world, payloads in delivered.items()
        if payloads != [{"tag": "|".join(world)}]
    }
    assert wrong == {}, (
        f"{explain('ID-002')} group 'g' of each stream must receive exactly its own message; "
        f"these received otherwise: {wrong}"
    )
    if idempotent:
        repeats = {
            world: streams.append(
                base + world[0], world[1], {"again": 1}, idempotency_key="same-key"
            )
            for world in WORLDS
        }
        wrong_repeats = {
            world: result
            for world, result in repeats.items()
            if (result.message_id, result.duplicate) != ("1", True)
        }
        assert wrong_repeats == {}, (
            f"{explain('ID-002')} repeating the key on each stream must return its own "
            f"message 1 as a duplicate; these did not: {wrong_repeats}"
        )


@contract("ID-003")
def test_namespaces_never_share_cache_entries(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock
) -> None:
    """Cache entries, set directly or filled by reads, never serve another namespace."""
    client, base = sanctum_client, sanctum_namespace
    for suffix, key in WORLDS:
        client.cache.set(base + suffix, key, f"{suffix}|{key}".encode())
        client.records.put(base + suffix, key, {"tag": f"{suffix}|{key}"})
    sanctum_clock.advance(RAW_WINDOW_MS)
    for suffix, key in WORLDS:
        client.records.get(base + suffix, key)  # fills the cache
    hits = {"direct": 0, "filled": 0}
    wrong: dict[tuple[str, str, str], object] = {}
    for suffix, key in WORLDS:
        own = f"{suffix}|{key}"
        try:
            direct = client.cache.get(base + suffix, key).decode()
        except CacheMissError:
            pass
        else:
            hits["direct"] += 1
            if direct != own:
                wrong[("direct", suffix, key)] = direct
        try:
            filled = client.records.get(base + suffix, key, level="cache_only").value["tag"]
        except CacheMissError:
            pass
        else:
            hits["filled"] += 1
            if filled != own:
                wrong[("filled", suffix, key)] = filled
    assert wrong == {}, (
        f"{explain('ID-003')} (entry, namespace suffix, key) -> what the cache served instead "
        f"of the pair's own entry: {wrong}"
    )
    assert min(hits.values()) > 0, (
        f"{explain('ID-003')} of {len(WORLDS)} entries set and {len(WORLDS)} filled, the "
        f"cache served {hits}: no entry was kept even for a moment"
    )


# -- keys ------------------------------------------------------------------------------


@contract("ID-004")
@pytest.mark.parametrize("layer", ["blobs", "records"])
def test_object_keys_are_exact(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_clock: VirtualClock,
    sanctum_backdoor: Backdoor,
    layer: str,
) -> None:
    """Keys differing by case, normalisation, spaces or their last byte are distinct objects."""
    client, ns = sanctum_client, sanctum_namespace
    for index, key in enumerate(DISTINCT_KEYS):
        if layer == "blobs":
            client.blobs.put(ns, key, str(index).encode())
        else:
            client.records.put(ns, key, {"index": index})
    wrong = {}
    for index, key in enumerate(DISTINCT_KEYS):
        found: tuple[str, object]
        if layer == "blobs":
            blob = client.blobs.get(ns, key)
            found = (blob.key, int(blob.data))
        else:
            record = client.records.get(ns, key)
            found = (record.key, record.value["index"])
        if found != (key, index):
            wrong[_label(key)] = (_label(found[0]), found[1])
    assert wrong == {}, (
        f"{explain('ID-004')} key -> (key, index of the write) read back, where not the "
        f"key's own: {wrong}"
    )
    if layer == "blobs":
        sanctum_clock.advance(RAW_WINDOW_MS)
        listed = [info.key for info in client.blobs.list(ns)]
        assert listed == sorted(DISTINCT_KEYS), (
            f"{explain('ID-004')} list returned {len(listed)} keys {_labels(listed)}, "
            f"expected the {len(DISTINCT_KEYS)} written, sorted: {_labels(sorted(DISTINCT_KEYS))}"
        )
        read_stored = sanctum_backdoor.read_object
        missing = [_label(key) for key in DISTINCT_KEYS if read_stored(Layer.BLOB, ns, key) is None]
        assert missing == [], f"{explain('ID-004')} the backend holds no blob under {missing}"


@contract("ID-005")
def test_stream_group_and_idempotency_keys_are_exact(
    sanctum_client: StorageClient,
    sanctum_namespace: str,
    sanctum_backdoor: Backdoor,
    sanctum_kit: KitSession,
) -> None:
    """Confusable stream names, group names and idempotency keys stay distinct."""
    streams, ns = sanctum_client.streams, sanctum_namespace
    names = [*SHORT_DISTINCT_NAMES, _longest("s", "1"), _longest("s", "2")]
    for name in names:
        streams.append(ns, name, {"stream": name})
    held = {
        _label(name): [message.sequence for message in sanctum_backdoor.stream_messages(ns, name)]
        for name in names
    }
    assert all(sequences == [1] for sequences in held.values()), (
        f"{explain('ID-005')} each of {len(names)} streams must hold its one message: {held}"
    )
    wrong = {}
    for name in names:
        payloads = [d.payload for d in streams.read(ns, name, "g", "c")]
        if payloads != [{"stream": name}]:
            wrong[_label(name)] = payloads
    assert wrong == {}, f"{explain('ID-005')} streams read another's messages: {wrong}"
    groups = [*SHORT_DISTINCT_NAMES, _longest("g", "1"), _longest("g", "2")]
    streams.append(ns, "shared", {"n": 1})
    per_group = {_label(group): len(streams.read(ns, "shared", group, "c")) for group in groups}
    assert set(per_group.values()) == {1}, (
        f"{explain('ID-005')} every group of stream 'shared' must receive its one message; "
        f"group -> deliveries: {per_group}"
    )
    if sanctum_kit.capabilities.idempotent_append:
        keys = [
            "Key",
            "key",
            NFC_E,
            NFD_E,
            "k",
            "k ",
            _longest("i", "1", MAX_IDEMPOTENCY_KEY_BYTES),
            _longest("i", "2", MAX_IDEMPOTENCY_KEY_BYTES),
        ]
        results = {
            _label(key): streams.append(ns, "keyed", {"key": key}, idempotency_key=key).duplicate
            for key in keys
        }
        assert not any(results.values()), (
            f"{explain('ID-005')} distinct idempotency keys were taken for one another "
            f"(key -> duplicate): {results}"
        )


@contract("ID-006")
def test_cache_keys_are_exact(sanctum_client: StorageClient, sanctum_namespace: str) -> None:
    """Confusable cache keys never serve each other's entries."""
    cache, ns = sanctum_client.cache, sanctum_namespace
    for index, key in enumerate(DISTINCT_KEYS):
        cache.set(ns, key, str(index).encode())
    hits, wrong = 0, {}
    for index, key in enumerate(DISTINCT_KEYS):
        try:
            served = cache.get(ns, key)
        except CacheMissError:
            continue
        hits += 1
        if served != str(index).encode():
            wrong[_label(key)] = f"the entry of {_label(DISTINCT_KEYS[int(served)])}"
    assert wrong == {}, f"{explain('ID-006')} key -> what the cache served: {wrong}"
    assert hits > 0, f"{explain('ID-006')} of {len(DISTINCT_KEYS)} entries set, none was served"


PREFIX_KEYS: list[str] = sorted(
    {
        "a%b",
        "a%c",
        "aXb",
        "a_b",
        "aab",
        "a*b",
        "a*c",
        "azb",
        "a?b",
        "a[b]",
        "ab]",
        "a\\b",
        "a\\c",
        "a.b",
        "aXc",
        "img/a",
        "IMG/b",
        "Img/c",
        "ximg/a",
        "x/a%b",
        NFC_E + "-1",
        NFD_E + "-2",
    }
)
"""Keys around the wildcard characters of SQL LIKE (``%``, ``_``, ``\\``), GLOB and Redis
patterns (``*``, ``?``, ``[``), case variants, a key containing a prefix in its middle, and
NFC and NFD spellings of one word."""

PREFIXES = ["a%", "a_", "a*", "a?", "a[", "a[b", "a\\", "a.", "img/", "IMG/", "a", "/a", NFC_E]


@contract("ID-007")
@pytest.mark.parametrize("prefix", PREFIXES, ids=[f"prefix-{n}" for n in range(len(PREFIXES))])
def test_a_prefix_is_a_prefix(
    sanctum_client: StorageClient, sanctum_namespace: str, sanctum_clock: VirtualClock, prefix: str
) -> None:
    """list(prefix) returns exactly the keys that start with the prefix, character for character."""
    blobs, ns = sanctum_client.blobs, sanctum_namespace
    for key in PREFIX_KEYS:
        blobs.put(ns, key, key.encode())
    sanctum_clock.advance(RAW_WINDOW_MS)
    listed = [info.key for info in blobs.list(ns, prefix)]
    expected = [key for key in PREFIX_KEYS if key.startswith(prefix)]
    assert listed == expected, (
        f"{explain('ID-007')} list(prefix={prefix!r}) returned {listed}, expected {expected}"
    )
