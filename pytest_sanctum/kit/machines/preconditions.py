"""``PreconditionMachine`` (PROP-002): conditional writes and deletes succeed exactly
when the etag is current."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import (
    invariant,
    rule,
)

from pytest_sanctum.errors import (
    ConsistencyError,
)
from pytest_sanctum.kit.machines.models import KEY_CHOICE, Outcome, Seen, describe
from pytest_sanctum.kit.machines.versioned import VersionedMachine
from pytest_sanctum.kit.session import KitSession
from pytest_sanctum.types import Layer


class PreconditionMachine(VersionedMachine):
    """PROP-002: conditional blob writes and deletes succeed exactly when the etag is current."""

    contract = "PROP-002"
    layer = Layer.BLOB

    def __init__(self, kit: KitSession) -> None:
        super().__init__(kit)
        self.adapter = self.open_adapter()
        self.raw = self.adapter.capabilities.read_after_write
        self.client = self.make_client(self.adapter)

    @rule(
        key=KEY_CHOICE,
        data=st.binary(max_size=4),
        mode=st.sampled_from(["plain", "create", "current", "stale", "garbage"]),
        pick=st.integers(0, 3),
    )
    def put(self, key: str, data: bytes, mode: str, pick: int) -> None:
        before = self.keys[key].current
        if self.put_and_check("A", self.client, key, data, mode, pick) is None:
            self._unchanged(key, before, f"the refused put of {key}")

    @rule(
        key=KEY_CHOICE,
        mode=st.sampled_from(["plain", "current", "stale", "garbage"]),
        pick=st.integers(0, 3),
    )
    def delete(self, key: str, mode: str, pick: int) -> None:
        before = self.keys[key].current
        if self.delete_and_check("A", self.client, key, mode, pick) is None:
            self._unchanged(key, before, f"the refused delete of {key}")

    @rule(key=KEY_CHOICE, level=st.sampled_from(["strong", "eventual"]))
    def read_bypass(self, key: str, level: str) -> None:
        result = self._get(self.client, key, level, True)
        self.log(f"A.get {key} {level} bypass -> {describe(result)}")
        allowed = self.backend_answers("A", key, level == "strong")
        if isinstance(result, ConsistencyError) and self.may_raise_consistency("A", key):
            return
        self.expect(
            result in allowed,
            f"a bypass read of {key} returned {describe(result)}, the backend holds "
            f"{[describe(a) for a in allowed]}",
        )

    def _unchanged(self, key: str, before: Outcome, what: str) -> None:
        stored = self.kit.backdoor(self.adapter).read_object(self.layer, self.ns, key)
        found: Outcome = None if stored is None else Seen(stored.version, stored.data, stored.etag)
        self.expect(
            found == before,
            f"{what} changed the stored state from {describe(before)} to {describe(found)}",
        )

    @invariant()
    def backend_matches_model(self) -> None:
        self.check_backdoor(self.adapter)
