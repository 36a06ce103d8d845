"""The S3 group of ``benchmarks.adapters``: the facade against raw boto3, on moto.

Both sides send the same requests to the same server, a moto S3 server on loopback that
answers one request at a time (``reference_adapters.s3.moto_server``), through boto3
clients with the same settings (botocore retries off). The facade side is a client whose
namespace does not cache reads; the raw side builds the same framed bodies and metadata.
moto's own cost per request dominates both sides, so the ratios say what the adapter and
the facade add per request, not what S3 would take.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from benchmarks.run import NS, Subject, make_record

if TYPE_CHECKING:
    from benchmarks.adapters import Group

BUCKET = "sanctum-bench"


@contextlib.contextmanager
def s3_group(scale: float) -> Iterator[Group | str]:
    """Targets O1-O3: put, strong get and a put with if_match, facade vs raw boto3."""
    try:
        from reference_adapters.s3.moto_server import SerialMotoServer
    except ImportError as error:
        yield f"moto[server] is not installed: {error}"
        return
    from benchmarks.adapters import Group, Target, _client
    from reference_adapters.s3.bucket import new_client
    from reference_adapters.s3.options import parse_options
    from reference_adapters.s3.stores import live_body

    with SerialMotoServer() as server:
        options: dict[str, Any] = {
            "bucket": BUCKET,
            "endpoint_url": server.url,
            "prefix": f"bench-{uuid.uuid4().hex[:8]}/",
            "access_key_id": "bench",
            "secret_access_key": "bench",
            "create_bucket": True,
        }
        plain = _client("s3", options, cache=False)
        raw = new_client(parse_options(options))
        try:
            record = make_record()
            payload = orjson.dumps(record)
            plain.records.put(NS, "order", record)
            name = f"{options['prefix']}r/raw/order"
            raw.put_object(
                Bucket=BUCKET, Key=name, Body=live_body(payload), Metadata={"version": "1"}
            )
            read_name = f"{options['prefix']}r/{NS}/order"
            state = {"etag": plain.records.put(NS, "chain", record).etag}
            chain = f"{name}-chain"
            raw_state = {
                "etag": raw.put_object(Bucket=BUCKET, Key=chain, Body=live_body(payload))["ETag"],
                "version": 1,
            }

            def raw_put() -> None:
                head = raw.head_object(Bucket=BUCKET, Key=name)
                version = int(head["Metadata"]["version"]) + 1
                raw.put_object(
                    Bucket=BUCKET,
                    Key=name,
                    Body=live_body(payload),
                    Metadata={"version": str(version)},
                    IfMatch=head["ETag"],
                )

            def raw_get() -> object:
                return raw.get_object(Bucket=BUCKET, Key=read_name)["Body"].read()

            def facade_chain() -> None:
                state["etag"] = plain.records.put(NS, "chain", record, if_match=state["etag"]).etag

            def raw_chain() -> None:
                version = raw_state["version"] + 1
                raw_state["etag"] = raw.put_object(
                    Bucket=BUCKET,
                    Key=chain,
                    Body=live_body(payload),
                    Metadata={"version": str(version)},
                    IfMatch=raw_state["etag"],
                )["ETag"]
                raw_state["version"] = version

            def bare_put() -> object:
                return raw.put_object(Bucket=BUCKET, Key=f"{name}-bare", Body=payload)

            n = max(30, int(300 * scale))
            yield Group(
                "s3",
                [
                    Subject(
                        "s3.put/facade",
                        "records.put (s3)",
                        lambda: plain.records.put(NS, "order", record),
                        n,
                    ),
                    Subject("s3.put/raw", "HEAD + conditional PutObject, raw boto3", raw_put, n),
                    Subject("s3.put/bare", "a bare PutObject, raw boto3", bare_put, n),
                    Subject(
                        "s3.get/facade",
                        "records.get strong, reads not cached (s3)",
                        lambda: plain.records.get(NS, "order"),
                        n,
                    ),
                    Subject("s3.get/raw", "GetObject, raw boto3", raw_get, n),
                    Subject("s3.chain/facade", "records.put with if_match (s3)", facade_chain, n),
                    Subject("s3.chain/raw", "PutObject with If-Match, raw boto3", raw_chain, n),
                ],
                [
                    Target(
                        "O1",
                        "s3 put: facade vs HEAD + conditional PutObject",
                        "s3.put/facade",
                        "s3.put/raw",
                        1.5,
                    ),
                    Target(
                        "O2",
                        "s3 strong get: facade vs GetObject",
                        "s3.get/facade",
                        "s3.get/raw",
                        1.5,
                    ),
                    Target(
                        "O3",
                        "s3 put with if_match: facade vs PutObject with If-Match",
                        "s3.chain/facade",
                        "s3.chain/raw",
                        1.5,
                    ),
                ],
                ["s3.put/raw:s3.put/bare:s3 versioned put (2 requests) vs a bare PutObject"],
            )
        finally:
            plain.close()
            raw.close()
