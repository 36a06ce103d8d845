"""The cache layer: a namespaced key-value cache of bytes with a TTL on the facade clock."""

from __future__ import annotations

from time import perf_counter

from pytest_sanctum.adapters.base import CacheStore
from pytest_sanctum.core import FacadeCore, Route, unsupported
from pytest_sanctum.errors import CacheMissError
from pytest_sanctum.types import CacheEntry
from pytest_sanctum.validation import check_bytes, check_key, check_positive_ms

_PREFIX = "kv/"


def _cache(route: Route, op: str) -> CacheStore:
    cache = route.purge_cache  # the route's cache store, possibly another adapter's
    if cache is None:
        raise unsupported(route, op, "cache")
    return cache


class CacheLayer:
    """Direct cache access; entries never outlive the namespace's TTL (at most 5 s)."""

    def __init__(self, core: FacadeCore, principal: str) -> None:
        self._core = core
        self._principal = principal

    def get(self, namespace: str, key: str) -> bytes:
        """The cached bytes, or ``CacheMissError`` when absent or expired."""
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin("cache.get", namespace, self._principal, cid)
            entry = _cache(route, "cache.get").get(route.namespace, _PREFIX + check_key(key))
            hit = entry is not None and core.clock.now_ms() < entry.expires_at_ms
            core.cache_lookup("cache.get", route, hit)
            if entry is None or not hit:
                raise CacheMissError(f"no live cache entry for {key!r}")
        except Exception as error:
            raise core.failed(
                "cache.get", route, namespace, key, started, error, cid
            ) from core.cause(error)
        core.succeeded("cache.get", route, started, len(entry.data))
        return entry.data

    def set(self, namespace: str, key: str, value: bytes, *, ttl_ms: float | None = None) -> None:
        """Cache ``value`` for ``ttl_ms`` (default and maximum: the namespace's TTL)."""
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin("cache.set", namespace, self._principal, cid)
            cache = _cache(route, "cache.set")
            checked_key = check_key(key)
            data = check_bytes(value, "value")
            ttl = (
                route.ttl_ms
                if ttl_ms is None
                else check_positive_ms(ttl_ms, "ttl_ms", route.ttl_ms)
            )
            now = core.clock.now_ms()
            cache.set(
                route.namespace,
                _PREFIX + checked_key,
                CacheEntry(data, 0, "", now, None, now + ttl),
                ttl,
            )
        except Exception as error:
            raise core.failed(
                "cache.set", route, namespace, key, started, error, cid
            ) from core.cause(error)
        core.succeeded("cache.set", route, started, len(data))

    def delete(self, namespace: str, key: str) -> None:
        """Remove the entry if present."""
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin("cache.delete", namespace, self._principal, cid)
            _cache(route, "cache.delete").delete(route.namespace, _PREFIX + check_key(key))
        except Exception as error:
            raise core.failed(
                "cache.delete", route, namespace, key, started, error, cid
            ) from core.cause(error)
        core.succeeded("cache.delete", route, started, 0)
