"""Tests of the configuration schema: what is accepted, what is refused and with which field."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from pytest_sanctum.config import (
    OPERATIONS,
    SCHEMA_FILE,
    SCHEMA_VERSION,
    AdapterConfig,
    CacheConfig,
    NamespaceConfig,
    StorageConfigV1,
    default_config,
    json_schema,
    parse_config,
    render_json_schema,
)
from pytest_sanctum.config import schema as schema_module
from pytest_sanctum.errors import ConfigError


def config(**fields: Any) -> dict[str, Any]:
    """A raw configuration with ``schema_version: 1`` and the given top-level fields."""
    return {"schema_version": 1, **fields}


def refused(source: Any) -> ConfigError:
    """Parse ``source`` expecting a ``ConfigError`` and return it."""
    with pytest.raises(ConfigError) as info:
        parse_config(source)
    return info.value


# --- schema_version ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "given"),
    [
        ({"schema_version": 1.0}, "1.0 (float)"),
        ({"schema_version": True}, "True (bool)"),
        ({"schema_version": "1"}, "'1' (str)"),
        ({"schema_version": 2}, "2 (int)"),
        ({"schema_version": 0}, "0 (int)"),
        ({"schemaVersion": 2}, "2 (int)"),
        ({}, "missing"),
        ({"cache": {}}, "missing"),
    ],
)
def test_schema_version_must_be_the_integer_one(raw: dict[str, Any], given: str) -> None:
    error = refused(raw)
    assert error.field == "schema_version"
    assert given in error.message
    assert "only the integer 1 is accepted" in error.message


@pytest.mark.parametrize("raw", [{"schema_version": 1}, {"schemaVersion": 1}])
def test_schema_version_one_is_accepted_under_either_name(raw: dict[str, Any]) -> None:
    assert parse_config(raw).schema_version == 1


def test_a_field_given_under_both_names_is_refused() -> None:
    error = refused(config(cache={"ttl_ms": 100, "ttlMs": 200}))
    assert error.field == "cache.ttl_ms"
    assert "twice" in error.message


# --- defaults ---------------------------------------------------------------------------


def test_defaults() -> None:
    cfg = default_config()
    assert cfg == parse_config({"schema_version": 1})
    assert dict(cfg.adapters) == {"memory": AdapterConfig(kind="memory")}
    assert dict(cfg.namespaces) == {"*": NamespaceConfig(adapter="memory")}
    assert cfg.cache == CacheConfig(enabled=True, adapter=None, ttl_ms=5000, staleness_budget_ms=0)
    assert cfg.consistency.default_read_level == "strong"
    assert cfg.consistency.read_after_write_window_ms == 100
    assert cfg.consistency.retry_initial_backoff_ms == 5
    assert cfg.consistency.retry_max_backoff_ms == 50
    assert cfg.consistency.max_retries == 20
    assert cfg.streams.visibility_timeout_ms == 30000
    assert cfg.streams.dedupe_window_ms == 120000
    assert cfg.streams.max_batch == 100
    assert cfg.observability.logger_name == "pytest_sanctum"
    assert cfg.observability.log_acl_allows is True
    assert dict(cfg.acl) == {}


# --- spellings and inputs ---------------------------------------------------------------

SNAKE = {
    "schema_version": 1,
    "adapters": {"main": {"kind": "memory", "options": {"shared_cache": True}}},
    "namespaces": {"orders": {"adapter": "main", "staleness_budget_ms": 10, "cache_ttl_ms": 20}},
    "cache": {"ttl_ms": 1000, "staleness_budget_ms": 5},
    "consistency": {"default_read_level": "eventual", "retry_max_backoff_ms": 40},
    "streams": {"visibility_timeout_ms": 10, "dedupe_window_ms": 0, "max_batch": 7},
    "observability": {"logger_name": "app.storage", "log_acl_allows": False},
}
CAMEL = {
    "schemaVersion": 1,
    "adapters": {"main": {"kind": "memory", "options": {"shared_cache": True}}},
    "namespaces": {"orders": {"adapter": "main", "stalenessBudgetMs": 10, "cacheTtlMs": 20}},
    "cache": {"ttlMs": 1000, "stalenessBudgetMs": 5},
    "consistency": {"defaultReadLevel": "eventual", "retryMaxBackoffMs": 40},
    "streams": {"visibilityTimeoutMs": 10, "dedupeWindowMs": 0, "maxBatch": 7},
    "observability": {"loggerName": "app.storage", "logAclAllows": False},
}
MIXED = {
    "schema_version": 1,
    "adapters": {"main": {"kind": "memory", "options": {"shared_cache": True}}},
    "namespaces": {"orders": {"adapter": "main", "staleness_budget_ms": 10, "cacheTtlMs": 20}},
    "cache": {"ttlMs": 1000, "staleness_budget_ms": 5},
    "consistency": {"default_read_level": "eventual", "retryMaxBackoffMs": 40},
    "streams": {"visibilityTimeoutMs": 10, "dedupe_window_ms": 0, "maxBatch": 7},
    "observability": {"logger_name": "app.storage", "logAclAllows": False},
}


@pytest.mark.parametrize("raw", [CAMEL, MIXED], ids=["camel", "mixed"])
def test_camel_case_and_mixed_spellings_equal_snake_case(raw: dict[str, Any]) -> None:
    assert parse_config(raw) == parse_config(SNAKE)


def test_the_documented_example_parses() -> None:
    docs = Path(__file__).parents[1] / "docs" / "configuration.md"
    example = re.search(r"```json\n(.*?)```", docs.read_text(encoding="utf-8"), re.DOTALL)
    assert example is not None
    cfg = parse_config(example.group(1))
    assert cfg.effective_ttl_ms("orders") == 2000
    assert cfg.acl["orders"]["billing"] == ("record.*", "stream.append")


def test_dump_without_aliases_is_snake_case() -> None:
    dumped = parse_config(CAMEL).model_dump(by_alias=False)
    assert dumped["cache"] == {
        "enabled": True,
        "adapter": None,
        "ttl_ms": 1000,
        "staleness_budget_ms": 5,
    }
    assert dumped["namespaces"]["orders"]["cache_ttl_ms"] == 20
    assert parse_config(dumped) == parse_config(SNAKE)


def test_json_text_file_path_and_mapping_inputs_agree(tmp_path: Path) -> None:
    path = tmp_path / "storage.json"
    path.write_text(json.dumps(CAMEL), encoding="utf-8")
    expected = parse_config(SNAKE)
    assert parse_config(path) == expected
    assert parse_config(str(path)) == expected
    assert parse_config("  \n" + json.dumps(CAMEL)) == expected
    assert parse_config(MappingProxyType(CAMEL)) == expected


def test_a_parsed_config_is_returned_as_is() -> None:
    cfg = parse_config(SNAKE)
    assert parse_config(cfg) is cfg


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"schema_version": 1, "schema_version": 1}', "twice"),
        (42, "got int"),
        ([{"schema_version": 1}], "got list"),
    ],
)
def test_unreadable_input_is_refused_without_a_field(source: Any, message: str) -> None:
    error = refused(source)
    assert error.field is None
    assert message in error.message


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("{oops", "not valid JSON"), ("[1, 2]", "got list"), ("7", "got int")],
)
def test_bad_config_files_are_refused(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "storage.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    error = refused(path)
    assert error.field is None
    assert message in error.message


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (config(bogus=1), "bogus"),
        (config(cache={"ttlMillis": 10}), "cache.ttlMillis"),
        (config(adapters={"memory": {"kind": "memory", "opts": {}}}), "adapters.memory.opts"),
        (config(namespaces={"*": {"adapter": "memory", "ttl": 1}}), "namespaces.*.ttl"),
    ],
)
def test_unknown_fields_are_refused(raw: dict[str, Any], field: str) -> None:
    error = refused(raw)
    assert error.field == field
    assert "unknown field" in error.message


def test_every_error_is_listed_and_the_first_names_the_field() -> None:
    error = refused(config(streams={"visibility_timeout_ms": 0, "max_batch": 0}))
    assert error.field == "streams.visibility_timeout_ms"
    assert "2 errors" in error.message
    assert "streams.max_batch" in error.message


# --- field constraints ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (config(adapters={"memory": {"kind": ""}}), "adapters.memory.kind"),
        (config(adapters={"memory": {}}), "adapters.memory.kind"),
        (config(adapters={"*": {"kind": "memory"}}), "adapters.*"),
        (config(adapters={"a b": {"kind": "memory"}}), "adapters.a b"),
        (config(namespaces={"-orders": {"adapter": "memory"}}), "namespaces.-orders"),
        (config(namespaces={"x" * 129: {"adapter": "memory"}}), "namespaces." + "x" * 129),
        (config(namespaces={"orders\n": {"adapter": "memory"}}), "namespaces.orders\n"),
        (config(namespaces={"orders": {}}), "namespaces.orders.adapter"),
        (config(cache={"enabled": "yes"}), "cache.enabled"),
        (config(cache={"ttl_ms": 0}), "cache.ttl_ms"),
        (config(cache={"ttl_ms": float("nan")}), "cache.ttl_ms"),
        (config(cache={"staleness_budget_ms": -1}), "cache.staleness_budget_ms"),
        (
            config(consistency={"default_read_level": "linearizable"}),
            "consistency.default_read_level",
        ),
        (
            config(consistency={"read_after_write_window_ms": 0}),
            "consistency.read_after_write_window_ms",
        ),
        (
            config(consistency={"retry_initial_backoff_ms": 0}),
            "consistency.retry_initial_backoff_ms",
        ),
        (config(consistency={"retry_max_backoff_ms": 4}), "consistency.retry_max_backoff_ms"),
        (config(consistency={"max_retries": 0}), "consistency.max_retries"),
        (config(consistency={"max_retries": 2.0}), "consistency.max_retries"),
        (config(streams={"visibility_timeout_ms": 0}), "streams.visibility_timeout_ms"),
        (config(streams={"dedupe_window_ms": -1}), "streams.dedupe_window_ms"),
        (config(streams={"max_batch": 0}), "streams.max_batch"),
        (config(streams={"max_batch": 10001}), "streams.max_batch"),
        (config(streams={"max_batch": True}), "streams.max_batch"),
        (config(observability={"logger_name": ""}), "observability.logger_name"),
        (config(cache=[]), "cache"),
    ],
)
def test_out_of_range_values_are_refused(raw: dict[str, Any], field: str) -> None:
    assert refused(raw).field == field


@pytest.mark.parametrize(
    "options",
    [{"blob": b"x"}, {"items": [1, {2, 3}]}, {"nested": {"k": {1: "int key"}}}, {"f": object()}],
)
def test_adapter_options_must_be_json(options: dict[str, Any]) -> None:
    error = refused(config(adapters={"memory": {"kind": "memory", "options": options}}))
    assert error.field == "adapters.memory.options"
    assert "options[" in error.message


def test_boundary_values_are_accepted() -> None:
    cfg = parse_config(
        config(
            namespaces={"*": {"adapter": "memory", "cache_ttl_ms": 5000}},
            cache={"ttl_ms": 5000, "staleness_budget_ms": 5000},
            consistency={
                "retry_initial_backoff_ms": 7,
                "retry_max_backoff_ms": 7,
                "max_retries": 1,
            },
            streams={"dedupe_window_ms": 0, "max_batch": 10000},
        )
    )
    assert cfg.cache.staleness_budget_ms == cfg.cache.ttl_ms == 5000
    assert cfg.streams.max_batch == 10000


# --- TTL and staleness budget -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (config(cache={"ttl_ms": 5000.5}), "cache.ttl_ms"),
        (config(cache={"ttlMs": 60000}), "cache.ttl_ms"),
        (
            config(namespaces={"*": {"adapter": "memory", "cache_ttl_ms": 5001}}),
            "namespaces.*.cache_ttl_ms",
        ),
    ],
)
def test_cache_ttl_is_at_most_five_seconds(raw: dict[str, Any], field: str) -> None:
    error = refused(raw)
    assert error.field == field
    assert "Phase 1" in error.message
    assert "async invalidation" in error.message


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (config(cache={"ttl_ms": 100, "staleness_budget_ms": 101}), "cache.staleness_budget_ms"),
        (
            config(namespaces={"orders": {"adapter": "memory", "staleness_budget_ms": 5001}}),
            "namespaces.orders.staleness_budget_ms",
        ),
        (
            config(
                namespaces={
                    "orders": {"adapter": "memory", "cacheTtlMs": 50, "stalenessBudgetMs": 60}
                }
            ),
            "namespaces.orders.staleness_budget_ms",
        ),
        (
            config(
                cache={"staleness_budget_ms": 100},
                namespaces={"orders": {"adapter": "memory", "cache_ttl_ms": 50}},
            ),
            "namespaces.orders.cache_ttl_ms",
        ),
    ],
)
def test_staleness_budget_above_the_ttl_is_refused(raw: dict[str, Any], field: str) -> None:
    error = refused(raw)
    assert error.field == field
    assert "exceeds" in error.message


# --- adapter references -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (config(namespaces={"orders": {"adapter": "s3"}}), "namespaces.orders.adapter"),
        (config(adapters={"s3": {"kind": "memory"}}), "namespaces.*.adapter"),
        (config(cache={"adapter": "redis"}), "cache.adapter"),
    ],
)
def test_unknown_adapter_references_are_refused(raw: dict[str, Any], field: str) -> None:
    error = refused(raw)
    assert error.field == field
    assert "not defined in adapters" in error.message


def test_adapter_references_to_defined_adapters_are_accepted() -> None:
    cfg = parse_config(
        config(
            adapters={"memory": {"kind": "memory"}, "redis": {"kind": "pkg.mod:factory"}},
            namespaces={"orders": {"adapter": "redis"}, "*": {"adapter": "memory"}},
            cache={"adapter": "redis"},
        )
    )
    assert cfg.adapters["redis"].kind == "pkg.mod:factory"
    assert cfg.cache.adapter == "redis"


# --- namespace lookup -------------------------------------------------------------------

LOOKUP = config(
    namespaces={
        "orders": {"adapter": "memory", "cache_ttl_ms": 1000, "staleness_budget_ms": 200},
        "users": {"adapter": "memory", "cache": False},
        "*": {"adapter": "memory", "cache_ttl_ms": 3000},
    },
    cache={"ttl_ms": 4000, "staleness_budget_ms": 100},
)


@pytest.mark.parametrize(
    ("ns", "entry", "ttl", "budget"),
    [("orders", "orders", 1000, 200), ("users", "users", 4000, 100), ("other", "*", 3000, 100)],
)
def test_namespace_lookup_prefers_the_exact_name_then_the_wildcard(
    ns: str, entry: str, ttl: float, budget: float
) -> None:
    cfg = parse_config(LOOKUP)
    assert cfg.namespace_config(ns) is cfg.namespaces[entry]
    assert cfg.effective_ttl_ms(ns) == ttl
    assert cfg.effective_staleness_budget_ms(ns) == budget


def test_namespace_lookup_without_a_wildcard() -> None:
    cfg = parse_config(config(namespaces={"orders": {"adapter": "memory"}}, cache={"ttl_ms": 900}))
    assert cfg.namespace_config("other") is None
    assert cfg.effective_ttl_ms("other") == 900
    assert cfg.effective_staleness_budget_ms("other") == 0


# --- ACL --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "patterns",
    [["record.*"], ["*.get"], ["*"], ["stream.append"], ["blob.[pg]*", "cache.?et"], []],
)
def test_acl_patterns_matching_a_known_operation_are_accepted(patterns: list[str]) -> None:
    cfg = parse_config(config(acl={"orders": {"alice": patterns}, "*": {"*": ["*.get"]}}))
    assert cfg.acl["orders"]["alice"] == tuple(patterns)


@pytest.mark.parametrize(
    ("acl", "field"),
    [
        ({"orders": {"alice": ["record.*", "records.*"]}}, "acl.orders.alice"),
        ({"*": {"*": ["RECORD.GET"]}}, "acl.*.*"),
        ({"orders": {"bob": ["blob.copy"]}}, "acl.orders.bob"),
        ({"orders": {"bob": [""]}}, "acl.orders.bob"),
        ({"bad name": {"bob": ["*"]}}, "acl.bad name"),
    ],
)
def test_acl_patterns_matching_no_operation_are_refused(acl: dict[str, Any], field: str) -> None:
    assert refused(config(acl=acl)).field == field


def test_acl_error_lists_the_known_operations() -> None:
    message = refused(config(acl={"*": {"*": ["nope"]}})).message
    assert "'nope'" in message
    assert all(op in message for op in OPERATIONS)


# --- immutability -----------------------------------------------------------------------


def frozen_config() -> StorageConfigV1:
    return parse_config(
        config(
            adapters={"memory": {"kind": "memory", "options": {"a": [1, {"b": [2]}], "c": {}}}},
            acl={"*": {"alice": ["*"]}},
        )
    )


def test_parsed_mappings_are_read_only_proxies_and_lists_are_tuples() -> None:
    cfg = frozen_config()
    options = cfg.adapters["memory"].options
    assert isinstance(cfg.adapters, MappingProxyType)
    assert isinstance(cfg.namespaces, MappingProxyType)
    assert isinstance(cfg.acl, MappingProxyType)
    assert isinstance(cfg.acl["*"], MappingProxyType)
    assert cfg.acl["*"]["alice"] == ("*",)
    assert isinstance(options, MappingProxyType)
    assert options["a"] == (1, MappingProxyType({"b": (2,)}))
    assert isinstance(options["c"], MappingProxyType)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda cfg: operator.setitem(cfg.adapters, "x", AdapterConfig(kind="memory")),
        lambda cfg: operator.setitem(cfg.adapters["memory"].options, "a", 1),
        lambda cfg: operator.setitem(cfg.adapters["memory"].options["a"][1], "b", 3),
        lambda cfg: operator.setitem(cfg.adapters["memory"].options["a"], 0, 3),
        lambda cfg: operator.delitem(cfg.namespaces, "*"),
        lambda cfg: operator.setitem(cfg.acl["*"], "bob", ("*",)),
    ],
    ids=["adapters", "options", "nested-object", "array", "namespaces", "acl"],
)
def test_nested_mappings_cannot_be_changed(mutate: Any) -> None:
    with pytest.raises(TypeError):
        mutate(frozen_config())


@pytest.mark.parametrize(
    ("target", "name"),
    [
        (lambda cfg: cfg, "schema_version"),
        (lambda cfg: cfg.cache, "ttl_ms"),
        (lambda cfg: cfg.adapters["memory"], "kind"),
        (lambda cfg: cfg.namespaces["*"], "cache"),
    ],
)
def test_models_cannot_be_changed(target: Any, name: str) -> None:
    model = target(frozen_config())
    with pytest.raises(Exception, match="frozen"):
        setattr(model, name, getattr(model, name))


def test_input_mappings_are_copied_not_frozen_in_place() -> None:
    raw = config(adapters={"memory": {"kind": "memory", "options": {"a": [1]}}})
    cfg = parse_config(raw)
    raw["adapters"]["memory"]["options"]["a"].append(2)
    assert cfg.adapters["memory"].options["a"] == (1,)


def test_a_frozen_config_round_trips_through_dump() -> None:
    cfg = frozen_config()
    assert parse_config(cfg.model_dump()) == cfg
    assert parse_config(cfg.model_dump(by_alias=True)) == cfg
    assert parse_config(cfg.model_dump_json()) == cfg
    plain = cfg.model_dump(mode="json")["adapters"]["memory"]["options"]
    assert plain == {"a": [1, {"b": [2]}], "c": {}}
    assert isinstance(plain, dict)


# --- JSON Schema lock -------------------------------------------------------------------


def test_committed_json_schema_matches_the_models() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == render_json_schema(), (
        "the config schema changed: bump SCHEMA_VERSION and regenerate with"
        " `python -m pytest_sanctum.config.schema --write`"
    )
    assert json.loads(committed)["x-schema-version"] == SCHEMA_VERSION


def test_json_schema_uses_snake_case_names() -> None:
    properties: Mapping[str, Any] = json_schema()["properties"]
    assert "schema_version" in properties
    assert "schemaVersion" not in properties
    assert json_schema()["required"] == ["schema_version"]


def test_schema_command_writes_and_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "schema.json"
    monkeypatch.setattr(schema_module, "SCHEMA_FILE", target)
    assert schema_module.main(["--check"]) == 1
    assert schema_module.main(["--write"]) == 0
    assert target.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")
    assert target.read_text(encoding="utf-8").endswith("}\n")
    assert schema_module.main(["--check"]) == 0
    target.write_text("{}\n", encoding="utf-8")
    assert schema_module.main(["--check"]) == 1
    assert "--write" in capsys.readouterr().err
