"""Shared by the tests against real servers: what to do when one is missing."""

from __future__ import annotations

import os

import pytest

from pytest_sanctum.kit.session import REQUIRE_BACKEND_ENV


def environment_problem(message: str) -> None:
    """Skip as ``environment``, or fail when the run requires its backends (CI)."""
    if os.environ.get(REQUIRE_BACKEND_ENV, "") == "1":
        pytest.fail(f"{message} ({REQUIRE_BACKEND_ENV}=1)", pytrace=False)
    pytest.skip(message)


def require_redis(url: str) -> None:
    """Ping the Redis server at ``url``; an environment problem when it does not answer."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        environment_problem(f"environment: redis not reachable at {url}: {error}")
    finally:
        client.close()
