"""The pytest plugin of pytest-sanctum (registered under ``pytest11`` as ``sanctum``).

Without ``--sanctum-adapter`` it only offers fixtures and markers, so a project's own
tests run as before. With it (or ``SANCTUM_ADAPTER``, or the ``sanctum_adapter`` ini
key), it runs the conformance suite against that adapter and reports contract by
contract. Heavy modules are imported only when a feature is used.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator

    from pytest_sanctum.kit.report import ConformanceReport
    from pytest_sanctum.kit.session import AdapterChoice, KitSession

ADAPTER_ENV = "SANCTUM_ADAPTER"
OPTIONS_ENV = "SANCTUM_ADAPTER_OPTIONS"
PROFILE_ENV = "SANCTUM_PROFILE"
SEED_ENV = "SANCTUM_SEED"
FAULTS_ENV = "SANCTUM_FAULTS"

_SESSION: pytest.StashKey[KitSession] = pytest.StashKey()
_REPORT: pytest.StashKey[ConformanceReport] = pytest.StashKey()
_BASELINE: pytest.StashKey[dict[str, str]] = pytest.StashKey()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_sanctum.kit import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sanctum", "pytest-sanctum conformance kit")
    group.addoption(
        "--sanctum-adapter",
        metavar="NAME|MODULE:FACTORY",
        help=f"run the conformance suite against this adapter (also ${ADAPTER_ENV}, "
        "ini sanctum_adapter); a registered name such as 'memory' or 'package.module:factory'",
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
    parser.addini("sanctum_adapter", "adapter the conformance suite runs against")
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
    seed_text = config.getoption("sanctum_seed") or os.environ.get(SEED_ENV)
    if seed_text is None:
        seed = secrets.randbelow(2**32)
    else:
        try:
            seed = int(seed_text)
        except ValueError:
            raise pytest.UsageError(f"--sanctum-seed={seed_text!r}: must be an integer") from None
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
        seed,
        worker_id,
        faults,
        reference_cache=bool(config.getoption("sanctum_reference_cache")),
    )


def kit_session(config: pytest.Config) -> KitSession:
    """The run's kit session (built on first use when no adapter was selected)."""
    session = config.stash.get(_SESSION, None)
    if session is None:
        session = config.stash[_SESSION] = _build_session(config)
    return session


def _selected(config: pytest.Config) -> bool:
    return _SESSION in config.stash and config.stash[_SESSION].choice.selected


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sanctum_contract(id): the conformance contract this test checks"
    )
    config.addinivalue_line(
        "markers",
        "sanctum_requires(*capabilities): skip as unsupported unless the adapter declares them",
    )
    config.pluginmanager.import_plugin("pytest_sanctum.kit.fixtures")
    choice = _choice(config)
    wants_report = config.getoption("sanctum_report") or config.getoption("sanctum_baseline")
    if not (choice.selected or wants_report or config.getoption("sanctum_contracts")):
        return
    from pytest_sanctum.kit.baseline import BaselineError, load_baseline
    from pytest_sanctum.kit.report import ConformanceReport

    session = kit_session(config)
    baseline_path = config.getoption("sanctum_baseline")
    baseline: dict[str, str] = {}
    if baseline_path:
        try:
            baseline = load_baseline(Path(baseline_path))
        except BaselineError as error:
            raise pytest.UsageError(f"--sanctum-baseline: {error}") from None
    config.stash[_BASELINE] = baseline
    conformance = ConformanceReport(_header(session, baseline_path), baseline)
    config.stash[_REPORT] = conformance
    config.pluginmanager.register(conformance, "sanctum-report")
    if choice.selected and config.args_source != pytest.Config.ArgsSource.ARGS:
        import conformance as suite

        config.args = [str(Path(suite.__file__).parent)]


def _header(session: KitSession, baseline_path: str | None) -> dict[str, object]:
    import pytest_sanctum

    return {
        "kit_version": pytest_sanctum.__version__,
        "adapter": session.choice.spec,
        "adapter_source": session.choice.source,
        "mask": list(session.mask),
        "reference_cache": session.reference_cache,
        "profile": session.profile,
        "seed": session.seed,
        "faults": list(session.faults),
        "baseline": baseline_path,
    }


def pytest_sessionstart(session: pytest.Session) -> None:
    """Open the selected adapter once before any test, so options it refuses are a usage
    error (also under ``-q``, which prints no header) rather than an error in every test."""
    if _selected(session.config):
        kit_session(session.config).environment_error  # noqa: B018 - resolves the adapter


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if not _selected(config):
        return None
    session = kit_session(config)
    lines = [
        f"sanctum: adapter {session.choice.spec} (from {session.choice.source}), "
        f"kit {_header(session, None)['kit_version']}, profile {session.profile}, "
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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


def pytest_runtest_setup(item: pytest.Item) -> None:
    requires = item.get_closest_marker("sanctum_requires")
    if requires is not None:
        kit_session(item.config).require(tuple(requires.args))


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
    if report.when == "call":
        examples = kit_session(item.config).take_examples()
        if examples:
            report.user_properties.append(("sanctum_examples", examples))
    if report.when == "call" and report.failed:
        baseline = item.config.stash.get(_BASELINE, {})
        if contract_id in baseline:
            report.outcome = "skipped"
            report.wasxfail = f"sanctum baseline: {contract_id}: {baseline[contract_id]}"
        else:
            command = kit_session(item.config).reproduce_command(contract_id)
            report.sections.append(("sanctum: reproduce", command))
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _SESSION in config.stash:
        config.stash[_SESSION].cleanup()
    conformance = config.stash.get(_REPORT, None)
    if conformance is None or hasattr(config, "workerinput"):
        return
    if conformance.stale():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    kit = config.stash[_SESSION]
    problem = kit.environment_error
    conformance.header["environment_error"] = problem
    conformance.header["capabilities"] = [] if problem else list(kit.declared.names())
    path = config.getoption("sanctum_report")
    if path:
        conformance.write(Path(path))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    conformance = config.stash.get(_REPORT, None)
    if conformance is None or hasattr(config, "workerinput"):
        return
    terminalreporter.section("sanctum conformance")
    if conformance.header.get("reference_cache"):
        terminalreporter.write_line(REFERENCE_CACHE_NOTE)
    for line in conformance.matrix_lines():
        terminalreporter.write_line(line)
    for contract_id in conformance.stale():
        terminalreporter.write_line(
            f"ERROR stale baseline: {contract_id} passes; remove it from the baseline file",
            red=True,
        )
    path = config.getoption("sanctum_report")
    if path:
        terminalreporter.write_line(f"report written to {path}")


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
