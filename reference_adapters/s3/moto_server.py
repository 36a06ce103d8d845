"""A moto S3 server on loopback that answers one request at a time (needs ``moto[server]``).

moto's own server (``moto_server``, ``ThreadedMotoServer``) serves each request on a
thread of its own, and its conditional ``PutObject`` reads the current ETag, compares,
then writes: two conditional writes in flight at once can both pass the check. Real S3
applies the condition atomically. This server runs moto's application behind one lock:
connections are served on threads (HTTP/1.1, kept alive), but one request at a time is
handled, from reading its body to building its whole response, so every check-then-write
is atomic and a race between clients is decided as on S3.

What that proves: that the adapter sends the right conditions and reads the answers
right, so that with an atomic server exactly one of racing writers wins each version.
What it does not prove: that S3 itself is atomic (AWS documents it), S3's 409
``ConditionalRequestConflict`` between two conditional writes in flight (moto never
sends it), S3's throttling, or its latency.

Run it by hand with ``python -m reference_adapters.s3.moto_server`` (prints the URL).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any


class SerialMotoServer:
    """moto's S3 on ``127.0.0.1:<free port>``, one request at a time, served by daemon threads."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class _Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                """No access log: the tests send thousands of requests."""

        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def one_at_a_time(environ: Any, start_response: Any) -> list[bytes]:
            with lock:  # the whole response is built before the next request starts
                return [b"".join(app(environ, start_response))]

        self._server = make_server(
            "127.0.0.1", 0, one_at_a_time, threaded=True, request_handler=_Quiet
        )
        self.port: int = self._server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-s3", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> SerialMotoServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":  # pragma: no cover - a manual tool
    import time

    with SerialMotoServer() as server:
        print(server.url, flush=True)
        while True:
            time.sleep(3600)
