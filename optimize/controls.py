"""Control variates for verification: a congestion KPI regressed on the work that happened to arrive.

Across replications, most of the spread of a busy queue's SLA attainment comes from how much work
arrived: a replication with 2% more work than expected waits longer. That work is an input whose
mean is known exactly (expected arrivals in the measured window x the handling time's mean), so the
KPI's mean can be estimated as the regression's value at the expected work (Lavenberg & Welch 1981;
Nelson 1990): mean(Y) - b (mean(X) - E[X]), with a one-sided t bound on n - 2 degrees of freedom,
exact when (X, Y) is jointly normal. On an M/M/c queue at 95% load over 1,000 hours, the work's
correlation with attainment is -0.9, so the bound narrows by half.

Which constraints get a control is fixed by the metric's kind, never by the data: turnaround, wait,
backlog and attainment KPIs (of a queue, or of all queues) and a pool's busy hours, utilization and
exposure. The control is the work offered to the queues that share pools with the constraint's queue
or pool (its connected component), as a ratio to its expectation. Quality and cost keep the plain t
bound. Below CONTROL_FROM replications, estimating the slope costs more than it gains unless the
correlation is above about 0.6, so the first look of 6 keeps the plain bound and the second look uses
the control.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.model.arrivals import expected_in_window
from simulator.scenario.schema import Scenario

from .constraints import SLOWEST_QUEUE, Constraint

CONTROL_FROM = 10  # replications: from here a control's slope is worth its degree of freedom
LOAD_DRIVEN = {"sla_attainment", "backlog_end", "undelivered", *SLOWEST_QUEUE}  # a queue's (or all queues') KPI
POOL_LOAD = {"busy_hours", "utilization", "exposure_h_max"}


def components(scenario: Scenario) -> list[set[str]]:
    """The queues grouped by the pools they share: two queues are together when some pool holds a skill
    of each (transitively)."""
    groups: list[tuple[set[str], set[str]]] = []  # (queues, pools)
    for qid in scenario.queues:
        skills = scenario.skills_of(qid)
        pools = {pid for pid, p in scenario.pools.items() if skills & set(p.skills)}
        joined = [g for g in groups if g[1] & pools]
        queues = {qid}.union(*(g[0] for g in joined))
        pools = pools.union(*(g[1] for g in joined))
        groups = [g for g in groups if g not in joined] + [(queues, pools)]
    return [queues for queues, _ in groups]


def controlled_queues(scenario: Scenario, constraint: Constraint,
                      groups: list[set[str]] | None = None) -> set[str] | None:
    """The queues whose offered work is this constraint's control, or None when its kind gets none
    (`groups`: components(scenario), when the caller has them)."""
    parts = constraint.metric.split(".")
    kpi = parts[-1]
    groups = components(scenario) if groups is None else groups
    if len(parts) == 3 and parts[0] == "queues" and kpi in LOAD_DRIVEN:
        return next(g for g in groups if parts[1] in g)
    if len(parts) == 3 and parts[0] == "pools" and kpi in POOL_LOAD:
        skills = set(scenario.pools[parts[1]].skills)
        served = {q for q in scenario.queues if scenario.skills_of(q) & skills}
        return set().union(*(g for g in groups if g & served)) or None
    if len(parts) == 1 and (kpi in LOAD_DRIVEN or kpi == "exposure_h_max"):
        return set(scenario.queues)
    return None


def expected_offered(scenario: Scenario) -> dict[str, float]:
    """Queue -> expected offered_h: the work content (hours at speed 1) of the first tasks of the items
    arriving in the measured window."""
    h = scenario.horizon
    return {qid: expected_in_window(q, h.start, h.warmup, h.duration) * q.handling_time.mean
            for qid, q in scenario.queues.items()}


def control_values(scenario: Scenario, constraints: list[Constraint],
                   runs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Constraint name -> its control in each replication (`runs`: each replication's queue KPIs):
    the controlled queues' offered work over its expectation, minus 1 (so its mean is exactly 0).
    Constraints whose kind gets no control, or whose queues expect no work, are left out."""
    expected, groups = expected_offered(scenario), components(scenario)
    out = {}
    for c in constraints:
        queues = controlled_queues(scenario, c, groups)
        if not queues:
            continue
        mean = sum(expected[q] for q in queues)
        if mean <= 0:
            continue
        out[c.name] = np.asarray([sum(r[q]["offered_h"] for q in queues) / mean - 1.0 for r in runs])
    return out
