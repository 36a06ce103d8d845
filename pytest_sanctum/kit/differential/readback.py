"""``ReadBack``: the world of a differential machine and what it reads back after a step.

Both sides (the adapter under test and the reference), their instances and what the
example has touched, and the reads that compare them: every way of reading a key back
(``sweep``), the names a lossy mapping confuses with one just written (``probe_*``), and
what the rules allow a read to answer (``read_level``, ``store_page``, ``sweep_cache``).
The rules that change the world are ``machine.DifferentialMachine``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar

from pytest_sanctum.adapters.base import BatchStreamLog, CachingVersionedStore
from pytest_sanctum.core import offers
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
from pytest_sanctum.types import Blob, CacheEntry, Layer, RecordValue
from pytest_sanctum.validation import encode_record

Act = Callable[[Side], Any]
"""A call made on one side (``ReadBack.both`` makes it on both)."""

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

KEY_LIMIT_CONTRACT = "ID-004"
"""The contract of object keys at the byte limit: when the run's baseline lists it, the
machines use no such key (``ReadBack.has``)."""

FACADE_WINDOW_MS = 120_000.0
"""The dedupe window of the machines' facade clients (the configuration's default)."""


def on_store(index: int, name: str, method: str, *args: Any, **options: Any) -> Act:
    """The call ``method(*args, **options)`` of store ``name`` of instance ``index``."""
    return lambda side: getattr(side.store(index, name), method)(*args, **options)


def on_layer(index: int, layer: Layer, method: str, *args: Any, **options: Any) -> Act:
    """The call ``method(*args, **options)`` of facade layer ``layer`` of instance ``index``."""
    return lambda side: getattr(side.layer(index, layer), method)(*args, **options)


class ReadBack(KitMachine):
    """The two sides of a ``DIFF-*`` machine, what its example touched, and the reads that
    compare them (see the module doc)."""

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
        self.probed: set[tuple[object, str, str]] = set()
        """What ``probe_*`` read the colliding names of, once per example: (layer or
        ``stream``, ``group``, ``cache``; namespace; name)."""

    def _client(self, adapter: Any) -> Any:
        return self.make_client(adapter, staleness_budget_ms=0.0, dedupe_window_ms=FACADE_WINDOW_MS)

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

    # -- names a lossy mapping confuses with the one just used ------------------------------

    def one_call(self, index: int, name: str) -> bool:
        """Whether both sides' store ``name`` offers the one-call protocol."""
        sut, ref = self.sut.store(index, name), self.ref.store(index, name)
        return offers(sut, CachingVersionedStore) and offers(ref, CachingVersionedStore)

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

    # -- reads after every step ----------------------------------------------------------

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
        must be the reference's (or the reference's filled again later, ``refilled``), or
        expired where the reference has none."""
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
            if theirs.ok and ours.ok and self.refilled(theirs.value, ours.value):
                times = {"stored_at_ms": ours.value.stored_at_ms}
                times["expires_at_ms"] = ours.value.expires_at_ms
                theirs = Outcome(replace(theirs.value, **times))
            compare(theirs, ours, self.pairs, where, (namespace, "cache", key))

    def refilled(self, theirs: object, ours: object) -> bool:
        """Whether ``theirs`` may be the entry ``ours`` evicted and filled again by a later
        read: stored after it, not after now, for as long. A cache under memory pressure
        does that; the reference never evicts, so it keeps the earlier entry."""
        if not (isinstance(theirs, CacheEntry) and isinstance(ours, CacheEntry)):
            return False
        later = ours.stored_at_ms < theirs.stored_at_ms <= self.now()
        lives = theirs.expires_at_ms - theirs.stored_at_ms
        ours_lives = ours.expires_at_ms - ours.stored_at_ms
        return later and (lives == ours_lives or abs(lives - ours_lives) < 1e-6)

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


__all__ = [
    "CACHE_PREFIX",
    "FACADE_WINDOW_MS",
    "STEP_MS",
    "VERSIONED",
    "Act",
    "ReadBack",
    "on_layer",
    "on_store",
]
