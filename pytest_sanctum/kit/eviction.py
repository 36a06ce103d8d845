"""Cache eviction in the kit's tests: a cache may drop any entry at any moment.

ADR-001 allows a miss wherever a read may consult the cache: an eventual or strong read
then reads the backend, and a ``cache_only`` read raises ``CacheMissError``. A real cache
evicts under memory pressure, or expires an entry on its own (real-time) clock while the
kit's clock is virtual. So a test never fails because an entry it expected is gone.

A test that needs an entry to stay, to show that a read served it or that a purge
removed it, runs its scenario with ``despite_eviction``. The scenario raises
``Evicted`` (``kept`` does) when an entry it needs is missing, and is run again on fresh
keys. Only when every one of ``EVICTION_ATTEMPTS`` attempts met a
miss does the test fail: a cache may evict any entry, but not every entry every time,
and a read that never uses a live entry fails the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pytest_sanctum.kit.contracts import explain

_T = TypeVar("_T")

EVICTION_ATTEMPTS = 10
"""How often a scenario is run before misses are taken for a bug rather than evictions. A
cache evicting a fifth of its entries at each access keeps a three-access scenario's
entries in half the attempts; all ten attempts then miss once in about 1,300 runs."""


class Evicted(Exception):
    """An entry the scenario needs is missing, as after an eviction (which is allowed)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of a scenario: its number, and the fresh key names it uses."""

    number: int

    def key(self, name: str) -> str:
        """``name`` on the first attempt; a fresh variant of it on later ones."""
        return name if self.number == 1 else f"{name}-attempt{self.number}"


def kept(entry: _T | None, what: str) -> _T:
    """``entry``, or ``Evicted`` saying ``what`` is missing when it is ``None``."""
    if entry is None:
        raise Evicted(what)
    return entry


def despite_eviction(contract_id: str, scenario: Callable[[Attempt], _T]) -> _T:
    """Run ``scenario`` until an attempt meets no eviction, and return its result.

    Fails, restating ``contract_id``, when all ``EVICTION_ATTEMPTS`` attempts met one.
    An assertion failing inside the scenario fails the test at once.
    """
    missing = ""
    for number in range(1, EVICTION_ATTEMPTS + 1):
        try:
            return scenario(Attempt(number))
        except Evicted as evicted:
            missing = str(evicted)
    raise AssertionError(
        f"{explain(contract_id)} in each of {EVICTION_ATTEMPTS} attempts the cache did not "
        f"hold what the test needs (last: {missing}). A cache may evict an entry at any "
        "moment, so one miss is no failure, but a cache that never keeps an entry, or a read "
        "that never uses a live one, is"
    )
