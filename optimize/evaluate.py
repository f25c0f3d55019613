"""One trial's evaluation: the scenario with the trial's values, run for N replications (common
random numbers: replication k uses the same streams in every trial), scored and checked; a trial
that is clearly infeasible or clearly costlier stops early (sequential.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.model.engine import run_replication
from simulator.scenario.loader import validate_data
from simulator.results import SimulationResult

from .constraints import Constraint, metric_value
from .search_space import with_values
from .sequential import Paired, stop_reason


@dataclass
class Evaluation:
    """What a trial reports back: objective values, constraint violations, the summary KPIs, and how
    many replications it took (fewer than asked when the sequential rule stopped it, saying why)."""

    objectives: list[float]
    violations: dict[str, float]
    kpis: dict[str, Any]
    replications: int
    by_replication: dict[str, list[float]]  # each constraint's violation in each replication run
    pruned: str | None = None
    late_share: dict[str, list[float]] | None = None  # per queue and hour of the week of arrival: share missed
    paired: dict[str, Any] | None = None  # stopped by the paired look: reference trial, estimates and their SDs


def evaluate(raw: dict[str, Any], values: dict[str, Any], objectives: list[str], constraints: list[Constraint],
             replications: int, incumbent: float | None = None, prune: bool = True,
             noise: dict[str, float] | None = None, paired: Paired | None = None) -> Evaluation:
    """Run the plan `values` (in this process) and score it; `incumbent` is the cheapest feasible cost so far,
    `noise` each constraint's per-replication SD in a feasible plan (for the one-replication look), `paired`
    a neighbouring plan that ran every replication (for the paired look, sequential.Paired)."""
    scenario = validate_data(with_values(raw, values), {}, "optimize")
    runs, summaries, reason, looked = [], [], None, None
    for k in range(replications):
        runs.append(run_replication(scenario, k))
        summaries.append(SimulationResult(scenario, [runs[-1]]).summary())
        if prune and k + 1 < replications:
            if k == 0 and paired is not None:
                first = {c.name: c.violation(summaries[0]) for c in constraints}
                reason = paired.stop_reason(first)
                looked = {"trial": paired.number, "estimate": paired.estimate(first), "sd": dict(paired.spread)}
            reason = reason or stop_reason(summaries, objectives, constraints, incumbent, noise)
            if reason is not None:
                break
    summary = SimulationResult(scenario, runs).summary()
    scores = []
    for name in objectives:
        value = metric_value(name, summary)
        scores.append(float("inf") if value is None else float(value))
    pruned = None if reason is None else f"stopped after {len(runs)} of {replications} replications: {reason}"
    by_replication = {c.name: [c.violation(one) for one in summaries] for c in constraints}
    return Evaluation(scores, {c.name: c.violation(summary) for c in constraints}, summary, len(runs),
                      by_replication, pruned, late_share(runs), looked if len(runs) == 1 and reason else None)


def late_share(runs: list[Any]) -> dict[str, list[float]]:
    """Per queue and clock hour of the week of arrival: the share of measured items that missed the
    target, over the runs (0 where none arrived). What iterative roster staffing raises cover by."""
    out = {}
    for qid in runs[0].late_by_hour:
        late = np.sum([r.late_by_hour[qid][0] for r in runs], axis=0)
        arrived = np.sum([r.late_by_hour[qid][1] for r in runs], axis=0)
        out[qid] = np.round(late / np.maximum(arrived, 1), 4).tolist()
    return out
