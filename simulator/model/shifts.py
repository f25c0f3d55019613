"""Work calendars: shift instances in the pool's time zone, workers' shift assignment, and the hours
each worker is available once planned shrinkage and unplanned absence are taken out.

Planned shrinkage (breaks, meetings, training) removes one block of `shrinkage x length` from every
shift instance, and the blocks of the k workers on an instance are staggered: worker r of k starts
its block at (phase + r / k) of the shift, wrapping around the shift's end (start late, leave early),
with one random phase per instance. Evenly spaced blocks of length s cover every moment of the shift
floor(k s) or ceil(k s) times, so k (1 - s) workers are available at every moment up to rounding,
and the fractional part is spread evenly over the shift. (Independent random blocks would make the
number available binomial: far more waiting than planners' N (1 - s) agents.)

Absence (sickness, no-shows) removes whole worker-shifts, each independently with probability
`absence`, so the expected number available is N (1 - s) (1 - a).
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
        if pool.shrinkage == 0 and pool.absence == 0:
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


def staggered_offsets(instances: list[Interval], hired: np.ndarray, leaves: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """Where each worker's shrinkage block starts in each instance, as a share of the shift (instances x
    workers): the workers employed during an instance take evenly spaced slots from a random phase."""
    begins = np.asarray([b for b, _ in instances], dtype=float)
    ends = np.asarray([e for _, e in instances], dtype=float)
    on = (hired[None, :] < ends[:, None]) & (leaves[None, :] > begins[:, None])
    rank = np.cumsum(on, axis=1) - 1
    on_count = np.maximum(on.sum(axis=1), 1)
    phase = rng.random(len(instances))
    return (phase[:, None] + rank / on_count[:, None]) % 1.0


Available = tuple[float, float, bool]  # [begin, end) and whether a break (not the shift's end) follows


def available_intervals(instances: list[Interval], shrinkage: float, offsets: np.ndarray,
                        absent: np.ndarray) -> list[Available]:
    """A worker's available intervals: each instance not missed (`absent`) less its shrinkage block at
    `offsets` (a share of the shift, wrapping around its end). The flag marks intervals a break follows:
    the gap after them starts on shift (mid-shift, a block running to the shift's end, or a next shift
    that starts on the dot with its block), not at a shift's end with time off after it."""
    out: list[Available] = []
    present = [(b, e, u) for (b, e), u, missed in zip(instances, offsets.tolist(), absent.tolist()) if not missed]
    for j, (begin, end, u) in enumerate(present):
        on_after_end = j + 1 < len(present) and present[j + 1][0] == end
        if shrinkage == 0:
            pieces = [(begin, end, on_after_end)]
        else:
            length = end - begin
            gap_start = begin + u * length
            gap_end = gap_start + shrinkage * length
            if gap_end <= end:
                pieces = [(begin, gap_start, True), (gap_end, end, on_after_end)]
            else:  # the block runs to the shift's end: a break still follows this piece
                pieces = [(begin + (gap_end - end), gap_start, True)]
        for a, b, brk in pieces:
            if b <= a:
                continue
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b, brk)
            else:
                out.append((a, b, brk))
    return out


def hours_in_window(intervals: list[Interval], lo: float, hi: float) -> float:
    """Total length of the intervals inside [lo, hi)."""
    return sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in intervals)
