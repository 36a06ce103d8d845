"""``RecordingClient``: a facade client whose record, blob and stream operations are recorded.

It offers the same methods as the facade's layers (``records.put/get/delete``,
``blobs.put/get/delete``, ``streams.append/read/ack``) and returns what they return, so
app code runs against it unchanged while every call lands in the history. A payload's
``tag`` is its ``"tag"`` field when it has a string one (the kit's workloads write unique
tags), else a digest of its canonical JSON or bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from pytest_sanctum.errors import NotFoundError
from pytest_sanctum.kit.history.record import Recorder
from pytest_sanctum.kit.history.tap import DeletedVersions
from pytest_sanctum.types import AppendResult, Delivery, JSONValue, WriteResult


def payload_tag(value: object) -> str:
    """The tag naming a payload in a history."""
    if isinstance(value, dict) and isinstance(value.get("tag"), str):
        return str(value["tag"])
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    else:
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return "h" + hashlib.blake2b(data, digest_size=6).hexdigest()


class _Versioned:
    def __init__(self, owner: RecordingClient, layer: str) -> None:
        self._owner = owner
        self._layer = layer
        self._facade = getattr(owner.client, layer)

    def _key(self, namespace: str, key: str) -> str:
        return f"{self._layer}:{namespace}/{key}"

    def put(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        **options: Any,
    ) -> WriteResult:
        kind = "cas" if if_match is not None else "create" if if_none_match else "put"
        owner = self._owner
        with owner.recorder.operation(
            owner.name,
            owner.node,
            kind,
            self._key(namespace, key),
            tag=payload_tag(value),
            if_match=if_match,
        ) as op:
            result: WriteResult = self._facade.put(
                namespace, key, value, if_match=if_match, if_none_match=if_none_match, **options
            )
            op.version, op.etag = result.version, result.etag
        return result

    def get(self, namespace: str, key: str, **options: Any) -> Any:
        """Read as the facade does; a missing key is recorded as an observation of absence."""
        owner, recorder = self._owner, self._owner.recorder
        op = recorder.begin(
            owner.name,
            owner.node,
            "get",
            self._key(namespace, key),
            level=str(options.get("level") or "strong"),
            bypass=bool(options.get("bypass_cache", False)),
            if_match=options.get("if_match"),
        )
        try:
            found = self._facade.get(namespace, key, **options)
        except NotFoundError:
            recorder.ok(op)
            raise
        except Exception as error:
            recorder.failed(op, error)
            raise
        payload = found.value if self._layer == "records" else found.data
        op.tag, op.version, op.etag = payload_tag(payload), found.version, found.etag
        recorder.ok(op)
        return found

    def delete(self, namespace: str, key: str, *, if_match: str | None = None) -> None:
        owner = self._owner
        tap = owner.deleted
        if tap is not None:
            tap.take()
        with owner.recorder.operation(
            owner.name, owner.node, "delete", self._key(namespace, key), if_match=if_match
        ) as op:
            self._facade.delete(namespace, key, if_match=if_match)
            op.version = tap.take() if tap is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._facade, name)


class _Streams:
    def __init__(self, owner: RecordingClient) -> None:
        self._owner = owner
        self._facade = owner.client.streams

    def append(
        self, namespace: str, stream: str, payload: JSONValue, *, idempotency_key: str | None = None
    ) -> AppendResult:
        owner = self._owner
        with owner.recorder.operation(
            owner.name,
            owner.node,
            "append",
            f"{namespace}/{stream}",
            tag=payload_tag(payload),
            idempotency_key=idempotency_key,
        ) as op:
            result: AppendResult = self._facade.append(
                namespace, stream, payload, idempotency_key=idempotency_key
            )
            op.sequence, op.duplicate = result.sequence, result.duplicate
        return result

    def read(
        self, namespace: str, stream: str, group: str, consumer: str, **options: Any
    ) -> list[Delivery]:
        owner = self._owner
        with owner.recorder.operation(
            owner.name, owner.node, "read", f"{namespace}/{stream}", group=group
        ) as op:
            found: list[Delivery] = self._facade.read(namespace, stream, group, consumer, **options)
            op.deliveries = [(d.sequence, payload_tag(d.payload), d.delivery_count) for d in found]
        return found

    def ack(self, namespace: str, stream: str, group: str, message_ids: Iterable[str]) -> int:
        """Acknowledge; recorded as one ack operation per message id."""
        total = 0
        for message_id in list(message_ids):
            owner = self._owner
            with owner.recorder.operation(
                owner.name,
                owner.node,
                "ack",
                f"{namespace}/{stream}",
                group=group,
                sequence=int(message_id) if message_id.isdigit() else None,
            ) as op:
                op.count = self._facade.ack(namespace, stream, group, [message_id])
            total += op.count or 0
        return total

    def __getattr__(self, name: str) -> Any:
        return getattr(self._facade, name)


class RecordingClient:
    """Records what ``client`` does as client ``name`` on node ``node``."""

    def __init__(
        self,
        client: Any,
        recorder: Recorder,
        name: str,
        node: str = "n0",
        deleted: DeletedVersions | None = None,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.name = name
        self.node = node
        self.deleted = deleted
        self.records = _Versioned(self, "records")
        self.blobs = _Versioned(self, "blobs")
        self.streams = _Streams(self)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self.client, name)  # type: ignore[no-any-return]
