"""``create_storage_client``: the one entry point of the facade.

It takes a parsed ``StorageConfigV1`` (``parse_config`` makes one), builds and freezes
every adapter the configuration names, and returns a ``StorageClient`` whose ``blobs``,
``records``, ``streams`` and ``cache`` layers route each namespace to its adapter.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from types import MappingProxyType, TracebackType

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.adapters.registry import build_adapter, check_adapter
from pytest_sanctum.cache_layer import CacheLayer
from pytest_sanctum.clock import Clock, SystemClock
from pytest_sanctum.config import StorageConfigV1, default_config
from pytest_sanctum.core import FacadeCore
from pytest_sanctum.errors import ConfigError
from pytest_sanctum.fanout import InvalidationFanout
from pytest_sanctum.fanout_registry import build_fanout
from pytest_sanctum.keyed import BlobLayer, RecordLayer
from pytest_sanctum.observability import StorageMetrics, create_noop_metrics
from pytest_sanctum.streams import StreamLayer
from pytest_sanctum.validation import check_key

DEFAULT_PRINCIPAL = "anonymous"
"""The principal of a client created without one."""


class StorageClient:
    """The storage facade. Thread-safe; create one per process (or per node) and share it."""

    def __init__(self, core: FacadeCore, principal: str) -> None:
        self._core = core
        self.principal = principal
        self.blobs = BlobLayer(core, principal)
        self.records = RecordLayer(core, principal)
        self.streams = StreamLayer(core, principal)
        self.cache = CacheLayer(core, principal)

    @property
    def config(self) -> StorageConfigV1:
        """The frozen configuration this client was built from."""
        return self._core.config

    @property
    def clock(self) -> Clock:
        """The clock every TTL, budget, window and timeout of this client follows."""
        return self._core.clock

    @property
    def metrics(self) -> StorageMetrics:
        """Where this client records its metrics."""
        return self._core.metrics

    @property
    def node_id(self) -> str:
        """This client's id as the origin of invalidation events."""
        return self._core.node_id

    @property
    def adapters(self) -> Mapping[str, StorageAdapter]:
        """The adapters by configured name (read-only)."""
        return self._core.adapters

    def as_principal(self, principal: str) -> StorageClient:
        """A view of this client acting as ``principal`` (same adapters, caches and metrics)."""
        return StorageClient(self._core, check_key(principal, "principal"))

    def close(self) -> None:
        """Close the adapters this client built; later operations raise ``BackendUnavailableError``."""
        self._core.close()

    def __enter__(self) -> StorageClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def create_storage_client(
    config: StorageConfigV1 | None = None,
    *,
    clock: Clock | None = None,
    metrics: StorageMetrics | None = None,
    fanout: InvalidationFanout | None = None,
    adapters: Mapping[str, StorageAdapter] | None = None,
    principal: str = DEFAULT_PRINCIPAL,
    node_id: str | None = None,
    rng: random.Random | None = None,
) -> StorageClient:
    """Build a client from a parsed config; with no arguments, an in-memory client.

    ``adapters`` supplies ready adapter instances by configured adapter name (they are not
    closed by the client); every other configured adapter is built from its ``kind``.
    ``fanout`` connects this client's cache to other clients' (not closed by the client);
    without it, the configuration's ``fanout`` section, if any, is built and closed with
    the client. ``rng`` draws the jitter of the read-after-write retries' backoff (default:
    a generator seeded from the system); give a seeded one to make a run replayable.
    """
    if config is None:
        config = default_config()
    elif not isinstance(config, StorageConfigV1):
        raise ConfigError(
            "create_storage_client takes a parsed StorageConfigV1; "
            f"pass parse_config(...) instead of a {type(config).__name__}",
            field=None,
        )
    checked_principal = check_key(principal, "principal")  # before any adapter is built
    clock = clock if clock is not None else SystemClock()
    given = dict(adapters or {})
    unknown = sorted(set(given) - set(config.adapters))
    if unknown:
        raise ConfigError(
            f"adapters {unknown} are not named in the configuration's adapters",
            field="adapters",
        )
    built: dict[str, StorageAdapter] = {}
    try:
        for name, adapter_config in config.adapters.items():
            if name in given:
                check_adapter(given[name], field=f"adapters.{name}")
            else:
                built[name] = build_adapter(
                    adapter_config.kind,
                    adapter_config.options,
                    clock,
                    field=f"adapters.{name}.kind",
                )
        if fanout is None and config.fanout is not None:
            fanout = own_fanout = build_fanout(config.fanout.kind, config.fanout.options)
        else:
            own_fanout = None
    except BaseException:
        for adapter in built.values():
            adapter.close()
        raise

    def close_built() -> None:
        if own_fanout is not None:
            own_fanout.close()
        for adapter in built.values():
            adapter.close()

    core = FacadeCore(
        config,
        clock,
        metrics if metrics is not None else create_noop_metrics(),
        MappingProxyType({**built, **given}),
        fanout,
        node_id if node_id is not None else uuid.uuid4().hex[:12],
        close_built,
        rng if rng is not None else random.Random(),
    )
    return StorageClient(core, checked_principal)
