"""The notebook-level entry point: simulate a scenario (object or file) and get a SimulationResult."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .replications import Progress, run_replications
from .results import SimulationResult
from .scenario import Scenario, load_scenario


def simulate(scenario: Scenario | str | Path, replications: int = 3, jobs: int | None = None,
             overrides: Iterable[str] = (), progress: Progress | None = None,
             events: Path | None = None) -> SimulationResult:
    """Run `replications` replications (in `jobs` processes; None: one for a short run, else all cores) and
    collect the results. With `events` (a folder), each replication k writes its task log to events/k.parquet."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, overrides)
    elif overrides:
        raise ValueError("overrides apply to scenario files; pass a path, or use scenario.model_copy(update=...)")
    return SimulationResult(scenario, run_replications(scenario, replications, jobs, progress, events=events))
