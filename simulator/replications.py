"""Run a scenario's replications, in parallel processes when asked; results come back in replication order.

Replication k's random streams depend only on (seed, k), so the output is the same bytes whatever
the number of processes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from concurrent.futures import FIRST_COMPLETED, wait
from typing import Callable, Sequence

from .model.arrivals import expected_per_hour
from .processes import pool_of
from .model.engine import ReplicationResult, run_replication
from .scenario import Scenario

Progress = Callable[[int], None]

# Below this many expected items over all runs, one process beats a pool: starting worker processes
# costs about as much as simulating ~500,000 items (2-4 s of imports on 2 cores).
IN_PROCESS_ITEMS = 500_000


def default_jobs() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def expected_items(scenario: Scenario) -> float:
    """Items one replication is expected to handle: every queue's arrivals over the horizon and backlog."""
    hours = math.ceil(scenario.horizon.duration)
    return sum(float(expected_per_hour(q, scenario.horizon.start, hours).sum()) + q.initial_backlog
               for q in scenario.queues.values())


def auto_jobs(tasks: Sequence[tuple[Scenario, int]]) -> int:
    """Processes for `tasks` when the caller did not say: one for a short run, else every core."""
    items: dict[int, float] = {}
    for scenario, _ in tasks:
        if id(scenario) not in items:
            items[id(scenario)] = expected_items(scenario)
    total = sum(items[id(scenario)] for scenario, _ in tasks)
    return 1 if total < IN_PROCESS_ITEMS else default_jobs()


def run_replications(scenario: Scenario, replications: int, jobs: int | None = None,
                     progress: Progress | None = None, first: int = 0,
                     events: Path | None = None) -> list[ReplicationResult]:
    """Replications first..first+n-1 of the scenario; `progress(done)` is called as each one finishes.

    `first` > 0 gives fresh replications, independent of 0..n-1 (used to verify an optimised plan).
    With `events` (a folder), replication k also writes its task log to events/k.parquet.
    """
    return run_tasks([(scenario, k) for k in range(first, first + replications)], jobs, progress, events)


def run_tasks(tasks: Sequence[tuple[Scenario, int]], jobs: int | None = None,
              progress: Progress | None = None, events: Path | None = None) -> list[ReplicationResult]:
    """Run (scenario, replication) pairs, in `jobs` processes (None: auto_jobs); results in task order."""
    jobs = min(jobs or auto_jobs(tasks), len(tasks))

    def log(k: int) -> Path | None:
        return None if events is None else events / f"{k}.parquet"

    if jobs <= 1:
        results = []
        for done, (scenario, k) in enumerate(tasks, start=1):
            results.append(run_replication(scenario, k, log(k)))
            if progress:
                progress(done)
        return results
    with pool_of(jobs) as pool:
        futures = [pool.submit(run_replication, scenario, k, log(k)) for scenario, k in tasks]
        pending = set(futures)
        while pending:  # wake twice a second so a progress bar can appear before the first one ends
            _, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            if progress:
                progress(len(tasks) - len(pending))
        return [f.result() for f in futures]
