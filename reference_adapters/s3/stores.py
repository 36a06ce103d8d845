"""Blobs and records as S3 objects, versioned with conditional writes.

S3's ETag is the MD5 of the body, so the same bytes written twice would carry the same
ETag, and an ``If-Match`` holding an old ETag would match a later write of the same
bytes (A, B, A: the first A's ETag matches the third write). Every stored body therefore
starts with a 16-byte *frame* (``0x01`` and 15 random bytes) before the payload: each
write's ETag is new, and an ETag names one write. The adapter's etag is
``<version>-<S3 ETag>``: ``If-Match`` sends its S3 part, and the version part tells
the next version, so a write with ``if_match`` is one ``PutObject``.

The version is the object's ``x-amz-meta-version``. A delete does not remove the object:
it overwrites it with a *tombstone*, a 15-byte body (``0x00`` and 14 random bytes) that
keeps the deleted version, so the next write continues from it. A tombstone is the one
size no live object has (a live body is at least 16 bytes), so ``list`` skips tombstones
from the listing alone.

Every write is a conditional ``PutObject`` (``If-None-Match: *`` on a key that has no
object, ``If-Match`` on the object it replaces), so of concurrent writers exactly one
applies each version. A write that must first learn the current object (an
unconditional put or delete, a create over a tombstone) reads it with ``HeadObject`` and
retries when another writer came between.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, NamedTuple, NoReturn

from pytest_sanctum.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
)
from pytest_sanctum.types import Blob, BlobInfo, ETag, Layer, Version, WriteResult
from reference_adapters.s3.bucket import MAX_OBJECT_KEY_BYTES, Bucket, Refused

FRAME: Final = 16
"""Bytes before the payload in a live object's body."""

TOMBSTONE: Final = 15
"""The size of a tombstone's body: smaller than every live body."""

ATTEMPTS: Final = 64
"""How often a write that reads the current object first tries again when another
writer changed the object between its read and its write; then ``ConflictError``."""

_ETAG: Final = re.compile(r"([1-9][0-9]{0,18})-([0-9a-f]{32})")


class State(NamedTuple):
    """A key's object as ``HeadObject`` reports it."""

    version: int
    s3_etag: str
    """Quoted, as S3 sends it and ``If-Match`` takes it."""
    live: bool
    size: int
    content_type: str | None

    @property
    def etag(self) -> ETag:
        return etag_of(self.version, self.s3_etag)


def etag_of(version: int, s3_etag: str) -> ETag:
    """The adapter's etag of a write: its version and S3's ETag without the quotes."""
    return f"{version}-{s3_etag.strip(chr(34))}"


def live_body(data: bytes) -> bytes:
    return b"\x01" + secrets.token_bytes(FRAME - 1) + data


def tombstone_body() -> bytes:
    return b"\x00" + secrets.token_bytes(TOMBSTONE - 1)


def parse_etag(etag: str) -> tuple[int, str] | None:
    """``(version, quoted S3 ETag)`` of one of the adapter's etags, or ``None`` for a
    string the adapter never issued (it matches no object)."""
    found = _ETAG.fullmatch(etag)
    return (int(found[1]), f'"{found[2]}"') if found else None


def state_of(response: dict[str, Any]) -> State:
    """The state in a ``HeadObject`` or ``GetObject`` response."""
    meta = response.get("Metadata", {})
    size = int(response["ContentLength"])
    return State(
        int(meta.get("version", "0")),
        response["ETag"],
        size != TOMBSTONE,
        size - FRAME,
        meta.get("content-type"),
    )


class S3VersionedStore:
    """A ``VersionedStore`` over one layer's objects (blobs or records) in the bucket."""

    __slots__ = ("_bucket", "_heads", "_layer")

    def __init__(self, bucket: Bucket, layer: Layer, heads: ThreadPoolExecutor) -> None:
        self._bucket = bucket
        self._layer = layer
        self._heads = heads

    # --- requests ----------------------------------------------------------------------

    def _key(self, namespace: str, key: str, *, writing: bool) -> str | None:
        """The object key, or ``None`` when it is longer than S3 allows (no such object
        can exist); a write of such a key is an ``InvalidRequestError``."""
        self._bucket.check_open(namespace, key)
        name = self._bucket.object_key(self._layer, namespace, key)
        if len(name.encode("utf-8")) <= MAX_OBJECT_KEY_BYTES:
            return name
        if writing:
            raise InvalidRequestError(
                f"s3 object keys are at most {MAX_OBJECT_KEY_BYTES} UTF-8 bytes; with the"
                " adapter's prefix and the namespace this key is longer",
                argument="key",
                namespace=namespace,
                key=key,
            )
        return None

    def _head(self, namespace: str, key: str, name: str) -> State | None:
        """The key's object (live or tombstone), or ``None`` when it has none."""
        try:
            return state_of(self._bucket.send(namespace, key, "head_object", Key=name))
        except Refused:
            return None

    def _write(
        self,
        namespace: str,
        key: str,
        name: str,
        body: bytes,
        version: int,
        content_type: str | None,
        condition: dict[str, str],
    ) -> str:
        """One conditional ``PutObject``; returns the new S3 ETag, ``Refused`` when the
        condition fails (412, or 404 for ``If-Match`` on a key without an object)."""
        params: dict[str, Any] = {
            "Key": name,
            "Body": body,
            "Metadata": {"version": str(version)},
            **condition,
        }
        if content_type is not None:
            params["Metadata"]["content-type"] = content_type
            params["ContentType"] = content_type
        return str(self._bucket.send(namespace, key, "put_object", **params)["ETag"])

    def _over(self, state: State | None) -> dict[str, str]:
        """The condition of a write replacing exactly ``state``."""
        return {"IfNoneMatch": "*"} if state is None else {"IfMatch": state.s3_etag}

    def _retries(self, namespace: str, key: str) -> Iterator[int]:
        yield from range(ATTEMPTS)
        raise ConflictError(
            f"s3: {ATTEMPTS} concurrent writes to the key came between reading and writing it",
            namespace=namespace,
            key=key,
        )

    def _refuse(self, namespace: str, key: str, name: str, message: str) -> NoReturn:
        """Raise ``PreconditionFailedError`` with the key's current state (one ``HeadObject``:
        S3's 412 does not report it)."""
        raise _precondition(self._head(namespace, key, name), message, namespace, key)

    # --- the protocol ------------------------------------------------------------------

    def put(
        self,
        namespace: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        if_match: ETag | None = None,
        if_none_match: bool = False,
    ) -> WriteResult:
        """Store ``data`` as the next version: one request with ``if_match`` or on a new
        key with ``if_none_match``; a ``HeadObject`` first otherwise."""
        name = self._key(namespace, key, writing=True)
        assert name is not None
        body = live_body(data)
        if if_match is not None:
            expected = parse_etag(if_match)
            if expected is not None:
                version = expected[0] + 1
                try:
                    s3_etag = self._write(
                        namespace, key, name, body, version, content_type, {"IfMatch": expected[1]}
                    )
                    return WriteResult(version, etag_of(version, s3_etag))
                except Refused:
                    pass
            self._refuse(namespace, key, name, f"if_match {if_match!r} is not the current etag")
        state: State | None = None
        for attempt in self._retries(namespace, key):
            if attempt or not if_none_match:
                state = self._head(namespace, key, name)
                if if_none_match and state is not None and state.live:
                    message = "if_none_match given but the key exists"
                    raise _precondition(state, message, namespace, key)
            version = 1 if state is None else state.version + 1
            try:
                s3_etag = self._write(
                    namespace, key, name, body, version, content_type, self._over(state)
                )
                return WriteResult(version, etag_of(version, s3_etag))
            except (Refused, ConflictError):
                continue
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, namespace: str, key: str) -> Blob:
        """The current version (one ``GetObject``), or ``NotFoundError``."""
        name = self._key(namespace, key, writing=False)
        if name is not None:
            try:
                response = self._bucket.send(namespace, key, "get_object", Key=name)
                data = response["Body"]
            except Refused:
                data = b""
            if len(data) >= FRAME:
                state = state_of(response)
                return Blob(key, data[FRAME:], state.version, state.etag, state.content_type)
        raise NotFoundError("no such key", namespace=namespace, key=key)

    def head(self, namespace: str, key: str) -> BlobInfo:
        """The current version's metadata (one ``HeadObject``), or ``NotFoundError``."""
        name = self._key(namespace, key, writing=False)
        state = None if name is None else self._head(namespace, key, name)
        if state is None or not state.live:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        return BlobInfo(key, state.version, state.etag, state.size, state.content_type)

    def delete(self, namespace: str, key: str, *, if_match: ETag | None = None) -> Version:
        """Overwrite the object with a tombstone keeping its version; return that version.

        With ``if_match``: one ``PutObject``; without: a ``HeadObject`` first."""
        name = self._key(namespace, key, writing=False)
        if name is None:
            raise NotFoundError("no such key", namespace=namespace, key=key)
        if if_match is not None:
            expected = parse_etag(if_match)
            if expected is not None:
                try:
                    self._write(
                        namespace,
                        key,
                        name,
                        tombstone_body(),
                        expected[0],
                        None,
                        {"IfMatch": expected[1]},
                    )
                    return expected[0]
                except Refused:
                    pass
            state = self._head(namespace, key, name)
            if state is None or not state.live:
                raise NotFoundError("no such key", namespace=namespace, key=key)
            self._refuse(namespace, key, name, f"if_match {if_match!r} is not the current etag")
        for _ in self._retries(namespace, key):
            state = self._head(namespace, key, name)
            if state is None or not state.live:
                raise NotFoundError("no such key", namespace=namespace, key=key)
            try:
                self._write(
                    namespace, key, name, tombstone_body(), state.version, None, self._over(state)
                )
                return state.version
            except (Refused, ConflictError):
                continue
        raise AssertionError("unreachable")  # pragma: no cover

    def list(
        self, namespace: str, prefix: str = "", *, start_after: str | None = None, limit: int = 1000
    ) -> list[BlobInfo]:
        """Live keys with ``prefix`` after ``start_after``: one ``ListObjectsV2`` page (at
        most 1,000 keys), then a ``HeadObject`` per live key for its version and content
        type, sent ``max_pool_connections`` at a time."""
        self._bucket.check_open(namespace, prefix)
        if limit < 0:
            raise InvalidRequestError(
                f"limit must be >= 0, got {limit}", argument="limit", namespace=namespace
            )
        base = self._bucket.object_key(self._layer, namespace)
        if limit == 0 or len((base + prefix).encode("utf-8")) > MAX_OBJECT_KEY_BYTES:
            return []
        after = base + start_after if start_after is not None and start_after >= prefix else None
        while True:
            params: dict[str, Any] = {"Prefix": base + prefix, "MaxKeys": min(limit, 1000)}
            if after is not None:
                params["StartAfter"] = after
            page = self._bucket.send(namespace, prefix, "list_objects_v2", **params)
            listed = page.get("Contents", [])
            keys = [item["Key"][len(base) :] for item in listed if item["Size"] != TOMBSTONE]
            states = self._heads.map(lambda key: self._head(namespace, key, base + key), keys)
            found = [
                BlobInfo(key, state.version, state.etag, state.size, state.content_type)
                for key, state in zip(keys, states, strict=True)
                if state is not None and state.live
            ]
            if found or not page.get("IsTruncated") or not listed:
                return found
            after = listed[-1]["Key"]


def _precondition(
    state: State | None, message: str, namespace: str, key: str
) -> PreconditionFailedError:
    """The error of a refused write, carrying the key's current etag and version."""
    if state is None or not state.live:
        return PreconditionFailedError("the key does not exist", namespace=namespace, key=key)
    return PreconditionFailedError(
        message,
        current_etag=state.etag,
        current_version=state.version,
        namespace=namespace,
        key=key,
    )
