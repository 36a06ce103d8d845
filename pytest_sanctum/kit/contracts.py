"""The contract catalogue: every behaviour the conformance kit checks, with a stable id.

Each conformance test cites exactly one contract with ``@contract("REC-003")``, which
also marks the capabilities the contract needs. ``docs/tests-contracts.md`` is generated
from this catalogue (``python -m pytest_sanctum.kit.contracts --write``), so the spec
and the tests point at each other.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from pytest_sanctum.types import Capabilities

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True, slots=True)
class Contract:
    """One checked behaviour: ``statement`` is what the assertion messages restate."""

    id: str
    layer: str
    title: str
    statement: str
    requires: tuple[str, ...] = ()
    source: str = ""


LAYERS: dict[str, str] = {
    "blob": "Blob layer",
    "record": "Record layer",
    "stream": "Stream layer",
    "cache": "Cache layer",
    "consistency": "Read levels, staleness and bypass (ADR-001)",
    "identity": "Identity: namespaces and keys",
    "errors": "Error mapping and retry policy",
    "keys": "Untrusted keys: path-like names are never read as paths",
    "lifecycle": "Lifecycle: reset and close",
    "acl": "Access control",
    "observability": "Metrics and log emissions",
    "property": "Property-based (hypothesis state machines)",
    "differential": "Differential: the adapter against the reference, inputs from the whole domain",
    "history": "Concurrent histories across nodes, checked against ADR-001",
}
"""Layers of the conformance matrix, in report order."""

_CONTRACTS = [
    # -- blob ------------------------------------------------------------------------
    Contract(
        "BLOB-001",
        "blob",
        "Round trip",
        "A blob put then read returns the same bytes, the version and the etag the put returned.",
        ("blobs",),
    ),
    Contract(
        "BLOB-002",
        "blob",
        "Versions increase and are never reused",
        "Versions start at 1, increase by write, and continue after a delete instead of restarting.",
        ("blobs",),
    ),
    Contract(
        "BLOB-003",
        "blob",
        "Etags are unique per version",
        "Writing the same bytes again yields a new version with a different etag.",
        ("blobs",),
    ),
    Contract(
        "BLOB-004",
        "blob",
        "Head returns metadata",
        "head returns the size, version, etag and content type of the current version.",
        ("blobs",),
    ),
    Contract(
        "BLOB-005",
        "blob",
        "Delete removes",
        "After delete, get and head raise NotFoundError; deleting a missing blob raises NotFoundError.",
        ("blobs",),
    ),
    Contract(
        "BLOB-006",
        "blob",
        "List by prefix",
        "list returns live keys with the prefix, sorted, after start_after: exactly limit of "
        "them unless fewer remain, so a short page is the last, whatever page size the "
        "adapter's backend returns.",
        ("blobs",),
    ),
    Contract(
        "BLOB-007",
        "blob",
        "Binary payloads",
        "Empty payloads and payloads holding every byte value round-trip unchanged.",
        ("blobs",),
    ),
    Contract(
        "BLOB-008",
        "blob",
        "Metadata is the same on every read path",
        "Size, version, etag and content type are identical whether read by get at each level "
        "(strong, eventual, cache_only, bypass), by head or by list.",
        ("blobs",),
    ),
    Contract(
        "BLOB-009",
        "blob",
        "Payloads across multipart thresholds",
        "Payloads just below, at and just above 5, 8 and 16 MiB, where backends switch to "
        "multipart uploads, round-trip byte for byte with their exact size.",
        ("blobs",),
    ),
    Contract(
        "BLOB-020",
        "blob",
        "Prefixes in every script and plane",
        "list(prefix) returns exactly the keys that start with the prefix when the prefix, or "
        "the character after it, is accented, CJK, fullwidth or from an astral plane.",
        ("blobs",),
    ),
    # -- record ----------------------------------------------------------------------
    Contract(
        "REC-001",
        "record",
        "Round trip",
        "A record put then read returns an equal value, the version and the etag the put returned.",
        ("records",),
    ),
    Contract(
        "REC-002",
        "record",
        "Versions increase and are never reused",
        "Record versions start at 1, increase by write, and continue after a delete.",
        ("records",),
    ),
    Contract(
        "REC-003",
        "record",
        "Stale etag upsert is refused (seed test 2)",
        "A put with a stale if_match raises PreconditionFailedError carrying the current etag, "
        "and the record is unchanged.",
        ("records", "conditional_writes"),
        "seed test 2",
    ),
    Contract(
        "REC-004",
        "record",
        "Matching etag upsert applies",
        "A put with the current etag as if_match succeeds and returns the next version.",
        ("records", "conditional_writes"),
    ),
    Contract(
        "REC-005",
        "record",
        "Create-only writes",
        'A put with if_none_match="*" succeeds on a missing key and raises '
        "PreconditionFailedError on an existing one.",
        ("records", "conditional_writes"),
    ),
    Contract(
        "REC-006",
        "record",
        "Conditional delete",
        "A delete with a stale if_match raises PreconditionFailedError and the record stays.",
        ("records", "conditional_writes"),
    ),
    Contract(
        "REC-007",
        "record",
        "Reads return independent values",
        "Changing a value returned by a read or passed to a write does not change what is stored.",
        ("records",),
    ),
    Contract(
        "REC-008",
        "record",
        "JSON fidelity",
        "Unicode text, nested lists and objects, floats, booleans and nulls round-trip exactly.",
        ("records",),
    ),
    Contract(
        "REC-009",
        "record",
        "Concurrent conditional writers",
        "Of several writers racing with the same if_match, exactly one succeeds; the others "
        "get PreconditionFailedError or ConflictError.",
        ("records", "conditional_writes"),
    ),
    Contract(
        "REC-010",
        "record",
        "A failed precondition reports the current state",
        "The PreconditionFailedError of a put with a stale if_match, of a create-only put on an "
        "existing key and of a delete with a stale if_match carries the key's current version "
        "and etag.",
        ("records", "conditional_writes"),
    ),
    Contract(
        "REC-011",
        "record",
        "A conditional delete of a missing key is not found",
        "A delete with if_match of a key that never existed or was deleted raises NotFoundError, "
        "as every delete of a missing key does.",
        ("records", "conditional_writes"),
    ),
    Contract(
        "REC-012",
        "record",
        "A fresh key starts at version 1",
        "The first write of a key returns version 1, whatever other keys of the namespace, "
        "including keys it is a prefix of, were written and deleted before.",
        ("records",),
    ),
    Contract(
        "REC-013",
        "record",
        "Versions and etags are the same on every read path",
        "A record read at strong, eventual, cache_only and with bypass_cache returns the same "
        "value, version and etag.",
        ("records",),
    ),
    # -- stream ----------------------------------------------------------------------
    Contract(
        "STR-001",
        "stream",
        "Ordered delivery",
        "Appends get increasing sequences; a group reads them in append order with delivery_count 1.",
        ("streams",),
    ),
    Contract(
        "STR-002",
        "stream",
        "Duplicate delivery is handled (seed test 3)",
        "An unacked message is delivered again after the visibility timeout with delivery_count 2, "
        "and the idempotent consumer runs its handler once.",
        ("streams", "records", "conditional_writes"),
        "seed test 3",
    ),
    Contract(
        "STR-003",
        "stream",
        "No early redelivery",
        "An unacked message is not delivered again before its visibility timeout has passed.",
        ("streams",),
    ),
    Contract(
        "STR-004",
        "stream",
        "Acked messages stay acked",
        "An acked message is never delivered again; acking it again counts zero.",
        ("streams",),
    ),
    Contract(
        "STR-005",
        "stream",
        "Checkpoints survive a crash",
        "After an abrupt adapter restart the group resumes: pending messages come again, "
        "acked ones never.",
        ("streams", "durable_checkpoints"),
    ),
    Contract(
        "STR-006",
        "stream",
        "Idempotent append",
        "An append repeating an idempotency key inside the dedupe window returns the original "
        "message id and appends nothing; after the window it appends.",
        ("streams", "idempotent_append"),
    ),
    Contract(
        "STR-007",
        "stream",
        "Consumers share a group",
        "Two consumers of one group, even on two nodes reading at the same moment, never both "
        "hold the same message before its timeout: checkpoints are saved by compare-and-set.",
        ("streams",),
    ),
    Contract(
        "STR-008",
        "stream",
        "Groups are independent",
        "Every group receives every message, whatever other groups have acked.",
        ("streams",),
    ),
    Contract(
        "STR-009",
        "stream",
        "A read returns at most count messages",
        "A read with count=n delivers at most n messages, and later reads deliver the rest once.",
        ("streams",),
    ),
    Contract(
        "STR-010",
        "stream",
        "Delivery counts count every delivery",
        "A message delivered a third time reports delivery_count 3, a fourth time 4.",
        ("streams",),
    ),
    Contract(
        "STR-011",
        "stream",
        "Visibility timeouts are exact",
        "A delivery with a visibility timeout of 1,500 ms or 1 ms is redelivered neither "
        "before the timeout has passed on the facade clock nor after.",
        ("streams",),
    ),
    Contract(
        "STR-012",
        "stream",
        "Dedupe windows are exact",
        "With a dedupe window of 1,500 ms or 1 ms, an idempotency key repeated just before the "
        "window ends is a duplicate, and repeated when it ends appends a new message.",
        ("streams", "idempotent_append"),
    ),
    Contract(
        "STR-013",
        "stream",
        "Idempotency keys across clients",
        "Clients with different dedupe windows share a stream: each append is judged by its "
        "own client's window, and a short-window client never makes a long-window client lose "
        "its keys.",
        ("streams", "idempotent_append"),
    ),
    Contract(
        "STR-020",
        "stream",
        "Each idempotency key keeps its own window",
        "Keys first appended at different times each deduplicate for the window from their own "
        "first append, whatever other keys of the stream do, and appends keep working once older "
        "keys have expired.",
        ("streams", "idempotent_append"),
    ),
    Contract(
        "STR-021",
        "stream",
        "Long streams are read in full",
        "A group reads every message of a stream longer than the page and batch sizes where "
        "backends change strategy (300 messages), each once and in append order.",
        ("streams",),
    ),
    Contract(
        "STR-030",
        "stream",
        "The group revision counts changes",
        "The revision of a group's state (the facade's checkpoint) rises by exactly one with "
        "each read that hands out deliveries (new or due again) and each ack that removes "
        "pending ones, and stays "
        "put on a read with nothing to hand out and on an ack of nothing pending.",
        ("streams",),
    ),
    Contract(
        "STR-031",
        "stream",
        "A large group redelivers on schedule",
        "In a group with hundreds of deliveries of different deadlines, most acked out of "
        "order in many small acks, every unacked delivery comes again once its deadline has "
        "passed, earliest deadline then lowest sequence first, and none before.",
        ("streams",),
    ),
    # -- cache -----------------------------------------------------------------------
    Contract(
        "CACHE-001",
        "cache",
        "Bypass refreshes the cache",
        "A read with bypass_cache=True replaces the cache entry with what the backend returned.",
        (
            "records",
            "cache",
        ),
    ),
    Contract(
        "CACHE-002",
        "cache",
        "cache_only never reads the backend",
        "A cache_only read of an uncached key raises CacheMissError without a backend call; "
        "after a read fills the cache it is served.",
        (
            "records",
            "cache",
        ),
    ),
    Contract(
        "CACHE-003",
        "cache",
        "Writes purge the cache",
        "After a write, the writing client's cache holds no entry for the key.",
        (
            "records",
            "cache",
        ),
    ),
    Contract(
        "CACHE-004",
        "cache",
        "Deletes purge the cache",
        "After a delete, the writing client's cache holds no entry for the key.",
        (
            "records",
            "cache",
        ),
    ),
    Contract(
        "CACHE-005",
        "cache",
        "Entries expire",
        "A cache entry is not served once its TTL has passed on the facade clock.",
        (
            "records",
            "cache",
        ),
    ),
    Contract(
        "CACHE-006",
        "cache",
        "Direct cache access",
        "cache.set then cache.get returns the bytes until the TTL passes or cache.delete.",
        ("cache",),
    ),
    Contract(
        "CACHE-007",
        "cache",
        "A shared cache is purged for everyone",
        "With a distributed cache, a write through one client purges the entry another client sees.",
        ("records", "cache", "distributed_cache"),
    ),
    Contract(
        "CACHE-008",
        "cache",
        "Fan-out purges other clients",
        "A local cache of another client drops the key when the invalidation is delivered.",
        (
            "records",
            "cache",
        ),
    ),
    Contract(
        "CACHE-009",
        "cache",
        "TTLs are exact",
        "Cache entries with a TTL of 1,500 ms or 1 ms are never served once the TTL has passed, "
        "and are not all dropped before it (a TTL rounded to whole seconds loses them all), on "
        "the facade clock and in real time alike.",
        ("cache",),
    ),
    Contract(
        "CACHE-030",
        "cache",
        "A busy cache keeps its rules",
        "After hundreds of cache writes, rewrites of one key, deletes and expiries, the cache "
        "raises nothing, serves no deleted or expired entry, and serves each key only its "
        "latest bytes (it may have evicted any of them).",
        ("cache",),
    ),
    # -- consistency -----------------------------------------------------------------
    Contract(
        "CONS-001",
        "consistency",
        "Write then strong read (ADR-001 test 1, seed test 1)",
        "After a write, a strong read returns the new version within 100 ms or raises "
        "ConsistencyError; never an older version.",
        ("blobs",),
        "ADR-001 acceptance 1; seed test 1",
    ),
    Contract(
        "CONS-002",
        "consistency",
        "Write then eventual read (ADR-001 test 2)",
        "After a write, an eventual read may return the previous version but never errors.",
        ("records", "cache"),
        "ADR-001 acceptance 2",
    ),
    Contract(
        "CONS-003",
        "consistency",
        "Delete then read (ADR-001 test 3)",
        "After a delete, a strong read raises NotFoundError; an eventual read elsewhere may "
        "return the deleted value only until its TTL.",
        ("records", "cache"),
        "ADR-001 acceptance 3",
    ),
    Contract(
        "CONS-004",
        "consistency",
        "Bypass defeats a poisoned cache (ADR-001 test 4, seed test 4)",
        "With a corrupted cache entry, a strong read with bypass_cache=True returns the "
        "backend's payload.",
        ("records", "cache"),
        "ADR-001 acceptance 4; seed test 4",
    ),
    Contract(
        "CONS-005",
        "consistency",
        "Default level is strong",
        "A read without a level never returns a cache entry older than the staleness budget.",
        ("records", "cache"),
    ),
    Contract(
        "CONS-006",
        "consistency",
        "Staleness budget",
        "A strong read serves a cache entry aged within the budget and reads the backend past it.",
        ("records", "cache"),
    ),
    Contract(
        "CONS-007",
        "consistency",
        "Eventual reads favour the cache",
        "An eventual read serves a live cache entry of any age below the TTL.",
        ("records", "cache"),
    ),
    Contract(
        "CONS-008",
        "consistency",
        "Read-after-write without retries",
        "With read_after_write declared, a strong read right after a write returns it on the "
        "first backend call.",
        ("records", "read_after_write"),
    ),
    Contract(
        "CONS-009",
        "consistency",
        "Conditional strong read",
        "A strong read with a stale if_match raises PreconditionFailedError carrying the "
        "current etag.",
        ("records",),
    ),
    Contract(
        "CONS-010",
        "consistency",
        "Strong reads across nodes",
        "With the fan-out held, a strong read on another node neither returns its cached older "
        "version once the entry is older than the budget, nor trusts a cached etag for if_match.",
        ("blobs", "records", "cache", "read_after_write"),
    ),
    # -- identity --------------------------------------------------------------------
    Contract(
        "ID-001",
        "identity",
        "Namespaces never share objects",
        "Namespaces whose names differ only by case or punctuation, or of which one is a prefix "
        "of the other (also once joined to a key), never share blobs, records or list results.",
        ("blobs", "records"),
    ),
    Contract(
        "ID-002",
        "identity",
        "Namespaces never share streams",
        "Such namespaces never share stream messages, consumer-group checkpoints or idempotency "
        "keys.",
        ("streams",),
    ),
    Contract(
        "ID-003",
        "identity",
        "Namespaces never share cache entries",
        "Such namespaces never serve each other's cache entries, set directly or filled by a read.",
        ("records", "cache"),
    ),
    Contract(
        "ID-004",
        "identity",
        "Object keys are exact",
        "Blob and record keys differing only by case, Unicode normalisation, surrounding spaces "
        "or their last character after the longest accepted length are distinct keys, and read "
        "and list back exactly as written.",
        ("blobs", "records"),
    ),
    Contract(
        "ID-005",
        "identity",
        "Stream, group and idempotency keys are exact",
        "Stream names, group names and idempotency keys differing only by case, Unicode "
        "normalisation or their last character after the longest accepted length are distinct.",
        ("streams",),
    ),
    Contract(
        "ID-006",
        "identity",
        "Cache keys are exact",
        "Cache keys differing only by case, Unicode normalisation, surrounding spaces or their "
        "last character after the longest accepted length never serve each other's entries.",
        ("cache",),
    ),
    Contract(
        "ID-007",
        "identity",
        "A prefix is a prefix",
        "list(prefix) returns exactly the keys starting with the prefix: characters that are "
        "wildcards in LIKE, GLOB or Redis patterns (% _ * ? [ ] \\) match only themselves, case "
        "matters, and a key merely containing the prefix is not listed.",
        ("blobs",),
    ),
    # -- errors ----------------------------------------------------------------------
    Contract(
        "ERR-001",
        "errors",
        "Not found is canonical",
        "Reading a missing key raises NotFoundError (code not_found, not retryable) with op, "
        "namespace, key and correlation id.",
        ("records",),
    ),
    Contract(
        "ERR-002",
        "errors",
        "Precondition failures are canonical",
        "A failed precondition is PreconditionFailedError (code precondition_failed), never an "
        "adapter's own exception.",
        ("blobs", "conditional_writes"),
    ),
    Contract(
        "ERR-003",
        "errors",
        "Bad input is refused and stores nothing",
        "Invalid keys, payloads and options raise InvalidRequestError and leave the backend "
        "unchanged.",
        ("records", "blobs"),
    ),
    Contract(
        "ERR-004",
        "errors",
        "Unavailable backends are retryable",
        "Operations on a closed adapter raise BackendUnavailableError, which is retryable.",
        ("records",),
    ),
    Contract(
        "ERR-005",
        "errors",
        "Consistency errors carry a retry hint",
        "A strong read that cannot see the client's write raises a retryable ConsistencyError "
        "with a positive retry_after_ms.",
        ("records",),
    ),
    Contract(
        "ERR-006",
        "errors",
        "Busy, locked and unreachable backends are retryable",
        "While the backend is locked by another client, unreachable or timing out (provoked "
        "through the adapter's fault injector), operations raise a retryable "
        "BackendUnavailableError naming op, namespace and key, change nothing acknowledged, "
        "and succeed again once the fault is over.",
        ("records",),
    ),
    Contract(
        "ERR-007",
        "errors",
        "Serialisation failures are conflicts",
        "A write that loses a serialisation conflict in the backend (provoked through the "
        "adapter's fault injector) raises a retryable ConflictError, changes nothing, and a "
        "retry applies.",
        ("records", "conditional_writes"),
    ),
    Contract(
        "ERR-030",
        "errors",
        "A failed blob precondition reports the current state",
        "The PreconditionFailedError of a blob put or delete with a stale if_match, of a "
        "create-only blob put on an existing key and of a blob get with a stale if_match "
        "carries the blob's current version and etag; that of a put with if_match on a missing "
        "key carries neither.",
        ("blobs", "conditional_writes"),
    ),
    Contract(
        "ERR-040",
        "errors",
        "Every store method maps backend faults",
        "While the backend is unreachable, timing out or locked by another client (provoked "
        "through the adapter's fault injector), every operation of every layer the adapter "
        "offers (blob put, get, head, list, delete; record put, get, delete; stream append, "
        "read, ack, checkpoint; cache set, get, delete) raises a retryable "
        "BackendUnavailableError naming op and namespace (a cache read may miss instead). "
        "Reads under a lock, and the cache, which may live outside the failing backend, may "
        "succeed instead, but never raise anything else.",
    ),
    # -- lifecycle -------------------------------------------------------------------
    Contract(
        "LIFE-001",
        "lifecycle",
        "Reset removes every layer's data",
        "reset(prefix) removes the blobs, records, stream messages, idempotency keys, group "
        "checkpoints and cache entries of every namespace starting with the prefix; a blob "
        "listing of such a namespace is then empty.",
        (),
    ),
    Contract(
        "LIFE-002",
        "lifecycle",
        "Reset spares every other namespace",
        "reset(prefix) leaves every layer's data of namespaces not starting with the prefix "
        "untouched: shorter prefixes of it, namespaces differing by case, and namespaces a "
        "LIKE or GLOB pattern would match.",
        (),
    ),
    Contract(
        "LIFE-003",
        "lifecycle",
        "A closed adapter refuses every call",
        "After close(), every method of every store raises a retryable BackendUnavailableError "
        "naming the caller's namespace, and so does every facade operation over it.",
        (),
    ),
    # -- keys ------------------------------------------------------------------------
    Contract(
        "KEY-001",
        "keys",
        "Path-like keys are separate keys",
        "Keys that look like paths (`../x`, `/etc/passwd`, `a/../../b`, `a//b`, `./a`, `..`) "
        "are stored, read, listed and deleted under exactly that key: each keeps its own "
        "value, and no other key or namespace changes.",
        ("blobs",),
    ),
    Contract(
        "KEY-002",
        "keys",
        "Path-like stream names are separate streams",
        "Stream names that look like paths (`../s`, `a/../s`, `./s`, `../<sibling>/s`) are "
        "separate streams, each holding only its own messages, and no other namespace's "
        "stream changes.",
        ("streams",),
    ),
    # -- acl -------------------------------------------------------------------------
    Contract(
        "ACL-001",
        "acl",
        "Denied operations are refused",
        "An operation not granted raises AccessDeniedError, changes nothing, and logs a deny "
        "decision.",
        ("records",),
    ),
    Contract(
        "ACL-002",
        "acl",
        "Granted operations run",
        "A granted operation succeeds and logs an allow decision.",
        ("records",),
    ),
    # -- observability ---------------------------------------------------------------
    Contract(
        "OBS-001",
        "observability",
        "Every operation is measured",
        "Each operation adds one request and one latency sample labelled op, layer, namespace, "
        "adapter and outcome; no label holds a key.",
        ("records",),
    ),
    Contract(
        "OBS-002",
        "observability",
        "Failures are counted and logged",
        "A failed operation adds to errors_total with its error code and logs an event whose "
        "correlation id is the error's.",
        ("records",),
    ),
    Contract(
        "OBS-003",
        "observability",
        "Caller correlation ids propagate",
        "A correlation id set by the caller is on the error and on every log event of the operation.",
        ("records",),
    ),
    # -- property --------------------------------------------------------------------
    Contract(
        "PROP-001",
        "property",
        "Consistency model",
        "Random writes, conditional writes, deletes, reads at every level, bypasses, clock "
        "advances, cache poisoning and fan-out deliveries across two clients agree with the "
        "reference model.",
        ("records", "cache", "conditional_writes"),
    ),
    Contract(
        "PROP-002",
        "property",
        "ETag preconditions",
        "Random conditional writes and deletes with current, stale and unknown etags succeed "
        "exactly when the etag is current.",
        ("blobs", "conditional_writes"),
    ),
    Contract(
        "PROP-003",
        "property",
        "Stream duplicates and crashes",
        "Random appends, reads, acks, clock advances and consumer crash-restarts lose no "
        "acknowledged append, invent no message, and acknowledge every message once.",
        ("streams", "durable_checkpoints"),
    ),
    Contract(
        "PROP-004",
        "property",
        "Cache bypass",
        "Whatever is poisoned into the cache, a bypass read returns the backend's current value.",
        ("blobs", "cache"),
    ),
    Contract(
        "PROP-005",
        "property",
        "Idempotent consumer under crashes",
        "Through random appends, polls, clock advances and consumers dying between marking and "
        "acking, the idempotent consumer runs its handler exactly once per message: a marker "
        "one client records is read at once by the next.",
        ("streams", "records", "conditional_writes", "read_after_write", "durable_checkpoints"),
    ),
    # -- differential ----------------------------------------------------------------
    Contract(
        "DIFF-001",
        "differential",
        "The facade over the adapter answers as over the reference",
        "Random facade operations on every layer, several colliding namespaces and two "
        "instances, with keys, prefixes, payloads, content types, TTLs and limits from the "
        "whole valid domain (and names it refuses), answer as over the in-memory reference: "
        "values, versions, sizes, content types, errors by class and code, etags by "
        "structure; reads at every level, head, list from every start_after, stream reads, "
        "consumer-group state and cache entries agree after every step.",
        (),
        "ADR-001, docs/errors.md",
    ),
    Contract(
        "DIFF-002",
        "differential",
        "The adapter's stores answer as the reference's stores",
        "Random calls on the adapter's own stores (VersionedStore, StreamLog, CheckpointStore "
        "or GroupStore, CacheStore, and the one-call protocols it offers) answer as the "
        "reference's stores do; a list or stream page may be shorter than asked (a backend's "
        "page size) but never longer, never empty while entries remain, and starts after "
        "the cursor; a cache entry may be missing but never different.",
        (),
        "adapters/base.py",
    ),
    Contract(
        "DIFF-003",
        "differential",
        "Instances, reopens, resets and closed stores answer as the reference's",
        "Interleaving a second instance, reopening an instance, resetting namespace prefixes "
        "and calling a closed instance's stores keeps every answer, from every instance, "
        "equal to the reference's; a closed store raises BackendUnavailableError.",
        (),
        "adapters/base.py, ADR-001",
    ),
    # -- history -------------------------------------------------------------------
    Contract(
        "HIST-001",
        "history",
        "Versions under concurrent writers",
        "Clients on several nodes putting, deleting and reading the same keys get unique "
        "versions that increase in the real-time order of the writes, and never read a value "
        "no write produced.",
        ("records",),
    ),
    Contract(
        "HIST-002",
        "history",
        "Conditional writes under concurrency",
        "Across nodes, an if_match write or delete wins only while its etag is current (one "
        "winner per etag, no lost update) and a create-only write succeeds once per life of "
        "a key.",
        ("records", "conditional_writes"),
    ),
    Contract(
        "HIST-003",
        "history",
        "Strong reads are linearizable",
        "With read_after_write and a staleness budget of 0, strong reads from clients on "
        "several nodes are linearizable in the version order the writes returned.",
        ("records", "conditional_writes", "read_after_write"),
    ),
    Contract(
        "HIST-004",
        "history",
        "Cached reads are Δ-atomic",
        "With local caches on several nodes and fan-out purges, strong reads are at most the "
        "staleness budget stale (Δ-atomic) and eventual reads at most the cache TTL.",
        ("records", "cache", "read_after_write"),
    ),
    Contract(
        "HIST-005",
        "history",
        "Concurrent appends",
        "Appends from several nodes get unique sequences without gaps, and every acknowledged "
        "append reaches every group with its own payload.",
        ("streams",),
    ),
    Contract(
        "HIST-006",
        "history",
        "Idempotent appends across nodes",
        "One idempotency key appends one message per dedupe window, whichever nodes append it "
        "concurrently.",
        ("streams", "idempotent_append"),
    ),
    Contract(
        "HIST-007",
        "history",
        "Consumers on several nodes",
        "Consumers of one group on several nodes never hold one message at once before its "
        "visibility timeout, and never get an acknowledged message again.",
        ("streams",),
    ),
    Contract(
        "HIST-008",
        "history",
        "Clients in several processes",
        "Clients in two more processes, each on an adapter instance of its own, writing, "
        "reading, appending (with idempotency keys) and consuming with the parent's clients "
        "keep every history guarantee: compare-and-set, versions, sequences and "
        "deduplication hold across processes. Needs a factory declaring "
        "opens_across_processes.",
        ("records", "streams"),
    ),
]

CATALOG: dict[str, Contract] = {c.id: c for c in _CONTRACTS}
"""Every contract by id, in catalogue order."""

for _contract in _CONTRACTS:
    for _capability in _contract.requires:
        Capabilities.doc(_capability)  # fails at import for an unknown capability name


def contract(contract_id: str) -> Callable[[F], F]:
    """Mark a test as checking ``contract_id`` and needing that contract's capabilities."""
    found = CATALOG[contract_id]

    def mark(test: F) -> F:
        test = pytest.mark.sanctum_contract(found.id)(test)
        if found.requires:
            test = pytest.mark.sanctum_requires(*found.requires)(test)
        return test

    return mark


def explain(contract_id: str) -> str:
    """The ``[ID] statement`` prefix assertion messages start with."""
    return f"[{contract_id}] {CATALOG[contract_id].statement}"


_HEADER = """\
# Contract catalogue

Every behaviour the conformance kit checks, by stable id. Each conformance test cites one
id (`@contract("REC-003")`) and its assertion messages restate the contract; the report
(`--sanctum-report`) and the baseline (`--sanctum-baseline`) use the same ids. A test
whose contract needs a capability the adapter does not declare is skipped as
`unsupported: <the capability's contract>`.

This file is generated from `pytest_sanctum/kit/contracts.py`
(`python -m pytest_sanctum.kit.contracts --write`); a test fails when they differ.
Error mapping, retry policy and capabilities are described in `docs/errors.md` and
`docs/adapter-authors.md`.
"""


def render_markdown() -> str:
    """The catalogue as Markdown, grouped by layer."""
    lines = [_HEADER]
    for layer, title in LAYERS.items():
        lines.append(f"## {title}\n")
        lines.append("| id | contract | needs | source |")
        lines.append("| --- | --- | --- | --- |")
        for found in _CONTRACTS:
            if found.layer == layer:
                needs = ", ".join(f"`{name}`" for name in found.requires) or "—"
                text = f"**{found.title}.** {found.statement}"
                lines.append(f"| `{found.id}` | {text} | {needs} | {found.source or '—'} |")
        lines.append("")
    lines.append("## Capabilities\n")
    lines.append("| capability | contract |")
    lines.append("| --- | --- |")
    for name in Capabilities.field_names():
        lines.append(f"| `{name}` | {Capabilities.doc(name)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write or check ``docs/tests-contracts.md``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", default="docs/tests-contracts.md")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    path = Path(args.path)
    text = render_markdown()
    if args.write:
        path.write_text(text, encoding="utf-8")
        return 0
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        print(f"{path} is out of date; run python -m pytest_sanctum.kit.contracts --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
