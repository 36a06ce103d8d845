"""Comparing what the adapter under test and the reference answered to the same call.

An answer is an ``Outcome``: the value returned, or the error raised as its class and
stable code (messages are free text, so they are not compared). Values are reduced to
plain tuples field by field. Etags are opaque (ADR-001): the two sides' etags are not
equal, so they are compared by structure instead. ``EtagPairs`` pairs each etag the
adapter returned with the reference's etag for the same write, and a later answer must
use the paired etag: the same etag where the reference has the same one, a different one
where the reference has a different one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_sanctum.errors import SanctumError
from pytest_sanctum.types import (
    AppendResult,
    Blob,
    BlobInfo,
    CacheEntry,
    Claimed,
    Delivery,
    GroupCheckpoint,
    RecordValue,
    StoredMessage,
    WriteResult,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A returned value (``error`` empty) or a raised ``SanctumError`` (class and code)."""

    value: Any = None
    error: str = ""
    raised: BaseException | None = None

    @property
    def ok(self) -> bool:
        return not self.error

    def show(self) -> str:
        return f"raises {self.error}" if self.error else repr(self.value)


def call(fn: Callable[[], Any]) -> Outcome:
    """Run ``fn`` and capture its answer; anything but a ``SanctumError`` propagates."""
    try:
        return Outcome(fn())
    except SanctumError as error:
        return Outcome(error=f"{type(error).__name__}({error.code})", raised=error)


class Mismatch(AssertionError):
    """The adapter answered differently from the reference."""


Scope = tuple[str, str, str]
"""Where an etag belongs: (namespace, layer or store, key)."""


class EtagPairs:
    """A one-to-one pairing of the adapter's etags with the reference's, per object.

    ADR-001 makes an etag unique per (key, version) only: two keys may share one (a
    content hash does), so the pairing is kept per scope (namespace, layer, key).
    """

    def __init__(self) -> None:
        self.theirs: dict[tuple[Scope, str], str] = {}
        """(scope, adapter etag) -> reference etag"""
        self.ours: dict[tuple[Scope, str], str] = {}
        """(scope, reference etag) -> adapter etag"""
        self.translate: dict[str, str] = {}
        """reference etag -> adapter etag (the reference's etags are unique per write)"""

    def pair(self, theirs: object, ours: object, where: str, scope: Scope) -> None:
        """Record or check that ``theirs`` (adapter) stands for ``ours`` (reference)."""
        if theirs in (None, "") or ours in (None, ""):
            if (theirs in (None, "")) != (ours in (None, "")):
                raise Mismatch(f"{where}: etag {theirs!r} where the reference has {ours!r}")
            return
        if not isinstance(theirs, str):
            raise Mismatch(f"{where}: etag {theirs!r} is not a str")
        reference = str(ours)
        known = self.theirs.get((scope, theirs))
        back = self.ours.get((scope, reference))
        if known is None and back is None:
            self.theirs[(scope, theirs)] = reference
            self.ours[(scope, reference)] = theirs
            self.translate[reference] = theirs
            return
        if known != reference or back != theirs:
            raise Mismatch(
                f"{where}: etag {theirs!r} does not correspond to the reference's {reference!r} "
                f"(it stood for {known!r}; the reference etag stood for {back!r}): an etag is "
                "unique per (key, version) and stable across reads and instances"
            )

    def forget(self, namespace_prefix: str) -> None:
        """Drop the pairs of every object in namespaces starting with the prefix (a reset
        removed them): a key written again begins a new life, whose etags may repeat the
        old life's (a content hash of the same bytes at the same version does)."""
        gone = [entry for entry in self.theirs if entry[0][0].startswith(namespace_prefix)]
        for scope, theirs in gone:
            reference = self.theirs.pop((scope, theirs))
            self.ours.pop((scope, reference), None)
            self.translate.pop(reference, None)

    def theirs_for(self, ours: str) -> str:
        """The adapter's etag paired with reference etag ``ours`` (an unknown one if none)."""
        return self.translate.get(ours, ours + "#unpaired")

    def known(self) -> list[str]:
        """Every reference etag paired so far, oldest first."""
        return list(self.translate)


def reduce(value: Any) -> tuple[Any, list[tuple[str | None, object]]]:
    """A value as a comparable plain structure, and its etags in order with the key of the
    object holding each (``None`` when the value names no key): compared apart."""
    etags: list[tuple[str | None, object]] = []
    return _reduce(value, etags), etags


def _reduce(value: Any, etags: list[Any]) -> Any:
    if isinstance(value, Blob):
        etags.append((value.key, value.etag))
        return ("Blob", value.key, value.data, value.version, value.content_type)
    if isinstance(value, BlobInfo):
        etags.append((value.key, value.etag))
        return ("BlobInfo", value.key, value.version, value.size, value.content_type)
    if isinstance(value, RecordValue):
        etags.append((value.key, value.etag))
        return ("RecordValue", value.key, value.value, value.version)
    if isinstance(value, WriteResult):
        etags.append((None, value.etag))
        return ("WriteResult", value.version)
    if isinstance(value, CacheEntry):
        etags.append((None, value.etag))
        return (
            "CacheEntry",
            value.data,
            value.version,
            value.stored_at_ms,
            value.content_type,
            value.expires_at_ms,
        )
    if isinstance(value, GroupCheckpoint):
        return (
            "GroupCheckpoint",
            value.floor,
            value.cursor,
            tuple(sorted(value.acked)),
            tuple(sorted((seq, tuple(p)) for seq, p in value.pending.items())),
            value.revision,
            value.next_visible_ms if value.pending else None,  # its value when none is pending
        )
    if isinstance(value, Delivery):
        return ("Delivery", *value[:6], value.delivery_count)
    if isinstance(value, AppendResult | StoredMessage | Claimed):
        return (type(value).__name__, *value)
    if isinstance(value, list | tuple):
        return [_reduce(item, etags) for item in value]
    return value


def compare(
    theirs: Outcome, ours: Outcome, pairs: EtagPairs, where: str, scope: Scope = ("", "", "")
) -> None:
    """Fail with ``Mismatch`` unless the two answers agree (etags by structure, each within
    ``scope``, whose key is replaced by the key of the object holding the etag)."""
    if theirs.error or ours.error:
        if theirs.error != ours.error:
            raise Mismatch(f"{where}: adapter {theirs.show()}, reference {ours.show()}")
        _pair_error_etags(theirs.raised, ours.raised, pairs, where, scope)
        return
    left, left_etags = reduce(theirs.value)
    right, right_etags = reduce(ours.value)
    if left != right or len(left_etags) != len(right_etags):
        raise Mismatch(f"{where}: adapter returned {theirs.show()}, reference {ours.show()}")
    for (key, mine), (_, reference) in zip(left_etags, right_etags, strict=True):
        pairs.pair(mine, reference, where, scope if key is None else (scope[0], scope[1], key))


def _pair_error_etags(
    theirs: BaseException | None,
    ours: BaseException | None,
    pairs: EtagPairs,
    where: str,
    scope: Scope,
) -> None:
    """A precondition failure carries the current etag and version: they must agree too."""
    version = getattr(theirs, "current_version", None)
    expected = getattr(ours, "current_version", None)
    if version != expected:
        raise Mismatch(
            f"{where}: the error names current version {version!r}, the reference's {expected!r}"
        )
    pairs.pair(
        getattr(theirs, "current_etag", None), getattr(ours, "current_etag", None), where, scope
    )
