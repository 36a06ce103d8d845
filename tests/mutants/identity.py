"""Mutants that lose identity: namespaces that bleed into each other, keys that are not
exact (folded, normalised, trimmed, truncated), prefixes matched as patterns."""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from mutants.base import VERSIONED, Mutated, Wrap, adapter_mutant, swap
from pytest_sanctum.clock import Clock
from pytest_sanctum.types import (
    AppendResult,
    Blob,
    BlobInfo,
    CacheEntry,
    GroupCheckpoint,
    WriteResult,
)

Rename = Callable[[str, str], tuple[str, str]]
"""(namespace, key) -> the (namespace, key) the broken adapter really uses."""


class _Renamed(Wrap):
    """A versioned store that stores (namespace, key) under ``rename(namespace, key)``; list
    results are given back with ``unname`` applied to their keys."""

    rename: Rename
    unname: Callable[[str, str], str] = staticmethod(lambda namespace, key: key)

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        return self.inner.put(*self.rename(namespace, key), data, **options)  # type: ignore[no-any-return]

    def get(self, namespace: str, key: str) -> Blob:
        return self.inner.get(*self.rename(namespace, key))  # type: ignore[no-any-return]

    def head(self, namespace: str, key: str) -> BlobInfo:
        return self.inner.head(*self.rename(namespace, key))  # type: ignore[no-any-return]

    def delete(self, namespace: str, key: str, **options: Any) -> int:
        return self.inner.delete(*self.rename(namespace, key), **options)  # type: ignore[no-any-return]

    def list(self, namespace: str, prefix: str = "", **options: Any) -> list[BlobInfo]:
        infos: list[BlobInfo] = self.inner.list(*self.rename(namespace, prefix), **options)
        return [
            BlobInfo(self.unname(namespace, i.key), i.version, i.etag, i.size, i.content_type)
            for i in infos
        ]


def _renamed(rename: Rename, unname: Callable[[str, str], str] | None = None) -> type[_Renamed]:
    attributes: dict[str, Any] = {"rename": staticmethod(rename)}
    if unname is not None:
        attributes["unname"] = staticmethod(unname)
    return type("_RenamedStore", (_Renamed,), attributes)


JOINED = "joined"
"""The one namespace of ``namespace_joined_to_key``."""


@adapter_mutant("ID-001")
def namespace_joined_to_key(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Objects live in one keyspace under ``namespace + "." + key`` (a bucket and a prefix)."""
    store = _renamed(
        lambda namespace, key: (JOINED, f"{namespace}.{key}"),
        lambda namespace, key: key[len(namespace) + 1 :],
    )
    return swap(options, clock, store, *VERSIONED)


@adapter_mutant("ID-001")
def namespace_case_folded(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Namespaces are folded to lower case (a case-insensitive table or bucket name)."""
    return swap(options, clock, _renamed(lambda ns, key: (ns.lower(), key)), *VERSIONED)


@adapter_mutant("ID-004")
def keys_case_folded(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Keys are compared case-insensitively (a ``utf8mb4_general_ci`` key column)."""
    return swap(options, clock, _renamed(lambda ns, key: (ns, key.lower())), *VERSIONED)


@adapter_mutant("ID-004")
def keys_nfc_normalised(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Keys are normalised to NFC (file names on a normalising file system)."""
    store = _renamed(lambda ns, key: (ns, unicodedata.normalize("NFC", key)))
    return swap(options, clock, store, *VERSIONED)


@adapter_mutant("ID-004")
def keys_trailing_spaces_ignored(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Trailing spaces of keys are ignored (a ``PAD SPACE`` collation)."""
    return swap(options, clock, _renamed(lambda ns, key: (ns, key.rstrip(" "))), *VERSIONED)


@adapter_mutant("ID-004")
def keys_truncated(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Keys are cut to 255 characters (a ``VARCHAR(255)`` column)."""
    return swap(options, clock, _renamed(lambda ns, key: (ns, key[:255])), *VERSIONED)


# -- streams ---------------------------------------------------------------------------


class _RenamedStreams(Wrap):
    """Stream log and checkpoint store calls with (namespace, stream, group) renamed."""

    @staticmethod
    def names(namespace: str, stream: str, group: str) -> tuple[str, str, str]:
        return namespace, stream, group

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        namespace, stream, _ = self.names(namespace, stream, "")
        return self.inner.append(namespace, stream, payload, **options)

    def read(self, namespace: str, stream: str, **options: Any) -> Any:
        namespace, stream, _ = self.names(namespace, stream, "")
        return self.inner.read(namespace, stream, **options)

    def load(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        return self.inner.load(*self.names(namespace, stream, group))  # type: ignore[no-any-return]

    def save(self, namespace: str, stream: str, group: str, state: GroupCheckpoint) -> Any:
        return self.inner.save(*self.names(namespace, stream, group), state)


class _SanitisedNamespaces(_RenamedStreams):
    @staticmethod
    def names(namespace: str, stream: str, group: str) -> tuple[str, str, str]:
        return re.sub(r"[.\-_]", "_", namespace), stream, group


class _FoldedStreams(_RenamedStreams):
    @staticmethod
    def names(namespace: str, stream: str, group: str) -> tuple[str, str, str]:
        return namespace, stream.lower(), group


class _TruncatedGroups(_RenamedStreams):
    @staticmethod
    def names(namespace: str, stream: str, group: str) -> tuple[str, str, str]:
        return namespace, stream, group[:64]


@adapter_mutant("ID-002")
def stream_namespace_sanitised(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stream namespaces have their punctuation replaced by ``_`` (a queue name's charset)."""
    return swap(options, clock, _SanitisedNamespaces, "streams", "checkpoints")


@adapter_mutant("ID-005")
def stream_names_case_folded(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stream names are folded to lower case."""
    return swap(options, clock, _FoldedStreams, "streams", "checkpoints")


@adapter_mutant("ID-005")
def group_names_truncated(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Consumer-group names are cut to 64 characters."""
    return swap(options, clock, _TruncatedGroups, "checkpoints")


class _GlobalIdempotency(Wrap):
    """Remembers idempotency keys per (stream, key), whatever the namespace."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.seen: dict[tuple[str, str], tuple[int, float]] = {}

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        key, now = options.get("idempotency_key"), options.get("now_ms", 0.0)
        if key is not None and (stream, key) in self.seen:
            sequence, first = self.seen[(stream, key)]
            if now - first < options.get("dedupe_window_ms", 0.0):
                return AppendResult(str(sequence), sequence, duplicate=True)
        result = self.inner.append(namespace, stream, payload, **options)
        if key is not None and not result.duplicate:
            self.seen[(stream, key)] = (result.sequence, now)
        return result


class _FoldedIdempotencyKeys(Wrap):
    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> Any:
        if options.get("idempotency_key") is not None:
            options["idempotency_key"] = options["idempotency_key"].lower()
        return self.inner.append(namespace, stream, payload, **options)


@adapter_mutant("ID-002")
def idempotency_keys_ignore_namespace(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Idempotency keys are remembered per stream name, shared by every namespace."""
    return swap(options, clock, _GlobalIdempotency, "streams")


@adapter_mutant("ID-005")
def idempotency_keys_case_folded(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Idempotency keys are compared case-insensitively."""
    return swap(options, clock, _FoldedIdempotencyKeys, "streams")


# -- cache -----------------------------------------------------------------------------


class _RenamedCache(Wrap):
    @staticmethod
    def names(namespace: str, key: str) -> tuple[str, str]:
        return namespace, key

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        return self.inner.get(*self.names(namespace, key))  # type: ignore[no-any-return]

    def set(self, namespace: str, key: str, entry: CacheEntry, ttl_ms: float) -> None:
        self.inner.set(*self.names(namespace, key), entry, ttl_ms)

    def delete(self, namespace: str, key: str) -> None:
        self.inner.delete(*self.names(namespace, key))


class _OneCacheNamespace(_RenamedCache):
    @staticmethod
    def names(namespace: str, key: str) -> tuple[str, str]:
        return "cache", key


class _FoldedCacheKeys(_RenamedCache):
    @staticmethod
    def names(namespace: str, key: str) -> tuple[str, str]:
        return namespace, key.lower()


class _MemcachedKeys(_RenamedCache):
    @staticmethod
    def names(namespace: str, key: str) -> tuple[str, str]:
        return namespace, key.encode()[:250].decode(errors="ignore")


@adapter_mutant("ID-003")
def cache_ignores_namespace(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Every namespace shares one cache keyspace."""
    return swap(options, clock, _OneCacheNamespace, "cache")


@adapter_mutant("ID-006")
def cache_keys_case_folded(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Cache keys are folded to lower case."""
    return swap(options, clock, _FoldedCacheKeys, "cache")


@adapter_mutant("ID-006")
def cache_keys_truncated(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Cache keys are cut to 250 bytes (memcached's limit)."""
    return swap(options, clock, _MemcachedKeys, "cache")


# -- prefixes --------------------------------------------------------------------------


class _PatternList(Wrap):
    """``list`` filters the namespace's keys with ``matches(key, prefix)``."""

    @staticmethod
    def matches(key: str, prefix: str) -> bool:
        return key.startswith(prefix)

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        every: list[BlobInfo] = self.inner.list(namespace, "", limit=1 << 30)
        found = [
            info
            for info in every
            if self.matches(info.key, prefix) and (start_after is None or info.key > start_after)
        ]
        return found[:limit]


def _like(key: str, prefix: str) -> bool:
    pattern = "".join("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in prefix + "%")
    return re.fullmatch(pattern, key, flags=re.IGNORECASE | re.DOTALL) is not None


class _LikeList(_PatternList):
    matches = staticmethod(_like)


class _GlobList(_PatternList):
    matches = staticmethod(lambda key, prefix: fnmatch.fnmatchcase(key, prefix + "*"))


class _SubstringList(_PatternList):
    matches = staticmethod(lambda key, prefix: prefix in key)


@adapter_mutant("ID-007")
def list_prefix_as_like(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` runs ``key LIKE prefix || '%'``: ``%`` and ``_`` are wildcards, ASCII case is ignored."""
    return swap(options, clock, _LikeList, "blobs")


@adapter_mutant("ID-007")
def list_prefix_as_glob(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` matches ``prefix*`` as a glob (``KEYS``/``SCAN MATCH`` without escaping)."""
    return swap(options, clock, _GlobList, "blobs")


@adapter_mutant("ID-007")
def list_prefix_as_substring(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` returns keys containing the prefix anywhere."""
    return swap(options, clock, _SubstringList, "blobs")
