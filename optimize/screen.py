"""The queueing-theory head start: an analytic screen of trials, and a warm start for the search.

Screen: per skill, a lower bound of the offered work (mean arrivals x label passes x handling, plus
the review sample and escalation share x their handling; reworks and adjudications left out) against
an upper bound of capacity (every head, hires included, present all window, at full speed, less
shrinkage). Work above capacity grows the backlog through the horizon, so a plan with it cannot meet
SLA targets shorter than half the measured window: such trials are recorded infeasible unsimulated.

Warm start: the smallest common fraction of every head-count range that staffs each skill to the
square-root rule, capacity >= a + sqrt(a) for offered load a (in workers), enqueued as the first trial.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import lru_cache
from typing import Any


from simulator.model.arrivals import expected_per_hour
from simulator.scenario.loader import validate_data
from simulator.scenario.schema import Queue, Scenario
from simulator.model.shifts import assign_patterns, hours_in_window, shift_instances

from .search_space import Decision, with_values


@lru_cache(maxsize=256)
def _mean_rate(queue_json: str, start: dt.date, duration: float, warmup: float) -> float:
    """Mean expected arrivals per hour over the measured window (cached: trials rarely change volumes)."""
    queue = Queue.model_validate_json(queue_json)
    n_hours = math.ceil(duration)
    rates = expected_per_hour(queue, start, n_hours)
    return float(rates[int(warmup):].mean()) + queue.initial_backlog / n_hours


def offered_load(scenario: Scenario) -> dict[str, float]:
    """Lower bound of work per clock hour (in worker-hours at speed 1) by skill."""
    load: dict[str, float] = {}
    for qid, queue in scenario.queues.items():
        h = scenario.horizon
        rate = _mean_rate(queue.model_dump_json(), h.start, h.duration, h.warmup)
        wf = scenario.workflow_of(qid)
        parts = [(queue.skill, wf.label.passes * queue.handling_time.mean)]
        if wf.review is not None:
            parts.append((wf.review.skill, wf.review.sample * wf.review.handling_time.mean))
        if wf.escalation is not None:
            parts.append((wf.escalation.skill, wf.escalation.probability * wf.escalation.handling_time.mean))
        for skill, hours in parts:
            load[skill] = load.get(skill, 0.0) + rate * hours
    return load


def capacity(scenario: Scenario) -> dict[str, float]:
    """Upper bound of productive worker-hours per clock hour by skill (speed-weighted)."""
    lo, hi = scenario.horizon.warmup, scenario.horizon.duration
    out: dict[str, float] = {}
    for pool in scenario.pools.values():
        patterns = shift_instances(pool, scenario.horizon.start, hi)
        shares = [1.0] if pool.shifts == "24x7" else [s.share for s in pool.shifts]
        heads = pool.headcount + sum(h.count for h in pool.hires)
        which = assign_patterns(heads, shares)
        hours = sum(hours_in_window(patterns[p], lo, hi) for p in which) * (1 - pool.shrinkage) / (hi - lo)
        for skill, spec in pool.skills.items():
            out[skill] = out.get(skill, 0.0) + hours * spec.speed
    return out


def paid_cost(scenario: Scenario) -> float:
    """Cost of paid hours in the measured window without attrition (hires paid from their week)."""
    lo, hi = scenario.horizon.warmup, scenario.horizon.duration
    total = 0.0
    for pool in scenario.pools.values():
        patterns = shift_instances(pool, scenario.horizon.start, hi)
        shares = [1.0] if pool.shifts == "24x7" else [s.share for s in pool.shifts]
        which = assign_patterns(pool.headcount, shares)
        hours = sum(hours_in_window(patterns[p], lo, hi) for p in which)
        for hire in pool.hires:
            start = max(lo, (hire.week - 1) * 168.0)
            hours += hire.count * sum(hours_in_window(patterns[p], start, hi) for p in assign_patterns(1, shares))
        total += hours * pool.cost_per_hour
    return total


def overload(scenario: Scenario) -> tuple[str, float] | None:
    """The most overloaded skill and its load/capacity - 1, when the screen rules the plan out."""
    window = scenario.horizon.duration - scenario.horizon.warmup
    load, cap = offered_load(scenario), capacity(scenario)
    worst: tuple[str, float] | None = None
    for skill, work in load.items():
        targets = [q.sla.target for q in scenario.queues.values() if q.skill == skill]
        if targets and max(targets) >= window / 2:
            continue  # a growing backlog need not break a target this long
        have = cap.get(skill, 0.0)
        excess = math.inf if have == 0 else work / have - 1.0
        if excess > 0 and (worst is None or excess > worst[1]):
            worst = (skill, excess)
    return worst


def warm_start(raw: dict[str, Any], decisions: list[Decision]) -> dict[str, Any] | None:
    """Square-root staffing point: head-count variables at the smallest common fraction of their ranges
    giving every skill capacity >= a + sqrt(a); other variables at their range's middle (or first choice)."""
    heads = [d for d in decisions if d.path.endswith(".headcount") and d.is_int]
    if not heads:
        return None

    def point(fraction: float) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for d in decisions:
            if d in heads:
                step = int(d.step or 1)
                raw_value = d.low + fraction * (d.high - d.low)  # type: ignore[operator]
                values[d.path] = int(min(d.high, d.low + step * math.ceil((raw_value - d.low) / step - 1e-9)))
            elif d.choices is not None:
                values[d.path] = d.choices[0]
            else:
                mid = (d.low + d.high) / 2  # type: ignore[operator]
                values[d.path] = int(round(mid)) if d.is_int else mid
        return values

    def staffed(fraction: float) -> bool:
        scenario = validate_data(with_values(raw, point(fraction)), {}, "warm start")
        load, cap = offered_load(scenario), capacity(scenario)
        return all(cap.get(s, 0.0) >= a + math.sqrt(a) for s, a in load.items())

    if not staffed(1.0):
        return point(1.0)
    low, high = 0.0, 1.0
    for _ in range(20):
        mid = (low + high) / 2
        low, high = (low, mid) if staffed(mid) else (mid, high)
    return point(high)


__all__ = ["capacity", "offered_load", "overload", "warm_start"]
