"""A PostgreSQL adapter (psycopg 3 and ``psycopg_pool``): every capability, on one schema.

- ``objects`` holds blobs and records; a delete leaves a tombstone, so versions continue.
  Conditional writes are single statements whose condition PostgreSQL re-checks under
  the row lock (``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE``, ``UPDATE ... WHERE
  etag = ...``).
- ``streams`` holds a counter row per stream, ``messages`` the log: an append raises the
  counter and inserts the message in one statement, so sequences are gap-free under
  concurrent appends from any number of processes. ``idempotency`` remembers keys.
- ``groups`` and ``deliveries`` keep consumer groups per delivery (a ``GroupStore``).
- ``cache`` is an UNLOGGED table shared by every adapter on the schema.

Every operation is one statement and one round trip; see ``stores`` for how, and
``docs/adapters.md`` for options, capabilities and the backend settings it needs.
"""

from reference_adapters.postgres.adapter import (
    PostgresAdapter,
    PostgresBackdoor,
    create_postgres_adapter,
)
from reference_adapters.postgres.errors import map_postgres_error
from reference_adapters.postgres.options import PostgresOptions, parse_options
from reference_adapters.postgres.schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "PostgresAdapter",
    "PostgresBackdoor",
    "PostgresOptions",
    "create_postgres_adapter",
    "map_postgres_error",
    "parse_options",
]
