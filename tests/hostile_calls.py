"""A seeded generator of hostile calls on every public method of a client and on
``parse_config``: each argument is either plausible (so calls reach the backend) or
drawn from a pool of hostile values (wrong types, huge integers, bad Unicode, deep or
self-containing values, objects whose dunder methods raise)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hostile import HOSTILE, PairsMapping, RaisingHash, RaisingIterable, UnreadableMapping

from pytest_sanctum.client import StorageClient
from pytest_sanctum.config import parse_config
from pytest_sanctum.types import ReadLevel

NAMESPACES = ("fz-a", "fz-b")
KEYS = ("k", "K", "../k", "/etc/passwd", "a/../../b", "é", "e\u0301", "a*", "a%", "x" * 1024)


def _nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for index in range(depth):
        value = [value] if index % 2 else {"d": value}
    return value


_DEEPEST = _nested(127)
_TOO_DEEP = _nested(129)
_FAR_TOO_DEEP = _nested(3000)
"""Built once: the facade never changes a value it is given."""


def _loop() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def _raising_generator() -> Any:
    yield "1"
    raise RuntimeError("generator failed")


def _released_view() -> memoryview:
    view = memoryview(b"released")
    view.release()
    return view


_POOL: tuple[Callable[[], object], ...] = (
    lambda: None,
    lambda: True,
    lambda: 0,
    lambda: -1,
    lambda: 2**63,
    lambda: 2**64,
    lambda: 10**4299,
    lambda: 10**5000,
    lambda: 1.5,
    lambda: float("nan"),
    lambda: float("-inf"),
    lambda: "",
    lambda: "k",
    lambda: "*",
    lambda: "strong",
    lambda: "\x00",
    lambda: "a\nb",
    lambda: "\ud800",
    lambda: "x" * 1025,
    lambda: "é" * 600,
    lambda: "text/plain",
    lambda: "1",
    lambda: "99999999999999999999",
    lambda: b"bytes",
    lambda: bytearray(b"mutable"),
    lambda: memoryview(b"view"),
    _released_view,
    lambda: [],
    lambda: {},
    lambda: ["1", "2"],
    lambda: ("1",),
    lambda: {"1"},
    lambda: {"a": 1},
    lambda: {1: "a"},
    lambda: {"a": {"b": [1, 2.5, None, True, "s"]}},
    lambda: _DEEPEST,
    lambda: _TOO_DEEP,
    lambda: _FAR_TOO_DEEP,
    _loop,
    lambda: {"s": "\ud800"},
    lambda: {"n": 10**5000},
    lambda: {"n": 2**70},
    lambda: {"f": float("nan")},
    lambda: {"t": (1, 2)},
    lambda: object(),
    lambda: ReadLevel.EVENTUAL,
    lambda: UnreadableMapping(),
    lambda: PairsMapping((RaisingHash(), 1)),
    lambda: RaisingIterable(),
    _raising_generator,
    lambda: iter(["1"]),
    lambda: 5000.0,
    lambda: 86_400_001,
    *(lambda value=value: value for value in HOSTILE.values()),
)
"""Factories of hostile values (fresh each time: some are consumed or mutable)."""


def hostile(rng: random.Random) -> object:
    return rng.choice(_POOL)()


@dataclass
class Plausible:
    """Valid arguments, partly learned from earlier results (etags, message ids)."""

    etags: list[str] = field(default_factory=lambda: ["1-0000000000000000"])
    message_ids: list[str] = field(default_factory=lambda: ["1"])

    def value(self, name: str, rng: random.Random) -> object:
        pick = rng.choice
        if name == "namespace":
            return pick(NAMESPACES)
        if name in ("key", "start_after"):
            return pick(KEYS)
        if name in ("stream", "group", "consumer", "principal"):
            return pick(("s", "g", "c", "../s", "S"))
        if name == "data":
            return pick((b"", b"data", bytes(range(256))))
        if name == "value":
            return pick(({"a": 1}, {"n": 2**70, "s": "é"}, b"cached", {}))
        if name == "payload":
            return pick(({"e": 1}, [1, "x"], "text", None, 2**65))
        if name == "content_type":
            return pick((None, "text/plain", "application/json; charset=utf-8"))
        if name == "if_match":
            return pick((None, None, pick(self.etags)))
        if name == "if_none_match":
            return pick((None, None, "*"))
        if name == "level":
            return pick((None, "strong", "eventual", "cache_only", ReadLevel.STRONG))
        if name == "bypass_cache":
            return pick((False, True))
        if name == "prefix":
            return pick(("", "a", "k", "."))
        if name == "limit":
            return rng.randint(0, 20)
        if name == "idempotency_key":
            return pick((None, "i1", "i2"))
        if name == "count":
            return pick((None, 1, 5))
        if name == "visibility_timeout_ms":
            return pick((None, 100, 5000.5))
        if name == "message_ids":
            return rng.sample(self.message_ids, k=min(len(self.message_ids), 3))
        if name == "ttl_ms":
            return pick((None, 100, 2500.5))
        raise KeyError(name)

    def learn(self, result: object) -> None:
        etag = getattr(result, "etag", None)
        if type(etag) is str:
            self.etags = [*self.etags[-9:], etag]
        message_id = getattr(result, "message_id", None)
        if type(message_id) is str:
            self.message_ids = [*self.message_ids[-9:], message_id]


METHODS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # op: (client attribute path, positional argument names, keyword argument names)
    "blob.put": (
        "blobs.put",
        ("namespace", "key", "data"),
        ("content_type", "if_match", "if_none_match"),
    ),
    "blob.get": ("blobs.get", ("namespace", "key"), ("level", "bypass_cache", "if_match")),
    "blob.head": ("blobs.head", ("namespace", "key"), ()),
    "blob.delete": ("blobs.delete", ("namespace", "key"), ("if_match",)),
    "blob.list": ("blobs.list", ("namespace", "prefix"), ("start_after", "limit")),
    "record.put": ("records.put", ("namespace", "key", "value"), ("if_match", "if_none_match")),
    "record.get": ("records.get", ("namespace", "key"), ("level", "bypass_cache", "if_match")),
    "record.delete": ("records.delete", ("namespace", "key"), ("if_match",)),
    "stream.append": ("streams.append", ("namespace", "stream", "payload"), ("idempotency_key",)),
    "stream.read": (
        "streams.read",
        ("namespace", "stream", "group", "consumer"),
        ("count", "visibility_timeout_ms"),
    ),
    "stream.ack": ("streams.ack", ("namespace", "stream", "group", "message_ids"), ()),
    "stream.checkpoint": ("streams.checkpoint", ("namespace", "stream", "group"), ()),
    "cache.get": ("cache.get", ("namespace", "key"), ()),
    "cache.set": ("cache.set", ("namespace", "key", "value"), ("ttl_ms",)),
    "cache.delete": ("cache.delete", ("namespace", "key"), ()),
    "as_principal": ("as_principal", ("principal",), ()),
}
"""Every public method of ``StorageClient`` and its layers, with its arguments."""


@dataclass
class Call:
    """One generated call: what it does, which arguments are hostile, and how to run it."""

    op: str
    arguments: dict[str, object]
    hostile: tuple[str, ...]
    run: Callable[[], object]

    def describe(self) -> str:
        from pytest_sanctum.describe import describe

        shown = ", ".join(f"{name}={describe(value, 40)}" for name, value in self.arguments.items())
        return f"{self.op}({shown}) hostile={list(self.hostile)}"


def _config(rng: random.Random) -> object:
    """A configuration: valid, or with a hostile value somewhere in it."""
    base: dict[str, Any] = {
        "schemaVersion": 1,
        "adapters": {"m": {"kind": "memory", "options": {"server": "fuzz"}}},
        "namespaces": {"*": {"adapter": "m"}},
        "cache": {"ttlMs": 100},
    }
    roll = rng.random()
    if roll < 0.15:
        return hostile(rng)
    if roll < 0.3:
        return rng.choice(
            [
                '{"schemaVersion": 1}',
                "{" * 3000,
                '{"a":' * 40 + "1" + "}" * 40,
                "\x00",
                '{"a": NaN}',
            ]
        )
    place = rng.choice(
        [
            ("schemaVersion",),
            ("adapters", "m", "kind"),
            ("adapters", "m", "options", "x"),
            ("namespaces", "*", "cache"),
            ("cache", "ttlMs"),
            ("acl",),
            ("streams", "maxBatch"),
        ]
    )
    target = base
    for part in place[:-1]:
        target = target.setdefault(part, {})
    target[place[-1]] = hostile(rng)
    return base


def next_call(client: StorageClient, plausible: Plausible, rng: random.Random) -> Call:
    """One call: mostly a client method with some hostile arguments, else ``parse_config``."""
    if rng.random() < 0.06:
        config = _config(rng)
        return Call("parse_config", {"source": config}, ("source",), lambda: parse_config(config))  # type: ignore[arg-type]
    op = rng.choice(list(METHODS))
    path, positional, keywords = METHODS[op]
    names = positional + tuple(name for name in keywords if rng.random() < 0.5)
    bad = tuple(name for name in names if rng.random() < 0.25)
    arguments = {
        name: hostile(rng) if name in bad else plausible.value(name, rng) for name in names
    }
    target: Any = client
    for part in path.split("."):
        target = getattr(target, part)
    args = [arguments[name] for name in positional]
    kwargs = {name: arguments[name] for name in names if name not in positional}
    return Call(op, arguments, bad, lambda: target(*args, **kwargs))
