"""The PostgreSQL group of ``benchmarks.adapters``: the facade against raw psycopg.

Both sides run the adapter's own statements on the same server, in autocommit, with
``synchronous_commit=off`` (at ``on`` both sides wait for the same WAL flush per write,
several milliseconds on a shared disk, and the ratio says nothing about the adapter).
The facade side is a client whose namespace does not cache reads; the raw side is one
psycopg connection with the statements' parameters ready, results fetched in binary.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson

from benchmarks.run import NS, Subject, make_message, make_record

if TYPE_CHECKING:
    from benchmarks.adapters import Group

CONNINFO = "host=127.0.0.1 port=5432 dbname=test options='-c synchronous_commit=off'"
"""The server the group uses; its schema is ``sanctum_bench_<random>``, dropped after."""


@contextlib.contextmanager
def postgres_group(scale: float) -> Iterator[Group | str]:
    """Targets G1-G3: put, strong get and a stream cycle, facade vs raw psycopg."""
    import psycopg

    from benchmarks.adapters import Group, Target, _client
    from reference_adapters.postgres.schema import quoted
    from reference_adapters.postgres.stores import VersionedSql

    try:
        raw = psycopg.connect(CONNINFO, autocommit=True)
    except psycopg.Error as error:
        yield f"postgres not reachable ({CONNINFO}): {error}"
        return
    schema = f"sanctum_bench_{uuid.uuid4().hex[:8]}"
    s = quoted(schema)
    plain = _client("postgres", {"conninfo": CONNINFO, "schema": schema}, cache=False)
    try:
        record = make_record()
        payload = orjson.dumps(record)
        value = make_message()
        message = orjson.dumps(value)
        plain.records.put(NS, "order", record)
        sql = VersionedSql(s)
        put_params = {
            "layer": "record",
            "ns": "raw",
            "key": "order",
            "data": payload,
            "ctype": None,
            "if_match": None,
            "purge": "record/order",
        }
        put_sql = sql.put["put", True]
        get_sql, get_params = sql.get, {"layer": "record", "ns": NS, "key": "order"}
        append_sql = (
            f"WITH n AS (INSERT INTO {s}.streams AS t (ns, stream, last_seq) VALUES (%s, %s, 1)"
            " ON CONFLICT (ns, stream) DO UPDATE SET last_seq = t.last_seq + 1"
            " RETURNING t.last_seq)"
            f" INSERT INTO {s}.messages (ns, stream, seq, payload)"
            " SELECT %s, %s, n.last_seq, %s FROM n RETURNING seq"
        )
        claim_sql = (
            f"SELECT out_seq, out_payload, out_deliveries FROM {s}.claim("
            "%s, %s, %s, %s, %s::bigint, %s::float8, %s::float8)"
        )
        ack_sql = f"SELECT {s}.ack(%s, %s, %s, %s::bigint[])"

        def raw_put() -> object:
            return raw.execute(put_sql, put_params, binary=True).fetchall()

        def raw_get() -> object:
            return raw.execute(get_sql, get_params, binary=True).fetchall()

        def raw_cycle() -> None:
            raw.execute(append_sql, ("raw", "s", "raw", "s", message), binary=True).fetchall()
            (claimed,) = raw.execute(
                claim_sql, ("raw", "s", "g", "w1", 1, 0.0, 1e18), binary=True
            ).fetchall()
            raw.execute(ack_sql, ("raw", "s", "g", [claimed[0]]), binary=True).fetchall()

        def bare_upsert() -> object:
            return raw.execute(
                f"INSERT INTO {s}.objects AS o (layer, ns, key, data, version, live)"
                " VALUES ('record', 'bare', 'order', %s, 1, true) ON CONFLICT (layer, ns, key)"
                " DO UPDATE SET data = excluded.data, version = o.version + 1",
                (payload,),
            )

        streams = plain.streams

        def facade_cycle() -> None:
            streams.append(NS, "orders", value)
            (delivery,) = streams.read(NS, "orders", "billing", "w1", count=1)
            streams.ack(NS, "orders", "billing", [delivery.message_id])

        n = max(50, int(1_000 * scale))
        yield Group(
            "postgres",
            [
                Subject(
                    "postgres.put/facade",
                    "records.put (postgres)",
                    lambda: plain.records.put(NS, "order", record),
                    n,
                ),
                Subject("postgres.put/raw", "the adapter's put statement, raw psycopg", raw_put, n),
                Subject(
                    "postgres.put/bare", "a bare versioned upsert, raw psycopg", bare_upsert, n
                ),
                Subject(
                    "postgres.get/facade",
                    "records.get strong, reads not cached (postgres)",
                    lambda: plain.records.get(NS, "order"),
                    n,
                ),
                Subject("postgres.get/raw", "the adapter's SELECT, raw psycopg", raw_get, n),
                Subject("postgres.cycle/facade", "append+read+ack (postgres)", facade_cycle, n),
                Subject("postgres.cycle/raw", "append, claim(), ack(), raw psycopg", raw_cycle, n),
            ],
            [
                Target(
                    "G1",
                    "postgres put: facade vs the same statement",
                    "postgres.put/facade",
                    "postgres.put/raw",
                    1.5,
                ),
                Target(
                    "G2",
                    "postgres strong get: facade vs the same SELECT",
                    "postgres.get/facade",
                    "postgres.get/raw",
                    1.5,
                ),
                Target(
                    "G3",
                    "postgres append+read+ack: facade vs the same 3 calls",
                    "postgres.cycle/facade",
                    "postgres.cycle/raw",
                    1.5,
                ),
            ],
            ["postgres.put/raw:postgres.put/bare:postgres put statement vs a bare upsert"],
        )
    finally:
        plain.close()
        raw.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
        raw.close()
