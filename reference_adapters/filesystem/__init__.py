"""A filesystem adapter (standard library only): blobs, records, streams and consumer-group
checkpoints as files under one root directory, shared by every process that opens it.

- Objects: one file per key, replaced atomically (temporary file, ``fsync``, ``rename``,
  ``fsync`` of the directory) under an ``flock`` of the layer's directory, so conditional
  writes have exactly one winner across processes; a delete leaves a tombstone, so
  versions continue.
- Streams: an append-only log and an index per stream, appended under the stream
  directory's lock, so sequences are gap-free across processes; idempotency keys and
  group checkpoints (compare-and-set on the revision) are files beside them.
- No cache of its own: it runs behind another adapter's cache.

Names never become paths: see ``names``. See ``docs/adapters.md`` for options,
capabilities, durability and the filesystems it supports.
"""

from reference_adapters.filesystem.adapter import (
    CAPABILITIES,
    FilesystemAdapter,
    FilesystemBackdoor,
    FilesystemFaultInjector,
    create_filesystem_adapter,
)
from reference_adapters.filesystem.errors import map_os_error
from reference_adapters.filesystem.files import Syscalls
from reference_adapters.filesystem.options import FilesystemOptions, parse_options

__all__ = [
    "CAPABILITIES",
    "FilesystemAdapter",
    "FilesystemBackdoor",
    "FilesystemFaultInjector",
    "FilesystemOptions",
    "Syscalls",
    "create_filesystem_adapter",
    "map_os_error",
    "parse_options",
]
