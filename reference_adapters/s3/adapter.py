"""The ``s3`` adapter object, its backdoor and its factory."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from pytest_sanctum.clock import Clock
from pytest_sanctum.types import Blob, Capabilities, Layer, StoredMessage
from reference_adapters.s3.bucket import LAYER_DIRS, Bucket, acquire_client, release_client
from reference_adapters.s3.faults import S3FaultInjector
from reference_adapters.s3.options import S3Options, parse_options
from reference_adapters.s3.stores import FRAME, S3VersionedStore, state_of

CAPABILITIES: Final = Capabilities(
    blobs=True, records=True, read_after_write=True, conditional_writes=True
)
"""No streams (S3 has no append and no counter), no cache (an object store is no faster
than the objects it would cache): see ``docs/adapters.md``."""


class S3Backdoor:
    """Reads the adapter's objects with boto3 directly, bypassing its stores."""

    def __init__(self, options: S3Options) -> None:
        self._options = options
        self._client: Any = acquire_client(options)
        self._closed = False

    def read_object(self, layer: Layer, namespace: str, key: str) -> Blob | None:
        """The live blob or record, or ``None``."""
        name = f"{self._options.prefix}{LAYER_DIRS[Layer(layer)]}{namespace}/{key}"
        try:
            response = self._client.get_object(Bucket=self._options.bucket, Key=name)
        except self._client.exceptions.NoSuchKey:
            return None
        data = response["Body"].read()
        state = state_of(response)
        if not state.live:
            return None
        return Blob(key, data[FRAME:], state.version, state.etag, state.content_type)

    def stream_messages(self, namespace: str, stream: str) -> list[StoredMessage]:
        """Always empty: the adapter stores no streams."""
        return []

    def close(self) -> None:
        """Give the client back (once)."""
        if not self._closed:
            self._closed = True
            release_client(self._options)


class S3Adapter:
    """A ``StorageAdapter`` on one S3 bucket and key prefix: blobs and records only."""

    __slots__ = ("_backdoor", "_blobs", "_bucket", "_heads", "_records")

    def __init__(self, options: S3Options) -> None:
        self._bucket = Bucket(options)
        self._heads = ThreadPoolExecutor(
            options.max_pool_connections, thread_name_prefix="sanctum-s3-head"
        )
        self._blobs = S3VersionedStore(self._bucket, Layer.BLOB, self._heads)
        self._records = S3VersionedStore(self._bucket, Layer.RECORD, self._heads)
        self._backdoor: S3Backdoor | None = None

    @property
    def name(self) -> str:
        return "s3"

    @property
    def options(self) -> S3Options:
        """The validated options the adapter was opened with."""
        return self._bucket.options

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    @property
    def blobs(self) -> S3VersionedStore:
        return self._blobs

    @property
    def records(self) -> S3VersionedStore:
        return self._records

    @property
    def streams(self) -> None:
        return None

    @property
    def checkpoints(self) -> None:
        return None

    @property
    def cache(self) -> None:
        return None

    def backdoor(self) -> S3Backdoor:
        """A probe reading the bucket with a client of its own (one per adapter)."""
        self._bucket.check_open(None, None)
        if self._backdoor is None:
            self._backdoor = S3Backdoor(self._bucket.options)
        return self._backdoor

    def fault_injector(self) -> S3FaultInjector:
        """Makes this adapter's endpoint unreachable or silent, for the kit's error contracts."""
        return S3FaultInjector(self._bucket)

    def reset(self, namespace_prefix: str) -> None:
        """Remove every object (tombstones included) of namespaces starting with the prefix:
        one ``ListObjectsV2`` and one ``DeleteObjects`` per 1,000 objects and layer."""
        for layer in LAYER_DIRS:
            prefix = self._bucket.object_key(layer, namespace_prefix)[:-1]  # no trailing "/"
            token: dict[str, str] = {}
            while True:
                page = self._bucket.send(
                    namespace_prefix, None, "list_objects_v2", Prefix=prefix, **token
                )
                objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if objects:
                    self._bucket.send(
                        namespace_prefix,
                        None,
                        "delete_objects",
                        Delete={"Objects": objects, "Quiet": True},
                    )
                if not page.get("IsTruncated"):
                    break
                token = {"ContinuationToken": page["NextContinuationToken"]}

    def close(self) -> None:
        """Close the client; every store method then raises ``BackendUnavailableError``."""
        self._bucket.close()
        self._heads.shutdown(wait=False)
        if self._backdoor is not None:
            self._backdoor.close()

    def __repr__(self) -> str:
        state = "closed" if self._bucket.closed else "open"
        return f"S3Adapter(bucket={self._bucket.name!r}, prefix={self.options.prefix!r}, {state})"


def create_s3_adapter(options: Mapping[str, object], clock: Clock) -> S3Adapter:
    """The ``s3`` adapter factory (the ``s3`` entry point).

    Options: ``bucket`` (required), ``prefix`` (default ``"sanctum/"``), ``endpoint_url``,
    ``region`` (``"us-east-1"``), ``access_key_id`` and ``secret_access_key`` (empty:
    boto3's credential chain), ``addressing_style`` (``"auto"``), ``connect_timeout_ms``
    (5000), ``read_timeout_ms`` (30000), ``max_pool_connections`` (10),
    ``create_bucket`` (false). Raises ``ConfigError(field="options.<name>")`` for a bad
    option or a missing bucket, ``BackendUnavailableError`` when the endpoint cannot be
    reached. The clock is not used: S3 keeps no time-dependent state for the adapter.
    """
    return S3Adapter(parse_options(options))


# Processes that open the same options share the data, so the kit runs HIST-008.
create_s3_adapter.opens_across_processes = True  # type: ignore[attr-defined]
