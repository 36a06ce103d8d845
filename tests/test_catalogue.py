"""The contract catalogue, its generated document and the conformance tests point at each other."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from pytest_sanctum import conformance
from pytest_sanctum.kit.contracts import CATALOG, render_markdown
from pytest_sanctum.types import Capabilities

DOC = Path(__file__).resolve().parent.parent / "docs" / "tests-contracts.md"


def _conformance_tests() -> dict[str, list[str]]:
    """Test function name → the contract ids it is marked with, over the whole suite."""
    found: dict[str, list[str]] = {}
    for module_info in pkgutil.iter_modules(conformance.__path__):
        if not module_info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"pytest_sanctum.conformance.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("test_") and function.__module__ == module.__name__:
                marks = getattr(function, "pytestmark", [])
                found[f"{module_info.name}::{name}"] = [
                    mark.args[0] for mark in marks if mark.name == "sanctum_contract"
                ]
    return found


def test_the_document_is_generated_from_the_catalogue() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/tests-contracts.md is out of date: run python -m pytest_sanctum.kit.contracts --write"
    )


def test_every_conformance_test_cites_exactly_one_known_contract() -> None:
    tests = _conformance_tests()
    assert tests, "the conformance package has no tests"
    wrong = {name: ids for name, ids in tests.items() if len(ids) != 1 or ids[0] not in CATALOG}
    assert not wrong, f"tests without exactly one catalogued contract: {wrong}"


def test_every_contract_has_a_conformance_test() -> None:
    cited = {ids[0] for ids in _conformance_tests().values() if ids}
    assert set(CATALOG) - cited == set(), "contracts without a conformance test"


def test_contract_ids_are_well_formed_and_capabilities_known() -> None:
    for contract_id, found in CATALOG.items():
        prefix, _, number = contract_id.partition("-")
        assert prefix.isupper(), contract_id
        assert len(number) == 3, contract_id
        assert number.isdigit(), contract_id
        assert set(found.requires) <= set(Capabilities.field_names()), contract_id
        assert found.statement.endswith("."), contract_id
