"""The kit can fail: every mutant of the ``mutants`` package makes the contracts it names fail.

Each mutant breaks one behaviour of the reference (adapter mutants) or of the facade
(facade mutants); the kit, run against it on the contracts it must kill, has to exit 1
with each of them reported as ``fail``. The reference itself passes the whole suite.
"""

from __future__ import annotations

import pytest
from kit_helpers import declared, expected_results, preload_suite, run_kit
from mutants import KNOWN_GAPS, MUTANTS

from pytest_sanctum.kit.contracts import CATALOG


@pytest.fixture(scope="module", autouse=True)
def _suite_loaded() -> None:
    preload_suite()


def mutant_args(name: str) -> list[str]:
    """The command-line arguments that run the kit against mutant ``name``."""
    if MUTANTS[name].kind == "adapter":
        return [f"--sanctum-adapter=mutants:{name}"]
    return ["--sanctum-adapter=memory", "-p", "mutants", f"--facade-mutant={name}"]


def _cases() -> list[object]:
    return [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(reason=KNOWN_GAPS[name], strict=True)]
            if name in KNOWN_GAPS
            else [],
            id=f"{MUTANTS[name].kind}-{name}",
        )
        for name in MUTANTS
    ]


@pytest.mark.parametrize("name", _cases())
def test_the_kit_fails_the_mutant(pytester: pytest.Pytester, name: str) -> None:
    """The kit exits 1 and reports every contract the mutant breaks as failed."""
    kills = sorted(MUTANTS[name].kills)
    run = run_kit(pytester, *mutant_args(name), f"--sanctum-contracts={','.join(kills)}")
    observed = {contract_id: run.results.get(contract_id, "not-run") for contract_id in kills}
    assert observed == dict.fromkeys(kills, "fail"), (
        f"mutant {name!r} ({MUTANTS[name].factory.__doc__}) should fail {kills}; "
        f"the kit reported {observed}\n{run.output}"
    )
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output


def test_every_contract_is_killed_by_a_mutant() -> None:
    """A contract no mutant makes fail is not done: each needs a mutant proving its tests bite."""
    killed = set().union(*(m.kills for n, m in MUTANTS.items() if n not in KNOWN_GAPS))
    assert sorted(set(CATALOG) - killed) == [], "contracts no mutant makes fail"
    assert sorted(killed - set(CATALOG)) == [], "mutants name contracts not in the catalogue"


def test_known_gaps_name_registered_mutants() -> None:
    assert set(KNOWN_GAPS) <= set(MUTANTS)


def test_the_reference_passes_the_whole_suite(pytester: pytest.Pytester) -> None:
    """Against the reference every contract passes, or is unsupported when it needs a
    capability the reference does not declare (the distributed cache is off by default)."""
    run = run_kit(pytester, "--sanctum-adapter=memory")
    assert run.results == expected_results(declared()), run.output
    outcomes = run.result.parseoutcomes()
    assert not {"failed", "errors", "xfailed", "xpassed"} & set(outcomes), outcomes
    assert run.ret == pytest.ExitCode.OK, run.output
