"""Facade mutants: patches of the facade itself, for contracts no adapter can break
(ACL, observability, read levels, validation). Each takes a ``MonkeyPatch``."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from mutants.base import (
    facade_mutant,
)
from pytest_sanctum.errors import (
    ConsistencyError,
)
from pytest_sanctum.types import (
    Blob,
    ReadLevel,
)

# -- facade mutants ----------------------------------------------------------------------


@facade_mutant("ACL-001")
def _acl_grants_all(mp: pytest.MonkeyPatch) -> None:
    """Every principal is granted every operation."""
    from pytest_sanctum.acl import OPERATIONS, AccessPolicy

    mp.setattr(AccessPolicy, "granted", lambda self, namespace, principal: frozenset(OPERATIONS))


@facade_mutant("ACL-002")
def _acl_denies_all(mp: pytest.MonkeyPatch) -> None:
    """Once an ACL exists, nothing is granted."""
    from pytest_sanctum.acl import AccessPolicy

    mp.setattr(AccessPolicy, "granted", lambda self, namespace, principal: frozenset())


@facade_mutant("ACL-002")
def _acl_allows_unlogged(mp: pytest.MonkeyPatch) -> None:
    """ACL allow decisions are not logged."""
    from pytest_sanctum import core
    from pytest_sanctum.observability import EVENT_ACL_DECISION, emit

    def quiet(logger: Any, level: int, event: str, fields: Mapping[str, object]) -> None:
        if event == EVENT_ACL_DECISION and fields.get("decision") == "allow":
            return
        emit(logger, level, event, fields)

    mp.setattr(core, "emit", quiet)


@facade_mutant("OBS-001")
def _success_unmeasured(mp: pytest.MonkeyPatch) -> None:
    """Successful operations record no metrics."""
    from pytest_sanctum.core import FacadeCore

    mp.setattr(FacadeCore, "succeeded", lambda self, op, route, started, nbytes: None)


@facade_mutant("OBS-002")
def _errors_uncounted(mp: pytest.MonkeyPatch) -> None:
    """Failed operations are logged but record no metrics."""
    from pytest_sanctum.core import FacadeCore

    failed = FacadeCore.failed

    def uncounted(self: FacadeCore, *args: Any) -> Any:
        enabled, self.metrics_enabled = self.metrics_enabled, False
        try:
            return failed(self, *args)
        finally:
            self.metrics_enabled = enabled

    mp.setattr(FacadeCore, "failed", uncounted)


@facade_mutant("OBS-003")
def _correlation_ignores_scope(mp: pytest.MonkeyPatch) -> None:
    """Every operation draws a fresh correlation id, ignoring the caller's scope."""
    from pytest_sanctum.core import FacadeCore
    from pytest_sanctum.observability import new_correlation_id

    mp.setattr(FacadeCore, "correlation_id", staticmethod(new_correlation_id))


@facade_mutant("CACHE-003", "CACHE-004", "CACHE-008", "PROP-001")
def _purge_skipped(mp: pytest.MonkeyPatch) -> None:
    """Writes and deletes neither purge the cache nor publish an invalidation (nor ask a
    store that purges in the write's own call to do it)."""
    from pytest_sanctum.core import FacadeCore, Route

    init = Route.__init__

    def uncoupled(self: Route, *args: Any) -> None:
        init(self, *args)
        self.coupled = {}
        self.tracks_writes = True

    mp.setattr(Route, "__init__", uncoupled)
    mp.setattr(FacadeCore, "purge", lambda self, route, layer, key, version, cid, purged: None)


@facade_mutant("CACHE-008")
def _invalidations_ignored(mp: pytest.MonkeyPatch) -> None:
    """Clients ignore invalidations published by other clients."""
    from pytest_sanctum.core import FacadeCore

    mp.setattr(FacadeCore, "_on_invalidation", lambda self, event: None)


@facade_mutant("CONS-005", "CONS-006", "CONS-010")
def _staleness_budget_ignored(mp: pytest.MonkeyPatch) -> None:
    """Strong reads serve any live cache entry, whatever its age."""
    from pytest_sanctum.core import Route

    init = Route.__init__

    def unbounded(self: Route, *args: Any) -> None:
        init(self, *args)
        self.budget_ms = math.inf

    mp.setattr(Route, "__init__", unbounded)


def _patch_default_read_options(mp: pytest.MonkeyPatch, change: Callable[[Any], Any]) -> None:
    """Rewrite the ``ReadOptions`` of the reads that set no option (one per client)."""
    from pytest_sanctum.core import FacadeCore

    init = FacadeCore.__init__

    def changed(self: FacadeCore, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.default_read_options = change(self.default_read_options)

    mp.setattr(FacadeCore, "__init__", changed)


def _patch_read_options(mp: pytest.MonkeyPatch, change: Callable[[Any], Any]) -> None:
    """Rewrite the ``ReadOptions`` every blob and record read resolves."""
    from pytest_sanctum.keyed import _VersionedLayer

    options = _VersionedLayer._options

    def changed(self: Any, level: object, bypass_cache: object, if_match: object) -> Any:
        return change(options(self, level, bypass_cache, if_match))

    mp.setattr(_VersionedLayer, "_options", changed)
    _patch_default_read_options(mp, change)


@facade_mutant("CONS-005")
def _default_level_eventual(mp: pytest.MonkeyPatch) -> None:
    """A read without a level is eventual instead of strong."""
    from pytest_sanctum.keyed import _VersionedLayer

    options = _VersionedLayer._options

    def eventual(self: Any, level: object, bypass_cache: object, if_match: object) -> Any:
        return options(self, "eventual" if level is None else level, bypass_cache, if_match)

    mp.setattr(_VersionedLayer, "_options", eventual)
    _patch_default_read_options(
        mp, lambda options: dataclasses.replace(options, level=ReadLevel.EVENTUAL)
    )


@facade_mutant("CONS-007")
def _eventual_reads_backend(mp: pytest.MonkeyPatch) -> None:
    """Eventual reads are served like strong ones (the cache is used only within the budget)."""

    def strong(options: Any) -> Any:
        if options.level is ReadLevel.EVENTUAL:
            return dataclasses.replace(options, level=ReadLevel.STRONG)
        return options

    _patch_read_options(mp, strong)


@facade_mutant("CACHE-001", "CONS-004", "PROP-004")
def _bypass_ignored(mp: pytest.MonkeyPatch) -> None:
    """``bypass_cache=True`` is ignored."""
    _patch_read_options(mp, lambda options: dataclasses.replace(options, bypass_cache=False))


@facade_mutant("CONS-002", "CONS-007")
def _eventual_raises_when_stale(mp: pytest.MonkeyPatch) -> None:
    """Eventual reads refuse a cache entry older than the staleness budget with
    ``ConsistencyError`` instead of serving it."""
    from pytest_sanctum.keyed import _VersionedLayer

    read = _VersionedLayer._read

    def strict(self: Any, op: str, route: Any, key: str, options: Any, cid: str) -> Blob:
        cache = route.read_cache
        if options.level is ReadLevel.EVENTUAL and cache is not None:
            entry = cache.get(route.namespace, self._prefix + key)
            age = self._core.clock.now_ms() - entry.stored_at_ms if entry is not None else 0.0
            if age > route.budget_ms:
                raise ConsistencyError(f"the cached entry is {age} ms old", retry_after_ms=1.0)
        return read(self, op, route, key, options, cid)

    mp.setattr(_VersionedLayer, "_read", strict)


@facade_mutant("STR-002", "PROP-005")
def _consumer_ignores_markers(mp: pytest.MonkeyPatch) -> None:
    """The idempotent consumer never finds a marker: every delivery runs the handler again."""
    from pytest_sanctum.consumer import IdempotentConsumer

    mp.setattr(IdempotentConsumer, "handled", lambda self, delivery: False)


@facade_mutant("CACHE-002")
def _cache_only_reads_backend(mp: pytest.MonkeyPatch) -> None:
    """``cache_only`` reads fall through to the backend like strong ones."""

    def strong(options: Any) -> Any:
        if options.level is ReadLevel.CACHE_ONLY:
            return dataclasses.replace(options, level=ReadLevel.STRONG)
        return options

    _patch_read_options(mp, strong)


@facade_mutant("CONS-009", "CONS-010")
def _read_if_match_ignored(mp: pytest.MonkeyPatch) -> None:
    """Reads ignore ``if_match``."""
    from pytest_sanctum import keyed

    mp.setattr(keyed, "_checked", lambda blob, if_match: blob)


@facade_mutant("ERR-003")
def _keys_unchecked(mp: pytest.MonkeyPatch) -> None:
    """Keys, stream, group and consumer names are not validated."""
    from pytest_sanctum import cache_layer, keyed, streams

    def anything(key: object, argument: str = "key") -> Any:
        return key

    for module in (keyed, streams, cache_layer):
        mp.setattr(module, "check_key", anything)


@facade_mutant("ERR-003")
def _payloads_unchecked(mp: pytest.MonkeyPatch) -> None:
    """Payloads are encoded leniently instead of checked: NaN, sets, tuples, objects and
    non-bytes blobs are stored as whatever ``json.dumps`` or ``str`` makes of them."""
    from pytest_sanctum import keyed

    def lenient_record(self: Any, data: object) -> bytes:
        return json.dumps(data, default=repr).encode()

    def lenient_blob(self: Any, data: object) -> bytes:
        return data if isinstance(data, bytes) else str(data).encode()

    mp.setattr(keyed.RecordLayer, "_encode", lenient_record)
    mp.setattr(keyed.BlobLayer, "_encode", lenient_blob)


@facade_mutant("ERR-003")
def _options_unchecked(mp: pytest.MonkeyPatch) -> None:
    """Read and write options are coerced instead of checked (bad levels read strong,
    ``bool(x)`` for flags, any etag or limit passed through)."""
    from pytest_sanctum import keyed

    mp.setattr(keyed, "check_etag", lambda etag, argument="if_match": etag)
    mp.setattr(keyed, "check_if_none_match", lambda value: value is not None)
    mp.setattr(keyed, "check_bool", lambda value, argument: bool(value))
    mp.setattr(keyed, "check_int", lambda value, argument, low, high: value)
    mp.setattr(
        keyed,
        "check_read_level",
        lambda level: level if isinstance(level, ReadLevel) else ReadLevel.STRONG,
    )


@facade_mutant("ERR-003")
def _invalid_requests_misreported(mp: pytest.MonkeyPatch) -> None:
    """Refused input leaves as a bare ``ValueError`` (reported as ``AdapterError``)."""
    from pytest_sanctum.core import FacadeCore
    from pytest_sanctum.errors import InvalidRequestError

    failed = FacadeCore.failed

    def misreported(
        self: FacadeCore, op: str, route: Any, ns: object, key: object, *rest: Any
    ) -> Any:
        started, error, cid = rest
        if isinstance(error, InvalidRequestError):
            error = ValueError(error.message)
        return failed(self, op, route, ns, key, started, error, cid)

    mp.setattr(FacadeCore, "failed", misreported)


@facade_mutant("ERR-005")
def _consistency_retry_hint_zero(mp: pytest.MonkeyPatch) -> None:
    """``ConsistencyError`` says to retry after 0 ms."""
    from pytest_sanctum import core

    class NoHint(ConsistencyError):
        def __init__(self, message: str, *, retry_after_ms: float, **fields: Any) -> None:
            super().__init__(message, retry_after_ms=0.0, **fields)

    mp.setattr(core, "ConsistencyError", NoHint)


@facade_mutant("REC-007")
def _record_values_shared(mp: pytest.MonkeyPatch) -> None:
    """Record reads hand out one shared dict per version: the value written, or the first
    read's (a decode cache without copies)."""
    from pytest_sanctum import keyed
    from pytest_sanctum.types import RecordValue

    shared: dict[str, Any] = {}
    put = keyed.RecordLayer.put

    def remembering_put(self: Any, namespace: str, key: str, value: Any, **options: Any) -> Any:
        result = put(self, namespace, key, value, **options)
        shared[result.etag] = value
        return result

    def cached(blob: Blob) -> RecordValue:
        value = shared.setdefault(blob.etag, json.loads(blob.data))
        return RecordValue(blob.key, value, blob.version, blob.etag)

    mp.setattr(keyed.RecordLayer, "put", remembering_put)
    mp.setattr(keyed, "_as_record", cached)
