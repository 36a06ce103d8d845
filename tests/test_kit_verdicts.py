"""Honest verdicts: each failure of a kit run once seen in the field, reproduced and now fixed.

1. green with nothing tested; 2. a host ``conformance`` package shadowing the suite;
3. an adapter in the ini or environment hijacking the app's run; 4. baseline failures
invisible to pytest's summary and JUnit; 5. seeds that do not replay (xdist workers, the
``ci`` profile, the facade's jitter); 6. a missing client library; 7. kit hooks in a
conftest run without the kit.
"""

from __future__ import annotations

import json
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from kit_helpers import DOWN, only_line, run_kit

import reference_adapters.postgres  # noqa: F401 - see UNREACHABLE
from pytest_sanctum import create_storage_client, parse_config
from pytest_sanctum.errors import ConfigError
from pytest_sanctum.kit import property_runs

APP_TEST = """
def test_own(sanctum_client, sanctum_namespace):
    sanctum_client.records.put(sanctum_namespace, "order", {"total": 3})
    assert sanctum_client.records.get(sanctum_namespace, "order").value == {"total": 3}
"""


pytestmark = pytest.mark.usefixtures("clean_kit_env", "suite_loaded")


def _verdict(output: str) -> str:
    return only_line(output, "verdict: ")


# -- 1. green with nothing tested ------------------------------------------------------------


def test_an_unreachable_backend_fails_the_suite_by_default(pytester: pytest.Pytester) -> None:
    """No variable set: every test fails as environment and the run is incomplete."""
    pytester.makepyfile(down=DOWN)
    pytester.syspathinsert()
    run = run_kit(pytester, "--sanctum-adapter=down:factory", profile="default")
    assert set(run.results.values()) <= {"environment", "unsupported"}, run.output
    assert "environment" in run.results.values()
    assert _verdict(run.output) == "verdict: incomplete (exit status 1)"
    assert "passed" not in run.result.parseoutcomes()
    assert run.report is not None
    assert run.report["verdict"] == "incomplete"
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output


UNREACHABLE = {
    "redis": {"url": "redis://127.0.0.1:1/0", "socket_timeout_s": 1},
    "postgres": {"conninfo": "host=127.0.0.1 port=1 dbname=test connect_timeout=2"},
}
"""Real adapters pointed at a port nothing listens on. The PostgreSQL adapter is imported with this
one: an in-process run forgets the modules it imports, and psycopg imported again no longer
recognises the exceptions its compiled part raises."""


@pytest.mark.parametrize("required", ["yes", "no"])
@pytest.mark.parametrize("adapter", sorted(UNREACHABLE))
def test_the_differential_tier_reports_an_unreachable_backend_as_environment(
    pytester: pytest.Pytester, adapter: str, required: str
) -> None:
    """The ``DIFF-*`` tests, which open their adapters themselves rather than through a
    fixture, are ``environment`` like every other contract: never a failed contract."""
    run = run_kit(
        pytester,
        f"--sanctum-adapter={adapter}",
        f"--sanctum-adapter-options={json.dumps(UNREACHABLE[adapter])}",
        "--sanctum-contracts=DIFF-001,DIFF-002,DIFF-003",
        f"--sanctum-require-backend={required}",
        profile="default",
    )
    assert run.results == dict.fromkeys(("DIFF-001", "DIFF-002", "DIFF-003"), "environment"), (
        run.output
    )
    assert run.report is not None
    assert run.report["verdict"] == "incomplete"
    assert "failed" not in run.result.parseoutcomes(), run.output
    assert _verdict(run.output) == "verdict: incomplete (exit status 1)"
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output


DYING = """
import itertools

from pytest_sanctum.errors import BackendUnavailableError
from pytest_sanctum.kit import backend_faults
from reference_adapters.memory import create_memory_adapter

OPENED = itertools.count()
ADAPTERS = []


def factory(options, clock):
    # The backend goes away as the fifth adapter opens: the open adapters refuse every
    # call from then on, and no adapter opens any more.
    if next(OPENED) >= 4:
        for adapter in ADAPTERS:
            adapter.fault_injector().provoke(backend_faults.UNREACHABLE).__enter__()
        raise BackendUnavailableError("connection refused by db:5432")
    adapter = create_memory_adapter(options, clock)
    ADAPTERS.append(adapter)
    return adapter
"""
"""A module whose backend is reachable when the run starts and goes away during it."""


@pytest.mark.parametrize("required", ["yes", "no"])
def test_a_backend_lost_during_a_test_is_environment_not_a_failed_contract(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, required: str
) -> None:
    """A test that fails because the backend went away (a fresh adapter no longer opens) is
    ``environment``, reported as the ones that could not start are. (Not shrinking the
    failures keeps this test short.)"""
    monkeypatch.setattr(property_runs, "SHRINK_SECONDS", 0.0)
    pytester.makepyfile(dying=DYING)
    pytester.syspathinsert()
    run = run_kit(
        pytester,
        "--sanctum-adapter=dying:factory",
        "--sanctum-contracts=DIFF-001,DIFF-003",
        f"--sanctum-require-backend={required}",
        profile="default",
    )
    assert run.results == {"DIFF-001": "environment", "DIFF-003": "environment"}, run.output
    reason = (
        "environment: dying:factory: connection refused by db:5432 (the backend became "
        "unreachable during the test)"
    )
    assert any(line.startswith(reason) for line in run.details("DIFF-001")), run.details("DIFF-001")
    assert "sanctum: reproduce" not in run.output
    assert _verdict(run.output) == "verdict: incomplete (exit status 1)"
    assert run.result.parseoutcomes().get("skipped" if required == "no" else "failed") == 2


def test_a_run_that_tests_no_contract_fails_even_with_the_backend_optional(
    pytester: pytest.Pytester,
) -> None:
    """Everything skipped as environment is not a pass: the run exits 1 and says why."""
    pytester.makepyfile(down=DOWN)
    pytester.syspathinsert()
    run = run_kit(
        pytester, "--sanctum-adapter=down:factory", "--sanctum-require-backend=no", profile=None
    )
    outcomes = run.result.parseoutcomes()
    assert set(outcomes) == {"skipped"}, outcomes
    assert "  no contract was tested" in run.result.outlines, run.output
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output


def test_a_run_that_collects_nothing_fails_instead_of_exit_5(pytester: pytest.Pytester) -> None:
    run = run_kit(pytester, "--sanctum-adapter=memory", "-k", "no_test_has_this_name")
    assert "  no contract was tested" in run.result.outlines, run.output
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output


# -- 2. a shadowed suite ----------------------------------------------------------------------


def _vendor_packages(pytester: pytest.Pytester) -> None:
    """A vendor repository with packages named like the kit's, and a root conftest (which
    puts the repository first on ``sys.path``)."""
    pytester.makeconftest("")
    for package in ("conformance", "reference_adapters"):
        pytester.mkpydir(package)
    pytester.path.joinpath("conformance", "test_vendor.py").write_text(
        "def test_vendor():\n    pass\n", encoding="utf-8"
    )


def test_the_suite_is_collected_from_the_kit_whatever_the_host_calls_its_packages(
    pytester: pytest.Pytester,
) -> None:
    _vendor_packages(pytester)
    run = run_kit(pytester, "--sanctum-adapter=memory", "--sanctum-contracts=REC-001,BLOB-001")
    assert run.results == {"REC-001": "pass", "BLOB-001": "pass"}, run.output
    assert run.report is not None
    tests = [test for row in run.report["contracts"] for test in row["tests"]]
    assert {test.partition("::")[0] for test in tests} == {"test_blob.py", "test_record.py"}
    assert "test_vendor" not in run.output
    assert run.ret == pytest.ExitCode.OK, run.output


def test_a_suite_the_project_settings_cannot_collect_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\npython_files = check_*.py\n")
    run = run_kit(pytester, "--sanctum-adapter=memory")
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert "collected no contract test" in run.result.stderr.str()


def test_a_host_package_shadowing_the_reference_adapters_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the host's own ``reference_adapters`` is the one imported (first on ``sys.path``
    of an installed kit), the memory adapter cannot load: a usage error says which package
    shadows the kit's."""
    host = types.ModuleType("reference_adapters")
    host.__file__ = str(pytester.path / "reference_adapters" / "__init__.py")
    monkeypatch.setitem(sys.modules, "reference_adapters", host)
    monkeypatch.delitem(sys.modules, "reference_adapters.memory")
    run = run_kit(pytester, "--sanctum-adapter=memory")
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.output
    stderr = run.result.stderr.str()
    assert f"the package 'reference_adapters' imported from {host.__file__} is not the one " in (
        stderr
    )
    assert "INTERNALERROR" not in run.output


def test_a_host_package_shadowing_the_reference_adapters_leaves_its_own_tests_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin loads its fixtures in every run without importing ``reference_adapters``:
    the host's own tests run although its package of that name hides the kit's."""
    host = types.ModuleType("reference_adapters")
    host.__file__ = str(pytester.path / "reference_adapters" / "__init__.py")
    monkeypatch.setitem(sys.modules, "reference_adapters", host)
    for name in list(sys.modules):
        if name.startswith(("reference_adapters.", "pytest_sanctum.kit.")):
            monkeypatch.delitem(sys.modules, name)
    pytester.makepyfile(test_own="def test_own():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


# -- 3. hijacked app runs ---------------------------------------------------------------------


@pytest.mark.parametrize("via", ["ini", "environment"])
def test_an_adapter_chosen_in_the_ini_or_environment_only_configures_the_fixtures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """Plain ``pytest`` runs the app's own tests (over the chosen adapter), not the suite."""
    if via == "ini":
        pytester.makeini("[pytest]\nsanctum_adapter = memory\n")
    else:
        monkeypatch.setenv("SANCTUM_ADAPTER", "memory")
    pytester.makepyfile(test_app=APP_TEST)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "sanctum conformance" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.OK


def test_paths_given_with_the_adapter_run_the_projects_own_tests(
    pytester: pytest.Pytester,
) -> None:
    """``pytest tests/ --sanctum-adapter=X``: the app's tests over ``X``, no suite, no verdict."""
    pytester.makepyfile(test_app=APP_TEST)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "test_app.py", "--sanctum-adapter=memory"
    )
    result.assert_outcomes(passed=1)
    assert "verdict:" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.OK


def test_the_ini_can_ask_for_the_suite(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsanctum_adapter = memory\nsanctum_suite = true\n")
    pytester.makepyfile(test_app=APP_TEST)
    run = run_kit(pytester, "--sanctum-contracts=REC-001")
    assert run.results == {"REC-001": "pass"}, run.output
    assert "test_app.py" not in run.output
    assert run.ret == pytest.ExitCode.OK, run.output


# -- 4. baseline failures pytest and JUnit can see ------------------------------------------


def _junit(pytester: pytest.Pytester) -> dict[str, int]:
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    return {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}


def test_a_stale_baseline_entry_is_a_failure_in_the_summary_and_junit(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".txt", baseline="REC-001: used to fail\n")
    run = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        "--sanctum-contracts=REC-001",
        "--sanctum-baseline=baseline.txt",
        "--junitxml=junit.xml",
    )
    assert run.results == {"REC-001": "stale-baseline"}
    assert run.result.parseoutcomes().get("failed") == 1, run.output
    assert "[XPASS(strict)] sanctum baseline: REC-001: used to fail" in run.output
    assert _junit(pytester)["failures"] == 1
    assert _verdict(run.output) == "verdict: not conformant (exit status 1)"
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output


def test_a_known_failure_is_an_xfail_in_the_summary_and_junit(pytester: pytest.Pytester) -> None:
    pytester.makefile(".txt", baseline="BLOB-004: head size is off by one (vendor bug 12)\n")
    run = run_kit(
        pytester,
        "--sanctum-adapter=mutants:head_wrong_size",
        "--sanctum-contracts=BLOB-004,REC-001",
        "--sanctum-baseline=baseline.txt",
        "--junitxml=junit.xml",
    )
    assert run.results == {"BLOB-004": "expected-failure", "REC-001": "pass"}
    outcomes = run.result.parseoutcomes()
    assert "xfailed" in outcomes
    assert "failed" not in outcomes
    junit = _junit(pytester)
    assert (junit["failures"], junit["errors"]) == (0, 0)
    assert junit["skipped"] >= 1
    assert _verdict(run.output) == "verdict: incomplete (exit status 0)"  # narrowed run
    assert run.ret == pytest.ExitCode.OK, run.output


# -- 5. one seed replays everything ----------------------------------------------------------

DRAWS = """
import json
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from pytest_sanctum.kit.contracts import contract


def record(name, value):
    with Path(__file__).with_name("draws.jsonl").open("a") as log:
        log.write(json.dumps([name, value]) + "\\n")


def machine(name):
    class Draws(RuleBasedStateMachine):
        @rule(number=st.integers(), text=st.text(max_size=5))
        def draw(self, number, text):
            record(name, [number, text])

    return Draws


@contract("PROP-001")
def test_draws_a(sanctum_kit):
    record("seed", sanctum_kit.seed)
    sanctum_kit.run_machine(machine("a"))


@contract("PROP-002")
def test_draws_b(sanctum_kit, sanctum_client):
    record("seed", sanctum_kit.seed)
    record("jitter", [sanctum_client._core.rng.random() for _ in range(3)])
    sanctum_kit.run_machine(machine("b"))
"""


def _draws(pytester: pytest.Pytester, *args: str, profile: str = "default") -> dict[str, list]:
    """Run the drawing tests and return what each drew (in draw order), by test."""
    log = pytester.path / "draws.jsonl"
    log.unlink(missing_ok=True)
    run = run_kit(pytester, "test_draws.py", "--sanctum-adapter=memory", *args, profile=profile)
    assert run.ret == pytest.ExitCode.OK, run.output
    found: dict[str, list] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        name, value = json.loads(line)
        found.setdefault(name, []).append(value)
    found["header"] = [line for line in run.result.outlines if line.startswith("sanctum: adapter")]
    return found


def test_one_seed_draws_the_same_examples_with_and_without_xdist(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_draws=DRAWS)
    alone = _draws(pytester, "--sanctum-seed=5")
    again = _draws(pytester, "--sanctum-seed=5")
    spread = _draws(pytester, "--sanctum-seed=5", "-n", "2")
    other = _draws(pytester, "--sanctum-seed=6")
    for name in ("a", "b", "jitter"):
        assert alone[name] == again[name] == spread[name], name
    assert (alone["a"], alone["jitter"]) != (other["a"], other["jitter"])
    assert set(map(str, spread["seed"])) == {"5"}


def test_every_xdist_worker_draws_from_the_controllers_seed(pytester: pytest.Pytester) -> None:
    """No seed given: the one the header shows is the one both workers use."""
    pytester.makepyfile(test_draws=DRAWS)
    draws = _draws(pytester, "-n", "2", "--dist=each")
    [header] = draws["header"]
    assert {f"seed {seed}" for seed in draws["seed"]} == {header.rpartition(", ")[2]}
    assert len(draws["seed"]) == 4  # two tests on each of two workers


def test_the_ci_profile_is_derandomised(pytester: pytest.Pytester) -> None:
    """Under ``ci`` hypothesis draws the same examples whatever the seed."""
    pytester.makepyfile(test_draws=DRAWS)
    first = _draws(pytester, "--sanctum-seed=5", profile="ci")
    second = _draws(pytester, "--sanctum-seed=6", profile="ci")
    assert first["a"] == second["a"]
    assert first["b"] == second["b"]


# -- 6. a missing client library --------------------------------------------------------------


@pytest.fixture
def without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as if redis-py were not installed."""
    monkeypatch.setitem(sys.modules, "redis", None)
    for name in list(sys.modules):
        if name == "reference_adapters.redis_adapter":
            monkeypatch.delitem(sys.modules, name)


@pytest.mark.usefixtures("without_redis")
def test_an_adapter_whose_library_is_missing_is_a_usage_error_naming_the_extra(
    pytester: pytest.Pytester,
) -> None:
    run = run_kit(pytester, "--sanctum-adapter=redis")
    stderr = run.result.stderr.str()
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert (
        "--sanctum-adapter='redis': adapter 'redis' needs the module 'redis', which is not "
        "installed: pip install 'pytest-sanctum[redis]'"
    ) in stderr
    assert "INTERNALERROR" not in run.output
    assert "Traceback" not in run.output


@pytest.mark.usefixtures("without_redis")
def test_the_facade_raises_config_error_for_a_missing_library() -> None:
    config = parse_config(
        {
            "schemaVersion": 1,
            "adapters": {"main": {"kind": "redis"}},
            "namespaces": {"*": {"adapter": "main"}},
        }
    )
    with pytest.raises(ConfigError, match=r"pip install 'pytest-sanctum\[redis\]'") as raised:
        create_storage_client(config)
    assert raised.value.code == "config_error"


# -- 7. kit hooks without the kit --------------------------------------------------------------

PROVISION = """
import pytest


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_provision(config, worker_id):
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_sanctum_backdoor(config, adapter):
    return None
"""


def test_a_conftest_with_optional_kit_hooks_runs_without_the_kit(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(PROVISION)
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    for args in (["-p", "no:sanctum"], []):
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
        result.assert_outcomes(passed=1)


def test_the_docs_mark_every_kit_hook_optional() -> None:
    """Every example implementing a kit hook in the docs carries ``optionalhook=True``."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    examples = 0
    for page in docs.glob("*.md"):
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.startswith("def pytest_sanctum_"):
                examples += 1
                assert lines[number - 1] == "@pytest.hookimpl(optionalhook=True)", (
                    f"{page.name}:{number + 1}: {line}"
                )
    assert examples >= 2, "the docs show how to implement a kit hook"
