"""Mutants of ``reset`` and ``close``: resets that forget a layer or match too much, closed
adapters that keep serving or refuse without naming the namespace."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mutants.base import Mutated, Wrap, adapter_mutant, swap
from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import BackendUnavailableError
from reference_adapters.memory import MemoryServer, create_memory_adapter


def _namespaces(server: MemoryServer) -> set[str]:
    """Every namespace the memory server holds data of."""
    found = set(server.blobs.live) | set(server.records.live) | set(server.messages)
    found |= set(server.checkpoints) | set(server.groups)
    found |= {entry[0] for entry in server.idempotency.entries}
    return found


class _ResetKeepsCache(Mutated):
    def reset(self, namespace_prefix: str) -> None:
        self.inner.server.reset(namespace_prefix)


class _ResetKeepsIdempotencyKeys(Mutated):
    def reset(self, namespace_prefix: str) -> None:
        entries = self.inner.server.idempotency.entries
        kept = {key: value for key, value in entries.items() if key[0].startswith(namespace_prefix)}
        self.inner.reset(namespace_prefix)
        entries.update(kept)


class _ResetKeepsCheckpoints(Mutated):
    """Keeps the group state of both kinds of group store (JSON checkpoints, per delivery)."""

    def reset(self, namespace_prefix: str) -> None:
        tables: list[dict[str, Any]] = [self.inner.server.checkpoints, self.inner.server.groups]
        kept = [
            {ns: g for ns, g in table.items() if ns.startswith(namespace_prefix)}
            for table in tables
        ]
        self.inner.reset(namespace_prefix)
        for table, groups in zip(tables, kept, strict=True):
            table.update(groups)


class _ResetAsLike(Mutated):
    """Resets every namespace matching ``LIKE prefix || '%'`` (``_`` is a wildcard, ASCII
    case is ignored)."""

    def reset(self, namespace_prefix: str) -> None:
        pattern = "".join("." if c == "_" else re.escape(c) for c in namespace_prefix) + ".*"
        for namespace in _namespaces(self.inner.server):
            if re.fullmatch(pattern, namespace, flags=re.IGNORECASE):
                self.inner.reset(namespace)
        self.inner.reset(namespace_prefix)


class _ResetAsSubstring(Mutated):
    """Resets every namespace containing the prefix anywhere."""

    def reset(self, namespace_prefix: str) -> None:
        for namespace in _namespaces(self.inner.server):
            if namespace_prefix in namespace:
                self.inner.reset(namespace)
        self.inner.reset(namespace_prefix)


class _ListingIndex(Wrap):
    """Blobs listed from a key index of its own, kept beside the data by every put and
    delete but never by the adapter's reset: a listing still names the reset keys."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.index: dict[str, dict[str, Any]] = {}

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> Any:
        written = self.inner.put(namespace, key, data, **options)
        self.index.setdefault(namespace, {})[key] = self.inner.head(namespace, key)
        return written

    def delete(self, namespace: str, key: str, **options: Any) -> Any:
        version = self.inner.delete(namespace, key, **options)
        self.index.get(namespace, {}).pop(key, None)
        return version

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[Any]:
        self.inner.list(namespace, prefix, limit=0)  # a closed store still refuses
        keys = sorted(k for k in self.index.get(namespace, {}) if k.startswith(prefix))
        keys = [k for k in keys if start_after is None or k > start_after][:limit]
        return [self.index[namespace][k] for k in keys]


@adapter_mutant("LIFE-001")
def reset_keeps_the_listing_index(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Blob listings come from a key index that reset does not clear."""
    return swap(options, clock, _ListingIndex, "blobs")


@adapter_mutant("LIFE-001")
def reset_keeps_cache(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``reset`` removes the durable data but leaves the adapter's cache entries."""
    return _ResetKeepsCache(create_memory_adapter(options, clock))


@adapter_mutant("LIFE-001")
def reset_keeps_idempotency_keys(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``reset`` leaves the idempotency index of the namespaces it resets."""
    return _ResetKeepsIdempotencyKeys(create_memory_adapter(options, clock))


@adapter_mutant("LIFE-001")
def reset_keeps_checkpoints(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``reset`` leaves the consumer-group checkpoints of the namespaces it resets."""
    return _ResetKeepsCheckpoints(create_memory_adapter(options, clock))


@adapter_mutant("LIFE-002")
def reset_as_like_pattern(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``reset`` deletes ``WHERE ns LIKE prefix || '%'``: too many namespaces."""
    return _ResetAsLike(create_memory_adapter(options, clock))


@adapter_mutant("LIFE-002")
def reset_as_substring(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``reset`` deletes every namespace containing the prefix."""
    return _ResetAsSubstring(create_memory_adapter(options, clock))


class _CacheOutlivesClose(Mutated):
    def close(self) -> None:
        super().close()
        self.inner.cache._refusal = ""


class _Anonymous(Wrap):
    """Re-raises the store's ``BackendUnavailableError`` without namespace and key."""

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except BackendUnavailableError as error:
                raise BackendUnavailableError(error.message) from None

        return call


class _RawWhenClosed(Wrap):
    """Stream calls on a closed adapter raise the driver's own error."""

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except BackendUnavailableError:
                raise RuntimeError("Connection closed") from None

        return call


@adapter_mutant("LIFE-003")
def closed_cache_keeps_serving(options: Mapping[str, object], clock: Clock) -> Mutated:
    """``close`` closes every store but the cache, which keeps serving."""
    return _CacheOutlivesClose(create_memory_adapter(options, clock))


@adapter_mutant("LIFE-003")
def closed_error_names_no_namespace(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Stores of a closed adapter raise ``BackendUnavailableError`` without the namespace."""
    inner = create_memory_adapter(options, clock)
    stores = ("blobs", "records", "streams", "checkpoints", "cache")
    return Mutated(inner, **{store: _Anonymous(getattr(inner, store)) for store in stores})


@adapter_mutant("LIFE-003")
def closed_streams_raise_raw(options: Mapping[str, object], clock: Clock) -> Mutated:
    """The stream log of a closed adapter raises the driver's ``RuntimeError``."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, streams=_RawWhenClosed(inner.streams))


class _EmptyListSkipsTheStore(Wrap):
    """Answers ``list(limit=0)`` itself, before the store could see it is closed."""

    def list(self, namespace: str, prefix: str = "", **options: Any) -> Any:
        if options.get("limit") == 0:
            return []
        return self.inner.list(namespace, prefix, **options)


@adapter_mutant("LIFE-003")
def closed_store_lists_nothing_for_limit_zero(
    options: Mapping[str, object], clock: Clock
) -> Mutated:
    """``list(limit=0)`` returns ``[]`` without checking the store, also after ``close``."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, blobs=_EmptyListSkipsTheStore(inner.blobs))
