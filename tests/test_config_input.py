"""``parse_config`` on hostile input: always a ``ConfigError``, one short line per problem."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hostile import (
    HostileStr,
    PairsMapping,
    RaisingHash,
    RaisingRepr,
    UnreadableMapping,
    hostile_params,
)

from pytest_sanctum.config import MAX_CONFIG_DEPTH, parse_config
from pytest_sanctum.errors import ConfigError


def refused(source: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(source)
    return info.value


def problem_lines(error: ConfigError) -> list[str]:
    """The lines of the message after its title (one per problem)."""
    return error.message.splitlines()[1:]


def with_options(options: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "adapters": {"m": {"kind": "memory", "options": options}},
        "namespaces": {"*": {"adapter": "m"}},
    }


def nested_options(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return with_options(value)


@pytest.mark.parametrize(
    "source",
    ["\x00", "a\x00b.json", "{\x00", "", " ", "/" * 5000, "x" * 100_000],
    ids=["nul", "nul-in-path", "brace-nul", "empty", "blank", "long-slashes", "long-name"],
)
def test_strings_that_are_neither_json_nor_a_readable_file(source: str) -> None:
    error = refused(source)
    assert error.field is None
    assert len(error.message) < 500


def test_json_text_nested_5000_deep_is_refused() -> None:
    error = refused('{"a":' * 5000 + "1" + "}" * 5000)
    assert f"nesting deeper than {MAX_CONFIG_DEPTH} levels" in error.message


def test_a_mapping_nested_5000_deep_is_refused_naming_where() -> None:
    error = refused(nested_options(5000))
    assert f"more than {MAX_CONFIG_DEPTH} levels" in error.message
    assert error.field is not None
    assert error.field.startswith("adapters.m.options.a.a")


def test_nesting_within_the_limit_is_accepted_at_any_stack_depth() -> None:
    deepest = nested_options(MAX_CONFIG_DEPTH - 4)  # root, adapters, m, options: 4 levels

    def at_depth(frames: int, call: Callable[[], Any]) -> Any:
        return call() if frames <= 0 else at_depth(frames - 1, call)

    here = len(inspect.stack(0))
    parsed = at_depth(sys.getrecursionlimit() - here - 150, lambda: parse_config(deepest))
    assert parsed.adapters["m"].options["a"]["a"] is not None


@pytest.mark.parametrize(
    "source",
    [
        UnreadableMapping(),
        {"schemaVersion": 1, "adapters": UnreadableMapping()},
        {"schemaVersion": 1, "adapters": {"m": UnreadableMapping()}},
        with_options(UnreadableMapping()),
    ],
    ids=["root", "adapters", "adapter", "options"],
)
def test_a_mapping_whose_iteration_raises_is_refused_naming_it(source: Any) -> None:
    error = refused(source)
    expected = {"root": None}.get(error.field or "root", error.field)
    assert "cannot be read" in error.message
    assert error.field == expected


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"schemaVersion": RaisingRepr()}, "schema_version"),
        ({"schemaVersion": 1, "cache": {"ttlMs": RaisingRepr()}}, "cache.ttl_ms"),
        ({"schemaVersion": 1, "adapters": {"m": {"kind": RaisingRepr()}}}, "adapters.m.kind"),
        (with_options({"a": RaisingRepr()}), "adapters.m.options"),
        ({"schemaVersion": 1, "acl": {"*": {"p": RaisingRepr()}}}, "acl.*.p"),
        ({"schemaVersion": 10**5000}, "schema_version"),
        ({"schemaVersion": 1, "streams": {"maxBatch": 10**5000}}, "streams.max_batch"),
    ],
    ids=["version", "ttl", "kind", "option", "acl", "huge-version", "huge-batch"],
)
def test_values_whose_repr_raises_or_is_huge_are_named(source: Any, field: str) -> None:
    error = refused(source)
    assert error.field == field
    assert len(problem_lines(error)) == 1
    assert len(error.message) < 400


@pytest.mark.parametrize(
    "source",
    [
        PairsMapping((RaisingHash(), 1), ("schemaVersion", 1)),
        {"schemaVersion": 1, "adapters": PairsMapping((RaisingHash(), {"kind": "memory"}))},
        with_options(PairsMapping((RaisingHash(), 1))),
        PairsMapping((HostileStr("schemaVersion"), 1)),
    ],
    ids=["root-key", "adapter-key", "option-key", "str-subclass-key"],
)
def test_keys_whose_hash_raises_are_refused(source: Any) -> None:
    refused(source)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf")],
)
def test_a_non_finite_option_is_one_line_naming_the_option(value: float, shown: str) -> None:
    error = refused(with_options({"a": [1, {"b": value}]}))
    assert error.field == "adapters.m.options"
    (line,) = problem_lines(error)
    assert line.strip() == (
        f"adapters.m.options: options['a'][1]['b']: {shown} is not a JSON number"
        " (JSON has no NaN or infinity)"
    )


@pytest.mark.parametrize("value", hostile_params())
@pytest.mark.parametrize(
    "place",
    [
        lambda v: v,
        lambda v: {"schemaVersion": v},
        lambda v: {"schemaVersion": 1, "namespaces": {"*": {"adapter": "memory", "cache": v}}},
        lambda v: {"schemaVersion": 1, "acl": {"*": {"p": [v]}}},
        lambda v: with_options({"k": v}),
        lambda v: with_options([v]),
    ],
    ids=["source", "version", "namespace-cache", "acl-pattern", "option", "options-list"],
)
def test_any_hostile_value_anywhere_is_a_config_error(
    value: object, place: Callable[[object], Any]
) -> None:
    error = refused(place(value))
    assert len(error.message) < 600
    assert error.message.count("\n") <= 1
