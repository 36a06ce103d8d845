"""The conformance report, format version 1: pydantic models and the committed JSON Schema.

The report is public API: vendors publish it and tools read it. ``format_version`` says
which schema a report follows; a field is only ever added within a version, and anything
else (a field renamed, removed or changing meaning) bumps the version. Every field is
always present (``null`` when not known), so a reader never guesses a default.

Run ``python -m pytest_sanctum.kit.report_model --write`` to regenerate the committed JSON
Schema, ``--check`` to verify it is current (CI does).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from pytest_sanctum.committed_file import maintain

FORMAT_VERSION: Final = 1
"""The report format this module writes; bump it when a field changes incompatibly."""

SCHEMA_FILE: Final = Path(__file__).with_name("conformance-report-v1.schema.json")
"""The committed JSON Schema of ``ConformanceReportV1``."""

Verdict = Literal["conformant", "not conformant", "incomplete"]
"""The run's verdict, decided by ``pytest_sanctum.kit.verdict.decide``: ``not conformant``
when a contract failed or a baseline entry is stale, ``incomplete`` when nothing was tested
or a contract could not be checked (``environment``, ``untested``, ``not-run``), else
``conformant`` (see ``docs/adapter-authors.md``)."""

Result = Literal[
    "fail",
    "stale-baseline",
    "environment",
    "untested",
    "expected-failure",
    "pass",
    "unsupported",
    "not-run",
]
"""A contract's result, worst first (see ``docs/adapter-authors.md``, "Read the report")."""


class _Model(BaseModel):
    """Shared settings: frozen, unknown fields refused, field docstrings in the schema."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Versions(_Model):
    """The software the run used."""

    kit: str
    """pytest-sanctum's version."""
    python: str
    """The Python version, e.g. ``3.12.3``."""
    python_implementation: str
    """``CPython``, ``PyPy``, ..."""
    pytest: str
    """pytest's version."""
    hypothesis: str
    """hypothesis's version."""
    platform: str
    """The operating system and machine, e.g. ``Linux-6.8.0-x86_64-with-glibc2.39``."""


class ContractResult(_Model):
    """What one contract's tests did in this run."""

    id: str
    """The contract's stable id, e.g. ``REC-003``."""
    layer: str
    """The layer of the contract catalogue it belongs to."""
    title: str
    """The contract's short title."""
    statement: str
    """The full statement the tests check."""
    requires: list[str]
    """The capabilities the contract needs."""
    result: Result
    """The worst result of its tests; ``not-run`` when none of its tests ran."""
    missing_capabilities: list[str]
    """Every capability in ``requires`` that the adapter does not offer in this run (after
    the mask, and with the reference cache when it stood in): why it is ``unsupported``."""
    tests: list[str]
    """The node ids of the contract's tests that ran (whatever their outcome), sorted."""
    tests_run: int = Field(ge=0)
    """How many tests that is."""
    examples: int = Field(ge=0)
    """Generated examples its tests ran (the differential contracts); 0 for the others."""
    reasons: list[str]
    """Why tests did not pass: skip reasons, expected-failure reasons and the failing tests
    with their phase (``node id (call)``), sorted and without repeats."""
    baseline_reason: str | None
    """The reason the baseline gives for expecting it to fail, when it is listed."""
    reproduce: str
    """The command that reruns the contract's tests with this run's adapter, options,
    mask, faults, profile and seed."""


class ConformanceReportV1(_Model):
    """A conformance run of one adapter: what ran, on what, and the verdict."""

    format_version: Literal[1]
    """The report format: exactly 1."""
    verdict: Verdict
    """``conformant``, ``not conformant`` or ``incomplete``."""
    verdict_reasons: list[str]
    """Why the verdict is not ``conformant`` (one line per cause); also the contracts that
    failed or could not be checked."""
    started_at: str
    """When the session started, ISO 8601 in UTC."""
    duration_s: float = Field(ge=0)
    """Wall-clock seconds from the session's start to its end."""
    kit_version: str
    """pytest-sanctum's version (also in ``versions``)."""
    versions: Versions
    """Kit, Python, pytest, hypothesis and platform versions."""
    adapter: str
    """The adapter as selected: a registered name or ``package.module:factory``."""
    adapter_source: str
    """Where the selection came from: ``--sanctum-adapter``, ``$SANCTUM_ADAPTER``, ``ini
    sanctum_adapter`` or ``default``."""
    adapter_factory: str
    """The factory that built the adapter, as ``module:name``."""
    adapter_package: str | None
    """The installed distribution holding the factory's module, when there is one."""
    adapter_package_version: str | None
    """That distribution's version."""
    backend: str | None
    """The backend product the adapter talked to, as its test support reports it
    (``pytest_sanctum_backend_info``), e.g. ``PostgreSQL``."""
    backend_version: str | None
    """That backend's version, e.g. ``16.4``."""
    capabilities: list[str]
    """The capabilities the adapter declares, after the mask; empty when it was unreachable."""
    mask: list[str]
    """The capabilities hidden from the adapter (``--sanctum-mask``)."""
    reference_cache: bool
    """Whether the reference (memory) cache stood in for a cache the adapter does not have
    (``--sanctum-reference-cache``): the cache contracts then certify the adapter's stores
    behind it, not a cache of its own."""
    backdoor_used: bool
    """Whether a test read the backend through the adapter's backdoor (its own probe)."""
    backdoor_fallback_used: bool
    """Whether a test read the backend through the adapter's own stores instead, for want of
    a backdoor (a weaker check)."""
    faults: list[str]
    """The fault kinds the history contracts injected (``--sanctum-faults``)."""
    profile: str
    """The hypothesis profile: ``default``, ``thorough`` or ``ci``."""
    seed: int
    """The seed of the run's property tests."""
    baseline: str | None
    """The baseline file (``--sanctum-baseline``), when one was given."""
    environment_error: str | None
    """Why the backend could not be reached, when it could not."""
    totals: dict[Result, int]
    """How many contracts got each result (every result is listed, 0 included)."""
    contracts: list[ContractResult]
    """Every contract of the catalogue, in catalogue order."""


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``ConformanceReportV1``, tagged with its format version."""
    schema = ConformanceReportV1.model_json_schema()
    schema["x-format-version"] = FORMAT_VERSION
    return schema


def render_json_schema() -> str:
    """``json_schema()`` exactly as the committed file holds it."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (``--write``) or verify (``--check``, exit status 1 if stale) the committed schema."""
    return maintain(
        argv,
        prog="python -m pytest_sanctum.kit.report_model",
        path=SCHEMA_FILE,
        expected=render_json_schema(),
        stale_hint="bump FORMAT_VERSION if a field changed incompatibly (record it in"
        " CHANGELOG.md) and regenerate with `python -m pytest_sanctum.kit.report_model --write`",
    )


if __name__ == "__main__":
    sys.exit(main())
