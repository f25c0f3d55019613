"""Never trust one noisy best trial: re-run the cheapest candidates on fresh replications and keep the
cheapest that meets every target with 95% confidence.

The rule: for each constraint, a one-sided Student-t bound over the fresh replications must meet the
target (the lower bound of SLA attainment or quality >= its target; the upper bound of a cost, backlog
or exposure <= its limit). A plan's confidence is the smallest, over its constraints, of the one-sided
t probability that the true mean meets the target.

Two looks (`optimize.verify_max` above the first look's count, the default): the first look's bounds
are 97.5%. A plan that misses only on its bounds (every mean meets its target) gets more fresh
replications, in waves of the first look's size, and is judged again at 97.5% on all of them; it stops
early, and fails, when a mean falls outside its target after a wave. The second look's size is read off
the first look: the replications at which every bound would meet with POWER chance were the first
look's means and spreads the truth (settle()), at least EXTEND times the first look's and at most
`verify_max` (default REACH times the first look's). A plan whose mean sits exactly on a target passes
each look at most 2.5% of the time, so at most 5% in all (Bonferroni; stopping to fail never adds to
it), as with one look at 95%. But a plan inside its targets by less than the first look can resolve
(about 0.8 SD of one replication with 6) now passes: the exact optimum of a busy queue often sits that
close. With `verify_max` at or below the first look's count: one look at 95%.

From CONTROL_FROM replications on, congestion KPIs are estimated with the offered work as a control
variate (controls.py): the same rule on a regression estimate whose bound is far narrower for a busy
queue.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Callable

import numpy as np
from scipy import stats

from simulator.scenario.loader import validate_data
from simulator.replications import run_replications
from simulator.results import SimulationResult

from .constraints import Constraint, metric_value
from .controls import CONTROL_FROM, control_values
from .evaluate import late_share
from .search_space import with_values

FRESH = 1_000_000  # replication indices of verification runs start here: streams unused by the search
CONFIRM = 2_000_000  # a second fresh set: confirms a plan chosen by looking at the first (polish.py)
LEVEL = 0.95  # one look; two looks split what it leaves over (Bonferroni)
EXTEND = 4  # a second look runs at least this many times the first look's replications (or verify_max, if less)
REACH = 16  # default verify_max: this many times the first look's; past EXTEND only as far as settle() asks
POWER = 0.9  # the chance the second look's size, read off the first look by settle(), gives an edge plan


def rule(level: float, controlled: bool = False) -> str:
    """The verification rule in words, for the summary."""
    control = "; congestion KPIs with the offered work as a control variate" if controlled else ""
    if level == LEVEL:
        return "one-sided 95% t bound of every constraint meets its target" + control
    return (f"one-sided {100 * level:g}% t bound of every constraint meets its target, on the first look or, "
            "when every mean meets its target, on the second with more fresh replications (95% in all)" + control)


@dataclass
class Verification:
    """One candidate re-run on fresh replications."""

    params: dict[str, Any]
    kpis: dict[str, Any]
    objective: dict[str, float]
    met: bool  # every constraint's one-sided bound (the rule's level) meets its target
    confidence: float  # min over constraints of P(true mean meets the target)
    margins: dict[str, float]  # constraint -> how far the bound is inside (+) or outside (-) the target
    pool_hours: dict[str, dict[str, np.ndarray]]  # pool -> on_shift / busy heads by hour of the week (mean)
    late_share: dict[str, list[float]]  # per queue and hour of the week of arrival: share missed (evaluate.late_share)
    replications: int = 0  # fresh replications judged (the second look's count when it took one)
    controlled: list[str] = field(default_factory=list)  # constraints estimated with the offered work as control
    level: float = LEVEL  # the one-sided level of the bounds
    raised: int = 0  # rounds the plan was raised after every search candidate failed verification
    corrected: int = 0  # rounds of picking a study plan with the search's margins shifted by the fresh bias
    needed: int | None = None  # failed with every mean inside its target: replications that would settle it (settle())
    violations: dict[str, list[float]] = field(default_factory=dict)  # per constraint defined in every fresh
    # replication judged, its violation in each (> 0 missed, as the study's): paired effects between plans (raising.py)


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


def last_look(spec: Any, first: int) -> int:
    """The most fresh replications of the last look: `verify_max` of the scenario's optimize section
    (`spec`), or REACH times the first look's."""
    return REACH * first if spec is None or spec.verify_max is None else spec.verify_max


def second_look(first: int, most: int) -> int:
    """The fresh replications every second look runs, however sure the first look was: EXTEND times the
    first look's, or `most` if less."""
    return min(most, EXTEND * first)


def verify(raw: dict[str, Any], params: dict[str, Any], objectives: list[str], constraints: list[Constraint],
           replications: int, jobs: int | None = None, first: int = FRESH, most: int | None = None) -> Verification:
    """Run the plan on `replications` fresh replications (indices from `first`) and judge it by the rule
    above; a second look, when the scenario allows one, runs the next indices, as many as looks() asks, up
    to `most` in all (default: last_look; the first look's count: one look only)."""
    scenario = validate_data(with_values(raw, params), {}, "verify")
    runs: list[Any] = []
    singles: list[dict[str, Any]] = []

    def values(n: int) -> dict[str, np.ndarray]:
        """Each constraint's value in fresh replications first..first+n-1 (run when not yet run)."""
        if n > len(runs):
            more = run_replications(scenario, n - len(runs), jobs=jobs, first=first + len(runs))
            runs.extend(more)
            singles.extend(SimulationResult(scenario, [run]).summary() for run in more)
        return {c.name: _per_replication(c.metric, singles[:n]) for c in constraints}

    def controls(n: int) -> dict[str, np.ndarray]:
        """Each controlled constraint's control in the first n fresh replications (controls.py)."""
        return control_values(scenario, constraints, [run.kpis["queues"] for run in runs[:n]]) if use else {}

    use = scenario.optimize is None or scenario.optimize.control_variates
    most = last_look(scenario.optimize, replications) if most is None else most
    n, level = looks(values, constraints, replications, most, controls)
    judged = values(n)  # runs the last wave when the second look went to `most`
    given = controls(n)
    result = SimulationResult(scenario, runs[:n])
    summary = result.summary()
    margins, confidence, means_meet = bounds(judged, constraints, level, given)
    objective = {name: float(metric_value(name, summary) or math.inf) for name in objectives}
    return Verification(params=params, kpis=summary, objective=objective, met=all(m >= 0 for m in margins.values()),
                        confidence=confidence, margins=margins, pool_hours=pool_hours(result),
                        late_share=late_share(result.runs), replications=n, level=level,
                        controlled=sorted(given) if n >= CONTROL_FROM else [],
                        needed=settle(judged, constraints, level, given) if means_meet else None,
                        violations={c.name: [-_slack(c, float(v)) for v in judged[c.name]] for c in constraints
                                    if not np.isnan(judged[c.name]).any()})


def looks(values: Callable[[int], dict[str, np.ndarray]], constraints: list[Constraint], first: int,
          most: int, controls: Callable[[int], dict[str, np.ndarray]] = lambda n: {}) -> tuple[int, float]:
    """How many fresh replications the plan is judged on, and at what level: the rule of the module
    docstring. `values(n)`: each constraint's values in the first n fresh replications; `controls(n)`:
    the controlled constraints' controls in them."""
    if most <= first:
        return first, LEVEL
    level = 1 - (1 - LEVEL) / 2
    margins, _, means_meet = bounds(values(first), constraints, level, controls(first))
    if all(m >= 0 for m in margins.values()) or not means_meet:
        return first, level
    needed = settle(values(first), constraints, level, controls(first), POWER)
    goal = max(second_look(first, most), min(most, needed or most))
    n = first
    while n < goal:  # in waves of the first look's size; a mean that falls outside its target stops it
        n = min(goal, n + first)
        if n < goal and not bounds(values(n), constraints, level, controls(n))[2]:
            return n, level  # futility: it fails there, and stopping to fail never adds to the 5%
    return goal, level


@functools.lru_cache(maxsize=256)
def _quantile(level: float, df: int) -> float:
    """Student t quantile, cached: the Monte Carlo tests call it thousands of times."""
    return float(stats.t.ppf(level, df))


def estimate(y: np.ndarray, x: np.ndarray | None, least: int = CONTROL_FROM) -> tuple[float, float, int]:
    """The mean of `y`, its standard error and degrees of freedom: plain, or with the control `x` (mean
    exactly 0) from `least` replications on: the regression of y on x at x = 0 (controls.py)."""
    n = len(y)
    if x is None or n < max(least, 3) or np.ptp(x) == 0:
        return float(y.mean()), float(y.std(ddof=1) / math.sqrt(n)), n - 1
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / sxx
    residual = y - y.mean() - slope * dx
    spread = float(residual @ residual) / (n - 2)
    return float(y.mean() - slope * x.mean()), math.sqrt(spread * (1 / n + float(x.mean()) ** 2 / sxx)), n - 2


SETTLE = 0.8  # settle(): the chance the bound meets at the replications it names


def _judged(data: np.ndarray, x: np.ndarray | None) -> tuple[tuple[float, float, int], tuple[float, float, int]]:
    """(the estimate a bound is judged on, the control's estimate at any n): with a control only from
    CONTROL_FROM replications on for the first (bounds())."""
    best = estimate(data, x, 0)
    return (best if len(data) >= CONTROL_FROM else estimate(data, None)), best


def settle(values: dict[str, np.ndarray], constraints: list[Constraint], level: float,
           controls: dict[str, np.ndarray] | None = None, power: float = SETTLE) -> int | None:
    """For a plan whose means all meet their targets but whose `level` bounds do not: the fresh replications
    at which every bound would meet with SETTLE chance, were the measured means and per-replication
    spreads the truth (the normal sample-size formula, n = ((z_level + z_SETTLE) sd / slack)^2, with the
    control's spread where it has one). None when no bound misses, or a mean misses. A planner reads it as the
    `optimize.verify_max` that would decide the plan rather than leave it on the edge."""
    z = NormalDist().inv_cdf(level) + NormalDist().inv_cdf(power)
    needed = []
    for c in constraints:
        data = values[c.name]
        (mean, se, df), _ = _judged(data, (controls or {}).get(c.name))
        slack = _slack(c, mean)
        if slack - _quantile(level, df) * se >= 0:
            continue
        if slack <= 0:
            return None  # a mean outside its target: more replications only confirm the miss
        needed.append(math.ceil((z * se * math.sqrt(len(data)) / slack) ** 2))
    return max(needed, default=None)


def _slack(c: Constraint, mean: float) -> float:
    return (c.bound - mean) if c.op == "<=" else (mean - c.bound)


def bounds(values: dict[str, np.ndarray], constraints: list[Constraint], level: float,
           controls: dict[str, np.ndarray] | None = None) -> tuple[dict[str, float], float, bool]:
    """Per constraint, how far its one-sided `level` t bound is inside (+) its target; the plan's
    confidence (the smallest t probability that a true mean meets its target); whether every mean does.
    A constraint with a control (`controls`, by name) is estimated with it (estimate()); whether its
    mean meets the target is read from the control's estimate even below CONTROL_FROM replications,
    where the bound stays plain: that decides only whether a second look is taken, never a pass."""
    margins, confidences, means_meet = {}, [], True
    for c in constraints:
        data = values[c.name]
        if np.isnan(data).any():
            margins[c.name], confidence, means_meet = -math.inf, 0.0, False
        else:
            (mean, se, df), best = _judged(data, (controls or {}).get(c.name))  # best: whether the mean meets
            slack = _slack(c, mean)  # > 0: the mean meets it
            margins[c.name] = slack - _quantile(level, df) * se
            means_meet = means_meet and _slack(c, best[0]) >= 0
            confidence = float(stats.t.cdf(slack / se, df)) if se > 0 else float(slack >= 0)
        confidences.append(confidence)
    return margins, min(confidences, default=1.0), means_meet
