"""Real faults of the S3 endpoint, for the kit's error contracts (``ERR-006``): a
``FaultInjector`` of ``pytest_sanctum.kit.backend_faults``.

While a fault lasts, the adapter's client is swapped for one pointed elsewhere, with short
timeouts; when the context ends, the adapter gets its own client back. The endpoint
itself is never touched, so other clients of it are not disturbed.

- ``unreachable``: the client connects to a loopback port nothing listens on; every
  request is refused at once.
- ``timeout``: the client connects to a loopback socket that accepts connections (the
  kernel's backlog) but never answers; every request times out after ``TIMEOUT_MS``.

``locked`` does not exist on S3 (no request waits for a lock) and ``serialization``
(S3's 409 ``ConditionalRequestConflict`` between two conditional writes in flight) cannot
be provoked on demand, so neither is offered.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from pytest_sanctum.kit.backend_faults import TIMEOUT, UNREACHABLE
from reference_adapters.s3.bucket import Bucket, new_client

TIMEOUT_MS: Final = 200.0
"""The client's connect and read timeouts while the fault lasts."""

UNREACHABLE_URL: Final = "http://127.0.0.1:1"
"""A loopback port nothing listens on."""


class S3FaultInjector:
    """Provokes ``unreachable`` and ``timeout`` on one adapter's client."""

    faults: Final = frozenset({TIMEOUT, UNREACHABLE})

    def __init__(self, bucket: Bucket) -> None:
        self._bucket = bucket

    @contextmanager
    def provoke(self, fault: str) -> Iterator[None]:
        """A context during which the adapter's endpoint suffers ``fault``."""
        if fault not in self.faults:
            raise ValueError(f"s3 cannot provoke fault {fault!r}; it offers {sorted(self.faults)}")
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(64)
            host, port = silent.getsockname()
            url = UNREACHABLE_URL if fault == UNREACHABLE else f"http://{host}:{port}"
            client = new_client(
                self._bucket.options,
                endpoint_url=url,
                connect_timeout_ms=TIMEOUT_MS,
                read_timeout_ms=TIMEOUT_MS,
            )
            own = self._bucket.replace_client(client)
            try:
                yield
            finally:
                self._bucket.replace_client(own)
                client.close()
