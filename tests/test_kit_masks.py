"""The reference under capability masks: every capability-off branch runs in our own CI.

Masking a capability must turn exactly the contracts that need it into ``unsupported``
skips quoting the capability's contract, and leave every other contract passing.
"""

from __future__ import annotations

import pytest
from kit_helpers import declared, expected_results, preload_suite, run_kit, skip_reason

from pytest_sanctum.types import Capabilities

LAYER_CAPABILITIES = ("blobs", "records", "streams", "cache")
OPTIONAL = tuple(name for name in Capabilities.field_names() if name not in LAYER_CAPABILITIES)
"""The guarantees beyond the layers themselves."""

MASKS = [pytest.param((name,), id=name) for name in Capabilities.field_names()]
MASKS.append(pytest.param(OPTIONAL, id="every-optional-capability"))


@pytest.fixture(scope="module", autouse=True)
def _suite_loaded() -> None:
    preload_suite()


@pytest.mark.parametrize("mask", MASKS)
def test_a_mask_turns_exactly_the_contracts_needing_it_unsupported(
    pytester: pytest.Pytester, mask: tuple[str, ...]
) -> None:
    """Contracts needing a masked capability skip with its contract; all others pass."""
    run = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        f"--sanctum-mask={','.join(mask)}",
        profile="default",
    )
    capabilities = declared() - set(mask)
    assert run.results == expected_results(capabilities), run.output
    reasons = {
        contract_id: set(run.details(contract_id))
        for contract_id, result in run.results.items()
        if result == "unsupported"
    }
    assert reasons == {
        contract_id: {skip_reason(contract_id, capabilities)} for contract_id in reasons
    }
    assert f"sanctum: masked: {', '.join(mask)}" in run.output
    assert run.report is not None
    assert run.report["mask"] == list(mask)
    assert run.ret == pytest.ExitCode.OK, run.output


def test_the_reference_with_only_the_base_protocols_passes_everything(
    pytester: pytest.Pytester,
) -> None:
    """An adapter that implements only the base protocols (``interface: basic``: no
    purging writes, no filling reads, a ``CheckpointStore``, no batched log reads) runs on
    the facade's default path and passes every contract the full memory adapter passes."""
    run = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        '--sanctum-adapter-options={"interface": "basic", "shared_cache": true}',
        profile="default",
    )
    assert set(run.results.values()) == {"pass", "unsupported"}, run.output
    assert run.results == expected_results(declared({"shared_cache": True})), run.output
    assert run.ret == pytest.ExitCode.OK, run.output


def test_the_reference_with_a_shared_cache_passes_everything(pytester: pytest.Pytester) -> None:
    """With ``shared_cache`` the reference declares every capability and passes every contract
    but the one running clients in other processes, which a memory server cannot serve."""
    options = {"shared_cache": True}
    run = run_kit(
        pytester,
        "--sanctum-adapter=memory",
        '--sanctum-adapter-options={"shared_cache": true}',
        profile="default",
    )
    assert declared(options) == set(Capabilities.field_names())
    assert set(run.results.values()) == {"pass", "unsupported"}, run.output
    assert run.results == expected_results(declared(options)), run.output
    assert run.ret == pytest.ExitCode.OK, run.output
