"""An idempotent consumer: runs a handler once per message id even when a message comes twice.

At-least-once delivery means a message can arrive again (a consumer died after handling
it but before acking, or its visibility timeout passed). The helper records each handled
message id as a create-only record before acking, and skips ids already recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import NotFoundError, PreconditionFailedError
from pytest_sanctum.types import Delivery


class IdempotentConsumer:
    """Reads a consumer group and calls ``handler`` once per message id.

    Markers go to the record layer of ``marker_namespace`` (default: the stream's
    namespace) under ``<marker_prefix><stream>/<group>/<message id>``. A handler that
    raises leaves the message unacked and unmarked, so it is delivered again. A message
    that does not decode reaches the handler like any other, with ``delivery.error`` set
    and ``payload`` ``None``: the handler decides whether to drop it or raise.
    """

    def __init__(
        self,
        client: StorageClient,
        namespace: str,
        stream: str,
        group: str,
        consumer: str,
        handler: Callable[[Delivery], None],
        *,
        marker_namespace: str | None = None,
        marker_prefix: str = "sanctum-consumed/",
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._handler = handler
        self._marker_namespace = marker_namespace or namespace
        self._marker_prefix = marker_prefix

    def _marker(self, delivery: Delivery) -> str:
        return f"{self._marker_prefix}{self._stream}/{self._group}/{delivery.message_id}"

    def handled(self, delivery: Delivery) -> bool:
        """Whether this message id was already handled by the group."""
        try:
            self._client.records.get(self._marker_namespace, self._marker(delivery))
        except NotFoundError:
            return False
        return True

    def poll(self, count: int | None = None) -> tuple[int, int]:
        """Read one batch; returns (handled now, skipped as already handled)."""
        deliveries = self._client.streams.read(
            self._namespace, self._stream, self._group, self._consumer, count=count
        )
        ran = skipped = 0
        for delivery in deliveries:
            if self.handled(delivery):
                skipped += 1
            else:
                self._handler(delivery)
                try:
                    self._client.records.put(
                        self._marker_namespace,
                        self._marker(delivery),
                        {"message_id": delivery.message_id, "consumer": self._consumer},
                        if_none_match="*",
                    )
                except PreconditionFailedError:
                    skipped += 1  # another consumer handled and marked it first
                else:
                    ran += 1
            self._client.streams.ack(
                self._namespace, self._stream, self._group, [delivery.message_id]
            )
        return ran, skipped
