"""Hostile caller values: objects whose dunder methods raise, mappings that cannot be read.

Shared by the regression tests of bad input and by the fuzz test. Each raises a plain
built-in exception, which must never escape the facade as anything but the canonical
error for the caller's mistake.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn


class Boom(RuntimeError):
    """What every hostile method raises."""


def _boom(*_: object) -> NoReturn:
    raise Boom("hostile")


class RaisingHash:
    """``hash()`` raises."""

    __hash__ = _boom  # type: ignore[assignment]


class RaisingEq:
    """``==`` raises (and so does ``hash``, as for any class defining ``__eq__`` only)."""

    __eq__ = _boom  # type: ignore[assignment]
    __ne__ = _boom  # type: ignore[assignment]
    __hash__ = object.__hash__


class RaisingRepr:
    """``repr()`` and ``str()`` raise."""

    __repr__ = _boom
    __str__ = _boom


class RaisingClass:
    """Reading ``__class__`` raises, so ``isinstance`` against any other type raises."""

    @property  # type: ignore[misc]
    def __class__(self) -> NoReturn:  # type: ignore[override]
        _boom()


class RaisingEverything:
    """Every protocol method raises: hash, equality, repr, str, iteration, length, truth,
    numbers, buffers."""

    __hash__ = _boom  # type: ignore[assignment]
    __eq__ = _boom  # type: ignore[assignment]
    __ne__ = _boom  # type: ignore[assignment]
    __lt__ = _boom
    __repr__ = _boom
    __str__ = _boom
    __iter__ = _boom
    __len__ = _boom
    __bool__ = _boom
    __index__ = _boom
    __int__ = _boom
    __float__ = _boom
    __bytes__ = _boom
    __getitem__ = _boom


class HostileMeta(type):
    """A metaclass whose comparisons raise: ``type(x) in (int, float)`` raises."""

    __eq__ = _boom  # type: ignore[assignment]
    __hash__ = _boom  # type: ignore[assignment]


class OfHostileType(metaclass=HostileMeta):
    """An instance of a class built by ``HostileMeta``."""


class UnreadableMapping(Mapping[str, Any]):
    """A mapping whose iteration and lookups raise (its length says it has one item)."""

    def __getitem__(self, key: str) -> NoReturn:
        _boom()

    def __iter__(self) -> Iterator[str]:
        _boom()

    def __len__(self) -> int:
        return 1


class PairsMapping(Mapping[Any, Any]):
    """A mapping over fixed ``(key, value)`` pairs found by identity, so its keys may be
    objects whose hash or equality raises (a ``dict`` could not hold them)."""

    def __init__(self, *pairs: tuple[object, object]) -> None:
        self._pairs = pairs

    def __getitem__(self, key: object) -> object:
        for known, value in self._pairs:
            if known is key:
                return value
        raise KeyError("not found")  # by identity: never compares the key

    def __iter__(self) -> Iterator[Any]:
        return iter([key for key, _ in self._pairs])

    def __len__(self) -> int:
        return len(self._pairs)


class RaisingIterable:
    """An iterable whose iterator raises after yielding one valid message id."""

    def __iter__(self) -> Iterator[str]:
        yield "1"
        _boom()


class HostileStr(str):
    """A ``str`` subclass whose methods raise; the facade takes only exact ``str``."""

    __hash__ = _boom  # type: ignore[assignment]
    __eq__ = _boom  # type: ignore[assignment]
    __repr__ = _boom
    __str__ = _boom
    isprintable = _boom  # type: ignore[assignment]
    encode = _boom  # type: ignore[assignment]


class HostileBytes(bytes):
    """A ``bytes`` subclass whose ``__bytes__`` raises; its buffer is still readable."""

    __bytes__ = _boom


HOSTILE: dict[str, object] = {
    "raising-hash": RaisingHash(),
    "raising-eq": RaisingEq(),
    "raising-repr": RaisingRepr(),
    "raising-class": RaisingClass(),
    "raising-everything": RaisingEverything(),
    "hostile-metaclass": OfHostileType(),
    "unreadable-mapping": UnreadableMapping(),
    "raising-iterable": RaisingIterable(),
    "hostile-str": HostileStr("k"),
    "hostile-bytes": HostileBytes(b"k"),
    "10**5000": 10**5000,
    "-10**5000": -(10**5000),
    "nan": float("nan"),
    "inf": float("inf"),
}
"""One value of each kind, by name."""


def hostile_params() -> list[Any]:
    """``HOSTILE`` as pytest parameters (ids from the names: the values cannot be shown)."""
    import pytest

    return [pytest.param(value, id=name) for name, value in HOSTILE.items()]
