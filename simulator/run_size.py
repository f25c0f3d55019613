"""How big a run will be, before it starts: items, memory per process and time, so that a run that
cannot fit in memory is refused (exit 2, naming the field) and a long one is announced.

Memory per process: the imports, every item open at once (the initial backlog plus a week of
arrivals, the most the engine holds in a run that keeps up) and the week of arrival times it merges.
Time: items over the engine's throughput on one core (bench/engine_bench.py: 170,000 items/s on the
Trust & Safety quarter), divided over the processes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .model.arrivals import expected_per_hour
from .scenario import AnnoplanError, Scenario
from .scenario.calendar import parse_days

BASE_BYTES = 250e6  # Python, numpy, pandas and SimPy loaded
ITEM_BYTES = 300.0  # one open item: its object, heap entry and list slot (a 10M backlog peaks near 2.9 GB)
ARRIVAL_BYTES = 48.0  # one arrival of the week being merged: time, owner and sort buffers
ITEMS_PER_SECOND = 150_000.0
LONG_SECONDS = 600.0  # announce runs longer than this


@dataclass(frozen=True)
class RunSize:
    """The estimate for `runs` replications of one scenario in `processes` processes."""

    items: float  # over every run
    peak_bytes: float  # per process
    seconds: float  # wall time
    processes: int
    culprit: str  # the field that drives memory most

    def describe(self) -> str:
        return (f"about {self.items:,.0f} items, {self.seconds / 60:.0f} min on {self.processes} process"
                f"{'es' if self.processes > 1 else ''}, {self.peak_bytes / 1e9:.1f} GB per process")


def estimate(scenario: Scenario, runs: int, processes: int) -> RunSize:
    """Items, peak memory per process and wall time of `runs` replications of `scenario`."""
    hours = math.ceil(scenario.horizon.duration + scenario.drain_hours())
    items, backlog, week_max, culprit, biggest = 0.0, 0.0, 0.0, "queues", -1.0
    weekly = None
    for qid, queue in scenario.queues.items():
        rates = expected_per_hour(queue, scenario.horizon.start, hours)
        items += float(rates.sum()) + queue.initial_backlog
        backlog += queue.initial_backlog
        per_week = np.pad(rates, (0, -len(rates) % 168)).reshape(-1, 168).sum(axis=1)
        weekly = per_week if weekly is None else weekly + per_week
        heaviest = max(float(per_week.max(initial=0.0)), float(queue.initial_backlog))
        if heaviest > biggest:
            biggest = heaviest
            culprit = f"queues.{qid}." + ("initial_backlog" if queue.initial_backlog >= per_week.max(initial=0.0)
                                          else "volume")
    week_max = float(weekly.max(initial=0.0)) if weekly is not None else 0.0
    piling = max(0.0, 1.0 - 1.0 / overload(scenario)) * items  # an understaffed run keeps what it cannot do
    peak = BASE_BYTES + ITEM_BYTES * (backlog + week_max + piling) + ARRIVAL_BYTES * week_max
    processes = max(1, min(processes, runs))
    seconds = items * runs / ITEMS_PER_SECOND / processes
    return RunSize(items * runs, peak, seconds, processes, culprit)


def overload(scenario: Scenario) -> float:
    """Labelling work over the pools' working hours, on average over the week (> 1: items pile up).
    Coarse on purpose: every pool may label every queue, at speed 1."""
    work = 0.0
    for qid, queue in scenario.queues.items():
        daily = float(expected_per_hour(queue, scenario.horizon.start, 168).sum()) / 7
        work += daily / 24 * queue.handling_time.mean * scenario.workflow_of(qid).label.passes
    capacity = 0.0
    for pool in scenario.pools.values():
        heads = pool.headcount + sum(h.count for h in pool.hires)
        on = 1.0 if pool.shifts == "24x7" else sum(
            share * s.length * len(parse_days(s.days)) / 168 for share, s in zip(pool.shift_shares(), pool.shifts))
        capacity += heads * min(on, 1.0) * (1 - pool.shrinkage) * (1 - pool.absence)
    return work / capacity if capacity > 0 else (math.inf if work > 0 else 0.0)


def available_memory() -> float:
    """Bytes of physical memory this machine has (a run may use most of it, never more)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8e9


def refuse_if_too_big(size: RunSize, source: str) -> None:
    """AnnoplanError (exit 2) naming the field when the processes together would not fit in memory."""
    total = size.peak_bytes * size.processes
    if total > 0.8 * available_memory():
        raise AnnoplanError(
            f"{source}: {size.culprit}: this run needs about {total / 1e9:.1f} GB of memory "
            f"({size.describe()}) and the machine has {available_memory() / 1e9:.1f} GB; lower the volume or "
            "backlog, shorten the horizon, or run fewer processes (--jobs)")
