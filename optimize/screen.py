"""The analytic screen: a plan whose offered work cannot fit its capacity is infeasible unsimulated.

Work is a lower bound (analytic.offered_work: every stage, reworks at the best accuracy on offer);
capacity an upper bound (every head, hires included, present all window at full speed, less
shrinkage, no attrition). The check is Hall's condition over sets of pools (analytic.hall_overload):
the work only a set of pools can do must fit within that set's hours. Work above capacity grows the
backlog through the horizon, so it rules a plan out only for skills whose queues' SLA targets are
shorter than half the measured window.
"""

from __future__ import annotations

import math

from simulator.model.shifts import assign_patterns, hours_in_window, shift_instances
from simulator.scenario import Scenario

from .analytic import hall_overload, offered_work, stage_work


def capacity(scenario: Scenario) -> dict[str, float]:
    """Upper bound of productive worker-hours per clock hour by pool (speed 1)."""
    lo, hi = scenario.horizon.warmup, scenario.horizon.duration
    out: dict[str, float] = {}
    for pid, pool in scenario.pools.items():
        patterns = shift_instances(pool, scenario.horizon.start, hi)
        shares = pool.shift_shares()
        heads = pool.headcount + sum(h.count for h in pool.hires)
        which = assign_patterns(heads, shares)
        rostered = sum(hours_in_window(patterns[p], lo, hi) for p in which)
        out[pid] = rostered * (1 - pool.shrinkage) * (1 - pool.absence) / (hi - lo)
    return out


def paid_cost(scenario: Scenario) -> float:
    """Cost of paid hours in the measured window without attrition (hires paid from their week)."""
    lo, hi = scenario.horizon.warmup, scenario.horizon.duration
    total = 0.0
    for pool in scenario.pools.values():
        patterns = shift_instances(pool, scenario.horizon.start, hi)
        shares = pool.shift_shares()
        which = assign_patterns(pool.headcount, shares)
        hours = sum(hours_in_window(patterns[p], lo, hi) for p in which)
        for hire in pool.hires:
            start = max(lo, (hire.week - 1) * 168.0)
            hours += hire.count * sum(hours_in_window(patterns[p], start, hi) for p in assign_patterns(1, shares))
        total += hours * pool.paid_share() * pool.cost_per_hour
    return total


def _short_target_skills(scenario: Scenario) -> set[str]:
    """Skills all of whose queues (at any stage) have SLA targets shorter than half the window."""
    window = scenario.horizon.duration - scenario.horizon.warmup
    longest: dict[str, float] = {}
    for qid, queue in scenario.queues.items():
        for skill in stage_work(scenario, qid):
            longest[skill] = max(longest.get(skill, 0.0), queue.sla.target)
    return {s for s, target in longest.items() if target < window / 2}


def overload(scenario: Scenario) -> tuple[str, float] | None:
    """The pools most short of the work only they can do, and work / capacity - 1, when the plan is out."""
    short = _short_target_skills(scenario)
    work = {s: w for s, w in offered_work(scenario).items() if s in short}
    speeds = {pid: {s: spec.speed for s, spec in pool.skills.items()} for pid, pool in scenario.pools.items()}
    verdict = hall_overload(work, capacity(scenario), speeds)
    if verdict is None:
        return None
    members, need, have = verdict
    skills = sorted(s for s in work if work[s] > 0 and all(p in members for p in speeds if s in speeds[p]))
    where = f"pools {', '.join(members)}" if members else "no pool"
    excess = math.inf if have == 0 else need / have - 1.0
    return f"{where} (skills {', '.join(skills)})", excess


__all__ = ["capacity", "overload", "paid_cost"]
