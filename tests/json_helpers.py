"""Values for the JSON codec's tests: nesting of a chosen depth, and types JSON does not carry."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


def nested(depth: int, inner: Any = None) -> Any:
    """``inner`` inside ``depth`` lists (an empty list when ``inner`` is ``None``)."""
    value: Any = [] if inner is None else inner
    for _ in range(depth):
        value = [value]
    return value


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


@dataclasses.dataclass
class Point:
    x: int
