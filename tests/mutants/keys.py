"""Mutants that do not keep keys opaque: they interpret keys as paths, fold them, or
match list prefixes as patterns, the way real backends do when an adapter is careless."""

from __future__ import annotations

import fnmatch
import posixpath
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from mutants.base import VERSIONED, Mutated, Wrap, adapter_mutant, swap
from pytest_sanctum.clock import Clock
from pytest_sanctum.types import AppendResult, Blob, BlobInfo, StoredMessage, WriteResult

Place = Callable[[str, str], tuple[str, str]]
"""Where a mutant stores ``(namespace, key)``: the namespace and key it really uses."""


def _as_file_path(namespace: str, key: str) -> tuple[str, str]:
    """A filesystem adapter joining ``namespace/key`` and normalising the path."""
    path = posixpath.normpath(f"{namespace}/{key.lstrip('/')}")
    where, _, name = path.partition("/")
    return where, name


def _case_folded(namespace: str, key: str) -> tuple[str, str]:
    """A case-insensitive backend (a default MySQL collation, a Windows or macOS filesystem)."""
    return namespace, key.casefold()


def _nfkc(namespace: str, key: str) -> tuple[str, str]:
    """A backend that stores names in Unicode normal form (NFKC), as some filesystems do."""
    return namespace, unicodedata.normalize("NFKC", key)


class _PlacedKeys(Wrap):
    """A versioned store that puts each key where ``place`` says."""

    place: Place

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        return self.inner.put(*self.place(namespace, key), data, **options)  # type: ignore[no-any-return]

    def get(self, namespace: str, key: str) -> Blob:
        return self.inner.get(*self.place(namespace, key))  # type: ignore[no-any-return]

    def head(self, namespace: str, key: str) -> BlobInfo:
        return self.inner.head(*self.place(namespace, key))  # type: ignore[no-any-return]

    def delete(self, namespace: str, key: str, **options: Any) -> int:
        return self.inner.delete(*self.place(namespace, key), **options)  # type: ignore[no-any-return]


class _FilePathKeys(_PlacedKeys):
    place = staticmethod(_as_file_path)


class _CaseFoldedKeys(_PlacedKeys):
    place = staticmethod(_case_folded)


class _NfkcKeys(_PlacedKeys):
    place = staticmethod(_nfkc)


@adapter_mutant("KEY-001", "KEY-002")
def keys_as_file_paths(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stores ``namespace/key`` as a normalised file path: ``a/../b`` overwrites ``b`` and
    ``../other/k`` lands in namespace ``other``."""
    return swap(options, clock, _FilePathKeys, *VERSIONED)


@adapter_mutant("KEY-002")
def case_insensitive_keys(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Keys are compared case-insensitively: ``Key`` overwrites ``key``."""
    return swap(options, clock, _CaseFoldedKeys, *VERSIONED)


@adapter_mutant("KEY-002")
def unicode_normalised_keys(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Keys are stored in NFKC: ``café`` written as NFD overwrites the NFC one."""
    return swap(options, clock, _NfkcKeys, *VERSIONED)


class _PatternListing(Wrap):
    """Lists by matching the prefix as a pattern over every key."""

    def matches(self, key: str, prefix: str) -> bool:
        raise NotImplementedError

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        every: list[BlobInfo] = self.inner.list(
            namespace, "", start_after=start_after, limit=10_000
        )
        return [info for info in every if self.matches(info.key, prefix)][:limit]


class _GlobListing(_PatternListing):
    def matches(self, key: str, prefix: str) -> bool:
        return fnmatch.fnmatchcase(key, prefix + "*")  # Redis SCAN MATCH, shell globs


class _LikeListing(_PatternListing):
    def matches(self, key: str, prefix: str) -> bool:
        pattern = "".join(
            ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in prefix
        )  # SQL ``key LIKE prefix || '%'`` without an ESCAPE clause
        return re.match(pattern, key, re.DOTALL) is not None


@adapter_mutant("KEY-003")
def glob_list_prefix(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` matches the prefix as a glob: ``a*`` lists ``axb`` and ``a``."""
    return swap(options, clock, _GlobListing, "blobs")


@adapter_mutant("KEY-003")
def like_list_prefix(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``list`` matches with SQL ``LIKE`` and no escape: ``a_`` lists ``axb``."""
    return swap(options, clock, _LikeListing, "blobs")


class _FilePathStreams(Wrap):
    def _log(self, namespace: str, stream: str) -> tuple[str, str]:
        where, name = _as_file_path(namespace, stream)
        return where, _case_folded(where, name)[1]

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> AppendResult:
        return self.inner.append(*self._log(namespace, stream), payload, **options)  # type: ignore[no-any-return]

    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        return self.inner.read(*self._log(namespace, stream), after=after, limit=limit)  # type: ignore[no-any-return]


@adapter_mutant("KEY-004")
def stream_names_as_file_paths(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stream names are normalised, case-folded file paths: ``a/../events`` and
    ``Events`` append to ``events``."""
    return swap(options, clock, _FilePathStreams, "streams")
