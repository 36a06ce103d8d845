"""The stream layer: appends, consumer-group reads with redelivery, and acks.

Group state (cursor, pending deliveries, acknowledged floor) lives in the adapter's
durable ``CheckpointStore`` and changes only by compare-and-set, so several consumers in
several processes share a group, and a consumer that dies before acking has its
messages redelivered, with a higher delivery count, once the visibility timeout passes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Set
from time import perf_counter
from types import MappingProxyType
from typing import cast

from pytest_sanctum.adapters.base import CheckpointStore, StreamLog
from pytest_sanctum.core import FacadeCore, Route, unsupported
from pytest_sanctum.describe import describe, describe_error, type_name
from pytest_sanctum.errors import AdapterError, ConflictError, InvalidRequestError
from pytest_sanctum.types import (
    AppendResult,
    Delivery,
    GroupCheckpoint,
    GroupPending,
    JSONValue,
)
from pytest_sanctum.validation import (
    MAX_IDEMPOTENCY_KEY_BYTES,
    check_int,
    check_key,
    check_positive_ms,
    decode_json,
    encode_json,
)

CAS_ATTEMPTS = 16
"""How often a group update is retried when another consumer saved first."""

MAX_VISIBILITY_TIMEOUT_MS = 86_400_000.0
"""Longest visibility timeout a read may ask for (one day)."""

_new = tuple.__new__
"""Builds a named tuple from a ready tuple, skipping its generated Python ``__new__``: the
stream path builds several per operation."""


_NOTHING_PENDING: Mapping[int, GroupPending] = MappingProxyType({})


def _frozen(pending: dict[int, GroupPending]) -> Mapping[int, GroupPending]:
    """A read-only view of a group's new pending map (one shared view when it is empty)."""
    return MappingProxyType(pending) if pending else _NOTHING_PENDING


def _thaw(pending: Mapping[int, GroupPending]) -> dict[int, GroupPending]:
    """A private, mutable copy of a loaded pending map (a C-level copy for the usual types)."""
    if type(pending) is MappingProxyType or type(pending) is dict:
        return pending.copy()
    return dict(pending)


def _redeliver(
    route: Route,
    stream: str,
    consumer: str,
    pending: dict[int, GroupPending],
    picked: list[tuple[int, bytes, int]],
    limit: int,
    now_ms: float,
    visible_at_ms: float,
) -> tuple[float, list[int]]:
    """Hand expired entries of ``pending`` to ``consumer``, earliest expired first.

    The order (visible-again time, then sequence) and the rest of these rules are the ones
    ``GroupStore.claim`` applies, so both kinds of store deliver alike. Updates ``pending``
    in place and appends ``(sequence, payload, deliveries)`` to ``picked``, up to
    ``limit``. Returns the group's new ``next_visible_ms`` (exact from the full scan, or
    ``now_ms`` when ``limit`` left expired entries over: they are still due) and the
    sequences dropped because their message is gone from the log (they count as acked).
    """
    expired: list[tuple[float, int]] = []
    next_visible = math.inf
    for sequence, held in pending.items():
        if held.visible_at_ms <= now_ms:
            expired.append((held.visible_at_ms, sequence))
        elif held.visible_at_ms < next_visible:
            next_visible = held.visible_at_ms
    expired.sort()
    due = [sequence for _, sequence in expired[:limit]]
    if len(expired) > limit:
        next_visible = now_ms  # the expired entries left over are still due
    log = route.stream_log
    batch = route.batch_log
    if batch is not None:
        found = {m.sequence: m.payload for m in batch.read_sequences(route.namespace, stream, due)}
    else:
        found = {}
        for sequence in due:
            messages = log.read(route.namespace, stream, after=sequence - 1, limit=1)  # type: ignore[union-attr]
            if messages and messages[0].sequence == sequence:
                found[sequence] = messages[0].payload
    dropped: list[int] = []
    for sequence in due:
        payload = found.get(sequence)
        if payload is None:
            del pending[sequence]
            dropped.append(sequence)
            continue
        deliveries = pending[sequence].deliveries + 1
        pending[sequence] = _new(GroupPending, (consumer, deliveries, visible_at_ms))
        picked.append((sequence, payload, deliveries))
    return (min(next_visible, visible_at_ms) if picked else next_visible), dropped


def _advance_floor(floor: int, acked: Set[int], done: Iterable[int]) -> tuple[int, Set[int]]:
    """Add ``done`` to the acknowledged sequences and move the floor over every consecutive one."""
    merged = acked | frozenset(done)
    advanced = floor
    while advanced + 1 in merged:
        advanced += 1
    if advanced != floor:
        merged = merged - frozenset(range(floor + 1, advanced + 1))
    return advanced, merged


def _delivery(
    stream: str, group: str, consumer: str, sequence: int, data: bytes, count: int
) -> Delivery:
    """The delivery of one claimed message; one that does not decode carries its error.

    The message is claimed like any other, so it never blocks the rest of its batch and
    is never dropped: the consumer sees it, and acks it or lets it come again.
    """
    try:
        payload = decode_json(data)
    except Exception as error:
        failure = AdapterError(
            f"message {sequence} of stream {stream!r} does not decode as JSON "
            f"({describe_error(error)}); it is delivered with this error instead of a payload",
            key=stream,
        )
        failure.__cause__ = error
        return _new(
            Delivery, (stream, group, consumer, str(sequence), sequence, None, count, failure)
        )
    return _new(Delivery, (stream, group, consumer, str(sequence), sequence, payload, count, None))


def _message_sequence(message_id: object) -> int:
    if (
        type(message_id) is not str
        or not message_id.isascii()
        or not message_id.isdigit()
        or len(message_id) > 19
    ):
        raise InvalidRequestError(
            f"message ids are decimal sequence strings, got {describe(message_id)}",
            argument="message_ids",
        )
    return int(message_id)


def _sequences(message_ids: object) -> set[int]:
    """The sequences of ``message_ids``, an iterable of id strings (not one string)."""
    if issubclass(type(message_ids), str | bytes | bytearray):
        raise InvalidRequestError(
            f"message_ids must be an iterable of id strings, not one {type_name(message_ids)}",
            argument="message_ids",
        )
    try:
        ids = iter(message_ids)  # type: ignore[call-overload]
    except Exception:
        raise InvalidRequestError(
            f"message_ids must be an iterable of id strings, got {describe(message_ids)}",
            argument="message_ids",
        ) from None
    sequences: set[int] = set()
    while True:
        try:
            message_id = next(ids)
        except StopIteration:
            return sequences
        except Exception as error:
            raise InvalidRequestError(
                f"message_ids could not be iterated: {describe_error(error)}",
                argument="message_ids",
            ) from None
        sequences.add(_message_sequence(message_id))


class StreamLayer:
    """Streams: at-least-once delivery to consumer groups with durable checkpoints."""

    def __init__(self, core: FacadeCore, principal: str) -> None:
        self._core = core
        self._principal = principal
        settings = core.config.streams  # frozen: read once, not on every operation
        self._max_batch = settings.max_batch
        self._visibility_timeout_ms = settings.visibility_timeout_ms
        self._dedupe_window_ms = settings.dedupe_window_ms

    def append(
        self,
        namespace: str,
        stream: str,
        payload: JSONValue,
        *,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Append a JSON payload. With ``idempotency_key``, a repeat inside the dedupe window
        appends nothing and returns the original message id with ``duplicate=True``."""
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin("stream.append", namespace, self._principal, cid)
            log = route.stream_log
            if log is None:
                raise unsupported(route, "stream.append", "streams")
            name = check_key(stream, "stream")
            encoded = encode_json(payload, "payload")
            if idempotency_key is not None:
                check_key(idempotency_key, "idempotency_key")
                if len(idempotency_key.encode("utf-8")) > MAX_IDEMPOTENCY_KEY_BYTES:
                    raise InvalidRequestError(
                        f"idempotency_key must be at most {MAX_IDEMPOTENCY_KEY_BYTES} bytes",
                        argument="idempotency_key",
                    )
                if not route.capabilities.idempotent_append:
                    raise unsupported(route, "stream.append", "idempotent_append")
            result = log.append(
                route.namespace,
                name,
                encoded,
                idempotency_key=idempotency_key,
                dedupe_window_ms=self._dedupe_window_ms,
                now_ms=core.clock.now_ms(),
            )
        except Exception as error:
            raise core.failed(
                "stream.append", route, namespace, stream, started, error, cid
            ) from core.cause(error)
        if core.metrics_enabled:
            core.succeeded("stream.append", route, started, len(encoded))
        return result

    def read(
        self,
        namespace: str,
        stream: str,
        group: str,
        consumer: str,
        *,
        count: int | None = None,
        visibility_timeout_ms: float | None = None,
    ) -> list[Delivery]:
        """Deliver up to ``count`` messages to ``consumer`` of ``group``.

        Messages whose visibility timeout has passed without an ack come first (with their
        delivery count raised), then messages the group has not seen yet. A group starts
        at the beginning of the stream. Every delivery must be acked, or it comes again.
        """
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin("stream.read", namespace, self._principal, cid)
            log, checkpoints = route.stream_log, route.checkpoint_store
            if log is None or checkpoints is None:
                raise unsupported(route, "stream.read", "streams")
            name = check_key(stream, "stream")
            group_name = check_key(group, "group")
            consumer_name = check_key(consumer, "consumer")
            limit = (
                self._max_batch if count is None else check_int(count, "count", 1, self._max_batch)
            )
            timeout = (
                self._visibility_timeout_ms
                if visibility_timeout_ms is None
                else (
                    check_positive_ms(
                        visibility_timeout_ms, "visibility_timeout_ms", MAX_VISIBILITY_TIMEOUT_MS
                    )
                )
            )
            groups = route.group_store
            if groups is not None:
                now = core.clock.now_ms()
                deliveries = [
                    _delivery(name, group_name, consumer_name, seq, data, count)
                    for seq, data, count in groups.claim(
                        route.namespace,
                        name,
                        group_name,
                        consumer_name,
                        limit=limit,
                        now_ms=now,
                        visible_at_ms=now + timeout,
                    )
                ]
            else:
                deliveries = self._claim(
                    route,
                    cast(CheckpointStore, checkpoints),
                    name,
                    group_name,
                    consumer_name,
                    limit,
                    timeout,
                )
        except Exception as error:
            raise core.failed(
                "stream.read", route, namespace, stream, started, error, cid
            ) from core.cause(error)
        if core.metrics_enabled:
            core.succeeded("stream.read", route, started, 0)
        return deliveries

    def _claim(
        self,
        route: Route,
        checkpoints: CheckpointStore,
        stream: str,
        group: str,
        consumer: str,
        limit: int,
        timeout_ms: float,
    ) -> list[Delivery]:
        """Pick expired pending messages, then new ones, and save the group by compare-and-set."""
        ns = route.namespace
        log: StreamLog = route.stream_log  # type: ignore[assignment]
        clock = self._core.clock
        for _attempt in range(CAS_ATTEMPTS):
            state = checkpoints.load(ns, stream, group)
            now = clock.now_ms()
            visible_at = now + timeout_ms
            pending = _thaw(state.pending)
            picked: list[tuple[int, bytes, int]] = []
            next_visible = state.next_visible_ms if pending else math.inf
            floor, acked = state.floor, state.acked
            if next_visible <= now:
                next_visible, dropped = _redeliver(
                    route, stream, consumer, pending, picked, limit, now, visible_at
                )
                if dropped:
                    floor, acked = _advance_floor(floor, acked, dropped)
            cursor = state.cursor
            if len(picked) < limit:
                fresh = _new(GroupPending, (consumer, 1, visible_at))
                for sequence, payload in log.read(
                    ns, stream, after=cursor, limit=limit - len(picked)
                ):
                    pending[sequence] = fresh
                    picked.append((sequence, payload, 1))
                    cursor = sequence
                if cursor != state.cursor and visible_at < next_visible:
                    next_visible = visible_at
            if not picked and len(pending) == len(state.pending):
                return []
            try:
                checkpoints.save(
                    ns,
                    stream,
                    group,
                    _new(
                        GroupCheckpoint,
                        (
                            floor,
                            cursor,
                            acked,
                            _frozen(pending),
                            state.revision,
                            next_visible if pending else math.inf,
                        ),
                    ),
                )
            except ConflictError:
                self._core.conflict_retry("stream.read", route)
                continue
            return [
                _delivery(stream, group, consumer, seq, data, count) for seq, data, count in picked
            ]
        raise ConflictError(
            f"group {group!r} changed under {CAS_ATTEMPTS} consecutive reads; retry"
        )

    def ack(self, namespace: str, stream: str, group: str, message_ids: Iterable[str]) -> int:
        """Acknowledge deliveries; returns how many were pending (repeats count zero)."""
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin("stream.ack", namespace, self._principal, cid)
            checkpoints = route.checkpoint_store
            if checkpoints is None:
                raise unsupported(route, "stream.ack", "streams")
            name = check_key(stream, "stream")
            group_name = check_key(group, "group")
            sequences = _sequences(message_ids)
            groups = route.group_store
            if groups is not None:
                acked = groups.ack(route.namespace, name, group_name, sequences)
            else:
                acked = self._ack(
                    route, cast(CheckpointStore, checkpoints), name, group_name, sequences
                )
        except Exception as error:
            raise core.failed(
                "stream.ack", route, namespace, stream, started, error, cid
            ) from core.cause(error)
        if core.metrics_enabled:
            core.succeeded("stream.ack", route, started, 0)
        return acked

    def _ack(
        self,
        route: Route,
        checkpoints: CheckpointStore,
        stream: str,
        group: str,
        sequences: set[int],
    ) -> int:
        ns = route.namespace
        for _attempt in range(CAS_ATTEMPTS):
            state = checkpoints.load(ns, stream, group)
            done = sequences & state.pending.keys()
            if not done:
                return 0
            pending = _thaw(state.pending)
            for sequence in done:
                del pending[sequence]
            floor, acked = _advance_floor(state.floor, state.acked, done)
            try:
                checkpoints.save(
                    ns,
                    stream,
                    group,
                    _new(
                        GroupCheckpoint,
                        (
                            floor,
                            state.cursor,
                            acked,
                            _frozen(pending),
                            state.revision,
                            state.next_visible_ms if pending else math.inf,
                        ),
                    ),
                )
            except ConflictError:
                self._core.conflict_retry("stream.ack", route)
                continue
            return len(done)
        raise ConflictError(f"group {group!r} changed under {CAS_ATTEMPTS} consecutive acks; retry")

    def checkpoint(self, namespace: str, stream: str, group: str) -> GroupCheckpoint:
        """The group's durable state as stored (for inspection and tests)."""
        core = self._core
        started = perf_counter()
        cid = core.correlation_id()
        route = None
        try:
            route = core.begin("stream.read", namespace, self._principal, cid)
            checkpoints = route.checkpoint_store
            if checkpoints is None:
                raise unsupported(route, "stream.read", "streams")
            state = checkpoints.load(
                route.namespace, check_key(stream, "stream"), check_key(group, "group")
            )
        except Exception as error:
            raise core.failed(
                "stream.read", route, namespace, stream, started, error, cid
            ) from core.cause(error)
        if core.metrics_enabled:
            core.succeeded("stream.read", route, started, 0)
        return state
