"""The pytest plugin, run with ``pytester``: selection, options, report, baseline, hooks.

Most runs use a small test file of their own instead of the conformance suite, so they
check the plugin's behaviour and stay fast; the runs that need real contract results
select a few contracts of the suite with ``--sanctum-contracts``.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from kit_helpers import (
    DOWN,
    REPORT,
    SEED,
    declared,
    expected_results,
    only_line,
    run_kit,
)

import pytest_sanctum
from pytest_sanctum.kit.contracts import CATALOG
from pytest_sanctum.kit.report_model import FORMAT_VERSION, ConformanceReportV1
from pytest_sanctum.plugin import REFERENCE_CACHE_NOTE
from pytest_sanctum.types import Capabilities

ROUND_TRIP = """
from pytest_sanctum.kit.contracts import contract


@contract("REC-001")
def test_round_trip(sanctum_client, sanctum_namespace):
    written = sanctum_client.records.put(sanctum_namespace, "k", {"n": 1})
    read = sanctum_client.records.get(sanctum_namespace, "k")
    assert (read.value, read.version, read.etag) == ({"n": 1}, 1, written.etag)
"""
"""A one-contract test file for runs that check the plugin rather than the suite."""


pytestmark = pytest.mark.usefixtures("clean_kit_env", "suite_loaded")


def _header(output: str) -> str:
    return only_line(output, "sanctum: adapter ")


def _no_kit_output(output: str) -> None:
    """No header line, no matrix (the plugin's name in the ``plugins:`` line is fine)."""
    assert "sanctum:" not in output
    assert "sanctum conformance" not in output
    assert "contracts:" not in output


# -- staying out of the way ------------------------------------------------------------


def test_without_an_adapter_the_plugin_stays_out_of_the_way(pytester: pytest.Pytester) -> None:
    """A project's own tests run alone: no conformance test, no sanctum header or summary."""
    pytester.makepyfile(test_app="def test_own():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    _no_kit_output(result.stdout.str())
    assert not (pytester.path / REPORT).exists()


def test_app_teams_get_the_fixtures_without_the_option(pytester: pytest.Pytester) -> None:
    """Client, virtual clock, metrics and logs work in a project's tests, no adapter selected."""
    pytester.makepyfile(
        test_app="""
        import pytest

        from pytest_sanctum.errors import CacheMissError, NotFoundError


        def test_round_trip(sanctum_client, sanctum_namespace):
            written = sanctum_client.records.put(sanctum_namespace, "order", {"total": 3})
            read = sanctum_client.records.get(sanctum_namespace, "order")
            assert (read.value, read.version, read.etag) == ({"total": 3}, 1, written.etag)


        def test_the_clock_drives_ttls(sanctum_client, sanctum_namespace, sanctum_clock):
            sanctum_client.cache.set(sanctum_namespace, "k", b"v", ttl_ms=1000)
            sanctum_clock.advance(999)
            assert sanctum_client.cache.get(sanctum_namespace, "k") == b"v"
            sanctum_clock.advance(1)
            with pytest.raises(CacheMissError):
                sanctum_client.cache.get(sanctum_namespace, "k")


        def test_metrics_and_logs(sanctum_client, sanctum_namespace, sanctum_metrics, sanctum_logs):
            with pytest.raises(NotFoundError) as raised:
                sanctum_client.records.get(sanctum_namespace, "missing")
            errors = sanctum_metrics.value("errors_total", op="record.get", error_code="not_found")
            [event] = sanctum_logs.of("sanctum.operation.error")
            assert errors == 1
            assert event["correlation_id"] == raised.value.correlation_id
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    _no_kit_output(result.stdout.str())


# -- choosing the adapter ----------------------------------------------------------------


def test_the_command_line_beats_the_environment_and_the_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANCTUM_ADAPTER", "no-such-env-adapter")
    pytester.makeini("[pytest]\nsanctum_adapter = no-such-ini-adapter\n")
    pytester.makepyfile(test_one=ROUND_TRIP)
    run = run_kit(
        pytester,
        "test_one.py",
        "--sanctum-adapter=memory",
        "--sanctum-profile=thorough",
        "--sanctum-seed=7",
    )
    assert _header(run.output) == (
        f"sanctum: adapter memory (from --sanctum-adapter), kit {pytest_sanctum.__version__}, "
        "profile thorough, seed 7"
    )
    assert run.ret == pytest.ExitCode.OK, run.output


def test_the_environment_beats_the_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANCTUM_ADAPTER", "memory")
    monkeypatch.setenv("SANCTUM_PROFILE", "thorough")
    monkeypatch.setenv("SANCTUM_SEED", "11")
    pytester.makeini("[pytest]\nsanctum_adapter = no-such-ini-adapter\nsanctum_profile = ci\n")
    pytester.makepyfile(test_one=ROUND_TRIP)
    run = run_kit(pytester, "test_one.py", seed=False, profile=None)
    assert _header(run.output) == (
        f"sanctum: adapter memory (from $SANCTUM_ADAPTER), kit {pytest_sanctum.__version__}, "
        "profile thorough, seed 11"
    )
    assert run.report is not None
    assert (run.report["adapter_source"], run.report["profile"], run.report["seed"]) == (
        "$SANCTUM_ADAPTER",
        "thorough",
        11,
    )
    assert run.ret == pytest.ExitCode.OK, run.output


def test_the_ini_selects_when_nothing_else_does(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsanctum_adapter = memory\nsanctum_profile = thorough\n")
    pytester.makepyfile(test_one=ROUND_TRIP)
    run = run_kit(pytester, "test_one.py", profile=None)
    assert _header(run.output) == (
        f"sanctum: adapter memory (from ini sanctum_adapter), kit {pytest_sanctum.__version__}, "
        f"profile thorough, seed {SEED}"
    )
    assert "sanctum: capabilities: " in run.output
    assert run.ret == pytest.ExitCode.OK, run.output


def test_an_adapter_named_module_colon_factory(pytester: pytest.Pytester) -> None:
    """``package.module:factory`` loads a factory that is not registered, and runs the suite."""
    pytester.makepyfile(
        vendor_adapter="from reference_adapters.memory import create_memory_adapter as factory\n"
    )
    pytester.syspathinsert()
    run = run_kit(
        pytester, "--sanctum-adapter=vendor_adapter:factory", "--sanctum-contracts=REC-001"
    )
    assert _header(run.output).startswith(
        "sanctum: adapter vendor_adapter:factory (from --sanctum-adapter)"
    )
    assert run.results == {"REC-001": "pass"}
    assert run.ret == pytest.ExitCode.OK, run.output


# -- usage errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sanctum-adapter=no-such-adapter"], "no adapter named 'no-such-adapter'"),
        (["--sanctum-adapter=no_such_module:factory"], "cannot import adapter module"),
        (
            ["--sanctum-adapter=reference_adapters.memory:no_such_factory"],
            "has no attribute 'no_such_factory'",
        ),
        (["--sanctum-adapter=memory", "--sanctum-mask=teleport"], "unknown capabilities"),
        (["--sanctum-adapter=memory", "--sanctum-profile=turbo"], "choose one of"),
        (["--sanctum-adapter=memory", "--sanctum-seed=abc"], "must be an integer"),
        (["--sanctum-adapter=memory", "--sanctum-adapter-options={nope"], "is not JSON"),
        (["--sanctum-adapter=memory", "--sanctum-adapter-options=[1]"], "must be a JSON object"),
        (
            ["--sanctum-adapter=memory", '--sanctum-adapter-options={"colour": "red"}'],
            "refused its options",
        ),
        (["--sanctum-adapter=memory", "--sanctum-contracts=REC-001,NOPE-001"], "NOPE-001"),
        (["--sanctum-adapter=memory", "--sanctum-baseline=missing.txt"], "cannot read baseline"),
        (
            ["--sanctum-adapter=memory", "-o", "sanctum_require_backend=maybe"],
            "use true or false",
        ),
        (
            ["--sanctum-adapter=memory", "--sanctum-reference-cache"],
            "declares a cache of its own",
        ),
    ],
    ids=[
        "unknown-adapter",
        "unimportable-module",
        "missing-attribute",
        "bad-mask",
        "bad-profile",
        "non-integer-seed",
        "options-not-json",
        "options-not-an-object",
        "options-refused",
        "unknown-contract",
        "missing-baseline",
        "bad-require-backend-ini",
        "reference-cache-for-an-adapter-with-a-cache",
    ],
)
def test_bad_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    """A bad kit option stops the run with exit code 4 and says what is wrong on stderr."""
    run = run_kit(pytester, *args)
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert message in run.result.stderr.str(), run.output


def test_a_run_behind_the_reference_cache_says_so_in_header_summary_and_report(
    pytester: pytest.Pytester,
) -> None:
    """The cache contracts run and pass behind the reference cache; every output names it,
    and the report's capabilities stay the adapter's own."""
    run = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        "--sanctum-mask=cache",
        "--sanctum-reference-cache",
        "--sanctum-contracts=REC-001,CACHE-001,CACHE-007,PROP-001",
    )
    assert run.results == {
        "REC-001": "pass",
        "CACHE-001": "pass",
        "CACHE-007": "unsupported",
        "PROP-001": "pass",
    }, run.output
    assert run.result.outlines.count(REFERENCE_CACHE_NOTE) == 2, run.output  # header, summary
    assert run.report is not None
    assert run.report["reference_cache"] is True
    assert "cache" not in run.report["capabilities"]
    assert run.ret == pytest.ExitCode.OK, run.output


def test_an_adapter_without_a_cache_is_told_about_the_reference_cache(
    pytester: pytest.Pytester,
) -> None:
    run = run_kit(
        pytester, "--sanctum-adapter=memory", "--sanctum-mask=cache", "--sanctum-contracts=REC-001"
    )
    needing = sum("cache" in found.requires for found in CATALOG.values())
    assert (
        f"sanctum: the adapter declares no cache, so the {needing} contracts needing one are "
        "unsupported; --sanctum-reference-cache runs them behind the reference (memory) cache"
    ) in run.result.outlines, run.output
    assert run.report is not None
    assert run.report["reference_cache"] is False


def test_a_bad_adapter_in_the_environment_names_the_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANCTUM_ADAPTER", "no-such-adapter")
    run = run_kit(pytester)
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "$SANCTUM_ADAPTER='no-such-adapter'" in run.result.stderr.str()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("NOPE-001: no such contract", "unknown contract id NOPE-001"),
        ("REC-001 because", "expected 'CONTRACT-ID: reason'"),
        ("REC-001:", "expected 'CONTRACT-ID: reason'"),
    ],
    ids=["unknown-id", "no-colon", "no-reason"],
)
def test_a_bad_baseline_is_a_usage_error(
    pytester: pytest.Pytester, line: str, message: str
) -> None:
    pytester.makefile(".txt", baseline=f"# known failures\n\n{line}\n")
    run = run_kit(pytester, "--sanctum-adapter=memory", "--sanctum-baseline=baseline.txt")
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert message in run.result.stderr.str()
    assert "baseline.txt:3" in run.result.stderr.str()


# -- listing and reporting -------------------------------------------------------------------


def test_list_prints_every_contract_with_its_needs(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--sanctum-list")
    assert result.ret == pytest.ExitCode.OK
    lines = {line.split()[0]: line for line in result.outlines if line.strip()}
    assert set(lines) == set(CATALOG)
    for contract_id, found in CATALOG.items():
        needs = ", ".join(found.requires) or "-"
        assert found.title in lines[contract_id]
        assert lines[contract_id].endswith(f"[needs: {needs}]")


def test_the_json_report(pytester: pytest.Pytester) -> None:
    """The report says which kit, adapter, capabilities, seed, profile and mask, the verdict,
    and for every contract of the catalogue its result, statement, tests and how to rerun it."""
    run = run_kit(pytester, "--sanctum-adapter=memory", "--sanctum-contracts=REC-001,CACHE-007")
    report = run.report
    assert report is not None
    ConformanceReportV1.model_validate(report)
    assert {
        key: report[key]
        for key in ("format_version", "kit_version", "adapter", "adapter_source", "seed")
    } == {
        "format_version": FORMAT_VERSION,
        "kit_version": pytest_sanctum.__version__,
        "adapter": "memory",
        "adapter_source": "--sanctum-adapter",
        "seed": SEED,
    }
    assert (report["profile"], report["mask"], report["faults"]) == ("ci", [], [])
    assert report["versions"]["pytest"] == pytest.__version__
    assert report["adapter_factory"] == "reference_adapters.memory:create_memory_adapter"
    assert (report["adapter_package"], report["adapter_package_version"]) == (
        "pytest-sanctum",
        pytest_sanctum.__version__,
    )
    assert (report["backend"], report["backend_version"]) == (
        "in-process memory (pytest-sanctum)",
        pytest_sanctum.__version__,
    )
    assert report["capabilities"] == sorted(declared(), key=list(Capabilities.field_names()).index)
    assert report["environment_error"] is None
    assert report["verdict"] == "incomplete"  # most contracts did not run
    assert (report["totals"]["pass"], report["totals"]["unsupported"]) == (1, 1)
    assert report["totals"]["not-run"] == len(CATALOG) - 2
    rows = {row["id"]: row for row in report["contracts"]}
    assert list(rows) == list(CATALOG)
    record = rows["REC-001"]
    assert (record["result"], record["layer"]) == ("pass", "record")
    assert record["statement"] == CATALOG["REC-001"].statement
    assert record["tests_run"] == len(record["tests"]) > 0
    assert all("test_record.py::" in test for test in record["tests"])
    assert record["reproduce"].endswith(f"--sanctum-seed={SEED} --sanctum-contracts=REC-001")
    cache = rows["CACHE-007"]
    assert cache["result"] == "unsupported"
    assert cache["requires"] == list(CATALOG["CACHE-007"].requires)
    assert cache["missing_capabilities"] == ["distributed_cache"]
    assert rows["BLOB-001"]["result"] == "not-run"
    assert (rows["BLOB-001"]["tests"], rows["BLOB-001"]["tests_run"]) == ([], 0)
    assert f"report written to {REPORT}" in run.output


def test_an_unsupported_contract_names_every_missing_capability(
    pytester: pytest.Pytester,
) -> None:
    """A skip names the first missing capability; the report names them all."""
    run = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        "--sanctum-contracts=REC-003",
        "--sanctum-mask=records,conditional_writes",
    )
    assert run.report is not None
    row = next(row for row in run.report["contracts"] if row["id"] == "REC-003")
    assert (row["result"], row["missing_capabilities"]) == (
        "unsupported",
        ["records", "conditional_writes"],
    )


def test_the_report_says_whether_a_backdoor_was_used(pytester: pytest.Pytester) -> None:
    """A contract reading the backend reports the adapter's backdoor used; one that does
    not, none."""
    own = run_kit(pytester, "--sanctum-adapter=memory", "--sanctum-contracts=REC-006")
    assert own.report is not None
    assert (own.report["backdoor_used"], own.report["backdoor_fallback_used"]) == (True, False)
    none = run_kit(pytester, "--sanctum-adapter=memory", "--sanctum-contracts=REC-003")
    assert none.report is not None
    assert (none.report["backdoor_used"], none.report["backdoor_fallback_used"]) == (False, False)


MARKDOWN_FIELD_NAMES = (
    "adapter_source",
    "environment_error",
    "reference_cache",
    "backdoor_used",
    "baseline_reason",
    "format_version",
    "missing_capabilities",
)


def test_a_markdown_report_reads_as_a_certificate(pytester: pytest.Pytester) -> None:
    """No ``None``, no Python repr, no raw field names; every contract has a row, the ones
    that did not run as "not run"."""
    pytester.makefile(".txt", baseline="BLOB-004: head size is off by one (vendor bug 12)\n")
    run = run_kit(
        pytester,
        "--sanctum-adapter=mutants:head_wrong_size",
        "--sanctum-contracts=BLOB-004,REC-001,CACHE-007",
        "--sanctum-baseline=baseline.txt",
        "--sanctum-report=conformance.md",
        report=False,
    )
    text = (pytester.path / "conformance.md").read_text(encoding="utf-8")
    assert text.startswith("# Conformance report: `mutants:head_wrong_size`\n")
    assert "**Verdict: incomplete**: at least one contract could not be checked" in text
    assert "Known failures listed in the baseline, reported below: 1." in text
    assert "| `REC-001` | Round trip | passed | " in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| `")}
    assert rows["| `BLOB-004`"].startswith("| `BLOB-004` | Head returns metadata | known failure |")
    assert rows["| `BLOB-004`"].endswith("| baseline: head size is off by one (vendor bug 12) |")
    assert "| not supported |" in rows["| `CACHE-007`"]
    assert rows["| `CACHE-007`"].endswith("| missing capability: `distributed_cache` |")
    assert "| `BLOB-001` | Round trip | not run | 0 | deselected or not collected" in text
    assert "| Seed | " + str(SEED) + " |" in text
    for wrong in ("None", "[]", "['", "True", "False", *MARKDOWN_FIELD_NAMES):
        assert wrong not in text, wrong
    assert run.ret == pytest.ExitCode.OK, run.output


def test_the_terminal_matrix(pytester: pytest.Pytester) -> None:
    run = run_kit(pytester, "--sanctum-adapter=memory", "--sanctum-contracts=REC-001,CACHE-007")
    not_run = len(CATALOG) - 2
    blobs = sum(found.layer == "blob" for found in CATALOG.values())
    run.result.stdout.fnmatch_lines(
        [
            "*sanctum conformance*",
            f"blob*{blobs} not-run",
            "record*REC-001 pass, * not-run",
            "cache*CACHE-007 unsupported, * not-run",
            f"contracts: 1 pass, 1 unsupported, {not_run} not-run",
            "verdict: incomplete (exit status 0)",
        ]
    )


def test_collect_only_writes_no_report(pytester: pytest.Pytester) -> None:
    """``--co`` runs nothing, so it neither writes nor overwrites the report."""
    (pytester.path / REPORT).write_text("kept", encoding="utf-8")
    run = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        "--sanctum-contracts=REC-001",
        f"--sanctum-report={REPORT}",
        "--co",
        report=False,
    )
    assert run.ret == pytest.ExitCode.OK, run.output
    assert (pytester.path / REPORT).read_text(encoding="utf-8") == "kept"
    assert "sanctum conformance" not in run.output
    assert "report written" not in run.output


def test_junit_carries_adapter_seed_kit_version_and_verdict(pytester: pytest.Pytester) -> None:
    run = run_kit(
        pytester, "--sanctum-adapter=memory", "--sanctum-contracts=REC-001", "--junitxml=j.xml"
    )
    assert run.ret == pytest.ExitCode.OK, run.output
    root = ElementTree.parse(pytester.path / "j.xml").getroot()
    found = {p.get("name"): p.get("value") for p in root.iterfind("testsuite/properties/property")}
    assert found == {
        "sanctum_adapter": "memory",
        "sanctum_seed": str(SEED),
        "sanctum_kit_version": pytest_sanctum.__version__,
        "sanctum_verdict": "incomplete",
    }


BACKEND_HOOK = """
import pytest

from pytest_sanctum.kit.backend_info import BackendInfo


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_backend_info(config, adapter):
    return BackendInfo("VendorDB", "7.1-" + adapter.name)
"""


def test_the_backend_info_hook_names_the_backend(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(BACKEND_HOOK)
    run = run_kit(pytester, "--sanctum-adapter=memory", "--sanctum-contracts=REC-001")
    assert run.report is not None
    assert (run.report["backend"], run.report["backend_version"]) == ("VendorDB", "7.1-memory")


def test_a_missing_capability_skips_quoting_its_contract(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_one="""
        from pytest_sanctum.kit.contracts import contract


        @contract("CACHE-007")
        def test_shared(sanctum_client):
            raise AssertionError("must not run: the reference has no distributed cache")
        """
    )
    run = run_kit(pytester, "test_one.py", "--sanctum-adapter=memory", "-rs")
    doc = Capabilities.doc("distributed_cache")
    run.result.assert_outcomes(skipped=1)
    assert run.details("CACHE-007") == [f"unsupported: distributed_cache: {doc}"]
    assert f"unsupported: distributed_cache: {doc}" in run.output
    assert "verdict: incomplete (exit status 1)" in run.output  # no contract was tested
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output


# -- baselines, failures, environment ------------------------------------------------------


def test_a_baselined_failure_is_an_expected_failure(pytester: pytest.Pytester) -> None:
    pytester.makefile(".txt", baseline="BLOB-004: head size is off by one (vendor bug 12)\n")
    run = run_kit(
        pytester,
        "--sanctum-adapter=mutants:head_wrong_size",
        "--sanctum-contracts=BLOB-004",
        "--sanctum-baseline=baseline.txt",
    )
    assert run.results == {"BLOB-004": "expected-failure"}
    assert run.report is not None
    row = next(row for row in run.report["contracts"] if row["id"] == "BLOB-004")
    assert row["baseline_reason"] == "head size is off by one (vendor bug 12)"
    assert "xfailed" in run.result.parseoutcomes()
    assert run.ret == pytest.ExitCode.OK, run.output


def test_a_baselined_contract_that_passes_is_a_stale_baseline(pytester: pytest.Pytester) -> None:
    pytester.makefile(".txt", baseline="REC-001: used to fail\n")
    run = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        "--sanctum-contracts=REC-001",
        "--sanctum-baseline=baseline.txt",
    )
    assert run.results == {"REC-001": "stale-baseline"}
    assert "ERROR stale baseline: REC-001 passes; remove it from the baseline file" in run.output
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output


def test_a_failure_prints_how_to_reproduce_it(pytester: pytest.Pytester) -> None:
    run = run_kit(
        pytester,
        "--sanctum-adapter=mutants:head_wrong_size",
        '--sanctum-adapter-options={"server": "repro"}',
        "--sanctum-contracts=BLOB-004",
    )
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output
    run.result.stdout.fnmatch_lines(
        [
            "*- sanctum: reproduce -*",
            "pytest --sanctum-adapter=mutants:head_wrong_size "
            '--sanctum-adapter-options=\'{"server": "repro"}\' --sanctum-profile=ci '
            f"--sanctum-seed={SEED} --sanctum-contracts=BLOB-004",
        ]
    )


@pytest.mark.parametrize("how", ["option", "ini"])
def test_an_unreachable_backend_skips_as_environment_when_not_required(
    pytester: pytest.Pytester, how: str
) -> None:
    """Under ``--sanctum-require-backend=no`` (or the ini key) the tests skip as environment;
    the run still fails, for it tested no contract."""
    pytester.makepyfile(down=DOWN)
    pytester.syspathinsert()
    if how == "ini":
        pytester.makeini("[pytest]\nsanctum_require_backend = false\n")
    run = run_kit(
        pytester,
        "--sanctum-adapter=down:factory",
        "--sanctum-contracts=REC-001,STR-001",
        *(["--sanctum-require-backend=no"] if how == "option" else []),
    )
    reason = "environment: down:factory: connection refused by db:5432"
    assert run.results == {"REC-001": "environment", "STR-001": "environment"}
    assert set(run.details("REC-001")) == {reason}
    assert "sanctum: environment: down:factory: connection refused by db:5432" in run.output
    assert "contracts: 2 environment" in run.output
    assert run.report is not None
    assert run.report["environment_error"] == "down:factory: connection refused by db:5432"
    assert run.report["verdict"] == "incomplete"
    run.result.assert_outcomes(skipped=3)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output


@pytest.mark.parametrize(
    ("args", "env", "source"),
    [
        ([], None, "the conformance suite requires it by default"),
        (["--sanctum-require-backend=yes"], "0", "--sanctum-require-backend=yes"),
        ([], "1", "$SANCTUM_REQUIRE_BACKEND=1"),
        (["-o", "sanctum_require_backend=true"], None, "ini sanctum_require_backend=true"),
    ],
    ids=["suite-default", "option-beats-variable", "variable", "ini"],
)
def test_an_unreachable_backend_fails_when_it_is_required(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: str | None,
    source: str,
) -> None:
    """The tests fail (as environment, not as a broken contract) and the run is incomplete."""
    if env is not None:
        monkeypatch.setenv("SANCTUM_REQUIRE_BACKEND", env)
    pytester.makepyfile(down=DOWN)
    pytester.syspathinsert()
    run = run_kit(pytester, "--sanctum-adapter=down:factory", "--sanctum-contracts=REC-001", *args)
    assert run.results == {"REC-001": "environment"}
    assert f"the backend is required: {source}" in run.output
    assert "verdict: incomplete (exit status 1)" in run.output
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output


# -- hooks -------------------------------------------------------------------------------

HOOKS = """
import json
from pathlib import Path

import pytest

from reference_adapters.memory import MemoryBackdoor, create_memory_adapter

LOG = Path(__file__).with_name("hooks.log")


def record(*parts):
    with LOG.open("a") as log:
        log.write(json.dumps(parts) + "\\n")


def vendor_factory(options, clock):
    record("factory", dict(options))
    return create_memory_adapter({"server": options["server"]}, clock)


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_adapter_factory(config, spec):
    record("resolve", spec)
    return vendor_factory if spec == "vendor" else None


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_provision(config, worker_id):
    record("provision", worker_id)
    return {"server": f"provisioned-{worker_id}"}


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_cleanup(config, worker_id, options):
    record("cleanup", worker_id, dict(options))


class VendorProbe(MemoryBackdoor):
    pass


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_backdoor(config, adapter):
    return VendorProbe(adapter.server)
"""

HOOKED_TEST = """
from pytest_sanctum.types import Layer


def test_vendor(sanctum_client, sanctum_namespace, sanctum_backdoor):
    sanctum_client.records.put(sanctum_namespace, "k", {"n": 1})
    assert type(sanctum_backdoor).__name__ == "VendorProbe"
    assert sanctum_backdoor.read_object(Layer.RECORD, sanctum_namespace, "k").version == 1


def test_vendor_again(sanctum_client, sanctum_namespace):
    sanctum_client.records.put(sanctum_namespace, "k", {"n": 1})
"""


def test_adapter_hooks(pytester: pytest.Pytester) -> None:
    """A conftest resolves the adapter, provisions once (its options reach the factory),
    offers a backdoor, and cleans up once."""
    pytester.makeconftest(HOOKS)
    pytester.makepyfile(test_vendor=HOOKED_TEST)
    run = run_kit(pytester, "test_vendor.py", "--sanctum-adapter=vendor")
    calls = [
        json.loads(line)
        for line in (pytester.path / "hooks.log").read_text(encoding="utf-8").splitlines()
    ]
    run.result.assert_outcomes(passed=2)
    assert calls[:2] == [["resolve", "vendor"], ["provision", "master"]]
    assert calls[-1] == ["cleanup", "master", {"server": "provisioned-master"}]
    assert [c[0] for c in calls].count("provision") == 1
    assert [c[0] for c in calls].count("cleanup") == 1
    factory_options = [c[1] for c in calls if c[0] == "factory"]
    assert factory_options
    assert all(options == {"server": "provisioned-master"} for options in factory_options)
    assert _header(run.output).startswith("sanctum: adapter vendor (from --sanctum-adapter)")


def test_the_backdoor_hook_sees_the_vendors_adapter_inside_the_kits_wrappers(
    pytester: pytest.Pytester,
) -> None:
    """Under a mask and the reference cache, the hook still gets the adapter its factory
    built (here it reads ``adapter.server``, which the wrappers do not have)."""
    pytester.makeconftest(HOOKS)
    pytester.makepyfile(test_vendor=HOOKED_TEST)
    run = run_kit(
        pytester,
        "test_vendor.py",
        "--sanctum-adapter=vendor",
        "--sanctum-mask=cache",
        "--sanctum-reference-cache",
    )
    run.result.assert_outcomes(passed=2)


# -- xdist -------------------------------------------------------------------------------------


def test_xdist_runs_the_suite_and_writes_one_report(pytester: pytest.Pytester) -> None:
    """Under ``-n 2`` the suite passes and the controller writes one report of every contract."""
    run = run_kit(pytester, "--sanctum-adapter=memory", "-n", "2")
    assert run.ret == pytest.ExitCode.OK, run.output
    assert run.results == expected_results(declared())
    assert run.output.count(f"report written to {REPORT}") == 1
    assert run.report is not None
    tests = {test for row in run.report["contracts"] for test in row["tests"]}
    assert any(Path(test.split("::")[0]).name == "test_record.py" for test in tests)
