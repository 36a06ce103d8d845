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
