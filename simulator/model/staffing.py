"""Who works in a pool over the horizon: the initial staff, hires by week, and departures by attrition.

Attrition: each worker stays an exponential time with monthly retention 1 - m (a month = 730.5 h),
so the expected head-count after t months is n (1 - m)^t. Hires join at the start of their week
and are placed on the shift pattern furthest below its share; they ramp from the `ramp`
multipliers to 1.0 linearly over `ramp.duration`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.scenario.schema import Pool
from .shifts import Interval, assign_patterns

HOURS_PER_MONTH = 730.5


@dataclass(frozen=True)
class Person:
    """One worker's employment: [hired_at, leaves_at) in clock hours, ramp end, and shift pattern."""

    hired_at: float
    leaves_at: float
    ramp_end: float
    pattern: int


def roster(spec: Pool, rng: np.random.Generator) -> list[Person]:
    """Everyone who works in the pool during the horizon, initial staff first, then hires in week order."""
    shares = spec.shift_shares()
    patterns = assign_patterns(spec.headcount, shares)
    starts = [(0.0, 0.0, p) for p in patterns]
    counts = [patterns.count(i) for i in range(len(shares))]
    for hire in sorted(spec.hires, key=lambda h: h.week):
        begin = (hire.week - 1) * 168.0
        ramp_end = begin + spec.ramp.duration if spec.ramp is not None else begin
        for _ in range(hire.count):
            total = sum(counts) + 1
            pattern = max(range(len(shares)), key=lambda i: (shares[i] * total - counts[i], -i))
            counts[pattern] += 1
            starts.append((begin, ramp_end, pattern))
    if spec.attrition_monthly > 0:
        rate = -math.log1p(-spec.attrition_monthly) / HOURS_PER_MONTH
        stays = rng.exponential(1.0 / rate, len(starts)).tolist()
    else:
        stays = [math.inf] * len(starts)
    return [Person(hired, hired + stay, ramp_end, pattern) for (hired, ramp_end, pattern), stay in zip(starts, stays)]


def clip(intervals: list[Interval], lo: float, hi: float) -> list[Interval]:
    """The parts of the intervals inside [lo, hi)."""
    return [(max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi]


def headcount_by_hour(people: list[Person], n_hours: int) -> np.ndarray:
    """Workers employed at the start of each clock hour."""
    hours = np.arange(n_hours, dtype=float)
    count = np.zeros(n_hours)
    for person in people:
        count += (hours >= person.hired_at) & (hours < person.leaves_at)
    return count
