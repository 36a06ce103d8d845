"""An S3 adapter (boto3): blobs and records as objects, versioned with conditional writes.

- Each blob or record is one object, ``<prefix><b|r>/<namespace>/<key>``; its body is a
  16-byte frame of random bytes and the payload, so S3's ETag (the body's MD5) is new on
  every write; the version is the object's metadata. A delete overwrites the object with
  a tombstone keeping the version, so versions continue after a delete.
- Every write is one conditional ``PutObject`` (``If-Match`` / ``If-None-Match: *``): of
  concurrent writers, exactly one applies each version.
- No streams, consumer groups or cache: S3 has no append and no counter, and an object
  store is no cache for itself. The kit certifies the rest, behind its reference cache.

See ``stores`` for the requests each operation sends, and ``docs/adapters.md`` for the
options, the capabilities and the bucket settings it needs.
"""

from reference_adapters.s3.adapter import S3Adapter, S3Backdoor, create_s3_adapter
from reference_adapters.s3.errors import map_s3_error
from reference_adapters.s3.options import S3Options, parse_options

__all__ = [
    "S3Adapter",
    "S3Backdoor",
    "S3Options",
    "create_s3_adapter",
    "map_s3_error",
    "parse_options",
]
