"""What-if comparison: several scenarios on common random numbers, and the paired difference of each
KPI against the first.

Every scenario runs with the same seed and the same replication indices, so replication k of each
sees the same arrival, handling-time and quality streams wherever the scenarios agree. The paired
difference d_k = KPI_k(scenario) - KPI_k(baseline) then cancels the noise they share; its 95%
Student-t interval over replications decides significance (the interval excludes 0). Identical
scenarios give d_k = 0 exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .model.metrics import POOL_KPIS, QUEUE_KPIS, TOTAL_KPIS
from .replications import run_replications
from .results import SimulationResult
from .scenario import AnnoplanError, Scenario, load_scenario
from .stats import mean_ci

GROUPS = (("queue", "queues", QUEUE_KPIS), ("pool", "pools", POOL_KPIS))


@dataclass
class Comparison:
    """Scenarios run on common random numbers: each one's KPIs, and paired differences against the first."""

    labels: list[str]
    results: list[SimulationResult]

    @property
    def seed(self) -> int:
        """The seed every scenario ran on."""
        return self.results[0].scenario.seed

    @property
    def replications(self) -> int:
        """Replications per scenario (the same indices for all)."""
        return self.results[0].replications

    @property
    def kpis(self) -> pd.DataFrame:
        """One row per scenario x replication x entity x KPI."""
        frames = [r.kpis.assign(scenario=label) for label, r in zip(self.labels, self.results)]
        table = pd.concat(frames, ignore_index=True)
        return table[["scenario", *[c for c in table.columns if c != "scenario"]]]

    @property
    def weekly(self) -> pd.DataFrame:
        """SimulationResult.weekly of every scenario, with a scenario column."""
        frames = [r.weekly.assign(scenario=label) for label, r in zip(self.labels, self.results)]
        table = pd.concat(frames, ignore_index=True)
        return table[["scenario", *[c for c in table.columns if c != "scenario"]]]

    def _paired(self, index: int) -> dict[str, Any]:
        """Differences of scenario `index` against the baseline, for entities and KPIs both have."""
        base, other = self.results[0].runs, self.results[index].runs
        out: dict[str, Any] = {}
        for _, key, names in GROUPS:
            shared = [e for e in other[0].kpis[key] if e in base[0].kpis[key]]
            out[key] = {e: {k: _difference([r.kpis[key][e][k] for r in other], [r.kpis[key][e][k] for r in base])
                            for k in names} for e in shared}
        out["totals"] = {k: _difference([r.kpis["totals"][k] for r in other], [r.kpis["totals"][k] for r in base])
                         for k in TOTAL_KPIS}
        return out

    @property
    def differences(self) -> pd.DataFrame:
        """One row per scenario (after the first) x entity x KPI: mean paired difference, 95% interval,
        and whether the interval excludes 0."""
        rows = []
        for i, label in enumerate(self.labels[1:], start=1):
            paired = self._paired(i)
            for entity_type, key, _ in (*GROUPS, ("total", "totals", TOTAL_KPIS)):
                cells = {"total": paired["totals"]} if key == "totals" else paired[key]
                for entity, kpis in cells.items():
                    rows += [(label, self.labels[0], entity_type, entity, kpi, c["mean"], c["low"], c["high"],
                              c["significant"]) for kpi, c in kpis.items()]
        return pd.DataFrame(rows, columns=["scenario", "baseline", "entity_type", "entity", "kpi", "mean", "low",
                                           "high", "significant"])

    def summary(self) -> dict[str, Any]:
        """{"seed", "replications", "baseline", "scenarios": {label: simulate summary},
        "differences": {label: {"queues"|"pools": {ID: {KPI: cell}}, "totals": {KPI: cell}}}} where a
        difference cell is {"mean", "low", "high", "significant"}."""
        return {"seed": self.seed, "replications": self.replications, "baseline": self.labels[0],
                "scenarios": {label: r.summary() for label, r in zip(self.labels, self.results)},
                "differences": {label: self._paired(i) for i, label in enumerate(self.labels) if i > 0}}


def _difference(values: list[float], baseline: list[float]) -> dict[str, Any]:
    """Mean paired difference with its 95% t interval; significant when the interval excludes 0."""
    diffs = np.asarray(values, dtype=float) - np.asarray(baseline, dtype=float)
    cell: dict[str, Any] = mean_ci(diffs.tolist())
    low, high = cell["low"], cell["high"]
    cell["significant"] = low is not None and (low > 0 or high < 0)
    return cell


def unique_labels(names: Sequence[str]) -> list[str]:
    """Scenario labels, numbered where two would read the same."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def load_variants(files: Sequence[str | Path], variants: Sequence[str] = (),
                  overrides: Sequence[str] = ()) -> tuple[list[Scenario], list[str]]:
    """The scenarios a what-if compares and their unique labels: each file, then the first file once per
    variant ("PATH=VALUE;PATH=VALUE", `;` between overrides). `overrides` apply to every one."""
    if len(files) + len(variants) < 2:
        raise AnnoplanError("compare needs two scenarios or more: A.yaml B.yaml, or A.yaml --variant PATH=VALUE")
    scenarios = [load_scenario(file, overrides) for file in files]
    labels = [s.name for s in scenarios]
    for variant in variants:
        extra = tuple(part.strip() for part in variant.split(";") if part.strip())
        scenarios.append(load_scenario(files[0], tuple(overrides) + extra))
        labels.append(variant)
    return scenarios, unique_labels(labels)


def compare(scenarios: Sequence[Scenario], labels: Sequence[str] | None = None, replications: int = 3,
            jobs: int | None = None, seed: int | None = None,
            progress: Callable[[int], None] | None = None) -> Comparison:
    """Run every scenario on the same seed (`seed`, else the first scenario's) and replication indices.

    `progress(done)` counts replications over all scenarios.
    """
    if len(scenarios) < 2:
        raise ValueError("compare needs two scenarios or more")
    seed = scenarios[0].seed if seed is None else seed
    names = list(labels) if labels is not None else unique_labels([s.name for s in scenarios])
    results = []
    for i, scenario in enumerate(scenarios):
        scenario = scenario.model_copy(update={"seed": seed})
        report = None if progress is None else (lambda done, base=i * replications: progress(base + done))
        results.append(SimulationResult(scenario, run_replications(scenario, replications, jobs, report)))
    return Comparison(names, results)
