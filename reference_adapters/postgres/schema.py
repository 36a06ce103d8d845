"""The PostgreSQL schema of the adapter: tables, the cache table and the server functions.

Everything lives in one PostgreSQL schema named by the ``schema`` option, so runs that use
different schemas never see each other's data. ``ddl(schema)`` is run once per schema
version, in one transaction holding an advisory lock, so adapters opening the same schema
at once do not race on ``CREATE``.

Text columns use the ``"C"`` collation: keys then compare byte by byte in UTF-8, which is
code-point order, the order ``list`` promises whatever the database's default collation.

Three operations need several statements that must see each other's effects and run one
at a time per stream or group; they are server functions, so each is still one statement
and one round trip from the client:

- ``append_once``: an append with an idempotency key. An advisory lock per (stream, key)
  orders appends of one key; the key's row is read after the lock is held.
- ``claim`` and ``ack``: a consumer group's read and ack. An advisory lock per group
  orders every claim and ack of the group (the compare-and-set of the group's revision
  then always succeeds, so no caller ever sees a conflict), and a claim that finds
  nothing writes nothing, so a polling consumer never waits for a WAL flush.

Advisory locks are transaction-scoped, so they cannot leak. Their keys hash the schema
name with the stream (and key or group); a hash collision only serialises two unrelated
operations.
"""

from __future__ import annotations

import re
from typing import Final

SCHEMA_VERSION: Final = 1
"""Stored in ``<schema>.schema_version`` once every table and function exists."""

SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""A schema name the adapter accepts: a lower-case PostgreSQL identifier, never quoted
differently by different tools, at most 63 bytes (PostgreSQL's limit)."""

TABLES: Final = (
    "deliveries",
    "groups",
    "messages",
    "idempotency",
    "streams",
    "objects",
    "cache",
)
"""The tables whose rows belong to a namespace, in the order ``reset`` empties them (the
order in which ``claim`` and ``ack`` lock rows, so a reset never deadlocks with them)."""


def quoted(schema: str) -> str:
    """The schema as a quoted identifier (``schema`` matched ``SCHEMA_NAME``)."""
    if not SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"not a valid schema name: {schema!r}")
    return f'"{schema}"'


def ddl(schema: str) -> list[str]:
    """Every statement that creates the schema's tables and functions (idempotent)."""
    s = quoted(schema)
    c = 'COLLATE "C" NOT NULL'
    lock = f"'{schema}/'"  # the prefix of every advisory lock key of this schema
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE TABLE IF NOT EXISTS {s}.schema_version (version integer NOT NULL)",
        f"CREATE SEQUENCE IF NOT EXISTS {s}.writes",
        f"""CREATE TABLE IF NOT EXISTS {s}.objects (
            layer text {c}, ns text {c}, key text {c},
            data bytea, version bigint NOT NULL, etag text, content_type text,
            live boolean NOT NULL,
            PRIMARY KEY (layer, ns, key))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.streams (
            ns text {c}, stream text {c},
            last_seq bigint NOT NULL, longest_window_ms float8 NOT NULL DEFAULT 0,
            PRIMARY KEY (ns, stream))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.messages (
            ns text {c}, stream text {c}, seq bigint NOT NULL, payload bytea NOT NULL,
            PRIMARY KEY (ns, stream, seq))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.idempotency (
            ns text {c}, stream text {c}, idem_key text {c},
            seq bigint NOT NULL, first_ms float8 NOT NULL,
            PRIMARY KEY (ns, stream, idem_key))""",
        f"CREATE INDEX IF NOT EXISTS idempotency_by_age ON {s}.idempotency (ns, stream, first_ms)",
        f"""CREATE TABLE IF NOT EXISTS {s}.groups (
            ns text {c}, stream text {c}, grp text {c},
            last_delivered bigint NOT NULL, revision bigint NOT NULL,
            PRIMARY KEY (ns, stream, grp))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.deliveries (
            ns text {c}, stream text {c}, grp text {c}, seq bigint NOT NULL,
            consumer text NOT NULL, deliveries integer NOT NULL, visible_at_ms float8 NOT NULL,
            PRIMARY KEY (ns, stream, grp, seq))""",
        f"""CREATE INDEX IF NOT EXISTS deliveries_due
            ON {s}.deliveries (ns, stream, grp, visible_at_ms, seq)""",
        # The cache is not durable by contract: UNLOGGED writes no WAL, so a read that
        # fills it commits without a WAL flush; a crash of the server empties it.
        # ``floor`` is the lowest version a fill may store, raised by every purging write;
        # a row whose data is NULL is only that: a purge mark, not an entry.
        f"""CREATE UNLOGGED TABLE IF NOT EXISTS {s}.cache (
            ns text {c}, key text {c}, data bytea, version bigint, etag text,
            stored_at_ms float8, content_type text, expires_at_ms float8, evict_at_ms float8,
            floor bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (ns, key))""",
        f"CREATE INDEX IF NOT EXISTS cache_by_eviction ON {s}.cache (evict_at_ms)",
        f"""CREATE OR REPLACE FUNCTION {s}.append_once(
            p_ns text, p_stream text, p_payload bytea, p_key text, p_window float8,
            p_now float8, OUT out_seq bigint, OUT out_duplicate boolean)
        LANGUAGE plpgsql AS $fn$
        DECLARE
            v_seq bigint;
            v_first float8;
            v_longest float8;
        BEGIN
            PERFORM pg_advisory_xact_lock(
                hashtextextended({lock} || p_ns || '/' || p_stream || '/' || p_key, 1));
            SELECT i.seq, i.first_ms INTO v_seq, v_first FROM {s}.idempotency i
                WHERE i.ns = p_ns AND i.stream = p_stream AND i.idem_key = p_key;
            IF FOUND AND p_now - v_first < p_window THEN
                out_seq := v_seq;
                out_duplicate := true;
                RETURN;
            END IF;
            INSERT INTO {s}.streams AS t (ns, stream, last_seq, longest_window_ms)
                VALUES (p_ns, p_stream, 1, p_window)
                ON CONFLICT (ns, stream) DO UPDATE SET last_seq = t.last_seq + 1,
                    longest_window_ms = greatest(t.longest_window_ms, excluded.longest_window_ms)
                RETURNING t.last_seq, t.longest_window_ms INTO v_seq, v_longest;
            INSERT INTO {s}.messages (ns, stream, seq, payload)
                VALUES (p_ns, p_stream, v_seq, p_payload);
            INSERT INTO {s}.idempotency AS i (ns, stream, idem_key, seq, first_ms)
                VALUES (p_ns, p_stream, p_key, v_seq, p_now)
                ON CONFLICT (ns, stream, idem_key)
                DO UPDATE SET seq = excluded.seq, first_ms = excluded.first_ms;
            -- Forget the stream's keys older than the longest window any append brought.
            DELETE FROM {s}.idempotency i
                WHERE i.ns = p_ns AND i.stream = p_stream AND i.first_ms <= p_now - v_longest
                AND i.idem_key <> p_key;
            out_seq := v_seq;
            out_duplicate := false;
        END
        $fn$""",
        f"""CREATE OR REPLACE FUNCTION {s}.claim(
            p_ns text, p_stream text, p_grp text, p_consumer text, p_limit bigint,
            p_now float8, p_visible float8)
        RETURNS TABLE (out_seq bigint, out_payload bytea, out_deliveries integer)
        LANGUAGE plpgsql AS $fn$
        DECLARE
            v_due bigint[];
            v_taken bigint := 0;
            v_cursor bigint := 0;
            v_last bigint;
            v_changed boolean := false;
        BEGIN
            PERFORM pg_advisory_xact_lock(
                hashtextextended({lock} || p_ns || '/' || p_stream || '/' || p_grp, 2));
            -- 1. Due redeliveries, earliest visible-again time first, then lowest sequence.
            SELECT array_agg(d.seq ORDER BY d.visible_at_ms, d.seq) INTO v_due FROM (
                SELECT d.seq, d.visible_at_ms FROM {s}.deliveries d
                WHERE d.ns = p_ns AND d.stream = p_stream AND d.grp = p_grp
                AND d.visible_at_ms <= p_now
                ORDER BY d.visible_at_ms, d.seq LIMIT p_limit) d;
            IF v_due IS NOT NULL THEN
                v_changed := true;
                -- A delivery whose message left the log counts as acknowledged.
                DELETE FROM {s}.deliveries d
                    WHERE d.ns = p_ns AND d.stream = p_stream AND d.grp = p_grp
                    AND d.seq = ANY (v_due) AND NOT EXISTS (
                        SELECT 1 FROM {s}.messages m
                        WHERE m.ns = p_ns AND m.stream = p_stream AND m.seq = d.seq);
                RETURN QUERY
                    WITH moved AS (
                        UPDATE {s}.deliveries d
                        SET consumer = p_consumer, deliveries = d.deliveries + 1,
                            visible_at_ms = p_visible
                        WHERE d.ns = p_ns AND d.stream = p_stream AND d.grp = p_grp
                        AND d.seq = ANY (v_due)
                        RETURNING d.seq, d.deliveries)
                    SELECT moved.seq, m.payload, moved.deliveries
                    FROM unnest(v_due) WITH ORDINALITY AS o (seq, pos)
                    JOIN moved ON moved.seq = o.seq
                    JOIN {s}.messages m
                        ON m.ns = p_ns AND m.stream = p_stream AND m.seq = o.seq
                    ORDER BY o.pos;
                GET DIAGNOSTICS v_taken = ROW_COUNT;
            END IF;
            -- 2. New messages after the cursor, up to what is left of the limit.
            IF v_taken < p_limit THEN
                SELECT g.last_delivered INTO v_cursor FROM {s}.groups g
                    WHERE g.ns = p_ns AND g.stream = p_stream AND g.grp = p_grp;
                v_cursor := coalesce(v_cursor, 0);
                RETURN QUERY
                    WITH fresh AS (
                        SELECT m.seq, m.payload FROM {s}.messages m
                        WHERE m.ns = p_ns AND m.stream = p_stream AND m.seq > v_cursor
                        ORDER BY m.seq LIMIT p_limit - v_taken),
                    held AS (
                        INSERT INTO {s}.deliveries
                            (ns, stream, grp, seq, consumer, deliveries, visible_at_ms)
                        SELECT p_ns, p_stream, p_grp, fresh.seq, p_consumer, 1, p_visible
                        FROM fresh)
                    SELECT fresh.seq, fresh.payload, 1 FROM fresh ORDER BY fresh.seq;
                IF FOUND THEN
                    v_changed := true;
                    SELECT max(d.seq) INTO v_last FROM {s}.deliveries d
                        WHERE d.ns = p_ns AND d.stream = p_stream AND d.grp = p_grp
                        AND d.seq > v_cursor;
                END IF;
            END IF;
            IF v_changed THEN
                INSERT INTO {s}.groups AS g (ns, stream, grp, last_delivered, revision)
                    VALUES (p_ns, p_stream, p_grp, coalesce(v_last, 0), 1)
                    ON CONFLICT (ns, stream, grp) DO UPDATE SET
                        last_delivered = greatest(g.last_delivered, excluded.last_delivered),
                        revision = g.revision + 1;
            END IF;
        END
        $fn$""",
        f"""CREATE OR REPLACE FUNCTION {s}.ack(
            p_ns text, p_stream text, p_grp text, p_seqs bigint[])
        RETURNS bigint
        LANGUAGE plpgsql AS $fn$
        DECLARE
            v_done bigint;
        BEGIN
            PERFORM pg_advisory_xact_lock(
                hashtextextended({lock} || p_ns || '/' || p_stream || '/' || p_grp, 2));
            DELETE FROM {s}.deliveries d
                WHERE d.ns = p_ns AND d.stream = p_stream AND d.grp = p_grp
                AND d.seq = ANY (p_seqs);
            GET DIAGNOSTICS v_done = ROW_COUNT;
            IF v_done > 0 THEN
                UPDATE {s}.groups g SET revision = g.revision + 1
                    WHERE g.ns = p_ns AND g.stream = p_stream AND g.grp = p_grp;
            END IF;
            RETURN v_done;
        END
        $fn$""",
    ]
