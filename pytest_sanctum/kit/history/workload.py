"""Random workloads: what each recorded client does in a history run.

A ``Workload`` names the operations and their weights, the keys and streams, and the
client settings (staleness budget, TTL, visibility timeout) a history contract needs.
Every write and append carries a unique tag (``c<client>-<n>``), so a read names the
write it saw.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field

from pytest_sanctum.errors import SanctumError
from pytest_sanctum.kit.history.client import RecordingClient
from pytest_sanctum.types import JSONValue

NAMESPACE_KEY_PREFIX = "k"
STREAM_PREFIX = "s"


@dataclass(frozen=True)
class Workload:
    """What the clients of one history run do, and the client settings they run with."""

    weights: dict[str, float]
    keys: int = 3
    streams: int = 1
    groups: int = 1
    idempotency_keys: int = 0
    staleness_budget_ms: float = 0.0
    ttl_ms: float = 5000.0
    visibility_timeout_ms: float = 25.0
    ack_probability: float = 0.8
    batch: int = 3
    pause_ms: tuple[float, float] = (0.0, 0.3)
    fanout_delay_ms: float = 0.0
    """Above 0, invalidations reach other nodes this late (an asynchronous fan-out)."""
    rounds: tuple[str, ...] = ()
    """Kinds of contention round (``rounds.ROUND_KINDS``) played after the walk."""
    probes: int = 0
    """Staleness probes (``probes.probe_staleness``) run after the walk; needs a fan-out delay."""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def objects(self) -> bool:
        return any(kind in self.weights for kind in _OBJECT_OPS)

    @property
    def uses_streams(self) -> bool:
        return any(kind in self.weights for kind in _STREAM_OPS)


class ClientRun:
    """One client's random walk over the workload's operations."""

    def __init__(
        self, client: RecordingClient, workload: Workload, namespace: str, rng: random.Random
    ) -> None:
        self.client = client
        self.workload = workload
        self.namespace = namespace
        self.rng = rng
        self.counter = 0
        self.etags: dict[str, str] = {}
        self.stale: dict[str, str] = {}

    def tag(self) -> dict[str, JSONValue]:
        self.counter += 1
        return {"tag": f"{self.client.name}-{self.counter}"}

    def key(self) -> str:
        return f"{NAMESPACE_KEY_PREFIX}{self.rng.randrange(self.workload.keys)}"

    def stream(self) -> str:
        return f"{STREAM_PREFIX}{self.rng.randrange(self.workload.streams)}"

    def step(self) -> None:
        kinds = list(self.workload.weights)
        kind = self.rng.choices(kinds, weights=[self.workload.weights[k] for k in kinds])[0]
        with contextlib.suppress(SanctumError):  # recorded: the history decides if it was allowed
            getattr(self, "_" + kind)()

    def _seen(self, key: str, etag: str) -> None:
        previous = self.etags.get(key)
        if previous is not None and previous != etag:
            self.stale[key] = previous
        self.etags[key] = etag

    def _etag(self, key: str) -> str | None:
        """Mostly a fresh etag (read first, as a read-modify-write does), sometimes a stale one."""
        if key in self.stale and self.rng.random() < 0.2:
            return self.stale[key]
        if self.rng.random() < 0.7:
            try:
                self._get_strong_bypass(key)
            except SanctumError:
                return None
        return self.etags.get(key)

    # -- objects ---------------------------------------------------------------------

    def _put(self) -> None:
        key = self.key()
        self._seen(key, self.client.records.put(self.namespace, key, self.tag()).etag)

    def _cas(self) -> None:
        key = self.key()
        etag = self._etag(key)
        if etag is not None:
            written = self.client.records.put(self.namespace, key, self.tag(), if_match=etag)
            self._seen(key, written.etag)

    def _create(self) -> None:
        key = self.key()
        written = self.client.records.put(self.namespace, key, self.tag(), if_none_match="*")
        self._seen(key, written.etag)

    def _delete(self) -> None:
        self.client.records.delete(self.namespace, self.key())

    def _cdelete(self) -> None:
        key = self.key()
        etag = self._etag(key)
        if etag is not None:
            self.client.records.delete(self.namespace, key, if_match=etag)

    def _read(self, key: str, **options: object) -> None:
        found = self.client.records.get(self.namespace, key, **options)
        self._seen(key, found.etag)

    def _get_strong_bypass(self, key: str | None = None) -> None:
        self._read(key or self.key(), level="strong", bypass_cache=True)

    def _get_strong(self) -> None:
        self._read(self.key(), level="strong")

    def _get_eventual(self) -> None:
        self._read(self.key(), level="eventual")

    # -- streams ---------------------------------------------------------------------

    def _append(self) -> None:
        self.client.streams.append(self.namespace, self.stream(), self.tag())

    def _append_idempotent(self) -> None:
        key = f"i{self.rng.randrange(max(1, self.workload.idempotency_keys))}"
        self.client.streams.append(self.namespace, self.stream(), self.tag(), idempotency_key=key)

    def _consume(self) -> None:
        group = f"g{self.rng.randrange(self.workload.groups)}"
        stream = self.stream()
        found = self.client.streams.read(
            self.namespace,
            stream,
            group,
            self.client.name,
            count=self.workload.batch,
            visibility_timeout_ms=self.workload.visibility_timeout_ms,
        )
        for delivery in found:
            if self.rng.random() < self.workload.ack_probability:
                with contextlib.suppress(SanctumError):
                    self.client.streams.ack(self.namespace, stream, group, [delivery.message_id])


_OBJECT_OPS = frozenset(
    {"put", "cas", "create", "delete", "cdelete", "get_strong", "get_strong_bypass", "get_eventual"}
)
_STREAM_OPS = frozenset({"append", "append_idempotent", "consume"})
