"""Sweeps: a grid of what-ifs over one or more fields, every point on the same replications.

`--vary PATH=LOW:HIGH:STEP` gives LOW, LOW+STEP, ... up to HIGH (ints when all three are whole
numbers). The grid is the product of all varied fields. Every point uses the scenario's seed and
replications 0..R-1 (common random numbers), and all point x replication runs share one process
pool. A point meets every target when the mean over replications of each queue's SLA attainment,
and of its quality where it has a quality target, reaches the target; the cheapest such point (by
mean total cost) is marked.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from .replications import run_tasks
from .results import SimulationResult
from .scenario import AnnoplanError, Scenario, load_scenario

_VARY = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*=\s*([-+0-9.eE]+):([-+0-9.eE]+):([-+0-9.eE]+)\s*$")
MAX_POINTS = 10_000


@dataclass(frozen=True)
class Vary:
    """One varied field and its values."""

    path: str
    values: tuple[int | float, ...]


def _number(text: str) -> int | float:
    return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)


def parse_vary(text: str) -> Vary:
    """`PATH=LOW:HIGH:STEP` -> Vary; an AnnoplanError says how to write it when it cannot be read."""
    match = _VARY.match(text)
    hint = "write --vary PATH=LOW:HIGH:STEP, e.g. --vary pools.dublin.headcount=10:20:2"
    if not match:
        raise AnnoplanError(f"--vary {text!r}: cannot read it ({hint})")
    path, *numbers = match.groups()
    try:
        low, high, step = (_number(n) for n in numbers)
    except ValueError:
        raise AnnoplanError(f"--vary {text!r}: LOW, HIGH and STEP must be numbers ({hint})") from None
    if step <= 0 or high < low:
        raise AnnoplanError(f"--vary {text!r}: needs LOW <= HIGH and STEP > 0 ({hint})")
    count = int((high - low) / step + 1e-9) + 1
    if count > MAX_POINTS:
        raise AnnoplanError(f"--vary {text!r}: {count} values; use a larger STEP (at most {MAX_POINTS} points)")
    values = tuple(low + i * step for i in range(count))
    if any(isinstance(v, float) for v in (low, high, step)):
        values = tuple(round(float(v), 12) for v in values)
    return Vary(path, values)


@dataclass
class SweepPoint:
    """One grid point: its field values and its replications."""

    params: dict[str, int | float]
    result: SimulationResult

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The point's simulate summary, computed once (best, meets_targets and the JSON all read it)."""
        return self.result.summary()

    def meets_targets(self) -> bool:
        """Every queue's mean SLA attainment and (where set) mean quality reach their targets."""
        summary = self.summary
        for qid, queue in self.result.scenario.queues.items():
            cells = summary["queues"][qid]
            if cells["sla_attainment"]["mean"] is None or cells["sla_attainment"]["mean"] < queue.sla.attainment:
                return False
            if queue.quality_target is not None and (cells["quality"]["mean"] is None
                                                     or cells["quality"]["mean"] < queue.quality_target):
                return False
        return True


@dataclass
class SweepResult:
    """Every point of the grid, with the tidy table and the cheapest point that meets every target."""

    scenario: Scenario  # the base scenario (before the varied fields are set)
    varies: list[Vary]
    points: list[SweepPoint]

    @property
    def table(self) -> pd.DataFrame:
        """Tidy: one row per point x replication x entity x KPI, with a column per varied field."""
        frames = []
        for i, point in enumerate(self.points):
            frame = point.result.kpis
            frame.insert(0, "point", i)
            for column, (path, value) in enumerate(point.params.items(), start=1):
                frame.insert(column, path, value)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    @property
    def best(self) -> int | None:
        """Index of the cheapest point (mean total cost) that meets every target; None if none does."""
        meeting = [(p.summary["totals"]["cost"]["mean"], i) for i, p in enumerate(self.points)
                   if p.meets_targets()]
        return min(meeting)[1] if meeting else None

    def summary(self) -> dict[str, Any]:
        """{"scenario", "seed", "replications", "vary": {PATH: [values]}, "points": [...], "best": i | null};
        each point: params, meets_targets, totals and per-queue SLA attainment and quality (mean, 95% CI)."""
        points = []
        for point in self.points:
            s = point.summary
            points.append({"params": point.params, "meets_targets": point.meets_targets(), "totals": s["totals"],
                           "queues": {q: {k: s["queues"][q][k] for k in ("sla_attainment", "quality", "tat_p95_h")}
                                      for q in s["queues"]}})
        return {"scenario": self.scenario.name, "seed": self.scenario.seed,
                "replications": self.points[0].result.replications,
                "vary": {v.path: list(v.values) for v in self.varies}, "points": points, "best": self.best}


def sweep(path: str | Path, varies: Sequence[Vary], overrides: Iterable[str] = (), replications: int = 3,
          jobs: int | None = None, progress: Callable[[int], None] | None = None) -> SweepResult:
    """Load every grid point (each validated: a bad value names its point), then run them all.

    `progress(done)` counts point x replication runs.
    """
    overrides = list(overrides)
    base = load_scenario(path, overrides)
    grid = list(itertools.product(*(v.values for v in varies)))
    if len(grid) > MAX_POINTS:
        raise AnnoplanError(f"the sweep has {len(grid)} points; at most {MAX_POINTS} (use larger steps)")
    scenarios, params = [], []
    for combo in grid:
        values = dict(zip((v.path for v in varies), combo))
        scenarios.append(load_scenario(path, overrides + [f"{k}={v}" for k, v in values.items()]))
        params.append(values)
    runs = run_tasks([(s, k) for s in scenarios for k in range(replications)], jobs, progress)
    points = [SweepPoint(p, SimulationResult(s, runs[i * replications:(i + 1) * replications]))
              for i, (p, s) in enumerate(zip(params, scenarios))]
    return SweepResult(base, list(varies), points)
