"""One trial's evaluation: the scenario with the trial's values, run for N replications (common
random numbers: replication k uses the same streams in every trial), scored and checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.loader import validate_data
from simulator.replications import run_replications
from simulator.results import SimulationResult

from .constraints import Constraint, metric_value
from .search_space import with_values


@dataclass
class Evaluation:
    """What a trial reports back: objective values, constraint violations and the summary KPIs."""

    objectives: list[float]
    violations: dict[str, float]
    kpis: dict[str, Any]


def evaluate(raw: dict[str, Any], values: dict[str, Any], objectives: list[str], constraints: list[Constraint],
             replications: int) -> Evaluation:
    """Run the plan `values` (in this process) and score it."""
    scenario = validate_data(with_values(raw, values), {}, "optimize")
    summary = SimulationResult(scenario, run_replications(scenario, replications, jobs=1)).summary()
    scores = []
    for name in objectives:
        value = metric_value(name, summary)
        scores.append(float("inf") if value is None else float(value))
    return Evaluation(scores, {c.name: c.violation(summary) for c in constraints}, summary)
