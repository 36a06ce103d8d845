"""Concurrency smoke test: optimistic read-modify-write loops on one record lose no update."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
from facade_helpers import NS

from pytest_sanctum.client import StorageClient
from pytest_sanctum.errors import PreconditionFailedError

THREADS = 8
INCREMENTS = 25


@pytest.fixture
def frequent_switches() -> Iterator[None]:
    """Switch threads far more often than usual, so the loops interleave mid-operation."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(saved)


@pytest.mark.parametrize("bypass_cache", [False, True])
@pytest.mark.usefixtures("frequent_switches")
def test_if_match_retry_loops_on_one_record_lose_no_update(
    client: StorageClient, bypass_cache: bool
) -> None:
    client.records.put(NS, "counter", {"n": 0})
    attempts_per_write: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def increment() -> None:
        try:
            start.wait()
            for _ in range(INCREMENTS):
                for attempt in range(10_000):  # bounded: a livelock fails instead of hanging
                    current = client.records.get(NS, "counter", bypass_cache=bypass_cache)
                    n = current.value["n"]
                    assert isinstance(n, int)
                    try:
                        client.records.put(NS, "counter", {"n": n + 1}, if_match=current.etag)
                    except PreconditionFailedError:
                        continue
                    attempts_per_write.append(attempt)
                    break
                else:
                    raise AssertionError("no progress after 10000 attempts")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=increment) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    final = client.records.get(NS, "counter", bypass_cache=True)
    successes = len(attempts_per_write)
    assert successes == THREADS * INCREMENTS
    assert final.value == {"n": successes}
    assert final.version == 1 + successes
