"""Capability masks: run an adapter as if it lacked some capabilities.

The kit's own CI runs the reference under every mask, so each capability-off branch of
the facade and each ``unsupported`` skip is exercised. Masking a layer capability hides
that layer's store too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from pytest_sanctum.adapters.base import (
    CacheStore,
    CheckpointStore,
    GroupStore,
    StorageAdapter,
    StreamLog,
    VersionedStore,
)
from pytest_sanctum.types import Capabilities


def check_mask(names: Collection[str]) -> tuple[str, ...]:
    """Return the mask as a tuple, refusing unknown capability names with ``ValueError``."""
    known = Capabilities.field_names()
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown capabilities {unknown}; known: {', '.join(known)}")
    return tuple(name for name in known if name in names)


class MaskedAdapter:
    """An adapter that declares fewer capabilities than the one it wraps."""

    def __init__(self, inner: StorageAdapter, hidden: Collection[str]) -> None:
        self.inner = inner
        self.hidden = check_mask(hidden)
        self._capabilities = dataclasses.replace(
            inner.capabilities, **dict.fromkeys(self.hidden, False)
        )

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def blobs(self) -> VersionedStore | None:
        return self.inner.blobs if self._capabilities.blobs else None

    @property
    def records(self) -> VersionedStore | None:
        return self.inner.records if self._capabilities.records else None

    @property
    def streams(self) -> StreamLog | None:
        return self.inner.streams if self._capabilities.streams else None

    @property
    def checkpoints(self) -> CheckpointStore | GroupStore | None:
        return self.inner.checkpoints if self._capabilities.streams else None

    @property
    def cache(self) -> CacheStore | None:
        return self.inner.cache if self._capabilities.cache else None

    def reset(self, namespace_prefix: str) -> None:
        self.inner.reset(namespace_prefix)

    def close(self) -> None:
        self.inner.close()

    def backdoor(self) -> object:
        """The wrapped adapter's backdoor, if it has one."""
        make = getattr(self.inner, "backdoor", None)
        return make() if callable(make) else None

    def fault_injector(self) -> object:
        """The wrapped adapter's fault injector, if it has one."""
        make = getattr(self.inner, "fault_injector", None)
        return make() if callable(make) else None
