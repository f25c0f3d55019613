"""Small scenario builders for tests: plain dicts validated through the real loader path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simulator.scenario.loader import validate_data
from simulator.scenario.schema import Scenario

MMC = {
    "name": "mmc",
    "seed": 11,
    "horizon": {"start": "2027-01-04", "duration": "2000h", "warmup": "200h"},
    "queues": {"q": {"volume": {"mean": 18, "per": "hour"},
                     "handling_time": {"mean": "1h", "dist": "exponential"},
                     "skill": "s", "sla": {"target": "2h"}}},
    "pools": {"p": {"headcount": 20, "skills": ["s"], "cost_per_hour": 10.0}},
}


# M/M/c with lambda 18/h and mean 1 h: P(T <= 1.5 h) is 0.681 at 20 servers and 0.735 at 21, so 21 is the
# cheapest head-count keeping 71% within 1.5 h (the optimiser's and the sweep's exact answer)
STAFFING = {
    "name": "staffing", "seed": 3,
    "horizon": {"start": "2027-01-04", "duration": "1000h", "warmup": "100h"},
    "queues": {"q": {"volume": {"mean": 18, "per": "hour"}, "skill": "s",
                     "handling_time": {"mean": "1h", "dist": "exponential"},
                     "sla": {"target": "1.5h", "attainment": 0.71}}},
    "pools": {"p": {"headcount": 20, "skills": ["s"], "cost_per_hour": 10.0}},
}


def write_yaml(folder: Path, data: dict[str, Any], name: str = "s.yaml") -> Path:
    """Write `data` as a scenario file in `folder`."""
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def scenario(base: dict[str, Any] = MMC, **changes: Any) -> Scenario:
    """Validate `base` with dotted-path `changes` (e.g. {"pools.p.headcount": 21})."""
    data = copy.deepcopy(base)
    for dotted, value in changes.items():
        node = data
        keys = dotted.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[keys[-1]] = value
    return validate_data(data, {}, "test")


def within(sample: list[float], expected: float, k: float = 4.0, slack: float = 0.0) -> tuple[bool, str]:
    """Is the mean of per-replication values within k standard errors (plus slack) of `expected`?"""
    values = np.asarray(sample, dtype=float)
    mean, se = values.mean(), values.std(ddof=1) / np.sqrt(len(values))
    ok = abs(mean - expected) <= k * se + slack
    return bool(ok), f"mean {mean:.5f} vs expected {expected:.5f} (se {se:.5f}, k {k}, slack {slack})"
