"""The facade's shared machinery: namespace routes, ACL checks, instrumentation, purges.

One ``FacadeCore`` lives behind a client and every principal view of it. Layers call
``begin`` / ``succeeded`` / ``failed`` around each operation, so every operation records
the same metrics, logs and correlation id, and every failure leaves as a ``SanctumError``.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import cast

from pytest_sanctum.acl import AccessPolicy
from pytest_sanctum.adapters.base import (
    BatchStreamLog,
    CacheStore,
    CachingVersionedStore,
    CheckpointStore,
    GroupStore,
    StorageAdapter,
    StreamLog,
    VersionedStore,
)
from pytest_sanctum.clock import Clock
from pytest_sanctum.config import StorageConfigV1
from pytest_sanctum.describe import error_message, type_name
from pytest_sanctum.errors import (
    AccessDeniedError,
    AdapterError,
    BackendUnavailableError,
    CacheMissError,
    ConsistencyError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
    UnsupportedOperationError,
)
from pytest_sanctum.fanout import InvalidationFanout
from pytest_sanctum.observability import (
    EVENT_ACL_DECISION,
    EVENT_CONSISTENCY_RETRY,
    EVENT_FANOUT_ERROR,
    EVENT_OPERATION_ERROR,
    CorrelationRef,
    OperationLabels,
    StorageMetrics,
    correlation_ref,
    correlation_text,
    emit,
    new_correlation_id,
)
from pytest_sanctum.types import InvalidationEvent, Layer, ReadOptions
from pytest_sanctum.validation import check_namespace, check_read_level

_QUIET_ERRORS = (NotFoundError, PreconditionFailedError, CacheMissError)
"""Errors that are ordinary answers (logged at DEBUG); retryable ones log at WARNING, the rest ERROR."""

RAW_TRACKED_KEYS = 65536
"""How many recently written keys a client remembers to check read-after-write (LRU)."""

MAX_ROUTES = 4096
"""How many namespaces' resolved routes a client keeps; the oldest is dropped (and
resolved again when next used), so namespaces chosen by callers cannot grow memory."""


_OFFERS: dict[tuple[type, type], bool] = {}
"""Which store classes offer which optional protocol, decided once per class."""


def offers(store: object, protocol: type) -> bool:
    """Whether ``store`` implements the runtime-checkable ``protocol``.

    A protocol ``isinstance`` walks every member (tens of microseconds), so the answer is
    kept per class; a class that forwards attributes (``__getattr__``, like test wrappers)
    is asked per object, since what it offers depends on what it wraps.
    """
    kind = type(store)
    if hasattr(kind, "__getattr__"):
        return isinstance(store, protocol)
    key = (kind, protocol)
    found = _OFFERS.get(key)
    if found is None:
        found = _OFFERS[key] = isinstance(store, protocol)
    return found


def _no_subscription() -> None:
    """The unsubscribe of a client that has no fan-out."""


def cache_key(layer: Layer, key: str) -> str:
    """The key under which the facade caches ``key`` of ``layer`` (``record/<key>``, ...)."""
    return f"{layer.value}/{key}"


class Route:
    """Everything an operation on one namespace needs, resolved once per namespace."""

    __slots__ = (
        "_labels",
        "adapter",
        "adapter_name",
        "batch_log",
        "blob_store",
        "budget_ms",
        "capabilities",
        "checkpoint_store",
        "coupled",
        "group_store",
        "namespace",
        "purge_cache",
        "read_cache",
        "record_store",
        "shared_cache",
        "stream_log",
        "tracks_writes",
        "ttl_ms",
    )

    def __init__(
        self,
        namespace: str,
        adapter: StorageAdapter,
        cache: CacheStore | None,
        cache_reads: bool,
        ttl_ms: float,
        budget_ms: float,
        shared_cache: bool,
        own_cache: bool,
    ) -> None:
        self.namespace = namespace
        self.adapter = adapter
        self.adapter_name = adapter.name
        self.capabilities = adapter.capabilities
        self.purge_cache = cache
        self.read_cache = cache if cache_reads else None
        self.shared_cache = shared_cache
        self.ttl_ms = ttl_ms
        self.budget_ms = budget_ms
        caps = self.capabilities
        self.blob_store = adapter.blobs if caps.blobs else None
        self.record_store = adapter.records if caps.records else None
        self.stream_log: StreamLog | None = adapter.streams if caps.streams else None
        self.checkpoint_store: CheckpointStore | GroupStore | None = (
            adapter.checkpoints if caps.streams else None
        )
        # The optional protocols (adapters/base.py), resolved once: the facade takes the
        # one-call path where a store offers it, and composes the base methods otherwise.
        self.batch_log: BatchStreamLog | None = (
            cast(BatchStreamLog, self.stream_log)
            if offers(self.stream_log, BatchStreamLog)
            else None
        )
        self.group_store: GroupStore | None = (
            cast(GroupStore, self.checkpoint_store)
            if offers(self.checkpoint_store, GroupStore)
            else None
        )
        self.coupled: dict[Layer, CachingVersionedStore] = {}
        """Per layer, the store that purges and fills this route's cache in its own calls:
        only when the cache is the namespace adapter's own."""
        if cache is not None and own_cache:
            for layer, store in ((Layer.BLOB, self.blob_store), (Layer.RECORD, self.record_store)):
                if offers(store, CachingVersionedStore):
                    self.coupled[layer] = cast(CachingVersionedStore, store)
        self.tracks_writes = not caps.read_after_write or (
            self.read_cache is not None
            and any(
                store is not None and layer not in self.coupled
                for layer, store in (
                    (Layer.BLOB, self.blob_store),
                    (Layer.RECORD, self.record_store),
                )
            )
        )
        """Whether writes must be remembered: to retry strong reads of an adapter without
        ``read_after_write``, or to keep a separate fill from caching a version older than
        this client's own write. A coupled fill is ordered with the write by the backend."""
        self._labels: dict[str, OperationLabels] = {}

    def ok_labels(self, op: str) -> OperationLabels:
        """The metrics labels of a successful ``op`` on this route (built once)."""
        labels = self._labels.get(op)
        if labels is None:
            layer = op.partition(".")[0]
            labels = OperationLabels(op, layer, self.namespace, self.adapter_name, "ok", "")
            self._labels[op] = labels
        return labels

    def versioned(self, layer: Layer, op: str) -> VersionedStore:
        """The blob or record store, or ``UnsupportedOperationError`` when not declared."""
        if layer is Layer.BLOB:
            if self.blob_store is None:
                raise unsupported(self, op, "blobs")
            return self.blob_store
        if self.record_store is None:
            raise unsupported(self, op, "records")
        return self.record_store


def unsupported(route: Route, op: str, capability: str) -> UnsupportedOperationError:
    """The error for an operation whose capability the route's adapter does not declare."""
    return UnsupportedOperationError(
        f"{op} needs the {capability!r} capability, which adapter "
        f"{route.adapter_name!r} of namespace {route.namespace!r} does not declare",
        capability=capability,
    )


class FacadeCore:
    """Shared state of a client: config, clock, metrics, adapters, routes and fan-out."""

    def __init__(
        self,
        config: StorageConfigV1,
        clock: Clock,
        metrics: StorageMetrics,
        adapters: Mapping[str, StorageAdapter],
        fanout: InvalidationFanout | None,
        node_id: str,
        on_close: Callable[[], None],
        rng: random.Random,
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics
        self.metrics_enabled = metrics.enabled
        self.adapters = adapters
        self.fanout = fanout
        self.node_id = node_id
        self.logger = logging.getLogger(config.observability.logger_name)
        self.policy = AccessPolicy(config.acl)
        self.acl_enabled = self.policy.enabled
        self.rng = rng
        """Draws the backoff jitter of read-after-write retries (seeded by the kit)."""
        self.closed = False
        self._on_close = on_close
        self._routes: dict[str, Route] = {}
        self._written: OrderedDict[tuple[Layer, str, str], tuple[int, bool]] = OrderedDict()
        self._lock = threading.Lock()
        consistency = config.consistency
        self.default_read_options = ReadOptions(check_read_level(consistency.default_read_level))
        """The options of a read that sets none: the configured level, no bypass, no
        ``if_match`` (built once; most reads use it)."""
        self.raw_window_ms = consistency.read_after_write_window_ms
        self.backoff_initial_ms = consistency.retry_initial_backoff_ms
        self.backoff_max_ms = consistency.retry_max_backoff_ms
        self.max_retries = consistency.max_retries
        self._unsubscribe = (
            fanout.subscribe(self._on_invalidation) if fanout is not None else _no_subscription
        )

    # -- routing -------------------------------------------------------------------------

    def route(self, namespace: object) -> Route:
        """The route of ``namespace``; ``InvalidRequestError`` when unknown or malformed."""
        if type(namespace) is str:
            route = self._routes.get(namespace)
            if route is not None:
                return route
        name = check_namespace(namespace)
        ns_config = self.config.namespace_config(name)
        if ns_config is None:
            raise InvalidRequestError(
                f"unknown namespace {name!r}: it is not in the configuration's namespaces",
                argument="namespace",
            )
        adapter = self.adapters[ns_config.adapter]
        cache_config = self.config.cache
        cache_adapter = (
            self.adapters[cache_config.adapter] if cache_config.adapter is not None else adapter
        )
        cache = cache_adapter.cache if cache_adapter.capabilities.cache else None
        if not cache_config.enabled:
            cache = None
        route = Route(
            name,
            adapter,
            cache,
            ns_config.cache,
            self.config.effective_ttl_ms(name),
            self.config.effective_staleness_budget_ms(name),
            cache_adapter.capabilities.distributed_cache,
            cache_adapter is adapter,
        )
        with self._lock:
            existing = self._routes.get(name)
            if existing is not None:
                return existing
            if len(self._routes) >= MAX_ROUTES:
                del self._routes[next(iter(self._routes))]
            self._routes[name] = route
            return route

    def begin(self, op: str, namespace: object, principal: str, cid: CorrelationRef) -> Route:
        """Resolve the route and enforce the ACL; every decision is logged when ACL is on."""
        route = self._routes.get(namespace) if type(namespace) is str else None
        if route is None:
            route = self.route(namespace)
        if self.closed:
            raise BackendUnavailableError("the storage client is closed")
        if self.acl_enabled:
            allowed = op in self.policy.granted(route.namespace, principal)
            if not allowed or self.config.observability.log_acl_allows:
                emit(
                    self.logger,
                    logging.DEBUG if allowed else logging.WARNING,
                    EVENT_ACL_DECISION,
                    {
                        "op": op,
                        "namespace": route.namespace,
                        "principal": principal,
                        "decision": "allow" if allowed else "deny",
                        "correlation_id": correlation_text(cid),
                    },
                )
            if not allowed:
                raise AccessDeniedError(
                    f"principal {principal!r} is not granted {op} on namespace {route.namespace!r}",
                    principal=principal,
                )
        return route

    # -- instrumentation -----------------------------------------------------------------

    correlation_id = staticmethod(correlation_ref)
    """The caller's correlation id, else a fresh one for this operation (as a
    ``CorrelationRef``: log events and errors get its text)."""

    @staticmethod
    def cause(error: Exception) -> Exception | None:
        """What the error ``failed`` returns for ``error`` is chained to when raised.

        An ``AdapterError`` keeps the unmapped exception it wraps as ``__cause__``; a
        ``SanctumError`` raised as is gets no chain.
        """
        return None if isinstance(error, SanctumError) else error

    def succeeded(self, op: str, route: Route, started: float, nbytes: int) -> None:
        """Record a successful operation."""
        if self.metrics_enabled:
            labels = route.ok_labels(op)
            metrics = self.metrics
            metrics.requests_total.add(1, labels)
            metrics.latency_ms.record((perf_counter() - started) * 1000.0, labels)
            metrics.payload_bytes.record(nbytes, labels)

    def cache_lookup(self, op: str, route: Route, hit: bool) -> None:
        """Record whether a read that consulted the cache hit it."""
        if self.metrics_enabled:
            self.metrics.cache_hit_ratio.record(1.0 if hit else 0.0, route.ok_labels(op))

    def failed(
        self,
        op: str,
        route: Route | None,
        namespace: object,
        key: object,
        started: float,
        error: Exception,
        cid: CorrelationRef,
    ) -> SanctumError:
        """Turn ``error`` into a canonical error with context, record it, and return it."""
        if isinstance(error, SanctumError):
            canonical = error
        else:
            canonical = AdapterError(
                f"unmapped {type_name(error)} from the adapter: {error_message(error)}"
            )
            canonical.__cause__ = error
        if route is None and type(namespace) is str:
            route = self._routes.get(namespace)
        ns_label = route.namespace if route is not None else "<invalid>"
        if canonical.op is None:
            canonical.op = op
        if canonical.namespace is None and type(namespace) is str:
            canonical.namespace = namespace
        if canonical.key is None and type(key) is str:
            canonical.key = key
        if canonical.correlation_id is None:
            canonical.correlation_id = correlation_text(cid)
        latency_ms = (perf_counter() - started) * 1000.0
        adapter_label = route.adapter_name if route is not None else ""
        if self.metrics_enabled:
            labels = OperationLabels(
                op, op.partition(".")[0], ns_label, adapter_label, "error", canonical.code
            )
            self.metrics.requests_total.add(1, labels)
            self.metrics.errors_total.add(1, labels)
            self.metrics.latency_ms.record(latency_ms, labels)
        if isinstance(canonical, _QUIET_ERRORS):
            level = logging.DEBUG
        elif canonical.retryable:
            level = logging.WARNING
        else:
            level = logging.ERROR
        emit(
            self.logger,
            level,
            EVENT_OPERATION_ERROR,
            {
                "op": op,
                "layer": op.partition(".")[0],
                "namespace": canonical.namespace,
                "adapter": adapter_label,
                "key": canonical.key,
                "correlation_id": canonical.correlation_id,
                "error_code": canonical.code,
                "retryable": canonical.retryable,
                "message": canonical.message,
                "latency_ms": latency_ms,
            },
        )
        return canonical

    # -- read-after-write tracking -------------------------------------------------------

    def remember_write(
        self, route: Route, layer: Layer, key: str, version: int, deleted: bool
    ) -> None:
        """Remember this client's last write (or delete) of a key.

        Strong reads on an adapter without read-after-write wait for it, and every cache
        fill checks it, so a read that raced this write never caches the older version.
        """
        entry = (layer, route.namespace, key)
        with self._lock:
            self._written[entry] = (version, deleted)
            self._written.move_to_end(entry)
            if len(self._written) > RAW_TRACKED_KEYS:
                self._written.popitem(last=False)

    def last_write(self, route: Route, layer: Layer, key: str) -> tuple[int, bool] | None:
        """This client's last (version, deleted) of a key, if it is remembered."""
        with self._lock:
            return self._written.get((layer, route.namespace, key))

    def consistency_retry(
        self,
        op: str,
        route: Route,
        key: str,
        cid: CorrelationRef,
        attempt: int,
        expected: int,
        observed: int | None,
        deadline_ms: float,
    ) -> None:
        """Wait before the next read-after-write attempt, or raise ``ConsistencyError``.

        Backoff doubles from the initial value up to the maximum, with equal jitter; the
        last attempt is made at the window's end.
        """
        now = self.clock.now_ms()
        backoff = min(self.backoff_initial_ms * 2 ** (attempt - 1), self.backoff_max_ms)
        backoff *= self.rng.uniform(0.5, 1.0)
        if now >= deadline_ms or attempt > self.max_retries:
            raise ConsistencyError(
                f"strong read did not observe version {expected} within "
                f"{self.raw_window_ms:g} ms (observed {observed}); retry after "
                f"{backoff:.1f} ms",
                retry_after_ms=backoff,
                expected_version=expected,
                observed_version=observed,
            )
        if self.metrics_enabled:
            self.metrics.retries_total.add(1, route.ok_labels(op))
        emit(
            self.logger,
            logging.DEBUG,
            EVENT_CONSISTENCY_RETRY,
            {
                "op": op,
                "namespace": route.namespace,
                "key": key,
                "correlation_id": correlation_text(cid),
                "attempt": attempt,
                "expected_version": expected,
                "observed_version": observed,
                "backoff_ms": backoff,
            },
        )
        self.clock.sleep_ms(min(backoff, deadline_ms - now))

    def conflict_retry(self, op: str, route: Route) -> None:
        """Count a compare-and-set retry."""
        if self.metrics_enabled:
            self.metrics.retries_total.add(1, route.ok_labels(op))

    # -- purge and fan-out ---------------------------------------------------------------

    def purge(
        self,
        route: Route,
        layer: Layer,
        key: str,
        version: int,
        cid: CorrelationRef,
        purged: bool = False,
    ) -> None:
        """Purge the local cache now (unless the write ``purged`` it already, in the same
        backend call), then hand the invalidation to the fan-out.

        The write is already acknowledged, so a failing purge or fan-out is logged (and
        the entry expires within its TTL) instead of failing the write.
        """
        cache = route.purge_cache
        if cache is not None and not purged:
            try:
                cache.delete(route.namespace, cache_key(layer, key))
            except Exception as error:
                self._fanout_error(route.namespace, key, cid, f"local purge failed: {error!r}")
        if self.fanout is None:
            return
        try:
            self.fanout.publish(
                InvalidationEvent(layer, route.namespace, key, version, self.node_id)
            )
        except Exception as error:
            self._fanout_error(route.namespace, key, cid, f"fan-out publish failed: {error!r}")

    def _on_invalidation(self, event: InvalidationEvent) -> None:
        """Apply another client's invalidation to this client's cache."""
        if event.origin == self.node_id or self.closed:
            return
        try:
            route = self.route(event.namespace)
        except SanctumError:
            return
        if route.purge_cache is None or route.shared_cache:
            return
        try:
            route.purge_cache.delete(route.namespace, cache_key(event.layer, event.key))
        except Exception as error:
            self._fanout_error(
                event.namespace, event.key, new_correlation_id(), f"remote purge failed: {error!r}"
            )

    def _fanout_error(self, namespace: str, key: str, cid: CorrelationRef, message: str) -> None:
        emit(
            self.logger,
            logging.ERROR,
            EVENT_FANOUT_ERROR,
            {
                "namespace": namespace,
                "key": key,
                "correlation_id": correlation_text(cid),
                "message": message,
            },
        )

    def close(self) -> None:
        """Stop receiving invalidations and close the adapters this client built."""
        if self.closed:
            return
        self.closed = True
        self._unsubscribe()
        self._on_close()
