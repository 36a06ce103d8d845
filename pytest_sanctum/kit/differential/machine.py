"""``DifferentialMachine``: the adapter under test and the reference, driven side by side.

Every rule makes the same call on both sides and compares the answers (``compare``);
after every step the machine also compares what the step could have changed, read back
every way there is (``readback.ReadBack``): ``get`` at each read level and with bypass,
``head``, ``list`` from the start and from every ``start_after``, stream reads page by
page, consumer-group state, cache entries, on every open instance. The subclasses choose
the level:

- ``FacadeDifferential`` (``DIFF-001``) calls the facade (``StorageClient``);
- ``StoreDifferential`` (``DIFF-002``) calls the adapter's stores directly, the optional
  one-call protocols included, so a store bug cannot hide behind a facade check;
- ``LifecycleDifferential`` (``DIFF-003``) mixes both with a second instance, reopens,
  ``reset`` of some namespace prefixes and calls on closed stores.

What the rules allow is compared, not what the reference happens to do: an entry a cache
evicted may be missing, a read that may serve the cache may return the backend's current
value instead, a store's ``list`` or stream page may be shorter than asked (a backend's
page size). On an adapter without ``read_after_write`` the reads that may lag (store
reads, ``list``, another instance's reads) are left out; strong reads through the
writing client stay in, since the facade retries them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from pytest_sanctum.adapters.base import GroupStore
from pytest_sanctum.core import offers
from pytest_sanctum.errors import BackendUnavailableError
from pytest_sanctum.kit.differential import domain
from pytest_sanctum.kit.differential.compare import (
    Outcome,
    call,
)
from pytest_sanctum.kit.differential.readback import (
    CACHE_PREFIX,
    FACADE_WINDOW_MS,
    STEP_MS,
    VERSIONED,
    ReadBack,
    on_layer,
)
from pytest_sanctum.kit.differential.world import Side
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.types import (
    CacheEntry,
    CacheFill,
    Layer,
)
from pytest_sanctum.validation import encode_record

TICKS_MS = (1.0, 499.0, 1000.0, 4999.0, 5001.0, 30_001.0, 120_001.0)
"""Clock advances: around cache TTLs, the visibility timeout and the dedupe window."""

WINDOWS_MS = (0.0, 0.5, 1.5, 999.5, 120_000.0)
"""Dedupe windows of the store-level appends (one per example, as the facade passes its
configuration's): off, under a millisecond, fractional (a window kept in whole
milliseconds is shorter), just under a second, the default."""

CLOSED_PROBES = (
    "blobs.get",
    "blobs.head",
    "blobs.list",
    "blobs.put",
    "records.get",
    "records.put",
    "records.delete",
    "streams.read",
    "streams.append",
    "checkpoints.load",
    "cache.get",
    "cache.set",
    "cache.delete",
)
"""Calls made on a closed instance's stores: each must raise ``BackendUnavailableError``."""

INSTANCE = st.sampled_from([0, 1])
LAYER = st.sampled_from(VERSIONED)
NS = domain.namespace_index()
CONDITION = st.sampled_from(["none", "none", "create", "current", "stale", "unknown"])
GROUPS = domain.cluster_names()
CONSUMERS = st.sampled_from(["c1", "C1"])


class DifferentialMachine(ReadBack):
    """The rules of the ``DIFF-*`` machines (see the module doc)."""

    def __init__(self, kit: KitSession) -> None:
        super().__init__(kit)
        self.delivered: list[str] = []
        self.dedupe: dict[tuple[str, str, str], tuple[float, float]] = {}
        """(namespace, stream, idempotency key) -> (its window's start, how long it is
        surely remembered): see ``dedupe_open``."""
        self.longest_windows: dict[tuple[str, str], float] = {}
        """(namespace, stream) -> the longest dedupe window an append to it brought."""
        self.closed: list[tuple[Any, Any]] = []
        self.direct_etags = 0
        self.last_put: tuple[int, Layer, int, str] | None = None
        """The last versioned put that wrote: (instance, layer, namespace index, key)."""
        self.populated = 0
        """How many times ``populate`` ran: each writes other bytes."""
        self.last_append: tuple[Callable[[], None], tuple[str, str, str], float] | None = None
        """The last append with an idempotency key: a call repeating it, its (namespace,
        stream, key) and its dedupe window (``append_again``)."""
        kit.count_example()

    # -- helpers -------------------------------------------------------------------------

    def versioned_instance(self, index: int) -> int:
        """The instance a versioned call goes to: one instance only when reads may lag."""
        return self.pick(index) if self.raw else 0

    def dedupe_open(
        self, where: str, namespace: str, stream: str, key: str | None, window: float
    ) -> bool:
        """Whether the rules leave open if an append of ``key`` with ``window`` is a
        duplicate (the step is then left out, and logged): the key's window started under
        shorter windows than ``window``, longer ago than those. An adapter forgets a key
        once it is older than the longest window appends brought (to the stream at least,
        to the namespace or server at most: ``docs/architecture.md``), so it may answer
        with the original message or append a new one, and the two sides could differ."""
        recorded = None if key is None else self.dedupe.get((namespace, stream, key))
        if recorded is None:
            return False
        start, remembered = recorded
        if not remembered <= self.now() - start < window:
            return False
        self.log(f"{where}: left out, a duplicate or not as the adapter forgot the key or not")
        return True

    def appended(
        self, namespace: str, stream: str, key: str | None, window: float, ours: Outcome
    ) -> None:
        """Record an append's key: a new window starts when the reference appended, and
        the key is surely remembered for the longest window the stream has brought."""
        if key is None or not ours.ok:
            return
        longest = max(self.longest_windows.get((namespace, stream), 0.0), window)
        self.longest_windows[(namespace, stream)] = longest
        if not ours.value.duplicate:
            self.dedupe[(namespace, stream, key)] = (self.now(), longest)

    # -- facade rules (DIFF-001, DIFF-003) -----------------------------------------------

    @initialize(
        keys=st.lists(domain.cluster_names(), min_size=2, max_size=3, unique=True),
        data=st.lists(domain.payloads(), min_size=3, max_size=3),
        records=st.lists(domain.records(), min_size=3, max_size=3),
        window=st.shared(st.sampled_from(WINDOWS_MS), key="sanctum-window"),
    )
    def seed_namespace(
        self,
        keys: list[str],
        data: list[bytes],
        records: list[dict[str, object]],
        window: float,
    ) -> None:
        """Start every example with two or three names of its cluster written on each
        versioned layer of the example's own namespace, with payloads and records of the
        domain, and a message appended with an idempotency key on a stream named after the
        first, read by a consumer group named after the last: a listing then has keys to
        page through, filter and order from the first step, names a lossy mapping confuses
        meet side by side, and a retry at the window's edge has a key to repeat, whichever
        rules the example goes on with."""
        for key, payload, record in zip(keys, data, records, strict=False):
            for layer in VERSIONED:
                if self.FACADE:
                    self.facade_put(0, layer, 0, key, payload, record, None, "none")
                elif self.raw:
                    self.store_put(0, layer, 0, key, payload, record, None, "none", False)
        if not self.caps.streams:
            return
        stream, group = keys[0], keys[-1]
        if self.FACADE:
            self.facade_append(0, 0, stream, {"seed": 0}, "i")
            self.facade_read(0, 0, group, "c1", 10)
        else:
            self.store_append(0, 0, stream, b"seed", "i", window)
            self.store_group(0, 0, group, "c1", 10, False, 30_000.0)

    @precondition(lambda self: self.FACADE)
    @rule(
        index=INSTANCE,
        layer=LAYER,
        ns=NS,
        key=domain.names(),
        data=domain.payloads(),
        record=domain.records(),
        content_type=st.sampled_from(domain.CONTENT_TYPES),
        how=CONDITION,
    )
    def facade_put(
        self,
        index: int,
        layer: Layer,
        ns: int,
        key: str,
        data: bytes,
        record: dict[str, object],
        content_type: str | None,
        how: str,
    ) -> None:
        if not self.has(layer, key):
            return
        self.tick()
        index, namespace = self.versioned_instance(index), self.namespaces[ns]
        if how in ("current", "stale", "unknown", "create") and not self.caps.conditional_writes:
            how = "none"

        def put(side: Side) -> Any:
            options: dict[str, Any] = {}
            if how == "create":
                options["if_none_match"] = "*"
            elif how != "none":
                options["if_match"] = self.etag_for(side, layer, namespace, key, how)
            if layer is Layer.BLOB:
                return side.layer(index, layer).put(
                    namespace, key, data, content_type=content_type, **options
                )
            return side.layer(index, layer).put(namespace, key, record, **options)

        _, ours = self.both(
            f"{index}.{layer.value}.put {namespace}/{key!r} {how}", put, (namespace, layer, key)
        )
        if ours.ok:
            self.last_put = (index, layer, ns, key)
        self.touched.add((layer, namespace, key))
        self.after_write(layer, namespace, key)

    @precondition(lambda self: self.last_put is not None and (self.FACADE or self.raw))
    @rule(data=domain.payloads(), record=domain.records())
    def put_again(self, data: bytes, record: dict[str, object]) -> None:
        """Write the last key written again, unconditionally and with other bytes, through
        the other instance: what one node writes, the other's reads (and cache) must see."""
        assert self.last_put is not None
        index, layer, ns, key = self.last_put
        other = 1 - index
        if self.FACADE:
            self.facade_put(other, layer, ns, key, data, record, None, "none")
        else:
            self.store_put(other, layer, ns, key, data, record, None, "none", False)

    @precondition(lambda self: self.FACADE)
    @rule(index=INSTANCE, layer=LAYER, ns=NS, key=domain.names(), how=CONDITION)
    def facade_delete(self, index: int, layer: Layer, ns: int, key: str, how: str) -> None:
        if not self.has(layer, key):
            return
        self.tick()
        index, namespace = self.versioned_instance(index), self.namespaces[ns]
        if how == "create" or not self.caps.conditional_writes:
            how = "none"

        def delete(side: Side) -> Any:
            etag = None if how == "none" else self.etag_for(side, layer, namespace, key, how)
            return side.layer(index, layer).delete(namespace, key, if_match=etag)

        self.both(
            f"{index}.{layer.value}.delete {namespace}/{key!r} {how}",
            delete,
            (namespace, layer, key),
        )
        self.touched.add((layer, namespace, key))
        self.after_write(layer, namespace, key)

    @precondition(lambda self: self.FACADE)
    @rule(
        index=INSTANCE,
        layer=LAYER,
        ns=NS,
        key=domain.names(),
        level=st.sampled_from(["strong", "eventual", "cache_only"]),
        bypass=st.booleans(),
    )
    def facade_get(
        self, index: int, layer: Layer, ns: int, key: str, level: str, bypass: bool
    ) -> None:
        if not self.has(layer, key):
            return
        self.tick()
        index, namespace = self.versioned_instance(index), self.namespaces[ns]
        self.read_level(index, layer, namespace, key, level, bypass)
        self.touched.add((layer, namespace, key))

    @precondition(lambda self: self.FACADE and self.caps.blobs)
    @rule(
        ns=NS,
        prefix=domain.prefixes(),
        after=st.one_of(st.none(), domain.names()),
        limit=st.sampled_from(domain.LIMITS),
    )
    def facade_list(self, ns: int, prefix: str, after: str | None, limit: int) -> None:
        if not self.raw:
            return
        self.tick()
        namespace = self.namespaces[ns]
        self.both(
            f"0.blobs.list {namespace} {prefix!r} after={after!r} limit={limit}",
            lambda side: side.layer(0, Layer.BLOB).list(
                namespace, prefix, start_after=after, limit=limit
            ),
            (namespace, Layer.BLOB, ""),
        )

    @precondition(lambda self: self.FACADE and self.caps.streams)
    @rule(
        index=INSTANCE,
        ns=NS,
        stream=domain.names(),
        payload=domain.records(),
        idempotency=st.one_of(st.none(), st.sampled_from(["i", "I", "i "])),
    )
    def facade_append(
        self, index: int, ns: int, stream: str, payload: Any, idempotency: str | None
    ) -> None:
        self.tick()
        index, namespace = self.pick(index), self.namespaces[ns]
        if not self.caps.idempotent_append:
            idempotency = None
        where = f"{index}.streams.append {namespace}/{stream!r} key={idempotency!r}"
        if self.dedupe_open(where, namespace, stream, idempotency, FACADE_WINDOW_MS):
            return
        _, ours = self.both(
            where,
            lambda side: side.layer(index, Layer.STREAM).append(
                namespace, stream, payload, idempotency_key=idempotency
            ),
        )
        self.appended(namespace, stream, idempotency, FACADE_WINDOW_MS, ours)
        if idempotency is not None:
            again = partial(self.facade_append, index, ns, stream, payload, idempotency)
            self.last_append = (again, (namespace, stream, idempotency), FACADE_WINDOW_MS)
        self.streams.add((namespace, stream))
        self.sweep_streams(namespace)
        self.probe_stream_siblings(namespace, stream)

    @precondition(lambda self: self.FACADE and self.caps.streams and self.streams)
    @rule(
        index=INSTANCE,
        which=st.integers(0, 50),
        group=GROUPS,
        consumer=CONSUMERS,
        count=st.sampled_from([1, 2, 10]),
    )
    def facade_read(self, index: int, which: int, group: str, consumer: str, count: int) -> None:
        self.tick()
        index = self.pick(index)
        namespace, stream = sorted(self.streams)[which % len(self.streams)]
        theirs, _ = self.both(
            f"{index}.streams.read {namespace}/{stream!r} {group}/{consumer} count={count}",
            lambda side: side.layer(index, Layer.STREAM).read(
                namespace, stream, group, consumer, count=count
            ),
        )
        if theirs.ok:
            self.delivered = [delivery.message_id for delivery in theirs.value]
        self.groups.add((namespace, stream, group))
        self.sweep_streams(namespace)
        self.probe_group_siblings(namespace, stream, group)

    @precondition(lambda self: self.FACADE and self.caps.streams and self.groups)
    @rule(index=INSTANCE, which=st.integers(0, 50), extra=st.sampled_from([None, "1", "99"]))
    def facade_ack(self, index: int, which: int, extra: str | None) -> None:
        self.tick()
        index = self.pick(index)
        namespace, stream, group = sorted(self.groups)[which % len(self.groups)]
        ids = self.delivered + ([extra] if extra else [])
        self.both(
            f"{index}.streams.ack {namespace}/{stream!r} {group} {ids}",
            lambda side: side.layer(index, Layer.STREAM).ack(namespace, stream, group, ids),
        )
        self.sweep_streams(namespace)

    @precondition(lambda self: self.FACADE and self.caps.cache)
    @rule(
        ns=NS,
        key=domain.names(),
        value=domain.payloads(),
        ttl=st.one_of(st.none(), st.sampled_from(domain.TTLS_MS)),
        op=st.sampled_from(["set", "set", "get", "delete"]),
    )
    def facade_cache(self, ns: int, key: str, value: bytes, ttl: float | None, op: str) -> None:
        self.tick()
        namespace = self.namespaces[ns]
        where = f"0.cache.{op} {namespace}/{key!r}"
        if op == "set":
            self.both(
                f"{where} ttl={ttl}",
                lambda side: side.layer(0, Layer.CACHE).set(namespace, key, value, ttl_ms=ttl),
            )
        elif op == "delete":
            self.both(where, lambda side: side.layer(0, Layer.CACHE).delete(namespace, key))
        self.cache_keys.add((namespace, "kv/" + key))
        self.read_cache_layers(namespace)
        for sibling in domain.collisions(key):
            self.read_cache_layer(namespace, sibling)
        self.probe_cache_siblings(namespace, "kv/" + key)

    @precondition(lambda self: self.FACADE)
    @rule(
        bad=st.sampled_from(domain.INVALID_NAMES),
        op=st.sampled_from(["blob.get", "record.put", "list.prefix", "stream.append", "ns"]),
    )
    def facade_refuses(self, bad: str, op: str) -> None:
        namespace = self.namespaces[0]

        def act(side: Side) -> Any:
            client = side.clients[0]
            if op == "blob.get":
                return client.blobs.get(namespace, bad)
            if op == "record.put":
                return client.records.put(namespace, bad, {})
            if op == "list.prefix":
                return client.blobs.list(namespace, bad, limit=1)
            if op == "stream.append":
                return client.streams.append(namespace, bad, {})
            return client.blobs.get(bad[:129] or "-", "k")

        theirs, _ = self.both(f"0.{op} with {bad[:20]!r}", act)
        if op != "list.prefix" or not bad.isprintable():  # any printable prefix is valid
            self.expect(not theirs.ok, f"{op} with the invalid name {bad[:20]!r} was accepted")

    @precondition(lambda self: (self.FACADE or self.STORES) and self.spaced("advance", 4))
    @rule(ms=st.sampled_from(TICKS_MS))
    def advance(self, ms: float) -> None:
        self.advance_clock(int(ms))

    # -- store rules (DIFF-002, DIFF-003) ------------------------------------------------

    @precondition(lambda self: self.STORES and self.raw)
    @rule(
        index=INSTANCE,
        layer=LAYER,
        ns=NS,
        key=domain.names(),
        data=domain.payloads(),
        record=domain.records(),
        content_type=st.sampled_from(domain.CONTENT_TYPES),
        how=CONDITION,
        one_call=st.booleans(),
    )
    def store_put(
        self,
        index: int,
        layer: Layer,
        ns: int,
        key: str,
        data: bytes,
        record: dict[str, object],
        content_type: str | None,
        how: str,
        one_call: bool,
    ) -> None:
        if not self.has(layer, key):
            return
        self.tick()
        index, namespace, name = self.pick(index), self.namespaces[ns], f"{layer.value}s"
        one_call = one_call and self.caps.cache and self.one_call(index, name)
        if how in ("current", "stale", "unknown", "create") and not self.caps.conditional_writes:
            how = "none"
        if layer is Layer.RECORD:  # the facade hands record stores canonical JSON only
            data, content_type = encode_record(record), None

        def put(side: Side) -> Any:
            store = side.store(index, name)
            etag = None
            if how not in ("none", "create"):
                etag = self.etag_for(side, layer, namespace, key, how)
            options = {
                "content_type": content_type,
                "if_match": etag,
                "if_none_match": how == "create",
            }
            if one_call:
                return store.put_and_purge(
                    namespace, key, data, purge=CACHE_PREFIX[layer] + key, **options
                )
            return store.put(namespace, key, data, **options)

        _, ours = self.both(
            f"{index}.{name}.put{'_and_purge' if one_call else ''} {namespace}/{key!r} {how}",
            put,
            (namespace, layer, key),
        )
        if ours.ok:
            self.last_put = (index, layer, ns, key)
        self.touched.add((layer, namespace, key))
        if one_call:
            self.cache_keys.add((namespace, CACHE_PREFIX[layer] + key))
        self.after_write(layer, namespace, key)

    @precondition(lambda self: self.STORES and self.raw)
    @rule(
        index=INSTANCE,
        layer=LAYER,
        ns=NS,
        key=domain.names(),
        how=CONDITION,
        one_call=st.booleans(),
    )
    def store_delete(
        self, index: int, layer: Layer, ns: int, key: str, how: str, one_call: bool
    ) -> None:
        if not self.has(layer, key):
            return
        self.tick()
        index, namespace, name = self.pick(index), self.namespaces[ns], f"{layer.value}s"
        one_call = one_call and self.caps.cache and self.one_call(index, name)
        if how == "create" or not self.caps.conditional_writes:
            how = "none"

        def delete(side: Side) -> Any:
            store = side.store(index, name)
            etag = None if how == "none" else self.etag_for(side, layer, namespace, key, how)
            if one_call:
                return store.delete_and_purge(
                    namespace, key, if_match=etag, purge=CACHE_PREFIX[layer] + key
                )
            return store.delete(namespace, key, if_match=etag)

        self.both(
            f"{index}.{name}.delete {namespace}/{key!r} {how}", delete, (namespace, layer, key)
        )
        self.touched.add((layer, namespace, key))
        self.after_write(layer, namespace, key)

    @precondition(lambda self: self.STORES and self.raw)
    @rule(
        index=INSTANCE,
        layer=LAYER,
        ns=NS,
        key=domain.names(),
        ttl=st.sampled_from(domain.TTLS_MS),
        min_version=st.sampled_from([0, 1, 2, 2**31]),
        purge=st.booleans(),
    )
    def store_get_and_fill(
        self, index: int, layer: Layer, ns: int, key: str, ttl: float, min_version: int, purge: bool
    ) -> None:
        index, name = self.pick(index), f"{layer.value}s"
        if not (self.has(layer, key) and self.caps.cache and self.one_call(index, name)):
            return
        self.tick()
        namespace, now = self.namespaces[ns], self.now()
        fill = CacheFill(CACHE_PREFIX[layer] + key, now, now + ttl, ttl, min_version, purge)
        self.both(
            f"{index}.{name}.get_and_fill {namespace}/{key!r} {fill}",
            lambda side: side.store(index, name).get_and_fill(namespace, key, fill),
            (namespace, layer, key),
        )
        self.cache_keys.add((namespace, fill.key))
        self.sweep(layer, namespace, key)
        self.probe_cache_siblings(namespace, fill.key)

    @precondition(lambda self: self.STORES and self.caps.streams)
    @rule(
        index=INSTANCE,
        ns=NS,
        stream=domain.names(),
        payload=domain.payloads(),
        idempotency=st.one_of(st.none(), st.sampled_from(["i", "I", "i "])),
        window=st.shared(st.sampled_from(WINDOWS_MS), key="sanctum-window"),
    )
    def store_append(  # the window is one per example, as the facade passes its config's
        self,
        index: int,
        ns: int,
        stream: str,
        payload: bytes,
        idempotency: str | None,
        window: float,
    ) -> None:
        self.tick()
        index, namespace, now = self.pick(index), self.namespaces[ns], self.now()
        if not self.caps.idempotent_append:
            idempotency = None
        where = f"{index}.streams.append {namespace}/{stream!r} key={idempotency!r} window={window}"
        if self.dedupe_open(where, namespace, stream, idempotency, window):
            return
        _, ours = self.both(
            where,
            lambda side: side.store(index, "streams").append(
                namespace,
                stream,
                payload,
                idempotency_key=idempotency,
                dedupe_window_ms=window,
                now_ms=now,
            ),
        )
        self.appended(namespace, stream, idempotency, window, ours)
        if idempotency is not None:
            again = partial(self.store_append, index, ns, stream, payload, idempotency, window)
            self.last_append = (again, (namespace, stream, idempotency), window)
        self.streams.add((namespace, stream))
        self.sweep_streams(namespace)
        self.probe_stream_siblings(namespace, stream)

    @precondition(lambda self: self.last_append is not None and self.spaced("again", 2))
    @rule()
    def append_again(self) -> None:
        """Repeat the last append with an idempotency key (a client retrying) a quarter
        millisecond inside the dedupe window its key started, then a quarter millisecond
        outside it: a window or time kept at another precision (whole milliseconds, whole
        seconds) moves the edge, and the two sides disagree about the duplicate."""
        assert self.last_append is not None
        again, scope, window = self.last_append
        self.did("again")
        for inside in (True, False):
            if scope not in self.dedupe:  # a reset forgot it
                return
            start = self.dedupe[scope][0]
            edge = start + max(0.0, window - STEP_MS if inside else window + STEP_MS)
            wait = edge - STEP_MS - self.now()  # the append ticks once more
            if wait < 0:
                continue
            self.clock.advance(wait)
            where = "inside" if inside else "outside"
            self.log(f"clock +{wait} ms: {where} the {window} ms window")
            again()

    @precondition(lambda self: self.STORES and self.caps.streams and self.streams)
    @rule(
        index=INSTANCE,
        which=st.integers(0, 50),
        group=GROUPS,
        consumer=CONSUMERS,
        limit=st.sampled_from([1, 2, 10]),
        stale=st.booleans(),
        timeout=st.sampled_from([0.5, 1000.0, 30_000.0]),
    )
    def store_group(
        self,
        index: int,
        which: int,
        group: str,
        consumer: str,
        limit: int,
        stale: bool,
        timeout: float,
    ) -> None:
        """A consumer-group step: ``claim`` then ``ack`` half of it on a ``GroupStore``, or a
        compare-and-set ``save`` (current or stale revision) on a ``CheckpointStore``."""
        self.tick()
        index, now = self.pick(index), self.now()
        namespace, stream = sorted(self.streams)[which % len(self.streams)]
        where = f"{index}.checkpoints {namespace}/{stream!r} {group}"
        if offers(self.sut.store(index, "checkpoints"), GroupStore):
            claimed, _ = self.both(
                f"{where} claim {consumer} limit={limit} visible+{timeout}",
                lambda side: side.store(index, "checkpoints").claim(
                    namespace,
                    stream,
                    group,
                    consumer,
                    limit=limit,
                    now_ms=now,
                    visible_at_ms=now + timeout,
                ),
            )
            if claimed.ok and not stale:
                sequences = [c.sequence for c in claimed.value[::2]] + [10**9]
                self.both(
                    f"{where} ack {sequences}",
                    lambda side: side.store(index, "checkpoints").ack(
                        namespace, stream, group, sequences
                    ),
                )
        else:
            loaded = self.ref.store(index, "checkpoints").load(namespace, stream, group)
            revision = loaded.revision + (1 if stale else 0)
            changed = loaded._replace(cursor=loaded.cursor + limit, revision=revision)
            self.both(
                f"{where} save cursor={changed.cursor} revision={revision}",
                lambda side: side.store(index, "checkpoints").save(
                    namespace, stream, group, changed
                ),
            )
        self.groups.add((namespace, stream, group))
        self.sweep_streams(namespace)
        self.probe_group_siblings(namespace, stream, group)

    @precondition(lambda self: self.STORES and self.caps.cache)
    @rule(
        index=INSTANCE,
        ns=NS,
        key=domain.names(),
        data=domain.payloads(),
        ttl=st.sampled_from(domain.TTLS_MS),
        op=st.sampled_from(["set", "set", "delete"]),
        content_type=st.sampled_from(domain.CONTENT_TYPES),
    )
    def store_cache(
        self,
        index: int,
        ns: int,
        key: str,
        data: bytes,
        ttl: float,
        op: str,
        content_type: str | None,
    ) -> None:
        self.tick()
        index = self.pick(index) if self.caps.distributed_cache else 0
        namespace, now = self.namespaces[ns], self.now()
        if key.startswith(("blob/", "record/", "kv/")):
            return
        self.direct_etags += 1
        entry = CacheEntry(
            data, self.direct_etags, f"direct-{self.direct_etags}", now, content_type, now + ttl
        )
        if op == "set":
            self.both(
                f"{index}.cache.set {namespace}/{key!r} ttl={ttl}",
                lambda side: side.store(index, "cache").set(namespace, key, entry, ttl),
                (namespace, "cache", key),
            )
        else:
            self.both(
                f"{index}.cache.delete {namespace}/{key!r}",
                lambda side: side.store(index, "cache").delete(namespace, key),
            )
        self.cache_keys.add((namespace, key))
        self.sweep_caches(namespace)
        self.probe_cache_siblings(namespace, key)

    # -- lifecycle rules (DIFF-003) ------------------------------------------------------

    @precondition(lambda self: self.LIFECYCLE and len(self.sut.adapters) < 2)
    @rule()
    def open_second(self) -> None:
        self.sut.start(1)
        self.ref.start(1)
        self.log("open a second instance on each side")

    @precondition(lambda self: self.LIFECYCLE and self.spaced("reopen", 3))
    @rule(index=INSTANCE)
    def reopen(self, index: int) -> None:
        """Close an instance, check each of its stores refuses calls, open a new one in its
        place."""
        self.tick()
        index = self.pick(index)
        closed = (self.sut.adapters[index], self.ref.adapters[index])
        for adapter in closed:
            adapter.close()
        self.closed.append(closed)
        self.log(f"close instance {index} on each side")
        for probe in CLOSED_PROBES:
            self.call_closed(closed, probe)
        self.sut.start(index)
        self.ref.start(index)
        self.log(f"reopen instance {index}")
        if not self.raw:
            self.catch_up()
        self.did("reopen")
        self.sweep_all()

    @precondition(lambda self: self.LIFECYCLE and bool(self.closed) and self.spaced("closed", 3))
    @rule(probe=st.sampled_from(CLOSED_PROBES))
    def closed_store(self, probe: str) -> None:
        self.did("closed")
        self.call_closed(self.closed[-1], probe)

    @precondition(lambda self: self.LIFECYCLE and self.spaced("reset", 3) and self.used())
    @rule(which=st.integers(0, 50), cut=st.sampled_from([0, 1, 2]))
    def reset(self, which: int, cut: int) -> None:
        """Reset a namespace prefix of a namespace holding data: that namespace, or several
        sharing its beginning."""
        used = self.used()
        namespace = used[which % len(used)]
        self.populate(namespace)
        self.reset_prefix(
            namespace[: max(len(self.ns) + 1, len(namespace) - cut)] if cut else namespace
        )

    @precondition(lambda self: self.LIFECYCLE and self.spaced("reset", 3) and self.used())
    @rule()
    def reset_everything(self) -> None:
        """Reset the prefix every namespace of the example shares (a test's teardown)."""
        self.populate(self.namespaces[-1])
        self.reset_prefix(self.ns)

    def populate(self, namespace: str) -> None:
        """Before a reset: write a blob, a record, a message read by a consumer group and a
        cache entry in ``namespace`` (those the adapter offers), so the reset has one of
        each to remove whatever the example wrote before."""
        key = "reset"
        self.populated += 1
        values = ((Layer.BLOB, b"r%d" % self.populated), (Layer.RECORD, {"r": self.populated}))
        for layer, value in values:
            if self.has(layer, key):
                self.both(
                    f"0.{layer.value}.put {namespace}/{key!r}",
                    on_layer(0, layer, "put", namespace, key, value),
                    (namespace, layer, key),
                )
                self.touched.add((layer, namespace, key))
        if self.caps.streams:
            self.both(
                f"0.streams.append {namespace}/{key!r}",
                on_layer(0, Layer.STREAM, "append", namespace, key, {"r": 1}),
            )
            self.both(
                f"0.streams.read {namespace}/{key!r} {key}/c1 count=1",
                on_layer(0, Layer.STREAM, "read", namespace, key, key, "c1", count=1),
            )
            self.streams.add((namespace, key))
            self.groups.add((namespace, key, key))
        if self.caps.cache:
            self.both(
                f"0.cache.set {namespace}/{key!r}",
                on_layer(0, Layer.CACHE, "set", namespace, key, b"r"),
            )
            self.cache_keys.add((namespace, "kv/" + key))

    def reset_prefix(self, prefix: str) -> None:
        """Reset ``prefix`` on instance 0 of each side, then read everything back."""
        self.tick()
        self.both(f"0.reset {prefix!r}", lambda side: side.adapters[0].reset(prefix))
        self.pairs.forget(prefix)
        for entry in [e for e in self.dedupe if e[0].startswith(prefix)]:
            del self.dedupe[entry]
        for scope in [s for s in self.longest_windows if s[0].startswith(prefix)]:
            del self.longest_windows[scope]
        self.did("reset")
        if not self.raw:
            self.catch_up()
        self.sweep_all()

    def used(self) -> list[str]:
        """The namespaces the example wrote to, in order."""
        written = [entry[1] for entry in self.touched]
        written += [entry[0] for entry in (*self.streams, *self.cache_keys)]
        return sorted(set(written))

    def catch_up(self) -> None:
        """On an adapter without ``read_after_write``: give its replicas the read-after-write
        window to catch up, and start clients that remember no write (a client expects its
        own writes back, which a reset removed)."""
        self.clock.sleep_ms(100.0)
        for side in (self.sut, self.ref):
            side.clients = [side.client(adapter) for adapter in side.adapters]
        self.log("wait 100 ms for replicas; new clients")

    def call_closed(self, closed: tuple[Any, Any], probe: str) -> None:
        name, _, method = probe.partition(".")
        namespace = self.namespaces[0]
        arguments: dict[str, tuple[Any, ...]] = {
            "get": (namespace, "k"),
            "head": (namespace, "k"),
            "list": (namespace,),
            "put": (namespace, "k", b"x"),
            "delete": (namespace, "k"),
            "read": (namespace, "s"),
            "append": (namespace, "s", b"x"),
            "load": (namespace, "s", "g"),
            "set": (namespace, "k", CacheEntry(b"x", 1, "e", self.now()), 1000.0),
        }
        keywords = {"read": {"after": 0, "limit": 1}}.get(method, {})
        outcomes = []
        for adapter in closed:
            store = getattr(adapter, name)
            if store is None:
                return
            outcomes.append(call(partial(getattr(store, method), *arguments[method], **keywords)))
        theirs, ours = outcomes
        self.log(f"closed {probe} -> {theirs.show()[:80]}")
        self.expect(
            isinstance(theirs.raised, BackendUnavailableError),
            f"{probe} on a closed instance answered {theirs.show()[:120]} instead of raising "
            f"BackendUnavailableError (the reference: {ours.show()[:60]})",
        )


class FacadeDifferential(DifferentialMachine):
    """DIFF-001: every facade operation, on several namespaces, two instances and every layer."""

    contract = "DIFF-001"
    FACADE = True


class StoreDifferential(DifferentialMachine):
    """DIFF-002: the adapter's stores called directly, against the reference's stores."""

    contract = "DIFF-002"
    STORES = True


class LifecycleDifferential(DifferentialMachine):
    """DIFF-003: both levels, with second instances, reopens, resets and closed stores."""

    contract = "DIFF-003"
    FACADE = True
    STORES = True
    LIFECYCLE = True


__all__ = [
    "DifferentialMachine",
    "FacadeDifferential",
    "LifecycleDifferential",
    "StoreDifferential",
]
