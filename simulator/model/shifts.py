"""Work calendars: shift instances in the pool's time zone, workers' shift assignment, and the hours
each worker is available once shrinkage is taken out.

Shrinkage (breaks, meetings, training, absence) removes `shrinkage x length` from every shift instance
as one block at a uniformly random position that wraps around the shift's end: a worker may start late,
leave early or step out mid-shift. Wrapping keeps the expected available share at every moment of the
shift equal to 1 - shrinkage, and productive hours = paid hours x (1 - shrinkage) for every shift.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from simulator.scenario.calendar import horizon_origin, local_instant, parse_days, to_hours, zone
from simulator.scenario.schema import Pool

Interval = tuple[float, float]


def shift_instances(pool: Pool, start: dt.date, horizon: float) -> list[list[Interval]]:
    """For each shift pattern of the pool, its [start, end) clock-hour instances overlapping [0, horizon)."""
    if pool.shifts == "24x7":
        if pool.shrinkage == 0:
            return [[(0.0, horizon)]]
        days = math.ceil(horizon / 24.0)
        return [[(24.0 * d, min(24.0 * (d + 1), horizon)) for d in range(days)]]
    origin = horizon_origin(start)
    first_local = origin.astimezone(zone(pool.timezone)).date() - dt.timedelta(days=1)
    n_days = math.ceil(horizon / 24.0) + 2
    patterns = []
    for shift in pool.shifts:
        days = parse_days(shift.days)
        instances = []
        for d in range(n_days):
            day = first_local + dt.timedelta(days=d)
            if day.weekday() not in days:
                continue
            begin = to_hours(origin, local_instant(day, shift.start, pool.timezone))
            end = begin + shift.length
            if end > 0 and begin < horizon:
                instances.append((max(begin, 0.0), min(end, horizon)))
        patterns.append(instances)
    return patterns


def assign_patterns(headcount: int, shares: list[float]) -> list[int]:
    """Pattern index of each worker: head-count split by shares, largest remainder, in a stable order."""
    exact = [headcount * s for s in shares]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: headcount - sum(counts)]:
        counts[i] += 1
    return [i for i, n in enumerate(counts) for _ in range(n)]


def available_intervals(instances: list[Interval], shrinkage: float, rng: np.random.Generator) -> list[Interval]:
    """The parts of the shift instances a worker is available, after one wrapped shrinkage block per instance."""
    if shrinkage == 0:
        return list(instances)
    offsets = rng.random(len(instances))
    out: list[Interval] = []
    for (begin, end), u in zip(instances, offsets.tolist()):
        length = end - begin
        gap_start = begin + u * length
        gap_end = gap_start + shrinkage * length
        if gap_end <= end:
            pieces = [(begin, gap_start), (gap_end, end)]
        else:
            pieces = [(begin + (gap_end - end), gap_start)]
        for a, b in pieces:
            if b <= a:
                continue
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return out


def hours_in_window(intervals: list[Interval], lo: float, hi: float) -> float:
    """Total length of the intervals inside [lo, hi)."""
    return sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in intervals)
