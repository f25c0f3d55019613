"""Never trust one noisy best trial: re-run the cheapest candidates on fresh replications and keep the
cheapest that meets every target with 95% confidence.

The rule: for each constraint, a one-sided 95% Student-t bound over the fresh replications must meet
the target (the lower bound of SLA attainment or quality >= its target; the upper bound of a cost,
backlog or exposure <= its limit). A plan's confidence is the smallest, over its constraints, of the
one-sided t probability that the true mean meets the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from simulator.scenario.loader import validate_data
from simulator.replications import run_replications
from simulator.results import SimulationResult

from .constraints import Constraint, metric_value
from .evaluate import late_share
from .search_space import with_values

FRESH = 1_000_000  # replication indices of verification runs start here: streams unused by the search
CONFIRM = 2_000_000  # a second fresh set: confirms a plan chosen by looking at the first (polish.py)


@dataclass
class Verification:
    """One candidate re-run on fresh replications."""

    params: dict[str, Any]
    kpis: dict[str, Any]
    objective: dict[str, float]
    met: bool  # every constraint's one-sided 95% bound meets its target
    confidence: float  # min over constraints of P(true mean meets the target)
    margins: dict[str, float]  # constraint -> how far the 95% bound is inside (+) or outside (-) the target
    pool_hours: dict[str, dict[str, np.ndarray]]  # pool -> on_shift / busy heads by hour of the week (mean)
    late_share: dict[str, list[float]]  # per queue and hour of the week of arrival: share missed (evaluate.late_share)
    raised: int = 0  # rounds the plan was raised after every search candidate failed verification
    corrected: int = 0  # rounds of picking a study plan with the search's margins shifted by the fresh bias


def pool_hours(result: SimulationResult) -> dict[str, dict[str, np.ndarray]]:
    """Pool -> {"on_shift", "busy"}: heads at each hour's start over the measured window, averaged over
    replications and folded by hour of the week (hours since the horizon's start, modulo 168)."""
    from .analytic import fold_week

    lo, hi = int(result.scenario.horizon.warmup), math.ceil(result.scenario.horizon.duration)
    return {pid: {metric: np.mean([fold_week(run.pool_series[pid][metric][:hi], lo) for run in result.runs], axis=0)
                  for metric in ("on_shift", "busy")}
            for pid in result.scenario.pools} if result.runs else {}


def _per_replication(metric: str, singles: list[dict[str, Any]]) -> np.ndarray:
    """The metric in each replication's own summary (NaN where undefined)."""
    values = [metric_value(metric, one) for one in singles]
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def verify(raw: dict[str, Any], params: dict[str, Any], objectives: list[str], constraints: list[Constraint],
           replications: int, jobs: int | None = None, first: int = FRESH) -> Verification:
    """Run the plan on `replications` fresh replications (indices from `first`) and judge it by the rule above."""
    scenario = validate_data(with_values(raw, params), {}, "verify")
    result = SimulationResult(scenario, run_replications(scenario, replications, jobs=jobs, first=first))
    summary = result.summary()
    t = stats.t.ppf(0.95, replications - 1)
    singles = [SimulationResult(scenario, [run]).summary() for run in result.runs]  # once, not per constraint
    margins, confidences = {}, []
    for c in constraints:
        values = _per_replication(c.metric, singles)
        if np.isnan(values).any():
            margins[c.name], confidence = -math.inf, 0.0
        else:
            mean, se = float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))
            slack = (c.bound - mean) if c.op == "<=" else (mean - c.bound)  # > 0: the mean meets it
            margins[c.name] = slack - t * se
            confidence = float(stats.t.cdf(slack / se, replications - 1)) if se > 0 else float(slack >= 0)
        confidences.append(confidence)
    objective = {name: float(metric_value(name, summary) or math.inf) for name in objectives}
    return Verification(params=params, kpis=summary, objective=objective,
                        met=all(m >= 0 for m in margins.values()),
                        confidence=min(confidences, default=1.0), margins=margins, pool_hours=pool_hours(result),
                        late_share=late_share(result.runs))
