"""The Markdown report: a conformance certificate a vendor can publish as it is.

It is written for readers, not for tools (those read the JSON): every value is in words,
never a Python ``repr``, an empty value or a raw field name.
"""

from __future__ import annotations

from pytest_sanctum.kit.contracts import LAYERS
from pytest_sanctum.kit.report_model import ConformanceReportV1, ContractResult, Result, Verdict

RESULT_LABELS: dict[Result, str] = {
    "pass": "passed",
    "fail": "failed",
    "stale-baseline": "passed, yet listed as a known failure",
    "expected-failure": "known failure",
    "untested": "not checked",
    "unsupported": "not supported",
    "environment": "backend unreachable",
    "not-run": "not run",
}
"""How the certificate names each result."""

VERDICT_TEXT: dict[Verdict, str] = {
    "conformant": "every contract that the adapter's declared capabilities cover passed.",
    "not conformant": "at least one contract failed.",
    "incomplete": "at least one contract could not be checked in this run.",
}


def _verdict_text(report: ConformanceReportV1) -> str:
    text = VERDICT_TEXT[report.verdict]
    known = report.totals.get("expected-failure", 0)
    if known:
        text += f" Known failures listed in the baseline, reported below: {known}."
    return text


def _cell(text: str) -> str:
    """Text safe inside a table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _listed(names: list[str], empty: str) -> str:
    return ", ".join(f"`{name}`" for name in names) if names else empty


def _package(report: ConformanceReportV1) -> str:
    if report.adapter_package is None:
        return "not from an installed package"
    return f"{report.adapter_package} {report.adapter_package_version or '(version unknown)'}"


def _backend(report: ConformanceReportV1) -> str:
    if report.backend is None:
        return "not reported by the adapter's test support"
    return f"{report.backend} {report.backend_version or '(version not reported)'}"


def _capabilities(report: ConformanceReportV1) -> str:
    if report.environment_error is not None:
        return f"unknown: the backend could not be reached ({report.environment_error})"
    return _listed(report.capabilities, "none")


def _cache(report: ConformanceReportV1) -> str:
    if report.reference_cache:
        return (
            "the reference (memory) cache stood in for one the adapter does not have: the "
            "cache contracts certify the adapter's stores behind it, not a cache of its own"
        )
    return "the adapter's own" if "cache" in report.capabilities else "none declared"


def _backdoor(report: ConformanceReportV1) -> str:
    if report.backdoor_used and report.backdoor_fallback_used:
        return "the adapter's own backdoor, and its stores where none was offered"
    if report.backdoor_used:
        return "the adapter's own backdoor read the backend directly"
    if report.backdoor_fallback_used:
        return "none offered: stored state was read through the adapter's own stores"
    return "not needed by the contracts run"


def _run_table(report: ConformanceReportV1) -> list[str]:
    found = report.versions
    rows = [
        ("Adapter", f"`{report.adapter}`, built by `{report.adapter_factory}`"),
        ("Package", _package(report)),
        ("Backend", _backend(report)),
        ("Adapter chosen by", f"`{report.adapter_source}`"),
        ("Declared capabilities", _capabilities(report)),
        ("Masked capabilities", _listed(report.mask, "none")),
        ("Cache", _cache(report)),
        ("Backdoor", _backdoor(report)),
        ("Injected faults", _listed(report.faults, "none")),
        ("Hypothesis profile", report.profile),
        ("Seed", str(report.seed)),
        ("Known-failures baseline", f"`{report.baseline}`" if report.baseline else "none"),
        ("Kit", f"pytest-sanctum {found.kit}"),
        ("Python", f"{found.python_implementation} {found.python}"),
        ("pytest and hypothesis", f"pytest {found.pytest}, hypothesis {found.hypothesis}"),
        ("Platform", found.platform),
        ("Started", report.started_at.replace("T", " ").replace("+00:00", " UTC")),
        ("Duration", f"{report.duration_s:.1f} s"),
        ("Report format", f"version {report.format_version}"),
    ]
    return ["| | |", "| --- | --- |", *(f"| {name} | {_cell(value)} |" for name, value in rows)]


def _note(row: ContractResult) -> str:
    """Why a contract got its result, in words."""
    if row.result == "pass":
        return ""
    if row.result == "unsupported" and row.missing_capabilities:
        return "missing capability: " + _listed(row.missing_capabilities, "")
    if row.result == "expected-failure" and row.baseline_reason is not None:
        return f"baseline: {row.baseline_reason}"
    if row.result == "stale-baseline":
        return "listed in the baseline but passed: remove it from the baseline"
    if row.result == "fail":
        return f"reproduce with `{row.reproduce}`"
    if row.result == "not-run":
        return "deselected or not collected in this run"
    return "; ".join(row.reasons)


def _tests(row: ContractResult) -> str:
    """The tests run, and for a generative contract the examples they ran."""
    if not row.examples:
        return str(row.tests_run)
    return f"{row.tests_run} ({row.examples} {'example' if row.examples == 1 else 'examples'})"


def _contract_tables(report: ConformanceReportV1) -> list[str]:
    lines: list[str] = []
    for layer, title in LAYERS.items():
        rows = [row for row in report.contracts if row.layer == layer]
        if not rows:
            continue
        lines += [f"### {title}", "", "| contract | title | result | tests | notes |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for row in rows:
            lines.append(
                f"| `{row.id}` | {_cell(row.title)} | {RESULT_LABELS[row.result]} | "
                f"{_tests(row)} | {_cell(_note(row))} |"
            )
        lines.append("")
    return lines


def render_markdown(report: ConformanceReportV1) -> str:
    """The certificate: verdict, what was tested on what, totals, then every contract."""
    lines = [
        f"# Conformance report: `{report.adapter}`",
        "",
        f"**Verdict: {report.verdict}**: {_verdict_text(report)}",
        "",
        *(f"- {_cell(reason)}" for reason in report.verdict_reasons),
        *([""] if report.verdict_reasons else []),
        "## The run",
        "",
        *_run_table(report),
        "",
        "## Results",
        "",
        "| result | contracts |",
        "| --- | --- |",
        *(f"| {RESULT_LABELS[name]} | {count} |" for name, count in report.totals.items() if count),
        "",
        "## Contracts",
        "",
        "The statement of every contract is in the contract catalogue of pytest-sanctum "
        f"{report.kit_version} (`docs/tests-contracts.md`) and in the JSON report.",
        "",
        *_contract_tables(report),
    ]
    return "\n".join(lines)
