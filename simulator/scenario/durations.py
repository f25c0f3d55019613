"""Durations with units ("45s", "12m", "8h", "3d", "13w"; a bare number is hours), as float hours."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_UNIT_HOURS = {"s": 1 / 3600, "m": 1 / 60, "h": 1.0, "d": 24.0, "w": 168.0}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([smhdw])\s*$")


def parse_duration(value: Any) -> float:
    """Return the duration in hours; raise ValueError with the accepted forms otherwise."""
    hours = _hours(value)
    if not math.isfinite(hours):
        raise ValueError(f"a duration must be a finite number of hours, got {value!r}")
    return hours


def _hours(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 45s, 12m, 8h, 3d or 13w, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return float(match.group(1)) * _UNIT_HOURS[match.group(2)]
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"expected a duration like 45s, 12m, 8h, 3d or 13w (bare number = hours), got {value!r}")


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*[0-9]*\.?[0-9]+\s*[smhdw]\s*$"},
                {"type": "number"},
            ],
            "description": "duration: 45s, 12m, 8h, 3d, 13w; a bare number is hours",
        }
    ),
]
"""A duration field: accepts strings with a unit or bare hours; holds float hours."""
