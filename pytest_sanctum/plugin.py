"""The pytest plugin of pytest-sanctum (registered under ``pytest11`` as ``sanctum``).

Without a request for the suite it only offers fixtures and markers, so a project's own
tests run as before; ``SANCTUM_ADAPTER`` or the ``sanctum_adapter`` ini key choose the
adapter those fixtures use. ``--sanctum-adapter`` on the command line, ``--sanctum-suite``
or the ini key ``sanctum_suite`` run the kit's conformance suite, collected by path from
the installed kit, and decide a verdict (``pytest_sanctum.kit.verdict``) that is the exit
status. Heavy modules are imported only when a feature is used.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator

    from pytest_sanctum.kit.report import ConformanceReport
    from pytest_sanctum.kit.report_model import ConformanceReportV1 as ReportModel
    from pytest_sanctum.kit.session import AdapterChoice, KitSession
    from pytest_sanctum.kit.verdict import Decision

ADAPTER_ENV = "SANCTUM_ADAPTER"
OPTIONS_ENV = "SANCTUM_ADAPTER_OPTIONS"
PROFILE_ENV = "SANCTUM_PROFILE"
SEED_ENV = "SANCTUM_SEED"
FAULTS_ENV = "SANCTUM_FAULTS"
REQUIRE_BACKEND_ENV = "SANCTUM_REQUIRE_BACKEND"
SEED_WORKERINPUT = "sanctum_seed"
"""The key under which the controller hands its seed to every xdist worker."""

SUITE_DIR = Path(__file__).parent / "conformance"
"""The kit's conformance suite, collected by this path (never by a package name the host
project may also use)."""

_SESSION: pytest.StashKey[KitSession] = pytest.StashKey()
_REPORT: pytest.StashKey[ConformanceReport] = pytest.StashKey()
_BASELINE: pytest.StashKey[dict[str, str]] = pytest.StashKey()
_SEED: pytest.StashKey[int] = pytest.StashKey()
_SCOPE: pytest.StashKey[RunScope] = pytest.StashKey()
_DECISION: pytest.StashKey[Decision] = pytest.StashKey()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_sanctum.kit import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sanctum", "pytest-sanctum conformance kit")
    group.addoption(
        "--sanctum-adapter",
        metavar="NAME|MODULE:FACTORY",
        help="run the conformance suite against this adapter: a registered name such as "
        f"'memory' or 'package.module:factory' (${ADAPTER_ENV} and ini sanctum_adapter only "
        "choose the fixtures' adapter)",
    )
    group.addoption(
        "--sanctum-suite",
        action="store_true",
        help="run the conformance suite against the chosen adapter (also ini sanctum_suite); "
        "--sanctum-adapter implies it",
    )
    group.addoption(
        "--sanctum-require-backend",
        choices=("yes", "no"),
        help="yes: an unreachable backend fails the tests; no: they skip as environment (also "
        f"${REQUIRE_BACKEND_ENV}=1/0, ini sanctum_require_backend); default yes when the suite "
        "runs, else no",
    )
    group.addoption(
        "--sanctum-adapter-options",
        metavar="JSON",
        help=f"adapter options as a JSON object (also ${OPTIONS_ENV})",
    )
    group.addoption(
        "--sanctum-mask",
        metavar="CAPS",
        help="comma-separated capabilities to hide from the adapter",
    )
    group.addoption(
        "--sanctum-reference-cache",
        action="store_true",
        help="run an adapter that declares no cache behind the reference (memory) cache, so "
        "the contracts needing a cache certify its stores behind it (not a cache of its own)",
    )
    group.addoption(
        "--sanctum-profile",
        metavar="NAME",
        help=f"hypothesis profile: default, thorough or ci (also ${PROFILE_ENV}, "
        "ini sanctum_profile)",
    )
    group.addoption(
        "--sanctum-seed", metavar="INT", help=f"seed of the property tests (also ${SEED_ENV})"
    )
    group.addoption(
        "--sanctum-faults",
        metavar="KINDS",
        help="fault kinds the history contracts (HIST-*) inject: comma-separated, 'all' or "
        f"'none' (also ${FAULTS_ENV}, ini sanctum_faults)",
    )
    group.addoption(
        "--sanctum-contracts",
        metavar="IDS",
        help="run only the tests of these comma-separated contract ids",
    )
    group.addoption(
        "--sanctum-report",
        metavar="PATH",
        help="write the conformance report: JSON, or Markdown when PATH ends in .md",
    )
    group.addoption(
        "--sanctum-baseline",
        metavar="FILE",
        help="contracts expected to fail ('ID: reason' per line); a listed contract that "
        "passes fails the run as a stale baseline",
    )
    group.addoption(
        "--sanctum-list",
        action="store_true",
        help="list every contract with the capabilities it needs, then exit",
    )
    parser.addini("sanctum_adapter", "adapter of the kit's fixtures (and of the suite, if run)")
    parser.addini(
        "sanctum_suite", "run the kit's conformance suite (true/false)", type="bool", default=False
    )
    parser.addini(
        "sanctum_require_backend",
        "an unreachable backend fails the tests (true) or skips them (false)",
    )
    parser.addini("sanctum_profile", "hypothesis profile of the property tests")
    parser.addini("sanctum_faults", "fault kinds the history contracts inject ('all', 'none', ...)")


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.getoption("sanctum_list"):
        return None
    from pytest_sanctum.kit.contracts import CATALOG

    for found in CATALOG.values():
        needs = ", ".join(found.requires) or "-"
        print(f"{found.id:<10} {found.layer:<13} {found.title}  [needs: {needs}]")
    return 0


def _choice(config: pytest.Config) -> AdapterChoice:
    from pytest_sanctum.kit.session import AdapterChoice

    given = config.getoption("sanctum_adapter")
    if given:
        return AdapterChoice(given, "--sanctum-adapter", True)
    if os.environ.get(ADAPTER_ENV):
        return AdapterChoice(os.environ[ADAPTER_ENV], f"${ADAPTER_ENV}", True)
    ini = config.getini("sanctum_adapter")
    if ini:
        return AdapterChoice(str(ini), "ini sanctum_adapter", True)
    return AdapterChoice("memory", "default", False)


def _build_session(config: pytest.Config) -> KitSession:
    """Resolve every kit option; a bad value is a usage error saying what is wrong."""
    from pytest_sanctum.errors import SanctumError
    from pytest_sanctum.kit.masks import check_mask
    from pytest_sanctum.kit.session import PROFILES, KitSession

    choice = _choice(config)
    factory = config.hook.pytest_sanctum_adapter_factory(config=config, spec=choice.spec)
    if factory is None:
        from pytest_sanctum.adapters.registry import load_adapter_factory

        try:
            factory = load_adapter_factory(choice.spec)
        except SanctumError as error:
            raise pytest.UsageError(f"{choice.source}={choice.spec!r}: {error.message}") from None
    raw_options = config.getoption("sanctum_adapter_options") or os.environ.get(OPTIONS_ENV)
    try:
        options = json.loads(raw_options) if raw_options else {}
    except json.JSONDecodeError as error:
        raise pytest.UsageError(f"--sanctum-adapter-options is not JSON: {error}") from None
    if not isinstance(options, dict):
        raise pytest.UsageError("--sanctum-adapter-options must be a JSON object")
    mask_text = config.getoption("sanctum_mask") or ""
    try:
        mask = check_mask([name.strip() for name in mask_text.split(",") if name.strip()])
    except ValueError as error:
        raise pytest.UsageError(f"--sanctum-mask: {error}") from None
    profile = (
        config.getoption("sanctum_profile")
        or os.environ.get(PROFILE_ENV)
        or config.getini("sanctum_profile")
        or "default"
    )
    if profile not in PROFILES:
        raise pytest.UsageError(
            f"--sanctum-profile={profile!r}: choose one of {', '.join(PROFILES)}"
        )
    faults_text = (
        config.getoption("sanctum_faults")
        or os.environ.get(FAULTS_ENV)
        or config.getini("sanctum_faults")
        or ""
    )
    from pytest_sanctum.faults import parse_faults

    try:
        faults = parse_faults(str(faults_text))
    except ValueError as error:
        raise pytest.UsageError(f"--sanctum-faults: {error}") from None
    # xdist's own record of the worker, not $PYTEST_XDIST_WORKER: a pytest run inside an
    # xdist worker (pytester) inherits that variable without being a worker itself.
    workerinput = getattr(config, "workerinput", None)
    worker_id = str(workerinput["workerid"]) if workerinput is not None else "master"
    return KitSession(
        config,
        choice,
        factory,
        options,
        mask,
        str(profile),
        config.stash[_SEED],
        worker_id,
        faults,
        reference_cache=bool(config.getoption("sanctum_reference_cache")),
        require_backend=_require_backend(config),
    )


def _run_seed(config: pytest.Config) -> int:
    """The run's seed: an xdist worker's is its controller's, else the option, the variable,
    or a new random one."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and SEED_WORKERINPUT in workerinput:
        return int(workerinput[SEED_WORKERINPUT])
    seed_text = config.getoption("sanctum_seed") or os.environ.get(SEED_ENV)
    if seed_text is None:
        return secrets.randbelow(2**32)
    try:
        return int(seed_text)
    except ValueError:
        raise pytest.UsageError(f"--sanctum-seed={seed_text!r}: must be an integer") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Hand the controller's seed to an xdist worker (pytest-xdist calls this on the
    controller for each worker), so every worker draws from the one seed the header shows."""
    node.workerinput[SEED_WORKERINPUT] = node.config.stash[_SEED]


_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}


def _require_backend(config: pytest.Config) -> str | None:
    """What requires the backend (the command line, the variable, the ini, or the suite by
    default), or ``None`` when an unreachable one may be skipped as ``environment``."""
    given = config.getoption("sanctum_require_backend")
    if given:
        return f"--sanctum-require-backend={given}" if given == "yes" else None
    env = os.environ.get(REQUIRE_BACKEND_ENV, "").strip().lower()
    if env in _TRUE | _FALSE:
        return f"${REQUIRE_BACKEND_ENV}={env}" if env in _TRUE else None
    ini = str(config.getini("sanctum_require_backend") or "").strip().lower()
    if ini:
        if ini not in _TRUE | _FALSE:
            raise pytest.UsageError(f"ini sanctum_require_backend={ini!r}: use true or false")
        return f"ini sanctum_require_backend={ini}" if ini in _TRUE else None
    return "the conformance suite requires it by default" if _suite_requested(config) else None


def _suite_requested(config: pytest.Config) -> bool:
    """Whether the kit's suite runs: the user asked for it (``--sanctum-adapter`` on the
    command line, ``--sanctum-suite`` or the ini key ``sanctum_suite``; an adapter chosen by
    the variable or the ini alone only configures the fixtures) and gave no paths of their
    own (then those run, over the chosen adapter)."""
    asked = bool(
        config.getoption("sanctum_adapter")
        or config.getoption("sanctum_suite")
        or config.getini("sanctum_suite")
    )
    return asked and config.args_source != pytest.Config.ArgsSource.ARGS


def _suite_path() -> Path:
    """The installed kit's suite directory; a usage error when it is not there."""
    if not (SUITE_DIR / "__init__.py").is_file() or not any(SUITE_DIR.glob("test_*.py")):
        raise pytest.UsageError(
            f"the conformance suite is missing from the installed kit ({SUITE_DIR}): "
            "reinstall pytest-sanctum"
        )
    return SUITE_DIR


def kit_session(config: pytest.Config) -> KitSession:
    """The run's kit session (built on first use when no adapter was selected)."""
    session = config.stash.get(_SESSION, None)
    if session is None:
        session = config.stash[_SESSION] = _build_session(config)
    return session


def _kit_run(config: pytest.Config) -> bool:
    """Whether this is a kit run (the suite, a report, a baseline or contracts asked for):
    it prints the header and the matrix and decides a verdict."""
    return _REPORT in config.stash


class RunScope:
    """Whether the user narrowed the run to part of the suite (paths or node ids, ``-k``,
    ``-m``, ``--deselect``, ``--lf``, ``--sanctum-contracts``, or any plugin deselecting):
    then contracts without a test are ``not-run`` by choice and do not fail the run."""

    def __init__(self, config: pytest.Config) -> None:
        option = config.option
        self.narrowed = bool(
            config.args_source == pytest.Config.ArgsSource.ARGS
            or config.getoption("sanctum_contracts")
            or getattr(option, "keyword", "")
            or getattr(option, "markexpr", "")
            or getattr(option, "deselect", None)
            or getattr(option, "lf", False)
        )

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """Any deselection narrows the run (a pytest hook)."""
        if items:
            self.narrowed = True


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sanctum_contract(id): the conformance contract this test checks"
    )
    config.addinivalue_line(
        "markers",
        "sanctum_requires(*capabilities): skip as unsupported unless the adapter declares them",
    )
    config.stash[_SEED] = _run_seed(config)
    config.pluginmanager.import_plugin("pytest_sanctum.kit.fixtures")
    suite = _suite_requested(config)
    wants_report = config.getoption("sanctum_report") or config.getoption("sanctum_baseline")
    if not (suite or wants_report or config.getoption("sanctum_contracts")):
        return
    from pytest_sanctum.kit.baseline import BaselineError, load_baseline
    from pytest_sanctum.kit.report import ConformanceReport

    kit_session(config)  # resolves every option now: a bad one is a usage error
    baseline_path = config.getoption("sanctum_baseline")
    baseline: dict[str, str] = {}
    if baseline_path:
        try:
            baseline = load_baseline(Path(baseline_path))
        except BaselineError as error:
            raise pytest.UsageError(f"--sanctum-baseline: {error}") from None
    config.stash[_BASELINE] = baseline
    kit_session(config).known_failures = frozenset(baseline)
    scope = config.stash[_SCOPE] = RunScope(config)
    config.pluginmanager.register(scope, "sanctum-scope")
    conformance = ConformanceReport(baseline, baseline_path)
    config.stash[_REPORT] = conformance
    config.pluginmanager.register(conformance, "sanctum-report")
    if suite:
        config.args = [str(_suite_path())]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Open the adapter of a kit run once before any test, so options it refuses are a usage
    error (also under ``-q``, which prints no header) rather than an error in every test."""
    if _kit_run(session.config):
        kit_session(session.config).environment_error  # noqa: B018 - resolves the adapter


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if not _kit_run(config):
        return None
    import pytest_sanctum

    session = kit_session(config)
    lines = [
        f"sanctum: adapter {session.choice.spec} (from {session.choice.source}), "
        f"kit {pytest_sanctum.__version__}, profile {session.profile}, "
        f"seed {session.seed}"
    ]
    problem = session.environment_error
    if problem is not None:
        lines.append(f"sanctum: environment: {problem}")
    else:
        lines.append(f"sanctum: capabilities: {', '.join(session.declared.names()) or 'none'}")
        lines += _cache_lines(session)
    if session.mask:
        lines.append(f"sanctum: masked: {', '.join(session.mask)}")
    lines.append(f"sanctum: faults: {', '.join(session.faults) or 'none'} (history contracts)")
    return lines


def _cache_lines(session: KitSession) -> list[str]:
    """What stands in for a cache the adapter does not declare, or how to get one."""
    if session.reference_cache:
        return [REFERENCE_CACHE_NOTE]
    if session.declared.cache:
        return []
    from pytest_sanctum.kit.contracts import CATALOG

    needing = sum("cache" in found.requires for found in CATALOG.values())
    return [
        f"sanctum: the adapter declares no cache, so the {needing} contracts needing one are "
        "unsupported; --sanctum-reference-cache runs them behind the reference (memory) cache"
    ]


REFERENCE_CACHE_NOTE = (
    "sanctum: cache: the reference (memory) cache, one per adapter instance "
    "(--sanctum-reference-cache): the contracts needing a cache certify the adapter's stores "
    "behind it, not a cache of the adapter's own"
)
"""The header and summary line of a run behind the reference cache."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check the suite was collected, mark baselined contracts' tests as expected failures,
    and keep only the contracts ``--sanctum-contracts`` names."""
    if not _kit_run(config):
        return
    if _suite_requested(config) and not config.stash[_SCOPE].narrowed:
        _check_suite_collected(config, items)
    _mark_baseline(config, items)
    wanted_text = config.getoption("sanctum_contracts")
    if not wanted_text:
        return
    from pytest_sanctum.kit.contracts import CATALOG

    wanted = {part.strip() for part in wanted_text.split(",") if part.strip()}
    unknown = sorted(wanted - set(CATALOG))
    if unknown:
        raise pytest.UsageError(f"--sanctum-contracts: unknown contract ids {unknown}")
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("sanctum_contract")
        (keep if marker is not None and marker.args[0] in wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _check_suite_collected(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A usage error when the suite ran but none of its contract tests was collected (the
    project's ``python_files`` or ``python_functions`` leave them out, say)."""
    if any(item.get_closest_marker("sanctum_contract") is not None for item in items):
        return
    raise pytest.UsageError(
        f"the conformance suite at {SUITE_DIR} collected no contract test: check that the "
        "project's python_files / python_functions settings admit 'test_*.py' and 'test_*'"
    )


def _mark_baseline(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests of a baselined contract are expected failures (``xfail``, not strict: the
    baseline names contracts, and one failing test of several is the contract failing);
    a contract whose tests all pass is reported stale at the end of the run."""
    baseline = config.stash.get(_BASELINE, {})
    if not baseline:
        return
    for item in items:
        marker = item.get_closest_marker("sanctum_contract")
        if marker is not None and marker.args[0] in baseline:
            contract_id = marker.args[0]
            reason = f"sanctum baseline: {contract_id}: {baseline[contract_id]}"
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))


def pytest_runtest_setup(item: pytest.Item) -> None:
    requires = item.get_closest_marker("sanctum_requires")
    if requires is not None:
        kit_session(item.config).require(tuple(requires.args))
    elif item.get_closest_marker("sanctum_contract") is not None:
        kit_session(item.config).require_environment()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    marker = item.get_closest_marker("sanctum_contract")
    if marker is None:
        return report
    contract_id = marker.args[0]
    report.user_properties.append(("sanctum_contract", contract_id))
    used = kit_session(item.config).take_backdoor_use()
    if used:
        report.user_properties.append(("sanctum_backdoor", ",".join(sorted(used))))
    if report.when == "teardown":  # the phase whose properties JUnit writes
        examples = kit_session(item.config).take_examples()
        if examples:
            report.user_properties.append(("sanctum_examples", examples))
    if report.when == "call" and report.failed:
        lost = kit_session(item.config).backend_lost()
        if lost is not None:
            return _lost_backend(item, report, lost)
        command = kit_session(item.config).reproduce_command(contract_id)
        report.sections.append(("sanctum: reproduce", command))
    return report


def _lost_backend(item: pytest.Item, report: pytest.TestReport, problem: str) -> pytest.TestReport:
    """A test that failed while its backend went away is ``environment``, as one that could
    not start: a failure naming it when the backend is required, else a skip."""
    kit = kit_session(item.config)
    reason = f"environment: {problem} (the backend became unreachable during the test)"
    if kit.require_backend is None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {reason}")
        return report
    report.longrepr = (
        f"{reason}; the backend is required: {kit.require_backend}. The test failed with:\n"
        f"{report.longreprtext}"
    )
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Clean up the worker; on the controller, decide the verdict and make it the exit
    status, give JUnit its properties and write the report. ``tryfirst``: a stale baseline
    entry is logged as a failed test, and the properties are added, before JUnit writes its
    file. A collect-only run (``--co``) decides nothing and writes no report: nothing ran."""
    config = session.config
    if _SESSION in config.stash:
        config.stash[_SESSION].cleanup()
    conformance = config.stash.get(_REPORT, None)
    if conformance is None or hasattr(config, "workerinput") or config.option.collectonly:
        return
    _log_stale_baseline(config, conformance)
    report = conformance.model(config.stash[_SESSION], _decide(session, conformance))
    _junit_properties(config, report)
    path = config.getoption("sanctum_report")
    if path:
        from pytest_sanctum.kit.report import write_report

        write_report(report, Path(path))


JUNIT_PROPERTIES = ("adapter", "seed", "kit_version", "verdict")
"""Report fields every JUnit file of a kit run carries as ``sanctum_<field>`` test-suite
properties."""


def _junit_properties(config: pytest.Config, report: ReportModel) -> None:
    """Add the run's adapter, seed, kit version and verdict to the JUnit XML file, if any
    (what the ``record_testsuite_property`` fixture does, for the whole session)."""
    from _pytest.junitxml import xml_key

    xml = config.stash.get(xml_key, None)
    if xml is not None:
        for name in JUNIT_PROPERTIES:
            xml.add_global_property(f"sanctum_{name}", str(getattr(report, name)))


def _log_stale_baseline(config: pytest.Config, conformance: ConformanceReport) -> None:
    """One failed test report per stale baseline entry, as pytest words a strict xfail that
    passed: the summary line and JUnit count it as a failure."""
    for contract_id in conformance.stale():
        name = f"sanctum-baseline::{contract_id}"
        report = pytest.TestReport(
            nodeid=name,
            location=(str(config.getoption("sanctum_baseline")), 0, name),
            keywords={},
            outcome="failed",
            longrepr=f"[XPASS(strict)] sanctum baseline: {contract_id}: "
            f"{conformance.baseline[contract_id]}: every test of the contract passed; "
            "remove it from the baseline file",
            when="call",
        )
        config.hook.pytest_runtest_logreport(report=report)


def _decide(session: pytest.Session, conformance: ConformanceReport) -> Decision:
    """The verdict of the run, which becomes its exit status: a run pytest already fails
    (a test outside the contracts failed, an error) keeps failing."""
    from pytest_sanctum.kit.verdict import decide

    config = session.config
    decision = decide(
        conformance.results(),
        narrowed=config.stash[_SCOPE].narrowed,
        require_backend=config.stash[_SESSION].require_backend is not None,
    )
    config.stash[_DECISION] = decision
    status = session.exitstatus
    if status in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = decision.exit_status
    return decision


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    conformance = config.stash.get(_REPORT, None)
    if conformance is None or hasattr(config, "workerinput") or config.option.collectonly:
        return
    terminalreporter.section("sanctum conformance")
    if config.stash[_SESSION].reference_cache:
        terminalreporter.write_line(REFERENCE_CACHE_NOTE)
    for line in conformance.matrix_lines():
        terminalreporter.write_line(line)
    for contract_id in conformance.stale():
        terminalreporter.write_line(
            f"ERROR stale baseline: {contract_id} passes; remove it from the baseline file",
            red=True,
        )
    decision = config.stash.get(_DECISION, None)
    if decision is not None:
        _write_verdict(terminalreporter, decision, exitstatus)
    path = config.getoption("sanctum_report")
    if path:
        terminalreporter.write_line(f"report written to {path}")


def _write_verdict(
    terminalreporter: pytest.TerminalReporter, decision: Decision, exitstatus: int
) -> None:
    """The verdict line, the run's exit status, and one line per reason (``exitstatus`` is
    pytest's, from before the verdict set it)."""
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        exitstatus = decision.exit_status
    good = exitstatus == pytest.ExitCode.OK
    terminalreporter.write_line(
        f"verdict: {decision.verdict} (exit status {int(exitstatus)})",
        green=good and decision.verdict == "conformant",
        yellow=good and decision.verdict != "conformant",
        red=not good,
        bold=True,
    )
    for reason in decision.reasons:
        terminalreporter.write_line(f"  {reason}")


@pytest.hookimpl(trylast=True)
def pytest_sanctum_backdoor(config: pytest.Config, adapter: object) -> object:
    """The default backdoor: the adapter's own ``backdoor()`` method, when it has one."""
    make = getattr(adapter, "backdoor", None)
    return make() if callable(make) else None


@pytest.hookimpl(trylast=True)
def pytest_sanctum_fault_injector(config: pytest.Config, adapter: object) -> object:
    """The default fault injector: the adapter's own ``fault_injector()``, when it has one."""
    make = getattr(adapter, "fault_injector", None)
    return make() if callable(make) else None


@pytest.hookimpl(trylast=True)
def pytest_sanctum_backend_info(config: pytest.Config, adapter: object) -> object:
    """The default backend info: the adapter's own ``backend_info()``, when it has one."""
    describe = getattr(adapter, "backend_info", None)
    return describe() if callable(describe) else None
