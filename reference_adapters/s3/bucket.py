"""One adapter's bucket: its boto3 client, how requests are sent, and how objects are named.

Requests go out exactly once: botocore's own retries are off, because a conditional
write retried after a lost response would meet its own first attempt and be refused
(412) although it was applied. A failed request raises ``BackendUnavailableError`` and
the caller (or the facade's retry policy) decides.

Object keys are ``<prefix><b|r>/<namespace>/<key>``: the namespace cannot hold ``/``
(its grammar is ``[A-Za-z0-9._-]``), so no key of one namespace can name an object of
another, and a key is stored as the exact string it is. S3 sorts keys by their UTF-8
bytes, which is code-point order, so ``list`` pages in the facade's order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pytest_sanctum.errors import BackendUnavailableError, ConfigError
from pytest_sanctum.types import Layer
from reference_adapters.s3.errors import map_s3_error, status_of
from reference_adapters.s3.options import S3Options

MAX_OBJECT_KEY_BYTES: Final = 1024
"""S3's limit on an object key, in UTF-8 bytes (the prefix and namespace count)."""

LAYER_DIRS: Final = {Layer.BLOB: "b/", Layer.RECORD: "r/"}

_SESSION: list[Any] = []
"""The process's one boto3 session, made on first use: its clients share the service
models it loaded (a new session reads them from disk again)."""

_CLIENTS: dict[S3Options, list[Any]] = {}
"""``acquire_client``'s clients: ``[client, users]`` per endpoint and credentials."""

_LOCK = threading.Lock()
"""Guards both (boto3 sessions are not thread-safe)."""


class Refused(Exception):
    """A request S3 answered 404 (no such key) or 412 (a precondition did not hold).

    Raised inside the stores only, which turn it into the canonical error."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def new_client(options: S3Options, **overrides: Any) -> Any:
    """A new boto3 S3 client for ``options``; ``overrides`` replace ``endpoint_url`` or
    timeouts (the fault injector points a client at a dead endpoint)."""
    settings = {
        "endpoint_url": options.endpoint_url or None,
        "connect_timeout_ms": options.connect_timeout_ms,
        "read_timeout_ms": options.read_timeout_ms,
        **overrides,
    }
    credentials = (
        {
            "aws_access_key_id": options.access_key_id,
            "aws_secret_access_key": options.secret_access_key,
        }
        if options.access_key_id
        else {}
    )
    config = Config(
        region_name=options.region,
        connect_timeout=settings["connect_timeout_ms"] / 1000,
        read_timeout=settings["read_timeout_ms"] / 1000,
        retries={"total_max_attempts": 1},
        max_pool_connections=options.max_pool_connections,
        s3={"addressing_style": options.addressing_style},
    )
    with _LOCK:
        if not _SESSION:
            _SESSION.append(boto3.session.Session())
        return _SESSION[0].client(
            "s3", endpoint_url=settings["endpoint_url"], config=config, **credentials
        )


def _connection(options: S3Options) -> S3Options:
    """What a client depends on: the options without bucket, prefix and create_bucket."""
    return replace(options, bucket="", prefix="", create_bucket=False)


def acquire_client(options: S3Options) -> Any:
    """The process's client for ``options``' endpoint and credentials, shared by every
    adapter and backdoor open on them (boto3 clients are thread-safe); building one costs
    tens of milliseconds, and the kit opens adapters by the hundred."""
    key = _connection(options)
    with _LOCK:
        shared = _CLIENTS.get(key)
        if shared is not None:
            shared[1] += 1
            return shared[0]
    client = new_client(options)
    with _LOCK:
        shared = _CLIENTS.setdefault(key, [client, 0])
        shared[1] += 1
    if shared[0] is not client:
        client.close()
    return shared[0]


def release_client(options: S3Options) -> None:
    """Give back a client of ``acquire_client``; the last user closes its connections."""
    key = _connection(options)
    with _LOCK:
        shared = _CLIENTS[key]
        shared[1] -= 1
        if shared[1]:
            return
        del _CLIENTS[key]
    shared[0].close()


class Bucket:
    """The adapter's bucket: sends requests, maps their errors, refuses calls once closed."""

    __slots__ = ("_lock", "client", "closed", "name", "options")

    def __init__(self, options: S3Options) -> None:
        self.options = options
        self.name = options.bucket
        self.client: Any = acquire_client(options)
        self.closed = False
        self._lock = threading.Lock()
        try:
            self._open()
        except BaseException:
            release_client(options)
            raise

    def _open(self) -> None:
        """Check the bucket exists (one ``HeadBucket``), creating it when the options say so."""
        try:
            self.client.head_bucket(Bucket=self.name)
            return
        except ClientError as error:
            status, _ = status_of(error)
            if status in (401, 403):
                raise ConfigError(
                    f"s3 refused access to bucket {self.name!r}: {error}",
                    field="options.access_key_id",
                ) from error
            if status != 404:
                raise map_s3_error(error) from error
        except BotoCoreError as error:
            raise map_s3_error(error) from error
        if not self.options.create_bucket:
            raise ConfigError(f"s3 bucket {self.name!r} does not exist", field="options.bucket")
        self.send(None, None, "create_bucket")

    def object_key(self, layer: Layer, namespace: str, key: str = "") -> str:
        """The object key of ``key`` (or, with ``key=""``, the namespace's key prefix)."""
        return f"{self.options.prefix}{LAYER_DIRS[layer]}{namespace}/{key}"

    def check_open(self, namespace: str | None, key: str | None) -> None:
        if self.closed:
            raise BackendUnavailableError("the s3 adapter is closed", namespace=namespace, key=key)

    def send(self, namespace: str | None, key: str | None, operation: str, /, **params: Any) -> Any:
        """Send one request on the bucket and read its whole body (``bytes`` under ``Body``);
        404 and 412 raise ``Refused``, every other failure its canonical error."""
        self.check_open(namespace, key)
        call: Callable[..., Any] = getattr(self.client, operation)
        try:
            response = call(Bucket=self.name, **params)
            if "Body" in response:  # a body read fails like the request: inside the mapping
                response["Body"] = response["Body"].read()
            return response
        except ClientError as error:
            status, code = status_of(error)
            if status == 412 or (status == 404 and code != "NoSuchBucket"):
                raise Refused(status) from error
            raise map_s3_error(error, namespace, key) from error
        except BotoCoreError as error:
            raise map_s3_error(error, namespace, key) from error

    def replace_client(self, client: Any) -> Any:
        """Swap the client (the fault injector's dead endpoint); returns the previous one."""
        with self._lock:
            previous, self.client = self.client, client
        return previous

    def close(self) -> None:
        """Refuse every later call and close the client's connections."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        release_client(self.options)
