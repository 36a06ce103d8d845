"""``VersionedMachine``: puts, conditional writes, deletes and reads of versioned keys
checked against ``KeyModel``; the base of the consistency, precondition and bypass machines."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import ClassVar

from pytest_sanctum.adapters.base import StorageAdapter
from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import (
    NotFoundError,
    PreconditionFailedError,
    SanctumError,
)
from pytest_sanctum.kit.machines.base import KitMachine
from pytest_sanctum.kit.machines.models import (
    KEYS,
    KeyModel,
    Outcome,
    Seen,
    attempt,
    decode_blob,
    decode_record,
    describe,
    read_outcome,
)
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.types import Layer, WriteResult


class VersionedMachine(KitMachine):
    """Shared model and checks of versioned objects (records or blobs) on one or more nodes."""

    layer: ClassVar[Layer] = Layer.RECORD

    def __init__(self, kit: KitSession) -> None:
        super().__init__(kit)
        self.keys = {key: KeyModel() for key in KEYS}
        self.own: dict[tuple[str, str], tuple[int, bool]] = {}
        """(node, key) -> (version, deleted) of the node's own last write, for read-after-write."""
        self.raw = True
        self._never = itertools.count(1)

    @property
    def decode(self) -> Callable[[bytes], object]:
        return decode_record if self.layer is Layer.RECORD else decode_blob

    # -- operations through the facade -----------------------------------------------

    def _put(
        self,
        client: StorageClient,
        key: str,
        payload: object,
        if_match: str | None,
        create: bool,
    ) -> WriteResult | SanctumError:
        none_match = "*" if create else None
        if self.layer is Layer.RECORD:
            value: dict[str, object] = payload  # type: ignore[assignment]
            return attempt(
                lambda: client.records.put(
                    self.ns, key, value, if_match=if_match, if_none_match=none_match
                )
            )
        data: bytes = payload  # type: ignore[assignment]
        return attempt(
            lambda: client.blobs.put(
                self.ns, key, data, if_match=if_match, if_none_match=none_match
            )
        )

    def _delete(self, client: StorageClient, key: str, if_match: str | None) -> SanctumError | None:
        if self.layer is Layer.RECORD:
            return attempt(lambda: client.records.delete(self.ns, key, if_match=if_match))
        return attempt(lambda: client.blobs.delete(self.ns, key, if_match=if_match))

    def _get(
        self, client: StorageClient, key: str, level: str, bypass: bool
    ) -> Outcome | SanctumError:
        def read() -> Seen:
            if self.layer is Layer.RECORD:
                record = client.records.get(
                    self.ns,
                    key,
                    level=level,  # type: ignore[arg-type]
                    bypass_cache=bypass,
                )
                return Seen(record.version, dict(record.value), record.etag)
            blob = client.blobs.get(
                self.ns,
                key,
                level=level,  # type: ignore[arg-type]
                bypass_cache=bypass,
            )
            return Seen(blob.version, blob.data, blob.etag)

        return read_outcome(attempt(read))

    def etag_for(self, key: str, mode: str, pick: int) -> tuple[str | None, str]:
        """The ``if_match`` a rule's ``mode`` asks for, and its label for the log."""
        model = self.keys[key]
        current = model.current
        if mode == "plain" or mode == "create":
            return None, ""
        if mode == "current" and current is not None:
            return current.etag, f" if_match=<current {current.etag}>"
        if mode == "stale":
            stale = [etag for etag in model.issued if current is None or etag != current.etag]
            if stale:
                etag = stale[pick % len(stale)]
                return etag, f" if_match=<stale {etag}>"
        etag = f"sanctum-never-issued-{next(self._never)}"
        return etag, f" if_match=<never issued {etag}>"

    # -- checks shared by the machines -------------------------------------------------

    def check_precondition_error(self, error: PreconditionFailedError, key: str, op: str) -> None:
        """A 412 carries the current etag and version when the key exists, else neither."""
        current = self.keys[key].current
        carried = (error.current_etag, error.current_version)
        wanted = (None, None) if current is None else (current.etag, current.version)
        self.expect(
            carried == wanted,
            f"{op}: PreconditionFailedError carried (etag, version) {carried}, "
            f"the key's current state is {wanted}",
        )

    def put_and_check(
        self, node: str, client: StorageClient, key: str, payload: object, mode: str, pick: int
    ) -> Seen | None:
        """Run a put of ``mode``; check it against the model; return the new version or None."""
        model = self.keys[key]
        if_match, label = self.etag_for(key, mode, pick)
        create = mode == "create"
        now = self.now()
        result = self._put(client, key, payload, if_match, create)
        create_label = ' if_none_match="*"' if create else ""
        self.log(f"{node}.put {key} {payload!r}{label}{create_label} -> {describe(result)}")
        current = model.current
        if create:
            should = current is None
        else:
            should = if_match is None or (current is not None and if_match == current.etag)
        op = f"{node}.put {key}{label}{create_label}"
        if not should:
            self.expect(
                isinstance(result, PreconditionFailedError),
                f"{op} must fail with PreconditionFailedError (current state "
                f"{describe(current)}), it returned {describe(result)}",
            )
            assert isinstance(result, PreconditionFailedError)
            self.check_precondition_error(result, key, op)
            return None
        self.expect(
            isinstance(result, WriteResult),
            f"{op} must succeed (current state {describe(current)}), it returned {describe(result)}",
        )
        assert isinstance(result, WriteResult)
        if model.high == 0:
            self.expect(
                result.version == 1,
                f"{op}: the first write of a key must return version 1, got {result.version}",
            )
        else:
            self.expect(
                result.version > model.high,
                f"{op} returned version {result.version}, not above the key's highest "
                f"version so far ({model.high}): versions must never be reused",
            )
        self.expect(
            result.etag not in model.issued,
            f"{op} returned etag {result.etag!r}, already issued for an earlier version",
        )
        seen = Seen(result.version, payload, result.etag)
        model.write(seen, now)
        self.own[(node, key)] = (result.version, False)
        return seen

    def delete_and_check(
        self, node: str, client: StorageClient, key: str, mode: str, pick: int
    ) -> int | None:
        """Run a delete of ``mode``; check it; return the deleted version or None."""
        model = self.keys[key]
        if_match, label = self.etag_for(key, mode, pick)
        now = self.now()
        result = self._delete(client, key, if_match)
        self.log(
            f"{node}.delete {key}{label} -> {'deleted' if result is None else describe(result)}"
        )
        current = model.current
        op = f"{node}.delete {key}{label}"
        if current is None:
            # ADR-001: a delete of a missing key raises NotFoundError, with or without if_match.
            self.expect(
                isinstance(result, NotFoundError),
                f"{op} of a missing key must raise NotFoundError, it returned {describe(result)}",
            )
            return None
        if if_match is not None and if_match != current.etag:
            self.expect(
                isinstance(result, PreconditionFailedError),
                f"{op} must fail with PreconditionFailedError (current {current}), "
                f"it returned {describe(result)}",
            )
            assert isinstance(result, PreconditionFailedError)
            self.check_precondition_error(result, key, op)
            return None
        self.expect(
            result is None, f"{op} must delete (current {current}), it returned {describe(result)}"
        )
        model.delete(now)
        self.own[(node, key)] = (current.version, True)
        return current.version

    def backend_answers(self, node: str, key: str, strong: bool) -> list[Outcome]:
        """What a backend read of ``key`` by ``node`` may return.

        With ``read_after_write``: exactly the current state. Without it: any state the key
        had, and a strong read only one no older than the node's own last write.
        """
        model = self.keys[key]
        if self.raw:
            return [model.current]
        found = model.outcomes()
        own = self.own.get((node, key))
        if not strong or own is None:
            return found
        version, deleted = own
        if deleted:
            return [o for o in found if o is None or o.version > version]
        return [o for o in found if o is not None and o.version >= version]

    def superseded(self, node: str, key: str, seen: Seen) -> bool:
        """Whether the node's own last write or delete is newer than ``seen`` (no fill then).

        Only tracked without ``read_after_write``; a delete of version v supersedes v.
        """
        own = self.own.get((node, key))
        if self.raw or own is None:
            return False
        version, deleted = own
        return seen.version <= version if deleted else seen.version < version

    def may_raise_consistency(self, node: str, key: str) -> bool:
        """A strong read may raise ConsistencyError only when it waits for its own write."""
        return not self.raw and (node, key) in self.own

    def check_backdoor(self, backdoor_adapter: StorageAdapter) -> None:
        """What the backend holds equals the model's current state of every key."""
        backdoor = self.kit.backdoor(backdoor_adapter)
        for key, model in self.keys.items():
            stored = backdoor.read_object(self.layer, self.ns, key)
            found: Outcome = (
                None
                if stored is None
                else Seen(stored.version, self.decode(stored.data), stored.etag)
            )
            self.expect(
                found == model.current,
                f"the backend holds {describe(found)} for {key}, the model expects "
                f"{describe(model.current)}",
            )
