"""The report format: the committed JSON Schema lock, the verdict rules and the Markdown
certificate of runs the plugin tests do not make (an unreachable backend, every result)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_sanctum.kit import report_model
from pytest_sanctum.kit.contracts import CATALOG
from pytest_sanctum.kit.report import RESULTS
from pytest_sanctum.kit.report_markdown import RESULT_LABELS, render_markdown
from pytest_sanctum.kit.report_model import (
    FORMAT_VERSION,
    SCHEMA_FILE,
    ConformanceReportV1,
    ContractResult,
    Result,
    Versions,
    render_json_schema,
)


def test_the_committed_schema_matches_the_model() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == render_json_schema(), (
        "the report model changed: regenerate with "
        "`python -m pytest_sanctum.kit.report_model --write`"
    )
    assert json.loads(committed)["x-format-version"] == FORMAT_VERSION


def test_the_check_fails_when_the_model_changes_without_regenerating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.schema.json"
    monkeypatch.setattr(report_model, "SCHEMA_FILE", target)
    assert report_model.main(["--check"]) == 1
    assert report_model.main(["--write"]) == 0
    assert target.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")
    assert report_model.main(["--check"]) == 0

    class Changed(ConformanceReportV1):
        renamed_field: str
        """A field added without regenerating the schema."""

    monkeypatch.setattr(report_model, "ConformanceReportV1", Changed)
    assert report_model.main(["--check"]) == 1
    assert "--write" in capsys.readouterr().err


def _row(contract_id: str, result: Result) -> ContractResult:
    found = CATALOG[contract_id]
    return ContractResult(
        id=contract_id,
        layer=found.layer,
        title=found.title,
        statement=found.statement,
        requires=list(found.requires),
        result=result,
        missing_capabilities=[],
        tests=[],
        tests_run=0,
        examples=0,
        reasons=[f"environment: vendor: refused | retry {result}"],
        baseline_reason=None,
        reproduce=f"pytest --sanctum-adapter=vendor --sanctum-contracts={contract_id}",
    )


def _unreachable() -> ConformanceReportV1:
    """A run whose backend could not be reached: nearly every optional field is empty."""
    ids = list(CATALOG)
    return ConformanceReportV1(
        format_version=1,
        verdict="incomplete",
        verdict_reasons=["94 contracts could not run: the backend was unreachable"],
        started_at="2026-01-02T03:04:05+00:00",
        duration_s=1.25,
        kit_version="0.1.0",
        versions=Versions(
            kit="0.1.0",
            python="3.12.1",
            python_implementation="CPython",
            pytest="8.3.0",
            hypothesis="6.100.0",
            platform="Linux",
        ),
        adapter="vendor",
        adapter_source="ini sanctum_adapter",
        adapter_factory="vendor.adapter:create",
        adapter_package=None,
        adapter_package_version=None,
        backend=None,
        backend_version=None,
        capabilities=[],
        mask=[],
        reference_cache=False,
        backdoor_used=False,
        backdoor_fallback_used=False,
        faults=[],
        profile="default",
        seed=7,
        baseline=None,
        environment_error="vendor: connection refused",
        totals=dict.fromkeys(RESULTS, 0) | {"environment": len(ids)},
        contracts=[_row(i, RESULTS[n % len(RESULTS)]) for n, i in enumerate(ids)],
    )


def test_the_certificate_of_an_unreachable_backend_has_no_empty_values() -> None:
    text = render_markdown(_unreachable())
    for wrong in ("None", "[]", "True", "False", "environment_error", "adapter_package"):
        assert wrong not in text, wrong
    assert "| Declared capabilities | unknown: the backend could not be reached" in text
    assert "| Package | not from an installed package |" in text
    assert "| Backend | not reported by the adapter's test support |" in text
    assert "| Started | 2026-01-02 03:04:05 UTC |" in text
    assert "\n- 94 contracts could not run: the backend was unreachable\n" in text
    assert "refused \\| retry" in text, "a pipe in a reason must not split the table cell"
    for label in RESULT_LABELS.values():
        assert f"| {label} |" in text
