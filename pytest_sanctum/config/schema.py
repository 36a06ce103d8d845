"""The storage configuration, version 1: pydantic models and the committed JSON Schema.

Every model is frozen and refuses unknown fields; every field is accepted under its
snake_case name and its camelCase alias. Parsed mappings are ``MappingProxyType`` and
lists are tuples, so a configuration cannot be changed once the facade has read it.
``pytest_sanctum.config.parsing`` reads the input and turns every problem into a
``ConfigError``.

Run ``python -m pytest_sanctum.config.schema --write`` to regenerate the committed JSON
Schema, ``--check`` to verify it is current.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, Self, TypeVar, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    Strict,
    ValidationError,
    WithJsonSchema,
    WrapSerializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import TypeAliasType

from pytest_sanctum.acl import OPERATIONS
from pytest_sanctum.committed_file import maintain
from pytest_sanctum.describe import describe, type_name
from pytest_sanctum.json_codec import MAX_INT_DIGITS
from pytest_sanctum.types import ReadLevelName

__all__ = [
    "MAX_CACHE_TTL_MS",
    "OPERATIONS",
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "AdapterConfig",
    "CacheConfig",
    "ConsistencyConfig",
    "FanoutConfig",
    "FrozenJSON",
    "FrozenMapping",
    "NamespaceConfig",
    "ObservabilityConfig",
    "StorageConfigV1",
    "StreamsConfig",
    "json_schema",
    "main",
    "render_json_schema",
]

SCHEMA_VERSION: Final = 1
"""The configuration schema version this module reads; bump it when the schema changes."""

SCHEMA_FILE: Final = Path(__file__).with_name("storage-config-v1.schema.json")
"""The committed JSON Schema of ``StorageConfigV1``."""

MAX_CACHE_TTL_MS: Final = 5000.0
"""Phase 1 limit on cache TTLs: entries live at most 5 s until async invalidation lands."""

_NAME_BODY = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_NAME_RE = re.compile(_NAME_BODY)
_ERROR_TYPE = "sanctum_config"
_INT_BOUND = 10**MAX_INT_DIGITS


# --- validation helpers ----------------------------------------------------------------


def _error(message: str) -> PydanticCustomError:
    """A pydantic error carrying a ready-made message (braces in it are not templates)."""
    return PydanticCustomError(_ERROR_TYPE, "{message}", {"message": message})


def _raise_all(title: str, problems: Sequence[tuple[tuple[str | int, ...], str, object]]) -> None:
    """Raise every ``(location, message, given value)`` problem at once, if there are any.

    Model validators use this so that cross-field errors carry the location of the field
    at fault instead of the model's.
    """
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(type=_error(msg), loc=loc, input=given)
                for loc, msg, given in problems
            ],
        )


def _deep_freeze(value: Any) -> Any:
    """Mappings become ``MappingProxyType`` and lists/tuples tuples, recursively."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _deep_freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_deep_freeze(item) for item in value)
    return value


def _thaw(value: Any) -> Any:
    """Mappings become plain dicts, recursively, so pydantic can serialise and re-validate them."""
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_thaw(item) for item in value)
    return value


def _serialize_thawed(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
    return handler(_thaw(value))


def _check_namespace_name(name: str) -> str:
    if name != "*" and not _NAME_RE.fullmatch(name):
        raise _error(
            f"namespace name {name!r} is invalid: use '*' or 1-128 letters, digits, '.', '_'"
            " or '-', starting with a letter or digit"
        )
    return name


def _check_adapter_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise _error(
            f"adapter name {name!r} is invalid: use 1-128 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return name


def _check_ttl(ttl_ms: float) -> float:
    if ttl_ms > MAX_CACHE_TTL_MS:
        raise _error(
            f"cache TTL {ttl_ms:g} ms exceeds {MAX_CACHE_TTL_MS:g} ms: in Phase 1 a cache TTL is"
            " at most 5 s until async invalidation lands"
        )
    return ttl_ms


def _check_patterns(patterns: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [p for p in patterns if not any(fnmatchcase(op, p) for op in OPERATIONS)]
    if unknown:
        raise _error(
            f"operation pattern(s) {', '.join(map(repr, unknown))} match no operation;"
            f" known operations: {', '.join(OPERATIONS)}"
        )
    return patterns


def _json_problem(value: object, path: str) -> str | None:
    """Where and why ``value`` is not JSON data, or None when it is (an explicit stack: any depth)."""
    stack: list[tuple[object, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        kind = type(item)
        if item is None or kind is bool or kind is str:
            continue
        if kind is int:
            if not -_INT_BOUND < cast(int, item) < _INT_BOUND:
                return f"{where}: an integer of more than {MAX_INT_DIGITS} digits"
            continue
        if kind is float:
            if not math.isfinite(item):  # type: ignore[arg-type]
                return f"{where}: {item!r} is not a JSON number (JSON has no NaN or infinity)"
            continue
        children: list[tuple[object, object]]
        if kind is list or kind is tuple:
            children = list(enumerate(cast(list[object], item)))
        elif isinstance(item, Mapping):
            bad_key = next((key for key in item if type(key) is not str), None)
            if bad_key is not None:
                return f"{where}: key {describe(bad_key)} is not a string"
            children = list(item.items())
        else:
            return f"{where}: {type_name(item)} {describe(item)} is not a JSON value"
        stack.extend((child, f"{where}[{key!r}]") for key, child in reversed(children))
    return None


def _check_json_object(value: object) -> object:
    if isinstance(value, Mapping):
        problem = _json_problem(value, "options")
        if problem is not None:
            raise _error(problem)
    return value


# --- types ------------------------------------------------------------------------------

FrozenJSON = TypeAliasType(
    "FrozenJSON",
    "bool | int | float | str"
    " | Annotated[tuple[FrozenJSON, ...], Strict(False)] | Mapping[str, FrozenJSON] | None",
)
"""A parsed JSON value: objects are read-only mappings and arrays are tuples."""

NamespaceName = Annotated[
    str,
    AfterValidator(_check_namespace_name),
    WithJsonSchema({"type": "string", "pattern": rf"^(\*|{_NAME_BODY})$"}),
]
AdapterName = Annotated[
    str,
    AfterValidator(_check_adapter_name),
    WithJsonSchema({"type": "string", "pattern": rf"^{_NAME_BODY}$"}),
]
TtlMs = Annotated[
    float,
    Field(gt=0, json_schema_extra={"maximum": MAX_CACHE_TTL_MS}),
    AfterValidator(_check_ttl),
]
_K = TypeVar("_K")
_V = TypeVar("_V")
FrozenMapping = Annotated[
    Mapping[_K, _V], AfterValidator(_deep_freeze), WrapSerializer(_serialize_thawed)
]
"""A mapping validated as a dict, then deeply frozen; serialised back as plain dicts."""
OperationPatterns = Annotated[tuple[str, ...], Strict(False), AfterValidator(_check_patterns)]
Principal = Annotated[str, Field(min_length=1)]


# --- models -----------------------------------------------------------------------------


class _Frozen(BaseModel):
    """Shared settings: frozen, strict scalars, unknown fields refused, camelCase aliases."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        alias_generator=to_camel,
        populate_by_name=True,
        loc_by_alias=False,
        validate_default=True,
        use_attribute_docstrings=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_both_spellings(cls, data: Any) -> Any:
        """Refuse a field given as both ``snake_case`` and ``camelCase``: one would be lost."""
        if isinstance(data, Mapping):
            _raise_all(
                cls.__name__,
                [
                    ((name,), f"{name} is given twice, as {name!r} and {info.alias!r}", data[name])
                    for name, info in cls.model_fields.items()
                    if info.alias and info.alias != name and name in data and info.alias in data
                ],
            )
        return data

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        """A deeply frozen model is its own deep copy (``MappingProxyType`` cannot be copied)."""
        return self


class AdapterConfig(_Frozen):
    """One storage backend: which adapter factory builds it and with what options."""

    kind: str = Field(min_length=1)
    """A registered adapter name (such as ``memory``) or ``package.module:factory``."""
    options: Annotated[FrozenMapping[str, FrozenJSON], BeforeValidator(_check_json_object)] = {}
    """JSON options passed to the adapter factory."""


class FanoutConfig(_Frozen):
    """The invalidation fan-out every client built from this configuration joins."""

    kind: str = Field(min_length=1)
    """A registered fan-out name (such as ``postgres``) or ``package.module:factory``."""
    options: Annotated[FrozenMapping[str, FrozenJSON], BeforeValidator(_check_json_object)] = {}
    """JSON options passed to the fan-out factory."""


class NamespaceConfig(_Frozen):
    """How one namespace (or every other namespace, under ``*``) is stored and cached."""

    adapter: str
    """The name of the adapter, a key of ``adapters``, that stores this namespace."""
    cache: bool = True
    """Whether reads of this namespace use the cache."""
    staleness_budget_ms: Annotated[float, Field(ge=0)] | None = None
    """Overrides ``cache.staleness_budget_ms``; at most the namespace's effective TTL."""
    cache_ttl_ms: TtlMs | None = None
    """Overrides ``cache.ttl_ms``; more than 0 and at most 5000 ms."""


class CacheConfig(_Frozen):
    """The read-through cache in front of every namespace."""

    enabled: bool = True
    """Whether the cache is used at all."""
    adapter: str | None = None
    """The adapter whose cache store is used; None: each namespace uses its own adapter's."""
    ttl_ms: TtlMs = 5000
    """How long a cache entry lives; more than 0 and at most 5000 ms (Phase 1 limit)."""
    staleness_budget_ms: float = Field(default=0, ge=0)
    """How old a cache entry may be and still serve a strong read; at most ``ttl_ms``."""

    @model_validator(mode="after")
    def _budget_within_ttl(self) -> CacheConfig:
        if self.staleness_budget_ms > self.ttl_ms:
            _raise_all(
                type(self).__name__,
                [
                    (
                        ("staleness_budget_ms",),
                        f"staleness budget {self.staleness_budget_ms:g} ms exceeds the cache TTL"
                        f" {self.ttl_ms:g} ms; it must be between 0 and ttl_ms",
                        self.staleness_budget_ms,
                    )
                ],
            )
        return self


class ConsistencyConfig(_Frozen):
    """Read levels and the retry policy of strong reads after this client's writes."""

    default_read_level: ReadLevelName = "strong"
    """The read level of reads that do not ask for one."""
    read_after_write_window_ms: float = Field(default=100, gt=0)
    """How long a strong read keeps retrying to observe this client's latest write."""
    retry_initial_backoff_ms: float = Field(default=5, gt=0)
    """The first backoff between those retries."""
    retry_max_backoff_ms: float = Field(default=50, gt=0)
    """The largest backoff; at least ``retry_initial_backoff_ms``."""
    max_retries: int = Field(default=20, ge=1)
    """A hard cap on retries, so a frozen clock can never loop forever."""

    @model_validator(mode="after")
    def _backoff_range(self) -> ConsistencyConfig:
        if self.retry_max_backoff_ms < self.retry_initial_backoff_ms:
            _raise_all(
                type(self).__name__,
                [
                    (
                        ("retry_max_backoff_ms",),
                        f"retry_max_backoff_ms {self.retry_max_backoff_ms:g} is below"
                        f" retry_initial_backoff_ms {self.retry_initial_backoff_ms:g}",
                        self.retry_max_backoff_ms,
                    )
                ],
            )
        return self


class StreamsConfig(_Frozen):
    """Consumer-group delivery and append deduplication of the stream layer."""

    visibility_timeout_ms: float = Field(default=30000, gt=0)
    """How long a delivered, unacknowledged message stays hidden before redelivery."""
    dedupe_window_ms: float = Field(default=120000, ge=0)
    """How long an idempotency key of an append is remembered; 0 turns deduplication off."""
    max_batch: int = Field(default=100, ge=1, le=10000)
    """The most messages one read returns."""


class ObservabilityConfig(_Frozen):
    """Logging of the facade."""

    logger_name: str = Field(default="pytest_sanctum", min_length=1)
    """The name of the logger the facade writes to."""
    log_acl_allows: bool = True
    """Whether ACL allow decisions are logged (at DEBUG); denials are always logged at WARNING."""


_MISSING: Final = object()
"""Stands in for an absent ``schema_version`` so its validator can explain what is needed."""


class StorageConfigV1(_Frozen):
    """The storage configuration, schema version 1."""

    schema_version: Literal[1]
    """The configuration schema version: exactly the integer 1."""
    adapters: FrozenMapping[AdapterName, AdapterConfig] = {"memory": AdapterConfig(kind="memory")}
    """The storage backends, by name."""
    namespaces: FrozenMapping[NamespaceName, NamespaceConfig] = {
        "*": NamespaceConfig(adapter="memory")
    }
    """Namespace settings by name; ``*`` applies to every namespace not named."""
    cache: CacheConfig = CacheConfig()
    """The cache defaults."""
    consistency: ConsistencyConfig = ConsistencyConfig()
    """Read levels and retries."""
    streams: StreamsConfig = StreamsConfig()
    """Stream delivery settings."""
    observability: ObservabilityConfig = ObservabilityConfig()
    """Logging settings."""
    fanout: FanoutConfig | None = None
    """The cross-process invalidation fan-out; None: none (unless one is passed in)."""
    acl: FrozenMapping[NamespaceName, Mapping[Principal, OperationPatterns]] = {}
    """Access control: namespace (or ``*``) to principal (or ``*``) to operation patterns."""

    @model_validator(mode="before")
    @classmethod
    def _mark_missing_version(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not {"schema_version", "schemaVersion"} & data.keys():
            return {**data, "schema_version": _MISSING}
        return data

    @field_validator("schema_version", mode="before")
    @classmethod
    def _exactly_integer_one(cls, value: object) -> object:
        if type(value) is int and value == SCHEMA_VERSION:
            return value
        given = "missing" if value is _MISSING else f"got {describe(value)} ({type_name(value)})"
        raise _error(f"{given}, but only the integer {SCHEMA_VERSION} is accepted")

    @model_validator(mode="after")
    def _references(self) -> StorageConfigV1:
        defined = ", ".join(sorted(self.adapters)) or "none"
        problems: list[tuple[tuple[str | int, ...], str, object]] = []
        if self.cache.adapter is not None and self.cache.adapter not in self.adapters:
            problems.append(
                (
                    ("cache", "adapter"),
                    f"cache adapter {self.cache.adapter!r} is not defined in adapters"
                    f" (defined: {defined})",
                    self.cache.adapter,
                )
            )
        for ns, settings in self.namespaces.items():
            if settings.adapter not in self.adapters:
                problems.append(
                    (
                        ("namespaces", ns, "adapter"),
                        f"namespace {ns!r} uses adapter {settings.adapter!r}, which is not"
                        f" defined in adapters (defined: {defined})",
                        settings.adapter,
                    )
                )
            ttl, budget = self.effective_ttl_ms(ns), self.effective_staleness_budget_ms(ns)
            if budget > ttl:
                at_fault = (
                    "staleness_budget_ms"
                    if settings.staleness_budget_ms is not None
                    else "cache_ttl_ms"
                )
                problems.append(
                    (
                        ("namespaces", ns, at_fault),
                        f"namespace {ns!r}: staleness budget {budget:g} ms exceeds its cache TTL"
                        f" {ttl:g} ms; the budget must be between 0 and the TTL",
                        getattr(settings, at_fault),
                    )
                )
        _raise_all(type(self).__name__, problems)
        return self

    def namespace_config(self, ns: str) -> NamespaceConfig | None:
        """The settings of ``ns``: its own entry, else the ``*`` entry, else None."""
        settings = self.namespaces.get(ns)
        return settings if settings is not None else self.namespaces.get("*")

    def effective_ttl_ms(self, ns: str) -> float:
        """The cache TTL of ``ns``: its own override, else ``cache.ttl_ms``."""
        settings = self.namespace_config(ns)
        if settings is not None and settings.cache_ttl_ms is not None:
            return settings.cache_ttl_ms
        return self.cache.ttl_ms

    def effective_staleness_budget_ms(self, ns: str) -> float:
        """The staleness budget of ``ns``: its own override, else ``cache.staleness_budget_ms``."""
        settings = self.namespace_config(ns)
        if settings is not None and settings.staleness_budget_ms is not None:
            return settings.staleness_budget_ms
        return self.cache.staleness_budget_ms


# --- JSON Schema ------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``StorageConfigV1`` (snake_case names) tagged with its version."""
    schema = StorageConfigV1.model_json_schema(by_alias=False)
    schema["x-schema-version"] = SCHEMA_VERSION
    return schema


def render_json_schema() -> str:
    """``json_schema()`` exactly as the committed file holds it."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (``--write``) or verify (``--check``, exit status 1 if stale) the committed schema."""
    return maintain(
        argv,
        prog="python -m pytest_sanctum.config.schema",
        path=SCHEMA_FILE,
        expected=render_json_schema(),
        stale_hint="bump SCHEMA_VERSION if the schema changed and regenerate with"
        " `python -m pytest_sanctum.config.schema --write`",
    )


if __name__ == "__main__":
    sys.exit(main())
