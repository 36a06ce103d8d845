"""Mutants that read untrusted keys and stream names as file paths, the way a filesystem
or object-store adapter does when it joins ``namespace/key`` and normalises the path.
(Case folding, Unicode normalisation and pattern listing are the identity mutants.)"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from mutants.base import VERSIONED, Mutated, Wrap, adapter_mutant, swap
from pytest_sanctum.clock import Clock
from pytest_sanctum.types import AppendResult, Blob, BlobInfo, StoredMessage, WriteResult


def _as_file_path(namespace: str, key: str) -> tuple[str, str]:
    """A filesystem adapter joining ``namespace/key`` and normalising the path."""
    path = posixpath.normpath(f"{namespace}/{key.lstrip('/')}")
    where, _, name = path.partition("/")
    return where, name


class _FilePathKeys(Wrap):
    """A versioned store that keeps each key at its normalised file path."""

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        return self.inner.put(*_as_file_path(namespace, key), data, **options)  # type: ignore[no-any-return]

    def get(self, namespace: str, key: str) -> Blob:
        return self.inner.get(*_as_file_path(namespace, key))  # type: ignore[no-any-return]

    def head(self, namespace: str, key: str) -> BlobInfo:
        return self.inner.head(*_as_file_path(namespace, key))  # type: ignore[no-any-return]

    def delete(self, namespace: str, key: str, **options: Any) -> int:
        return self.inner.delete(*_as_file_path(namespace, key), **options)  # type: ignore[no-any-return]


@adapter_mutant("KEY-001")
def keys_as_file_paths(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stores ``namespace/key`` as a normalised file path: ``a/../b`` overwrites ``b`` and
    ``../other/k`` lands in namespace ``other``."""
    return swap(options, clock, _FilePathKeys, *VERSIONED)


class _FilePathStreams(Wrap):
    """A stream log that keeps each stream at its normalised file path."""

    def append(self, namespace: str, stream: str, payload: bytes, **options: Any) -> AppendResult:
        return self.inner.append(*_as_file_path(namespace, stream), payload, **options)  # type: ignore[no-any-return]

    def read(self, namespace: str, stream: str, *, after: int, limit: int) -> list[StoredMessage]:
        return self.inner.read(*_as_file_path(namespace, stream), after=after, limit=limit)  # type: ignore[no-any-return]


@adapter_mutant("KEY-002")
def stream_names_as_file_paths(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stream names are normalised file paths: ``a/../events`` appends to ``events``, and
    ``../<sibling>/events`` to the sibling namespace's stream."""
    return swap(options, clock, _FilePathStreams, "streams")
