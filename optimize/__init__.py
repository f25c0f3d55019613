"""Optuna search over a scenario's decision variables: the cheapest plan that meets every target.

Notebook use::

    from optimize import optimize
    result = optimize("scenarios/quickstart_optimize.yaml", trials=30)
    result.summary(); result.trials
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

from .runner import OptimizeResult, Progress, choose, prepare, run_search


def optimize(path: str | Path, overrides: Iterable[str] = (), trials: int | None = None, jobs: int | None = None,
             storage: str | None = None, study_name: str | None = None, progress: Progress | None = None,
             reclaim_running: bool = False, heartbeat: float = 60.0,
             time_limit: float | None = None) -> OptimizeResult:
    """Search the scenario's `optimize:` variables; return the cheapest plan meeting every constraint.

    `reclaim_running=True` resumes a study only this machine uses: trials a killed run left RUNNING
    are failed and their budget spent again (the CLI does this for its own SQLite file in --out).
    On shared storage, a trial whose worker stops beating for 2 x `heartbeat` seconds is rerun.
    `time_limit` (seconds) stops proposing trials, and polish's steps down, when it is up; the plan is
    then verified as usual, and the steps polish already kept are confirmed.
    """
    deadline = None if time_limit is None else time.monotonic() + time_limit
    search = prepare(path, overrides)
    if trials is not None:
        search.trials = trials
    study = run_search(search, jobs=jobs, storage=storage, study_name=study_name, progress=progress,
                       reclaim_running=reclaim_running or storage is None, heartbeat=heartbeat,
                       time_limit=time_limit)
    return choose(study, search, jobs=jobs, deadline=deadline)


__all__ = ["OptimizeResult", "optimize"]
