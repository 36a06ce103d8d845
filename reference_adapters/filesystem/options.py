"""The ``filesystem`` adapter's options, validated into one frozen value.

Every refused option raises ``ConfigError(field="options.<name>")``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from pytest_sanctum.errors import ConfigError


@dataclass(frozen=True, slots=True)
class FilesystemOptions:
    """Where the data lives and how long a write waits for another writer's lock."""

    root: str
    """The directory holding every namespace; created (with its parents) on open."""
    lock_timeout_ms: float = 5000.0
    """How long a write waits for a lock another writer (thread or process) holds, before
    ``BackendUnavailableError``."""


_NAMES: Final = tuple(FilesystemOptions.__dataclass_fields__)


def parse_options(options: Mapping[str, object]) -> FilesystemOptions:
    """Validate the adapter's options; ``root`` is required, unknown names are refused."""
    found: dict[str, object] = {}
    for name, value in options.items():
        if name == "root":
            if not isinstance(value, str) or not value or "\x00" in value:
                raise ConfigError(
                    f"filesystem option 'root' must be a non-empty path, got {value!r}",
                    field="options.root",
                )
            found[name] = os.path.abspath(value)
        elif name == "lock_timeout_ms":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(
                    f"filesystem option 'lock_timeout_ms' must be a finite number > 0, got {value!r}",
                    field="options.lock_timeout_ms",
                )
            found[name] = float(value)
        else:
            raise ConfigError(
                f"unknown filesystem option {name!r} (known: {', '.join(_NAMES)})",
                field=f"options.{name}",
            )
    if "root" not in found:
        raise ConfigError(
            "filesystem option 'root' is required: the directory holding the data",
            field="options.root",
        )
    return FilesystemOptions(**found)  # type: ignore[arg-type]
