"""Lossy variants of the memory adapter, generated mechanically, for the differential tier.

Each generated mutant combines one *defect* with one *place* it applies to, the way the
same bug class turns up with different specifics in real adapters:

- **Name mappings** (case folding, Unicode normalisation, stripping, truncation at a
  byte length, punctuation collapsing, dropping pattern characters) applied to the keys of
  one store (blobs, records, stream names, group names, cache keys) or to namespaces.
- **Shared storage**: records kept in the blob keyspace, one namespace for all, consumer
  groups or cache entries not keyed by everything that names them.
- **Metadata dropped or changed on one read path** (``head``, ``list``, a cache entry,
  an error's current etag).
- **Numbers narrowed**: sizes to 16 bits, times to 32-bit floats or whole milliseconds
  or seconds, TTLs and windows to integers.
- **Stale reads**: an instance that memoises reads and so misses what another instance
  wrote; **lifecycle**: a store answering after ``close()``, ``reset`` forgetting a table.
- **Ordering and paging**: UTF-16 or case-insensitive order, a prefix read as a pattern.

They live in ``GENERATED``, apart from ``MUTANTS``: each must be killed by the ``DIFF-*``
contracts (``python -m mutation.kill_rates`` runs every one with ten seeds;
``test_kit_generated.py`` runs a fixed sample of those killed with every seed). Run one
with ``--sanctum-adapter=mutants:<name>``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import struct
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from mutants.base import MUTANTS, Mutant, Mutated, Wrap, basic_memory, swap
from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import (
    BackendUnavailableError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.types import Blob, BlobInfo, CacheEntry, GroupCheckpoint

Factory = Callable[[Mapping[str, object], Clock], Any]

GENERATED: dict[str, Factory] = {}
"""Every generated mutant by name (``gen-...``): an adapter factory."""


def _add(name: str, doc: str, factory: Factory) -> None:
    factory.__doc__ = doc
    factory.__name__ = name
    GENERATED[name] = factory


def _truncate(limit: int) -> Callable[[str], str]:
    def cut(name: str) -> str:
        return name.encode("utf-8")[:limit].decode("utf-8", "ignore")

    return cut


NAME_MAPPINGS: dict[str, Callable[[str], str]] = {
    "fold-case": str.lower,
    "upper-case": str.upper,
    "casefold": str.casefold,
    "nfc": lambda name: unicodedata.normalize("NFC", name),
    "nfkc": lambda name: unicodedata.normalize("NFKC", name),
    "nfkd": lambda name: unicodedata.normalize("NFKD", name),
    "strip": str.strip,
    "truncate-1000": _truncate(1000),
    "truncate-255": _truncate(255),
    "punctuation": lambda name: name.translate(str.maketrans("/._-:", "_____")),
    "drop-patterns": lambda name: name.translate(str.maketrans("", "", "%*?[]{}")),
}
"""Lossy name mappings: each maps distinct valid names to one stored name."""


# -- name mappings on one store --------------------------------------------------------


class _VersionedNames(Wrap):
    """A versioned store keeping each key under ``mapping(key)``."""

    def __init__(self, inner: Any, mapping: Callable[[str], str]) -> None:
        super().__init__(inner)
        self.map = mapping

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> Any:
        return self.inner.put(namespace, self.map(key), data, **options)

    def get(self, namespace: str, key: str) -> Any:
        return self.inner.get(namespace, self.map(key))

    def head(self, namespace: str, key: str) -> Any:
        return self.inner.head(namespace, self.map(key))

    def delete(self, namespace: str, key: str, **options: Any) -> Any:
        return self.inner.delete(namespace, self.map(key), **options)

    def list(self, namespace: str, prefix: str = "", **options: Any) -> Any:
        after = options.get("start_after")
        if after is not None:
            options["start_after"] = self.map(after)
        return self.inner.list(namespace, self.map(prefix), **options)


class _StreamNames(Wrap):
    def __init__(self, inner: Any, mapping: Callable[[str], str]) -> None:
        super().__init__(inner)
        self.map = mapping

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        return self.inner.append(namespace, self.map(stream), payload, **options)

    def read(self, namespace: str, stream: str, **options: Any) -> Any:
        return self.inner.read(namespace, self.map(stream), **options)


class _GroupNames(Wrap):
    def __init__(self, inner: Any, mapping: Callable[[str], str]) -> None:
        super().__init__(inner)
        self.map = mapping

    def load(self, namespace: str, stream: str, group: str) -> Any:
        return self.inner.load(namespace, stream, self.map(group))

    def save(self, namespace: str, stream: str, group: str, checkpoint: Any) -> Any:
        return self.inner.save(namespace, stream, self.map(group), checkpoint)


class _CacheNames(Wrap):
    def __init__(self, inner: Any, mapping: Callable[[str], str]) -> None:
        super().__init__(inner)
        self.map = mapping

    def get(self, namespace: str, key: str) -> Any:
        return self.inner.get(namespace, self.map(key))

    def set(self, namespace: str, key: str, entry: Any, ttl_ms: float) -> None:
        self.inner.set(namespace, self.map(key), entry, ttl_ms)

    def delete(self, namespace: str, key: str) -> None:
        self.inner.delete(namespace, self.map(key))


NAME_TARGETS: dict[str, tuple[type[Wrap], tuple[str, ...]]] = {
    "blob-keys": (_VersionedNames, ("blobs",)),
    "record-keys": (_VersionedNames, ("records",)),
    "stream-names": (_StreamNames, ("streams",)),
    "group-names": (_GroupNames, ("checkpoints",)),
    "cache-keys": (_CacheNames, ("cache",)),
}
"""Where a name mapping applies: the wrapper and the stores it wraps."""


def _named(wrapper: type[Wrap], mapping: Callable[[str], str], stores: tuple[str, ...]) -> Factory:
    return lambda options, clock: swap(options, clock, lambda s: wrapper(s, mapping), *stores)  # type: ignore[call-arg]


for _target, (_wrapper, _stores) in NAME_TARGETS.items():
    for _mapping_name in (
        ("fold-case", "nfkc", "strip", "truncate-1000", "punctuation")
        if _target in ("stream-names", "group-names", "cache-keys")
        else tuple(NAME_MAPPINGS)
    ):
        _add(
            f"gen-{_target}-{_mapping_name}",
            f"{_target} stored under their {_mapping_name} mapping: distinct names collide.",
            _named(_wrapper, NAME_MAPPINGS[_mapping_name], _stores),
        )


# -- namespaces mapped on every store ----------------------------------------------------


class _Namespaces(Wrap):
    """Any store, with the namespace argument (always the first) mapped."""

    def __init__(self, inner: Any, mapping: Callable[[str], str]) -> None:
        super().__init__(inner)
        self.map = mapping

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name.startswith("_") or not callable(found):
            return found
        return lambda namespace, *args, **options: found(self.map(namespace), *args, **options)


NAMESPACE_MAPPINGS: dict[str, Callable[[str], str]] = {
    "fold-case": str.lower,
    "truncate-64": lambda ns: ns[:64],
    "truncate-127": lambda ns: ns[:127],
    "punctuation": lambda ns: ns.translate(str.maketrans("._", "--")),
    "strip-trailing-punctuation": lambda ns: ns.rstrip("._-"),
}

for _mapping_name, _mapping in NAMESPACE_MAPPINGS.items():
    _add(
        f"gen-namespaces-{_mapping_name}",
        f"Namespaces mapped by {_mapping_name} on every store: distinct namespaces share data.",
        (
            lambda mapping: (
                lambda options, clock: swap(
                    options,
                    clock,
                    lambda s: _Namespaces(s, mapping),
                    "blobs",
                    "records",
                    "streams",
                    "checkpoints",
                    "cache",
                )
            )
        )(_mapping),
    )


# -- shared storage ------------------------------------------------------------------------


def _records_in_blobs(options: Mapping[str, object], clock: Clock) -> Mutated:
    inner = basic_memory(options, clock)
    return Mutated(inner, records=inner.blobs)


_add("gen-shared-records-in-blobs", "Records are kept in the blob keyspace.", _records_in_blobs)


class _OneNamespace(Wrap):
    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name.startswith("_") or not callable(found):
            return found
        return lambda namespace, *args, **options: found(namespace.split("-")[0], *args, **options)


for _store in ("blobs", "streams", "cache"):
    _add(
        f"gen-shared-namespace-{_store}",
        f"The {_store} store keeps every namespace of a run in one (its first dash-part).",
        (lambda store: lambda options, clock: swap(options, clock, _OneNamespace, store))(_store),
    )


class _GroupsByName(Wrap):
    """Consumer groups keyed by group name only, not by stream."""

    def load(self, namespace: str, stream: str, group: str) -> Any:
        return self.inner.load(namespace, "*", group)

    def save(self, namespace: str, stream: str, group: str, checkpoint: Any) -> Any:
        return self.inner.save(namespace, "*", group, checkpoint)


_add(
    "gen-shared-groups-across-streams",
    "Consumer groups are keyed by name only: one group's state serves every stream.",
    lambda options, clock: swap(options, clock, _GroupsByName, "checkpoints"),
)


_add(
    "gen-shared-cache-records-read-blob-entries",
    "The cache keeps a record's entry under the blob key of the same name.",
    lambda options, clock: swap(
        options, clock, lambda s: _CacheNames(s, lambda k: k.replace("record/", "blob/")), "cache"
    ),
)


# -- metadata dropped or changed on one read path ----------------------------------------


class _Metadata(Wrap):
    def __init__(self, inner: Any, path: str, change: Callable[[Any], Any]) -> None:
        super().__init__(inner)
        self.path = path
        self.change = change

    def head(self, namespace: str, key: str) -> Any:
        found = self.inner.head(namespace, key)
        return self.change(found) if self.path == "head" else found

    def get(self, namespace: str, key: str) -> Any:
        found = self.inner.get(namespace, key)
        return self.change(found) if self.path == "get" else found

    def list(self, namespace: str, prefix: str = "", **options: Any) -> Any:
        found = self.inner.list(namespace, prefix, **options)
        return [self.change(info) for info in found] if self.path == "list" else found


METADATA: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "head-content-type": ("head", lambda i: dataclasses.replace(i, content_type=None)),
    "list-content-type": ("list", lambda i: dataclasses.replace(i, content_type=None)),
    "list-size": ("list", lambda i: dataclasses.replace(i, size=0)),
    "head-size-uint16": ("head", lambda i: dataclasses.replace(i, size=i.size % 2**16)),
    "list-size-uint8": ("list", lambda i: dataclasses.replace(i, size=i.size % 2**8)),
    "get-content-type-lower": (
        "get",
        lambda b: dataclasses.replace(b, content_type=b.content_type and b.content_type.lower()),
    ),
    "head-etag-of-previous-write": (
        "head",
        lambda i: dataclasses.replace(i, etag=f"{i.version - 1}-stale"),
    ),
    "list-etag-blank": ("list", lambda i: dataclasses.replace(i, etag="")),
}

for _name, (_path, _change) in METADATA.items():
    _add(
        f"gen-metadata-{_name}",
        f"Metadata changed on one read path: {_name}.",
        (
            lambda path, change: (
                lambda options, clock: swap(
                    options, clock, lambda s: _Metadata(s, path, change), "blobs"
                )
            )
        )(_path, _change),
    )


class _NoCurrentEtag(Wrap):
    """Precondition failures without the key's current etag and version."""

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> Any:
        try:
            return self.inner.put(namespace, key, data, **options)
        except PreconditionFailedError as error:
            raise PreconditionFailedError(error.message, namespace=namespace, key=key) from None


_add(
    "gen-metadata-precondition-without-current-etag",
    "A refused conditional put does not name the current etag and version.",
    lambda options, clock: swap(options, clock, _NoCurrentEtag, "blobs", "records"),
)


# -- numbers narrowed --------------------------------------------------------------------


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


class _CacheNumbers(Wrap):
    def __init__(
        self, inner: Any, entry: Callable[[Any], Any], ttl: Callable[[float], float]
    ) -> None:
        super().__init__(inner)
        self.entry = entry
        self.ttl = ttl

    def set(self, namespace: str, key: str, entry: Any, ttl_ms: float) -> None:
        self.inner.set(namespace, key, self.entry(entry), self.ttl(ttl_ms))


CACHE_NUMBERS: dict[str, tuple[Callable[[Any], Any], Callable[[float], float]]] = {
    "stored-at-float32": (
        lambda e: dataclasses.replace(e, stored_at_ms=_float32(e.stored_at_ms)),
        lambda t: t,
    ),
    "expires-at-whole-seconds": (
        lambda e: dataclasses.replace(e, expires_at_ms=e.expires_at_ms // 1000 * 1000),
        lambda t: t,
    ),
}

for _name, (_entry, _ttl) in CACHE_NUMBERS.items():
    _add(
        f"gen-narrow-cache-{_name}",
        f"Cache entries stored with a narrowed number: {_name}.",
        (
            lambda entry, ttl: (
                lambda options, clock: swap(
                    options, clock, lambda s: _CacheNumbers(s, entry, ttl), "cache"
                )
            )
        )(_entry, _ttl),
    )


class _StreamNumbers(Wrap):
    def __init__(
        self, inner: Any, window: Callable[[float], float], now: Callable[[float], float]
    ) -> None:
        super().__init__(inner)
        self.window = window
        self.now = now

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        options["dedupe_window_ms"] = self.window(options.get("dedupe_window_ms", 0.0))
        options["now_ms"] = self.now(options.get("now_ms", 0.0))
        return self.inner.append(namespace, stream, payload, **options)


_add(
    "gen-narrow-dedupe-window-integer",
    "The dedupe window is stored as whole milliseconds.",
    lambda options, clock: swap(
        options, clock, lambda s: _StreamNumbers(s, lambda w: float(int(w)), lambda n: n), "streams"
    ),
)
_add(
    "gen-narrow-append-time-whole-seconds",
    "Append times are stored as whole seconds.",
    lambda options, clock: swap(
        options,
        clock,
        lambda s: _StreamNumbers(s, lambda w: w, lambda n: n // 1000 * 1000),
        "streams",
    ),
)


class _CheckpointNumbers(Wrap):
    def save(self, namespace: str, stream: str, group: str, checkpoint: GroupCheckpoint) -> Any:
        narrowed = checkpoint._replace(
            pending={
                seq: p._replace(visible_at_ms=_float32(p.visible_at_ms))
                for seq, p in checkpoint.pending.items()
            }
        )
        return self.inner.save(namespace, stream, group, narrowed)


_add(
    "gen-narrow-visible-at-float32",
    "Visible-again times of pending deliveries are stored as 32-bit floats.",
    lambda options, clock: swap(options, clock, _CheckpointNumbers, "checkpoints"),
)


class _BlobNumbers(Wrap):
    def get(self, namespace: str, key: str) -> Blob:
        blob = self.inner.get(namespace, key)
        return dataclasses.replace(blob, data=blob.data[: 2**16 - 1])


_add(
    "gen-narrow-payload-uint16",
    "Blob payloads are read back cut to 65535 bytes (a 16-bit length).",
    lambda options, clock: swap(options, clock, _BlobNumbers, "blobs"),
)


# -- stale reads after another instance writes -------------------------------------------


class _Memo(Wrap):
    """Each instance memoises reads and forgets only its own writes."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.memo: dict[tuple[str, str], Any] = {}

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> Any:
        self.memo.pop((namespace, key), None)
        return self.inner.put(namespace, key, data, **options)

    def delete(self, namespace: str, key: str, **options: Any) -> Any:
        self.memo.pop((namespace, key), None)
        return self.inner.delete(namespace, key, **options)

    def get(self, namespace: str, key: str) -> Blob:
        if (namespace, key) not in self.memo:
            self.memo[(namespace, key)] = self.inner.get(namespace, key)
        return self.memo[(namespace, key)]  # type: ignore[no-any-return]


class _MemoHead(_Memo):
    def get(self, namespace: str, key: str) -> Blob:
        return self.inner.get(namespace, key)  # type: ignore[no-any-return]

    def head(self, namespace: str, key: str) -> BlobInfo:
        if (namespace, key) not in self.memo:
            self.memo[(namespace, key)] = self.inner.head(namespace, key)
        return self.memo[(namespace, key)]  # type: ignore[no-any-return]


class _MemoStream(Wrap):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.memo: dict[tuple[str, str, int, int], Any] = {}

    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> Any:
        key = (namespace, stream, after, limit)
        if key not in self.memo:
            self.memo[key] = self.inner.read(namespace, stream, after=after, limit=limit)
        return self.memo[key]


class _MemoCheckpoint(Wrap):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.memo: dict[tuple[str, str, str], Any] = {}

    def load(self, namespace: str, stream: str, group: str) -> Any:
        key = (namespace, stream, group)
        if key not in self.memo:
            self.memo[key] = self.inner.load(namespace, stream, group)
        return self.memo[key]

    def save(self, namespace: str, stream: str, group: str, checkpoint: Any) -> Any:
        saved = self.inner.save(namespace, stream, group, checkpoint)
        self.memo[(namespace, stream, group)] = saved
        return saved


for _name, (_memo, _stores) in {
    "blob-get": (_Memo, ("blobs",)),
    "record-get": (_Memo, ("records",)),
    "blob-head": (_MemoHead, ("blobs",)),
    "stream-read": (_MemoStream, ("streams",)),
    "checkpoint-load": (_MemoCheckpoint, ("checkpoints",)),
}.items():
    _add(
        f"gen-stale-{_name}",
        f"Each instance memoises {_name}: what another instance writes is never seen.",
        (lambda memo, stores: lambda options, clock: swap(options, clock, memo, *stores))(
            _memo, _stores
        ),
    )


# -- lifecycle -------------------------------------------------------------------------


class _AnswersAfterClose(Mutated):
    """``close()`` leaves one store open (its refusals are switched off again)."""

    kept = ""

    def close(self) -> None:
        super().close()
        getattr(self.inner, self.kept)._refusal = ""


for _store in ("blobs", "records", "streams", "checkpoints", "cache"):
    _add(
        f"gen-lifecycle-{_store}-open-after-close",
        f"The {_store} store keeps answering after close().",
        (
            lambda store: (
                lambda options, clock: type("Kept", (_AnswersAfterClose,), {"kept": store})(
                    basic_memory(options, clock)
                )
            )
        )(_store),
    )


class _ResetForgets(Mutated):
    """``reset`` leaves one table alone."""

    table = ""

    def reset(self, namespace_prefix: str) -> None:
        server = self.inner.server
        with server.lock:
            saved = getattr(server, self.table)
            kept = dict(saved.live) if hasattr(saved, "live") else dict(saved)
        self.inner.reset(namespace_prefix)
        with server.lock:
            if hasattr(saved, "live"):
                saved.live.update(kept)
                for ns, objects in kept.items():
                    saved.index[ns] = sorted(objects)
            else:
                saved.update(kept)


for _table in ("blobs", "records", "messages", "checkpoints"):
    _add(
        f"gen-lifecycle-reset-keeps-{_table}",
        f"reset() leaves the {_table} table alone.",
        (
            lambda table: (
                lambda options, clock: type("Forgets", (_ResetForgets,), {"table": table})(
                    basic_memory(options, clock)
                )
            )
        )(_table),
    )


# -- ordering and paging -----------------------------------------------------------------


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-be")


class _Ordered(Wrap):
    """``list`` in another order than the code points', computed over all keys."""

    def __init__(
        self, inner: Any, order: Callable[[str], Any], match: Callable[[str, str], bool]
    ) -> None:
        super().__init__(inner)
        self.order = order
        self.match = match

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> Any:
        everything = self.inner.list(namespace, "", limit=10**9)
        chosen = sorted(
            (i for i in everything if self.match(i.key, prefix)), key=lambda i: self.order(i.key)
        )
        if start_after is not None:
            chosen = [i for i in chosen if self.order(i.key) > self.order(start_after)]
        return chosen[:limit]


ORDERS: dict[str, tuple[Callable[[str], Any], Callable[[str, str], bool]]] = {
    "utf16-order": (_utf16, str.startswith),
    "casefold-order": (lambda k: (k.casefold(), k), str.startswith),
    "prefix-as-like-pattern": (
        lambda k: k,
        lambda k, p: fnmatch.fnmatchcase(k, p.replace("%", "*").replace("_", "?") + "*"),
    ),
    "prefix-as-glob": (lambda k: k, lambda k, p: fnmatch.fnmatchcase(k, p + "*")),
    "prefix-case-insensitive": (lambda k: k, lambda k, p: k.lower().startswith(p.lower())),
}

for _name, (_order, _match) in ORDERS.items():
    _add(
        f"gen-list-{_name}",
        f"list: {_name}.",
        (
            lambda order, match: (
                lambda options, clock: swap(
                    options, clock, lambda s: _Ordered(s, order, match), "blobs"
                )
            )
        )(_order, _match),
    )


class _Paged(Wrap):
    """``list`` pages that break the paging rules of ``VersionedStore.list``: a page may be
    shorter than ``limit`` but never longer, never empty while keys remain, and starts
    strictly after ``start_after``."""

    def __init__(self, inner: Any, fault: str) -> None:
        super().__init__(inner)
        self.fault = fault

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> Any:
        if self.fault == "over-limit":
            return self.inner.list(namespace, prefix, start_after=start_after, limit=limit + 1)
        if self.fault == "start-after-inclusive":
            page = self.inner.list(namespace, prefix, start_after=start_after, limit=limit)
            try:
                current = self.inner.head(namespace, start_after) if start_after else None
            except NotFoundError:
                current = None
            return (
                [current, *page][:limit]
                if current is not None and current.key.startswith(prefix)
                else page
            )
        # filters-after-paging: a backend page of any keys, the prefix filtered out of it
        page = self.inner.list(namespace, "", start_after=start_after, limit=limit)
        return [info for info in page if info.key.startswith(prefix)]


PAGING = {
    "over-limit": "returns one entry more than asked when more remain",
    "start-after-inclusive": "includes the start_after key itself",
    "filters-after-paging": (
        "filters the prefix out of a page of any keys, so a page comes back short or "
        "empty while matching keys remain"
    ),
}

for _fault, _doc in PAGING.items():
    for _store in ("blobs", "records"):
        _add(
            f"gen-{_store}-list-{_fault}",
            f"The {_store} store's list {_doc}.",
            (
                lambda fault, store: (
                    lambda options, clock: swap(options, clock, lambda s: _Paged(s, fault), store)
                )
            )(_fault, _store),
        )


class _ClosedLies(Wrap):
    """After close, reads answer ``NotFoundError``-free empties instead of refusing."""

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        try:
            return self.inner.get(namespace, key)  # type: ignore[no-any-return]
        except BackendUnavailableError:
            return None


_add(
    "gen-lifecycle-closed-cache-misses",
    "A closed cache answers every get with a miss instead of refusing.",
    lambda options, clock: swap(options, clock, _ClosedLies, "cache"),
)


MUTANTS["gen-blob-keys-fold-case"] = Mutant(
    GENERATED["gen-blob-keys-fold-case"], frozenset({"DIFF-001", "DIFF-002", "DIFF-003"}), "adapter"
)
"""One generated mutant joins the registry, so every ``DIFF-*`` contract is shown to fail in
``test_kit_mutants.py`` too (with the fixed seed of those runs)."""
