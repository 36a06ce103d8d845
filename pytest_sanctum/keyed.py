"""The blob and record layers: versioned objects with read levels, cache read-through and purge.

Both layers share one read path (ADR-001) and one write path; they differ only in how a
payload is checked and decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import TypeVar

from pytest_sanctum.adapters.base import CachingVersionedStore, VersionedStore
from pytest_sanctum.core import FacadeCore, Route, unsupported
from pytest_sanctum.errors import (
    AdapterError,
    CacheMissError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    UnsupportedOperationError,
)
from pytest_sanctum.observability.correlation import CorrelationRef
from pytest_sanctum.types import (
    Blob,
    BlobInfo,
    CacheEntry,
    CacheFill,
    ETag,
    Layer,
    ReadLevel,
    ReadLevelName,
    ReadOptions,
    RecordValue,
    WriteResult,
)
from pytest_sanctum.validation import (
    check_bool,
    check_bytes,
    check_content_type,
    check_etag,
    check_if_none_match,
    check_int,
    check_key,
    check_prefix,
    check_read_level,
    decode_json,
    encode_record,
)

_T = TypeVar("_T")

_CACHE_ONLY = ReadLevel.CACHE_ONLY
_EVENTUAL = ReadLevel.EVENTUAL

_new = tuple.__new__
"""Builds a named tuple from a ready tuple, skipping its generated Python ``__new__``."""


class _Filling:
    """A store whose ``get`` is ``get_and_fill`` with one fill: the read-after-write retry
    loop reads through it, so every attempt that finds a new enough version fills."""

    __slots__ = ("_fill", "_store")

    def __init__(self, store: CachingVersionedStore, fill: CacheFill) -> None:
        self._store = store
        self._fill = fill

    def get(self, namespace: str, key: str) -> Blob:
        return self._store.get_and_fill(namespace, key, self._fill)


class _VersionedLayer:
    """The read and write paths shared by blobs and records."""

    _layer: Layer
    _prefix: str

    def __init__(self, core: FacadeCore, principal: str) -> None:
        self._core = core
        self._principal = principal

    def _options(self, level: object, bypass_cache: object, if_match: object) -> ReadOptions:
        return ReadOptions(
            check_read_level(
                level if level is not None else self._core.config.consistency.default_read_level
            ),
            check_bool(bypass_cache, "bypass_cache"),
            check_etag(if_match),
        )

    def _read(
        self, op: str, route: Route, key: str, options: ReadOptions, cid: CorrelationRef
    ) -> Blob:
        """ADR-001 read: cache per level and budget, else the backend, then fill the cache."""
        core = self._core
        store = route.versioned(self._layer, op)
        level = options.level
        cache = route.read_cache
        if level is _CACHE_ONLY:
            if options.bypass_cache:
                raise InvalidRequestError(
                    "bypass_cache=True contradicts level='cache_only'", argument="bypass_cache"
                )
            if cache is None:
                if not route.capabilities.cache:
                    raise UnsupportedOperationError(
                        f"level='cache_only' needs the 'cache' capability, which adapter "
                        f"{route.adapter_name!r} does not declare",
                        capability="cache",
                    )
                raise CacheMissError(f"namespace {route.namespace!r} does not cache reads")
            entry = cache.get(route.namespace, self._prefix + key)
            hit = entry is not None and core.clock.now_ms() < entry.expires_at_ms
            core.cache_lookup(op, route, hit)
            if entry is None or not hit:
                raise CacheMissError(f"no fresh cache entry for {key!r}")
            return _checked(_from_entry(key, entry), options.if_match)
        if cache is None:  # a namespace that does not cache reads: the backend alone
            if level is _EVENTUAL or route.capabilities.read_after_write:
                blob = store.get(route.namespace, key)  # no write to wait for
            else:
                blob = self._backend_read(op, route, store, key, True, cid)
            return blob if options.if_match is None else _checked(blob, options.if_match)
        cache_key = self._prefix + key
        conditional_strong = options.if_match is not None and level is not _EVENTUAL
        if not options.bypass_cache and not conditional_strong:
            entry = cache.get(route.namespace, cache_key)
            if entry is not None:
                now = core.clock.now_ms()
                if now < entry.expires_at_ms and (
                    level is _EVENTUAL or now - entry.stored_at_ms <= route.budget_ms
                ):
                    core.cache_lookup(op, route, True)
                    return _checked(_from_entry(key, entry), options.if_match)
            core.cache_lookup(op, route, False)
        coupled = route.coupled.get(self._layer)
        if coupled is not None:
            return _checked(
                self._coupled_read(op, route, coupled, key, options, cid), options.if_match
            )
        try:
            blob = self._backend_read(op, route, store, key, level is not _EVENTUAL, cid)
        except NotFoundError:
            if options.bypass_cache:
                # bypass refreshes the cache with what it read: here, that nothing is there.
                cache.delete(route.namespace, cache_key)
            raise
        if not _superseded(blob, core.last_write(route, self._layer, key)):
            now = core.clock.now_ms()
            cache.set(
                route.namespace,
                cache_key,
                CacheEntry(
                    blob.data,
                    blob.version,
                    blob.etag,
                    now,
                    blob.content_type,
                    now + route.ttl_ms,
                ),
                route.ttl_ms,
            )
            if _superseded(blob, core.last_write(route, self._layer, key)):
                # A write of this client landed, and purged, between the check and the fill.
                cache.delete(route.namespace, cache_key)
        return _checked(blob, options.if_match)

    def _coupled_read(
        self,
        op: str,
        route: Route,
        store: CachingVersionedStore,
        key: str,
        options: ReadOptions,
        cid: CorrelationRef,
    ) -> Blob:
        """A backend read that fills the cache in the same call (``get_and_fill``).

        The fill stores no version older than this client's last write of the key, and the
        backend orders it with every purging write, so no check after the fill is needed.
        """
        core = self._core
        now = core.clock.now_ms()
        last = core.last_write(route, self._layer, key) if route.tracks_writes else None
        floor = 0 if last is None else (last[0] + 1 if last[1] else last[0])
        fill = _new(
            CacheFill,
            (
                self._prefix + key,
                now,
                now + route.ttl_ms,
                route.ttl_ms,
                floor,
                options.bypass_cache,
            ),
        )
        if options.level is _EVENTUAL or route.capabilities.read_after_write or last is None:
            return store.get_and_fill(route.namespace, key, fill)
        return self._backend_read(op, route, _Filling(store, fill), key, True, cid)

    def _backend_read(
        self, op: str, route: Route, store: object, key: str, strong: bool, cid: CorrelationRef
    ) -> Blob:
        """Read the backend; a strong read retries until it sees this client's last write."""
        core = self._core
        get = store.get  # type: ignore[attr-defined]
        if not strong or route.capabilities.read_after_write:
            return get(route.namespace, key)  # type: ignore[no-any-return]
        last = core.last_write(route, self._layer, key)
        if last is None:
            return get(route.namespace, key)  # type: ignore[no-any-return]
        expected, deleted = last
        deadline = core.clock.now_ms() + core.raw_window_ms
        attempt = 0
        while True:
            try:
                blob: Blob | None = get(route.namespace, key)
            except NotFoundError:
                if deleted:
                    raise
                blob = None
            observed = blob.version if blob is not None else None
            if blob is not None and (observed > expected if deleted else observed >= expected):  # type: ignore[operator]
                return blob
            attempt += 1
            core.consistency_retry(op, route, key, cid, attempt, expected, observed, deadline)

    def _write(
        self,
        op: str,
        namespace: object,
        key: object,
        data: object,
        content_type: object,
        if_match: object,
        if_none_match: object,
    ) -> WriteResult:
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin(op, namespace, self._principal, cid)
            store = route.versioned(self._layer, op)
            checked_key = check_key(key)
            payload = self._encode(data)
            if content_type is None and if_match is None and if_none_match is None:
                media_type, etag, create_only = None, None, False  # the usual put
            else:
                media_type, etag, create_only = _write_options(
                    route, op, content_type, if_match, if_none_match
                )
            coupled = route.coupled.get(self._layer)
            if coupled is not None:
                result = coupled.put_and_purge(
                    route.namespace,
                    checked_key,
                    payload,
                    content_type=media_type,
                    if_match=etag,
                    if_none_match=create_only,
                    purge=self._prefix + checked_key,
                )
            else:
                result = store.put(
                    route.namespace,
                    checked_key,
                    payload,
                    content_type=media_type,
                    if_match=etag,
                    if_none_match=create_only,
                )
            if route.tracks_writes:
                core.remember_write(route, self._layer, checked_key, result.version, False)
            core.purge(route, self._layer, checked_key, result.version, cid, coupled is not None)
        except Exception as error:
            raise core.failed(op, route, namespace, key, started, error, cid) from core.cause(error)
        core.succeeded(op, route, started, len(payload))
        return result

    def _delete(self, op: str, namespace: object, key: object, if_match: object) -> None:
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin(op, namespace, self._principal, cid)
            store = route.versioned(self._layer, op)
            checked_key = check_key(key)
            etag = check_etag(if_match)
            if etag is not None and not route.capabilities.conditional_writes:
                raise unsupported(route, op, "conditional_writes")
            coupled = route.coupled.get(self._layer)
            if coupled is not None:
                version = coupled.delete_and_purge(
                    route.namespace, checked_key, if_match=etag, purge=self._prefix + checked_key
                )
            else:
                version = store.delete(route.namespace, checked_key, if_match=etag)
            if route.tracks_writes:
                core.remember_write(route, self._layer, checked_key, version, True)
            core.purge(route, self._layer, checked_key, version, cid, coupled is not None)
        except Exception as error:
            raise core.failed(op, route, namespace, key, started, error, cid) from core.cause(error)
        core.succeeded(op, route, started, 0)

    def _get(
        self,
        op: str,
        namespace: object,
        key: object,
        level: object,
        bypass_cache: object,
        if_match: object,
        decode: Callable[[Blob], _T],
    ) -> _T:
        """Read ``key`` and ``decode`` it; a failure of either leaves as a ``SanctumError``."""
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin(op, namespace, self._principal, cid)
            checked_key = check_key(key)
            if level is None and bypass_cache is False and if_match is None:
                options = core.default_read_options  # the usual read: built once
            else:
                options = self._options(level, bypass_cache, if_match)
            blob = self._read(op, route, checked_key, options, cid)
            result = decode(blob)
        except Exception as error:
            raise core.failed(op, route, namespace, key, started, error, cid) from core.cause(error)
        if core.metrics_enabled:
            core.succeeded(op, route, started, len(blob.data))
        return result

    def _encode(self, data: object) -> bytes:
        raise NotImplementedError


def _write_options(
    route: Route, op: str, content_type: object, if_match: object, if_none_match: object
) -> tuple[str | None, ETag | None, bool]:
    """A put's checked content type, ``if_match`` and create-only flag, refused when they
    contradict each other or the adapter cannot honour a condition."""
    media_type = check_content_type(content_type)
    etag = check_etag(if_match)
    create_only = check_if_none_match(if_none_match)
    if etag is not None and create_only:
        raise InvalidRequestError(
            "if_match and if_none_match cannot be combined", argument="if_none_match"
        )
    if (etag is not None or create_only) and not route.capabilities.conditional_writes:
        raise unsupported(route, op, "conditional_writes")
    return media_type, etag, create_only


def _filled_page(
    store: VersionedStore, namespace: str, prefix: str, start_after: str | None, limit: int
) -> list[BlobInfo]:
    """``limit`` entries of the listing, or all that remain: an adapter may return short
    pages (its backend's page size), so it is paged until the page is full or it returns
    an empty page, which means the end. A page that breaks the listing's order raises
    ``AdapterError`` (the next page would start from a wrong key)."""
    listed: list[BlobInfo] = []
    cursor = start_after
    while len(listed) < limit:
        wanted = limit - len(listed)
        page = store.list(namespace, prefix, start_after=cursor, limit=wanted)
        if not page:
            break
        _check_page(page, prefix, cursor, wanted)
        listed += page
        cursor = page[-1].key
    return listed


def _check_page(page: list[BlobInfo], prefix: str, after: str | None, wanted: int) -> None:
    """Refuse a page longer than asked, out of order, not after ``after`` or off the prefix."""
    problem = ""
    if len(page) > wanted:
        problem = f"{len(page)} entries for a limit of {wanted}"
    else:
        previous = after
        for info in page:
            key = info.key
            if previous is not None and key <= previous:
                problem = f"key {key!r} after {previous!r}: keys must increase"
                break
            if not key.startswith(prefix):
                problem = f"key {key!r} without the prefix {prefix!r}"
                break
            previous = key
    if problem:
        raise AdapterError(f"the adapter's list broke its contract: {problem}")


def _superseded(blob: Blob, last: tuple[int, bool] | None) -> bool:
    """Whether this client's last write or delete of the key is newer than ``blob``."""
    if last is None:
        return False
    version, deleted = last
    return blob.version <= version if deleted else blob.version < version


def _as_blob(blob: Blob) -> Blob:
    return blob


def _as_record(blob: Blob) -> RecordValue:
    return RecordValue(blob.key, decode_json(blob.data), blob.version, blob.etag)


def _from_entry(key: str, entry: CacheEntry) -> Blob:
    return Blob(key, entry.data, entry.version, entry.etag, entry.content_type)


def _checked(blob: Blob, if_match: ETag | None) -> Blob:
    """Apply a read's ``if_match`` to what it found."""
    if if_match is not None and blob.etag != if_match:
        raise PreconditionFailedError(
            f"if_match {if_match!r} does not match the current etag {blob.etag!r}",
            current_etag=blob.etag,
            current_version=blob.version,
        )
    return blob


class BlobLayer(_VersionedLayer):
    """Blobs: byte payloads with an optional content type."""

    _layer = Layer.BLOB
    _prefix = "blob/"

    def _encode(self, data: object) -> bytes:
        return check_bytes(data)

    def put(
        self,
        namespace: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        if_match: ETag | None = None,
        if_none_match: str | None = None,
    ) -> WriteResult:
        """Store ``data`` as the key's next version; ``if_none_match="*"`` makes it create-only."""
        return self._write("blob.put", namespace, key, data, content_type, if_match, if_none_match)

    def get(
        self,
        namespace: str,
        key: str,
        *,
        level: ReadLevel | ReadLevelName | None = None,
        bypass_cache: bool = False,
        if_match: ETag | None = None,
    ) -> Blob:
        """Read a blob at ``level`` (default from the config: ``strong``)."""
        return self._get("blob.get", namespace, key, level, bypass_cache, if_match, _as_blob)

    def head(self, namespace: str, key: str) -> BlobInfo:
        """The current version's metadata, read from the backend."""
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin("blob.head", namespace, self._principal, cid)
            store = route.versioned(Layer.BLOB, "blob.head")
            info = store.head(route.namespace, check_key(key))
        except Exception as error:
            raise core.failed(
                "blob.head", route, namespace, key, started, error, cid
            ) from core.cause(error)
        core.succeeded("blob.head", route, started, 0)
        return info

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> None:
        """Delete the blob (``NotFoundError`` when absent) and purge it from caches."""
        self._delete("blob.delete", namespace, key, if_match)

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        """The first ``limit`` (at most 10000) blobs whose key starts with ``prefix`` and sorts
        after ``start_after``, sorted by key: exactly ``limit`` unless fewer remain, so a
        short page is the last one. To page, pass the last key of a page as ``start_after``."""
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin("blob.list", namespace, self._principal, cid)
            store = route.versioned(Layer.BLOB, "blob.list")
            checked_prefix = check_prefix(prefix)
            if start_after is not None:
                check_key(start_after, "start_after")
            infos = _filled_page(
                store,
                route.namespace,
                checked_prefix,
                start_after,
                check_int(limit, "limit", 0, 10000),
            )
        except Exception as error:
            raise core.failed(
                "blob.list", route, namespace, None, started, error, cid
            ) from core.cause(error)
        core.succeeded("blob.list", route, started, 0)
        return infos


class RecordLayer(_VersionedLayer):
    """Records: JSON objects, returned as fresh dicts on every read."""

    _layer = Layer.RECORD
    _prefix = "record/"

    def _encode(self, data: object) -> bytes:
        return encode_record(data)

    def put(
        self,
        namespace: str,
        key: str,
        value: dict[str, object],
        *,
        if_match: ETag | None = None,
        if_none_match: str | None = None,
    ) -> WriteResult:
        """Store ``value`` as the key's next version; ``if_none_match="*"`` makes it create-only."""
        return self._write("record.put", namespace, key, value, None, if_match, if_none_match)

    def get(
        self,
        namespace: str,
        key: str,
        *,
        level: ReadLevel | ReadLevelName | None = None,
        bypass_cache: bool = False,
        if_match: ETag | None = None,
    ) -> RecordValue:
        """Read a record at ``level`` (default from the config: ``strong``)."""
        return self._get("record.get", namespace, key, level, bypass_cache, if_match, _as_record)

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> None:
        """Delete the record (``NotFoundError`` when absent) and purge it from caches."""
        self._delete("record.delete", namespace, key, if_match)
