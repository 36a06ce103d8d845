"""Honest-but-unusual adapters: correct adapters the kit must pass with no failure.

Each wraps the in-memory reference and changes one thing a real backend may do
differently while still keeping ADR-001: replicas that lag (on the kit's clock or in real
time) without declaring ``read_after_write``, etags that are random tokens, ``list``
pages shorter than asked for, a cache that evicts at random, and no streams or cache at
all. ``test_kit_honest.py`` runs the whole kit against each of them. One more has a
key limit shorter than the facade's, as S3 has: a known failure of ``ID-004`` only, which
a baseline lists (``test_kit_differential.py``). Where one needs
randomness it draws from a ``random.Random`` seeded from its ``seed`` option, so a run
is repeatable.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from facade_helpers import LaggingStore
from mutants.base import Mutated, Wrap

from pytest_sanctum.clock import Clock
from pytest_sanctum.errors import InvalidRequestError, PreconditionFailedError
from pytest_sanctum.types import Blob, BlobInfo, CacheEntry, Layer, StoredMessage, WriteResult
from reference_adapters.memory import MemoryBackdoor, create_memory_adapter

HONEST_LAG_MS = 30.0
"""The lag of the honest replica: well inside the facade's 100 ms read-after-write window."""


def _memory(options: Mapping[str, object], clock: Clock, *own: str) -> Any:
    """The memory adapter built from ``options`` without this module's ``own`` options."""
    return create_memory_adapter({k: v for k, v in options.items() if k not in own}, clock)


def _rng(options: Mapping[str, object], purpose: str) -> random.Random:
    """A generator seeded from the ``seed`` option (default 0) and ``purpose``."""
    return random.Random(f"{options.get('seed', 0)}/{purpose}")


# -- replicas that lag -------------------------------------------------------------------


class _SharedReplica(LaggingStore):
    """A ``LaggingStore`` whose replica is shared by every adapter instance of one memory
    server, as a replicated backend's is: another node reads the same lagging state, and
    catches up at the same time. Calls are serialised, so threads see one order of writes."""

    _replicas: ClassVar[dict[tuple[str, str], tuple[Any, Any, threading.RLock]]] = {}

    def __init__(self, inner: Any, clock: Clock, lag_ms: float, server: str, store: str) -> None:
        super().__init__(inner, clock, lag_ms)
        shared = self._replicas.setdefault((server, store), ({}, {}, threading.RLock()))
        self._replica, self._pending, self._lock = shared

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        with self._lock:
            return super().put(namespace, key, data, **options)

    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        with self._lock:
            return super().delete(namespace, key, if_match=if_match)

    def get(self, namespace: str, key: str) -> Blob:
        with self._lock:
            return super().get(namespace, key)

    def reset(self, namespace_prefix: str) -> None:
        """A reset reaches the replica as writes do, after the lag: every key it holds or
        awaits in the namespaces is deleted there."""
        with self._lock:
            held = {*self._replica, *self._pending}
            for namespace, key in held:
                if namespace.startswith(namespace_prefix):
                    self._written(namespace, key, None)


class _Replicated(Mutated):
    """A memory adapter read through shared replicas, which its ``reset`` reaches too."""

    def reset(self, namespace_prefix: str) -> None:
        super().reset(namespace_prefix)
        self.blobs.reset(namespace_prefix)
        self.records.reset(namespace_prefix)


def honest_lagging_replica(options: Mapping[str, object], clock: Clock) -> _Replicated:
    """Not a mutant: honestly lacks ``read_after_write``, and reads come from a replica
    lagging ``HONEST_LAG_MS`` behind writes. A correct adapter: the kit must pass it."""
    inner = create_memory_adapter(options, clock)
    server = str(options.get("server", "default"))
    return _Replicated(
        inner,
        capabilities={"read_after_write": False},
        blobs=_SharedReplica(inner.blobs, clock, HONEST_LAG_MS, server, "blobs"),
        records=_SharedReplica(inner.records, clock, HONEST_LAG_MS, server, "records"),
    )


REALTIME_LAG_MS = 30.0
"""The lag of the honest real-time replica, in real milliseconds."""


class _RealTime:
    """The real-time replica's clock: monotonic time, which no test can advance."""

    def now_ms(self) -> float:
        return time.monotonic() * 1000.0

    def sleep_ms(self, ms: float) -> None:
        time.sleep(ms / 1000.0)


def honest_realtime_replica(options: Mapping[str, object], clock: Clock) -> _Replicated:
    """Not a mutant: honestly lacks ``read_after_write``, and reads come from a replica that
    catches up ``REALTIME_LAG_MS`` of real time after each write, whatever the kit's virtual
    clock says. The kit passes it because its clock waits in real time where the facade
    waits for a backend."""
    inner = create_memory_adapter(options, clock)
    server = f"{options.get('server', 'default')}/real-time"
    real = _RealTime()
    return _Replicated(
        inner,
        capabilities={"read_after_write": False},
        blobs=_SharedReplica(inner.blobs, real, REALTIME_LAG_MS, server, "blobs"),
        records=_SharedReplica(inner.records, real, REALTIME_LAG_MS, server, "records"),
    )


# -- random etags ------------------------------------------------------------------------


class _EtagTable:
    """The random etag of each (layer, namespace, key, memory etag) of one memory server,
    shared by its adapter instances as a backend's stored etags are."""

    _servers: ClassVar[dict[str, _EtagTable]] = {}

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._lock = threading.Lock()
        self._outer: dict[tuple[str, str, str, str], str] = {}
        self._inner: dict[tuple[str, str, str, str], str] = {}

    @classmethod
    def of(cls, server: str, rng: random.Random) -> _EtagTable:
        return cls._servers.setdefault(server, cls(rng))

    def issue(self, layer: str, namespace: str, key: str, inner: str) -> str:
        """The random etag standing for ``inner`` (drawn on first sight)."""
        with self._lock:
            found = self._outer.get((layer, namespace, key, inner))
            if found is None:
                found = f"{self._rng.getrandbits(96):024x}"
                self._outer[(layer, namespace, key, inner)] = found
                self._inner[(layer, namespace, key, found)] = inner
            return found

    def resolve(self, layer: str, namespace: str, key: str, outer: str | None) -> str | None:
        """The memory etag a caller's etag stands for; one matching nothing when unknown."""
        if outer is None:
            return None
        with self._lock:
            return self._inner.get((layer, namespace, key, outer), f"never-issued:{outer}")


class _RandomEtagStore:
    """A ``VersionedStore`` whose etags are random tokens: opaque, unique per version, and
    derived from neither the content nor the version."""

    def __init__(self, inner: Any, table: _EtagTable, layer: str) -> None:
        self.inner = inner
        self._table = table
        self._layer = layer

    def _etag(self, namespace: str, key: str, inner: str) -> str:
        return self._table.issue(self._layer, namespace, key, inner)

    @contextmanager
    def _translated(self, namespace: str, key: str) -> Iterator[None]:
        try:
            yield
        except PreconditionFailedError as error:
            if error.current_etag is not None:
                error.current_etag = self._etag(namespace, key, error.current_etag)
            raise

    def put(
        self, namespace: str, key: str, data: bytes, *, if_match: str | None = None, **options: Any
    ) -> WriteResult:
        wanted = self._table.resolve(self._layer, namespace, key, if_match)
        with self._translated(namespace, key):
            result: WriteResult = self.inner.put(namespace, key, data, if_match=wanted, **options)
        return WriteResult(result.version, self._etag(namespace, key, result.etag))

    def get(self, namespace: str, key: str) -> Blob:
        blob: Blob = self.inner.get(namespace, key)
        return dataclasses.replace(blob, etag=self._etag(namespace, key, blob.etag))

    def head(self, namespace: str, key: str) -> BlobInfo:
        info: BlobInfo = self.inner.head(namespace, key)
        return dataclasses.replace(info, etag=self._etag(namespace, key, info.etag))

    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> int:
        wanted = self._table.resolve(self._layer, namespace, key, if_match)
        with self._translated(namespace, key):
            version: int = self.inner.delete(namespace, key, if_match=wanted)
        return version

    def list(self, namespace: str, prefix: str = "", **options: Any) -> list[BlobInfo]:
        infos: list[BlobInfo] = self.inner.list(namespace, prefix, **options)
        return [
            dataclasses.replace(info, etag=self._etag(namespace, info.key, info.etag))
            for info in infos
        ]


class _RandomEtagBackdoor:
    """Reads the memory server directly and shows the etags the random-etag stores issued."""

    def __init__(self, inner: MemoryBackdoor, table: _EtagTable) -> None:
        self._inner = inner
        self._table = table

    def read_object(self, layer: Layer, namespace: str, key: str) -> Blob | None:
        blob = self._inner.read_object(layer, namespace, key)
        if blob is None:
            return None
        etag = self._table.issue(layer.value, namespace, key, blob.etag)
        return dataclasses.replace(blob, etag=etag)

    def stream_messages(self, namespace: str, stream: str) -> list[StoredMessage]:
        return self._inner.stream_messages(namespace, stream)


class _RandomEtagAdapter(Mutated):
    def __init__(self, inner: Any, table: _EtagTable) -> None:
        super().__init__(
            inner,
            blobs=_RandomEtagStore(inner.blobs, table, Layer.BLOB.value),
            records=_RandomEtagStore(inner.records, table, Layer.RECORD.value),
        )
        self._table = table

    def backdoor(self) -> _RandomEtagBackdoor:  # type: ignore[override]
        return _RandomEtagBackdoor(self.inner.backdoor(), self._table)


def honest_random_etags(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Not a mutant: every version gets a random etag (as some object stores issue), unique
    per version and unrelated to the content or the version number."""
    table = _EtagTable.of(str(options.get("server", "default")), _rng(options, "etags"))
    return _RandomEtagAdapter(_memory(options, clock, "seed"), table)


# -- short list pages --------------------------------------------------------------------

PAGE_SIZES = (1, 3, 2)
"""The page sizes the paged adapter's ``list`` cycles through, whatever ``limit`` asks."""


class _PagedList(Wrap):
    """``list`` returns a backend page: at most the next size of ``PAGE_SIZES`` entries."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self._sizes = itertools.cycle(PAGE_SIZES)

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        page = min(limit, next(self._sizes))
        return self.inner.list(namespace, prefix, start_after=start_after, limit=page)  # type: ignore[no-any-return]


def honest_paged_list(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Not a mutant: ``list`` returns fewer entries than ``limit`` (a backend's page size,
    here 1 to 3), and an empty page only at the end, as the adapter interface allows."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, blobs=_PagedList(inner.blobs), records=_PagedList(inner.records))


# -- a cache that evicts -----------------------------------------------------------------

EVICTION_CHANCE = 0.1
"""The chance that the evicting cache drops an entry at a lookup, just before it."""


class _EvictingCache(Wrap):
    """A cache under memory pressure: at each lookup of a stored entry it first evicts that
    entry with probability ``chance`` (drawn from a seeded generator)."""

    def __init__(self, inner: Any, rng: random.Random, chance: float) -> None:
        super().__init__(inner)
        self._rng = rng
        self._chance = chance
        self._lock = threading.Lock()

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        entry: CacheEntry | None = self.inner.get(namespace, key)
        with self._lock:
            evict = entry is not None and self._rng.random() < self._chance
        if evict:
            self.inner.delete(namespace, key)
            return None
        return entry


_instances = itertools.count()


def honest_evicting_cache(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Not a mutant: the cache evicts entries at random moments, as a cache under memory
    pressure does; ADR-001 allows a miss wherever a read may consult the cache. The
    ``eviction_chance`` option replaces ``EVICTION_CHANCE`` (1.0: every entry is evicted
    at its first lookup)."""
    inner = _memory(options, clock, "seed", "eviction_chance")
    rng = _rng(options, f"evictions/{next(_instances)}")
    chance = float(options.get("eviction_chance", EVICTION_CHANCE))  # type: ignore[arg-type]
    return Mutated(inner, cache=_EvictingCache(inner.cache, rng, chance))


# -- fewer layers ------------------------------------------------------------------------


def honest_blobs_and_records(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Not a mutant: a plain object store, with blobs and records only, no streams and no
    cache (the kit runs it behind the reference cache with ``--sanctum-reference-cache``)."""
    return Mutated(
        create_memory_adapter(options, clock),
        capabilities={
            "streams": False,
            "cache": False,
            "distributed_cache": False,
            "idempotent_append": False,
            "durable_checkpoints": False,
        },
        streams=None,
        checkpoints=None,
        cache=None,
    )


# -- a shorter key limit -----------------------------------------------------------------

SHORT_KEY_LIMIT_BYTES = 1024
"""The short-key adapter's limit on ``namespace/key``, as S3's on its object keys."""


class _KeyLimit(Wrap):
    """A store refusing to write a key whose ``namespace/key`` is over the limit (no such
    key can then exist, so reads find nothing), as the S3 adapter does."""

    def _check(self, namespace: str, key: str) -> None:
        if len(f"{namespace}/{key}".encode()) > SHORT_KEY_LIMIT_BYTES:
            raise InvalidRequestError(
                f"namespace/key is over {SHORT_KEY_LIMIT_BYTES} UTF-8 bytes",
                argument="key",
                namespace=namespace,
                key=key,
            )

    def put(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        self._check(namespace, key)
        return self.inner.put(namespace, key, data, **options)  # type: ignore[no-any-return]

    def put_and_purge(self, namespace: str, key: str, data: bytes, **options: Any) -> WriteResult:
        self._check(namespace, key)
        return self.inner.put_and_purge(namespace, key, data, **options)  # type: ignore[no-any-return]


def honest_short_keys(options: Mapping[str, object], clock: Clock) -> Mutated:
    """Correct but for one known failure: object keys share ``SHORT_KEY_LIMIT_BYTES`` with
    their namespace, so the longest keys the facade accepts are refused (``ID-004`` fails,
    as on S3). With ``ID-004`` in the baseline every other contract must pass. Not in
    ``HONEST``, whose adapters pass every contract."""
    inner = create_memory_adapter(options, clock)
    return Mutated(inner, blobs=_KeyLimit(inner.blobs), records=_KeyLimit(inner.records))
