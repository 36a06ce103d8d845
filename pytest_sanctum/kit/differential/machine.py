"""``DifferentialMachine``: the adapter under test and the reference, driven side by side.

Every rule makes the same call on both sides and compares the answers (``compare``);
after every step the machine also compares what the step could have changed, read back
every way there is: ``get`` at each read level and with bypass, ``head``, ``list`` from
the start and from every ``start_after``, stream reads page by page, consumer-group
state, cache entries, on every open instance. The subclasses choose the level:

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
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from pytest_sanctum.adapters.base import BatchStreamLog, CachingVersionedStore, GroupStore
from pytest_sanctum.core import offers
from pytest_sanctum.errors import BackendUnavailableError
from pytest_sanctum.json_codec import decode_json
from pytest_sanctum.kit.differential import domain
from pytest_sanctum.kit.differential.compare import (
    EtagPairs,
    Mismatch,
    Outcome,
    Scope,
    call,
    compare,
)
from pytest_sanctum.kit.differential.world import Side, reference_opener
from pytest_sanctum.kit.machines.base import KitMachine
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.types import (
    Blob,
    CacheEntry,
    CacheFill,
    Layer,
    RecordValue,
)
from pytest_sanctum.validation import encode_record

Act = Callable[[Side], Any]
"""A call made on one side (``DifferentialMachine.both`` makes it on both)."""

VERSIONED = (Layer.BLOB, Layer.RECORD)
CACHE_PREFIX = {Layer.BLOB: "blob/", Layer.RECORD: "record/"}
"""The cache keys the facade builds for a layer's key (``pytest_sanctum.core.cache_key``)."""

STEP_MS = 0.25
"""The clock moves this much before every step that reads (resets and reopens included):
cache entries filled by an earlier step are then older than the zero staleness budget, so
a strong read without bypass reads the backend on both sides. An entry within the budget
may be served or, evicted, read again from the backend: both are allowed, and the two
sides could differ. A quarter millisecond, so fractions of a millisecond matter."""

START_OFFSET_MS = 777.25
"""An example starts this far after a whole second, so times are not round numbers."""

TICKS_MS = (1.0, 499.0, 1000.0, 4999.0, 5001.0, 30_001.0, 120_001.0)
"""Clock advances: around cache TTLs, the visibility timeout and the dedupe window."""

KEY_LIMIT_CONTRACT = "ID-004"
"""The contract of object keys at the byte limit: when the run's baseline lists it, the
machines use no such key (``DifferentialMachine.has``)."""

FACADE_WINDOW_MS = 120_000.0
"""The dedupe window of the machines' facade clients (the configuration's default)."""

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


def on_store(index: int, name: str, method: str, *args: Any, **options: Any) -> Act:
    """The call ``method(*args, **options)`` of store ``name`` of instance ``index``."""
    return lambda side: getattr(side.store(index, name), method)(*args, **options)


def on_layer(index: int, layer: Layer, method: str, *args: Any, **options: Any) -> Act:
    """The call ``method(*args, **options)`` of facade layer ``layer`` of instance ``index``."""
    return lambda side: getattr(side.layer(index, layer), method)(*args, **options)


class DifferentialMachine(KitMachine):
    """The shared world and comparisons of the ``DIFF-*`` machines (see the module doc)."""

    contract: ClassVar[str] = ""
    FACADE: ClassVar[bool] = False
    STORES: ClassVar[bool] = False
    LIFECYCLE: ClassVar[bool] = False

    def __init__(self, kit: KitSession) -> None:
        super().__init__(kit)
        self.caps = kit.capabilities
        self.raw = self.caps.read_after_write
        self.short_keys = KEY_LIMIT_CONTRACT in kit.known_failures
        sut = self.open_adapter()
        opener, self._drop = reference_opener(self.caps, sut, self.clock)
        self.sut = Side("adapter", self.open_adapter, self._client)
        self.ref = Side("reference", opener, self._client)
        self.sut.adapters.append(sut)
        self.sut.clients.append(self._client(sut))
        self.ref.start(0)
        self.namespaces = domain.namespaces(self.ns)
        self.clock.advance(START_OFFSET_MS)
        self.pairs = EtagPairs()
        self.touched: set[tuple[Layer, str, str]] = set()
        if not self.LIFECYCLE:  # DIFF-003 opens the second instance as one of its rules
            self.sut.start(1)
            self.ref.start(1)
        self.history: dict[tuple[Layer, str, str], list[Outcome]] = {}
        """Each key's values (or absence) after every step that touched it."""
        self.cache_keys: set[tuple[str, str]] = set()
        self.streams: set[tuple[str, str]] = set()
        self.groups: set[tuple[str, str, str]] = set()
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
        self.probed: set[tuple[object, str, str]] = set()
        """What ``probe_*`` read the colliding names of, once per example: (layer or
        ``stream``, ``group``, ``cache``; namespace; name)."""
        self.last_append: tuple[Callable[[], None], tuple[str, str, str], float] | None = None
        """The last append with an idempotency key: a call repeating it, its (namespace,
        stream, key) and its dedupe window (``append_again``)."""
        kit.count_example()

    def _client(self, adapter: Any) -> Any:
        return self.make_client(adapter, staleness_budget_ms=0.0, dedupe_window_ms=FACADE_WINDOW_MS)

    # -- helpers -------------------------------------------------------------------------

    def both(
        self, where: str, act: Callable[[Side], Any], scope: Scope = ("", "", "")
    ) -> tuple[Outcome, Outcome]:
        """Make the same call on both sides; fail unless the answers agree (etags within
        ``scope``: the namespace, layer and key the call is about)."""
        theirs, ours = call(lambda: act(self.sut)), call(lambda: act(self.ref))
        self.log(f"{where} -> {ours.show()[:160]}")
        compare(theirs, ours, self.pairs, where, scope)
        return theirs, ours

    def instances(self) -> list[int]:
        return list(range(len(self.sut.adapters)))

    def pick(self, index: int) -> int:
        """An open instance: ``index`` when it is open, else the first."""
        return index if index < len(self.sut.adapters) else 0

    def versioned_instance(self, index: int) -> int:
        """The instance a versioned call goes to: one instance only when reads may lag."""
        return self.pick(index) if self.raw else 0

    def has(self, layer: Layer, key: str) -> bool:
        """Whether the adapter offers ``layer`` and the example may use ``key`` on it: not a
        key at the byte limit when the baseline lists ``KEY_LIMIT_CONTRACT`` (a backend
        whose limit is shorter refuses it, a known failure that contract reports)."""
        if not getattr(self.caps, f"{layer.value}s"):
            return False
        return not (self.short_keys and domain.at_limit(key))

    def etag_for(self, side: Side, layer: Layer, namespace: str, key: str, how: str) -> Any:
        """The ``if_match`` a side passes: its own current etag, a stale one, or garbage."""
        if how == "unknown":
            return "no-such-etag"
        reference = self.ref.store(0, f"{layer.value}s")
        found = call(lambda: reference.head(namespace, key))
        known = self.pairs.known()
        etag = found.value.etag if found.ok else next(iter(known), "no-such-etag")
        if how == "stale":
            others = [e for e in known if e != etag]
            etag = others[0] if others else "no-such-etag"
        return etag if side is self.ref else self.pairs.theirs_for(etag)

    def tick(self) -> None:
        self.clock.advance(STEP_MS)

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

    @initialize(keys=st.lists(domain.cluster_names(), min_size=2, max_size=3, unique=True))
    def seed_namespace(self, keys: list[str]) -> None:
        """Start every example with two or three names of its cluster written on each
        versioned layer of the example's own namespace, and a message on a stream named
        after the first read by a consumer group named after the last: a listing then has
        keys to page through, filter and order from the first step, and names a lossy
        mapping confuses meet side by side, whichever rules the example goes on with."""
        for number, key in enumerate(keys):
            for layer in VERSIONED:
                data, record = b"seed-%d" % number, {"seed": number}
                if self.FACADE:
                    self.facade_put(0, layer, 0, key, data, record, None, "none")
                elif self.raw:
                    self.store_put(0, layer, 0, key, data, record, None, "none", False)
        if not self.caps.streams:
            return
        stream, group = keys[0], keys[-1]
        if self.FACADE:
            self.facade_append(0, 0, stream, {"seed": 0}, None)
            self.facade_read(0, 0, group, "c1", 10)
        else:
            self.store_append(0, 0, stream, b"seed", None, 0.0)
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

    # -- reads after every step ----------------------------------------------------------

    def one_call(self, index: int, name: str) -> bool:
        """Whether both sides' store ``name`` offers the one-call protocol."""
        sut, ref = self.sut.store(index, name), self.ref.store(index, name)
        return offers(sut, CachingVersionedStore) and offers(ref, CachingVersionedStore)

    # -- names a lossy mapping confuses with the one just used ------------------------------

    def other_namespaces(self, namespace: str) -> list[str]:
        return [other for other in self.namespaces if other != namespace]

    def after_write(self, layer: Layer, namespace: str, key: str) -> None:
        """After a versioned write: the first time ``key`` holds a value in the example, a
        refused write first (``refused_write``); then ``sweep``; then, that first time,
        ``probe_siblings``. The sweep comes after the refused write, whose call may reset
        what an instance keeps of the key, so the sweep's reads fill it again."""
        first = (layer, namespace, key) not in self.probed
        first = first and self.current(layer, namespace, key).ok
        if first:
            self.probed.add((layer, namespace, key))
            if self.caps.conditional_writes:
                self.refused_write(layer, namespace, key)
        self.sweep(layer, namespace, key)
        if first:
            self.probe_siblings(layer, namespace, key)

    def probe_siblings(self, layer: Layer, namespace: str, key: str) -> None:
        """Read back the names a lossy mapping confuses with ``key`` (``domain.collisions``),
        the cache entries of the same name in the other layers, and ``key`` in the
        example's other namespaces, one way each: a name never written must read as
        absent, so a key or namespace mapping that merges two names shows in the step that
        wrote one of them."""
        if self.caps.cache:
            self.probe_cache_siblings(namespace, CACHE_PREFIX[layer] + key)
        probes = [(namespace, sibling) for sibling in domain.collisions(key)]
        probes += [(other, key) for other in self.other_namespaces(namespace)]
        for where, name in probes:
            if not self.has(layer, name):
                continue
            if self.FACADE:
                self.read_level(0, layer, where, name, "strong", True)
            elif self.raw:
                self.both(
                    f"0.{layer.value}s get {where}/{name!r} (a sibling)",
                    on_store(0, f"{layer.value}s", "get", where, name),
                    (where, layer, name),
                )

    def refused_write(self, layer: Layer, namespace: str, key: str) -> None:
        """A put of a live key with an etag it never had: refused, with the key's current
        version and etag (``PreconditionFailedError``), on both sides."""
        if self.FACADE:
            value: Any = b"-" if layer is Layer.BLOB else {"-": 0}
            act = on_layer(0, layer, "put", namespace, key, value, if_match="no-such-etag")
        else:
            data = b"-" if layer is Layer.BLOB else encode_record({"-": 0})
            act = on_store(0, f"{layer.value}s", "put", namespace, key, data, if_match="no-such")
        where = f"0.{layer.value}.put {namespace}/{key!r} if_match=no-such-etag"
        self.both(where, act, (namespace, layer, key))

    def probe_stream_siblings(self, namespace: str, stream: str) -> None:
        """The streams a lossy mapping confuses with ``stream``, and ``stream`` in the
        other namespaces: each read from the start must hold exactly the reference's."""
        if ("stream", namespace, stream) in self.probed:
            return
        self.probed.add(("stream", namespace, stream))
        probes = [(namespace, sibling) for sibling in domain.collisions(stream)]
        probes += [(other, stream) for other in self.other_namespaces(namespace)]
        for where, name in probes:
            self.stream_pages(0, where, name, 0)

    def probe_group_siblings(self, namespace: str, stream: str, group: str) -> None:
        """The consumer groups of ``stream`` a lossy mapping confuses with ``group``, and
        ``group`` on the namespace's other streams and on the streams confused with
        ``stream``: each holds its own state."""
        if ("group", namespace, stream + "\n" + group) in self.probed:
            return
        self.probed.add(("group", namespace, stream + "\n" + group))
        probes = [(stream, sibling) for sibling in domain.collisions(group)]
        others = {s for ns, s in self.streams if ns == namespace} | set(domain.collisions(stream))
        probes += [(other, group) for other in sorted(others - {stream})]
        for where, name in probes:
            self.both(
                f"0.checkpoints.load {namespace}/{where!r} {name} (a sibling)",
                on_store(0, "checkpoints", "load", namespace, where, name),
            )

    def probe_cache_siblings(self, namespace: str, key: str) -> None:
        """The cache entries a lossy mapping confuses with ``key``, the entries the facade
        keeps for the same name in its other layers (``blob/``, ``record/``, ``kv/``), and
        ``key`` in the other namespaces (an entry may be missing, never another's)."""
        if ("cache", namespace, key) in self.probed:
            return
        self.probed.add(("cache", namespace, key))
        probes = [(namespace, sibling) for sibling in domain.collisions(key)]
        layer, slash, name = key.partition("/")
        if slash and layer in ("blob", "record", "kv"):
            probes += [(namespace, f"{other}/{name}") for other in ("blob", "record", "kv")]
        probes += [(other, key) for other in self.other_namespaces(namespace)]
        for where, name in probes:
            self.sweep_cache(where, name)

    def sweep_all(self) -> None:
        for layer, namespace, key in sorted(self.touched, key=repr):
            self.sweep(layer, namespace, key)
        for namespace, stream in sorted(self.streams):
            self.sweep_stream(namespace, stream)
        for namespace, stream, group in sorted(self.groups):
            self.sweep_group(namespace, stream, group)
        if self.caps.cache:
            for namespace, key in sorted(self.cache_keys):
                self.sweep_cache(namespace, key)

    def sweep(self, layer: Layer, namespace: str, key: str) -> None:
        """Read one key back every way, and list its namespace from every ``start_after``."""
        name = f"{layer.value}s"
        self.history.setdefault((layer, namespace, key), []).append(
            self.current(layer, namespace, key)
        )
        if self.FACADE:
            self.read_level(0, layer, namespace, key, "strong", True)
            if layer is Layer.BLOB:
                self.both(
                    f"0.blobs.head {namespace}/{key!r}",
                    lambda side: side.layer(0, Layer.BLOB).head(namespace, key),
                    (namespace, layer, key),
                )
        if self.raw:
            for index in self.instances():
                if self.FACADE:
                    self.read_level(index, layer, namespace, key, "strong", False)
                self.both(
                    f"{index}.{name} get {namespace}/{key!r}",
                    on_store(index, name, "get", namespace, key),
                    (namespace, layer, key),
                )
                self.both(
                    f"{index}.{name} head {namespace}/{key!r}",
                    on_store(index, name, "head", namespace, key),
                    (namespace, layer, key),
                )
            self.sweep_list(layer, namespace, key)
        if self.caps.cache:
            self.sweep_caches(namespace)

    def sweep_streams(self, namespace: str) -> None:
        """Every stream and consumer group of a namespace (a lossy name mapping merges them)."""
        for found, stream in sorted(self.streams):
            if found == namespace:
                self.sweep_stream(namespace, stream)
        for found, stream, group in sorted(self.groups):
            if found == namespace:
                self.sweep_group(namespace, stream, group)

    def sweep_caches(self, namespace: str) -> None:
        """Every cache entry of a namespace the example touched."""
        for found, key in sorted(self.cache_keys):
            if found == namespace:
                self.sweep_cache(namespace, key)

    def read_cache_layers(self, namespace: str) -> None:
        """Every facade cache-layer entry of a namespace the example touched."""
        for found, key in sorted(self.cache_keys):
            if found == namespace and key.startswith("kv/"):
                self.read_cache_layer(namespace, key.removeprefix("kv/"))

    def sweep_prefixes(self, layer: Layer, namespace: str, key: str) -> None:
        """Listings by prefixes of ``key`` (``key`` itself among them: a key sorting before
        it must not make the page empty) and by characters special to patterns."""
        prefixes = {
            key,
            key[:1],
            key[:2],
            key[: len(key) // 2],
            key[:1].swapcase(),
            "%",
            "_",
            "*",
            "[",
        }
        for prefix in sorted(prefixes):
            if self.FACADE and layer is Layer.BLOB:
                self.both(
                    f"0.blobs.list {namespace} prefix={prefix!r} limit=10",
                    on_layer(0, Layer.BLOB, "list", namespace, prefix, limit=10),
                    (namespace, layer, ""),
                )
            self.store_page(layer, namespace, None, prefix)

    def sweep_list(self, layer: Layer, namespace: str, key: str) -> None:
        """The whole listing, a page of two from every ``start_after`` (and store pages),
        and listings by prefixes."""
        self.sweep_prefixes(layer, namespace, key)
        name = f"{layer.value}s"
        listing = self.ref.store(0, name).list(namespace, "", limit=10000)
        starts: list[str | None] = [None, *(info.key for info in listing)]
        starts += domain.order_probes(key)
        for start in starts:
            if self.FACADE and layer is Layer.BLOB:
                self.both(
                    f"0.blobs.list {namespace} after={start!r} limit=2",
                    on_layer(0, Layer.BLOB, "list", namespace, start_after=start, limit=2),
                    (namespace, layer, ""),
                )
            self.store_page(layer, namespace, start)

    def store_page(self, layer: Layer, namespace: str, start: str | None, prefix: str = "") -> None:
        """A store's ``list`` page: at most the limit, a non-empty beginning of the reference's
        page while keys remain (a backend's page size may be smaller), empty only at the end."""
        name = f"{layer.value}s"
        page = on_store(0, name, "list", namespace, prefix, start_after=start, limit=1)
        theirs, ours = call(partial(page, self.sut)), call(partial(page, self.ref))
        where = f"0.{name}.list {namespace} prefix={prefix!r} after={start!r} limit=1"
        if theirs.ok and ours.ok and 0 < len(theirs.value) < len(ours.value):
            ours = Outcome(ours.value[: len(theirs.value)])
        compare(theirs, ours, self.pairs, where, (namespace, layer, ""))

    def read_level(
        self, index: int, layer: Layer, namespace: str, key: str, level: str, bypass: bool
    ) -> None:
        """A facade read at ``level``: exact when it must read the backend; otherwise the
        reference's answer, or the backend's current value or a value the key held earlier
        in the example (the entry was evicted and filled again), or for ``cache_only`` a
        miss."""
        where = (
            f"{index}.{layer.value}s.get {namespace}/{key!r} {level}{' bypass' if bypass else ''}"
        )
        read = on_layer(index, layer, "get", namespace, key, level=level, bypass_cache=bypass)
        theirs, ours = call(partial(read, self.sut)), call(partial(read, self.ref))
        self.log(f"{where} -> {ours.show()[:160]}")
        scope: Scope = (namespace, layer, key)
        if level == "strong" or (bypass and level == "eventual"):
            compare(theirs, ours, self.pairs, where, scope)
            return
        try:
            compare(theirs, ours, self.pairs, where, scope)
        except Mismatch as mismatch:
            if level == "cache_only" and theirs.error.startswith("CacheMissError"):
                return
            held = self.history.get((layer, namespace, key), [])
            for earlier in [self.current(layer, namespace, key), *reversed(held)]:
                try:
                    compare(theirs, earlier, self.pairs, where + " (a value it held)", scope)
                except Mismatch:
                    continue
                return
            raise mismatch

    def current(self, layer: Layer, namespace: str, key: str) -> Outcome:
        """The reference backend's current value, as the facade returns it."""
        found = call(lambda: self.ref.store(0, f"{layer.value}s").get(namespace, key))
        if not found.ok or layer is Layer.BLOB:
            return found
        blob: Blob = found.value
        return Outcome(RecordValue(blob.key, decode_json(blob.data), blob.version, blob.etag))

    def read_cache_layer(self, namespace: str, key: str) -> None:
        where = f"0.cache.get {namespace}/{key!r}"
        theirs = call(lambda: self.sut.layer(0, Layer.CACHE).get(namespace, key))
        ours = call(lambda: self.ref.layer(0, Layer.CACHE).get(namespace, key))
        self.log(f"{where} -> {ours.show()[:80]}")
        if not theirs.error.startswith("CacheMissError"):
            compare(theirs, ours, self.pairs, where)

    def sweep_cache(self, namespace: str, key: str) -> None:
        """A cache entry on every instance sharing it: missing is allowed (evicted); an entry
        must be the reference's, or expired where the reference has none."""
        indexes = self.instances() if self.caps.distributed_cache else [0]
        for index in indexes:
            theirs = call(partial(on_store(index, "cache", "get", namespace, key), self.sut))
            ours = call(partial(on_store(index, "cache", "get", namespace, key), self.ref))
            where = f"{index}.cache get {namespace}/{key!r}"
            if theirs.ok and theirs.value is None:
                continue
            if ours.ok and ours.value is None and theirs.ok:
                entry = theirs.value
                self.expect(
                    isinstance(entry, CacheEntry) and entry.expires_at_ms <= self.now(),
                    f"{where}: a live entry {entry!r} where the reference holds none",
                )
                continue
            compare(theirs, ours, self.pairs, where, (namespace, "cache", key))

    def sweep_stream(self, namespace: str, stream: str) -> None:
        """The whole stream, read page by page from every ``after``, and by sequences."""
        messages = self.ref.store(0, "streams").read(namespace, stream, after=0, limit=10000)
        for index in self.instances():
            for after in range(len(messages) + 1):
                self.stream_pages(index, namespace, stream, after)
            sut_log = self.sut.store(index, "streams")
            if offers(sut_log, BatchStreamLog) and offers(
                self.ref.store(index, "streams"), BatchStreamLog
            ):
                wanted = [len(messages), 1, 10**6, len(messages) + 1][: 2 + len(messages) % 3]
                self.both(
                    f"{index}.streams.read_sequences {namespace}/{stream!r} {wanted}",
                    on_store(index, "streams", "read_sequences", namespace, stream, wanted),
                )

    def stream_pages(self, index: int, namespace: str, stream: str, after: int) -> None:
        """Every message after ``after``, in pages of two: a page may be shorter (not empty
        while messages remain); together they are exactly the reference's messages."""
        where = f"{index}.streams.read {namespace}/{stream!r} after={after}"
        got: list[Any] = []
        cursor = after
        for _ in range(100):
            read = on_store(index, "streams", "read", namespace, stream, after=cursor, limit=2)
            page = call(partial(read, self.sut))
            if not page.ok:
                compare(page, call(partial(read, self.ref)), self.pairs, where)
                return
            if not page.value or len(page.value) > 2:
                got += list(page.value)
                break
            got += page.value
            cursor = page.value[-1].sequence
        expected = self.ref.store(index, "streams").read(
            namespace, stream, after=after, limit=10000
        )
        compare(Outcome(got), Outcome(expected), self.pairs, where + " (all pages)")

    def sweep_group(self, namespace: str, stream: str, group: str) -> None:
        for index in self.instances():
            self.both(
                f"{index}.checkpoints.load {namespace}/{stream!r} {group}",
                on_store(index, "checkpoints", "load", namespace, stream, group),
            )
            if self.FACADE:
                self.both(
                    f"{index}.streams.checkpoint {namespace}/{stream!r} {group}",
                    on_layer(index, Layer.STREAM, "checkpoint", namespace, stream, group),
                )

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            for adapter in self.ref.adapters:
                adapter.close()
            self._drop()


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
