"""annoplan's simulator: scenario files -> SimPy replications -> KPIs.

Layers, each calling only the ones below it: `scenario/` (the file format), `model/` (one
replication), this package's modules (replications, intervals, what-ifs: the notebook API) and
`outputs/` (files, terminal, report).

Notebook use::

    from simulator import load_scenario, simulate
    result = simulate(load_scenario("scenarios/quickstart.yaml"), replications=5)
    result.summary(); result.kpis; result.timeseries
"""

from __future__ import annotations

import importlib
from typing import Any

from .scenario import AnnoplanError, Problem, Scenario, ScenarioError, load_scenario

_LAZY = {"SimulationResult": "simulator.results", "simulate": "simulator.simulation"}


def __getattr__(name: str) -> Any:
    """Load the run API on first use: validating a file needs neither pandas nor SimPy."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")


__all__ = ["AnnoplanError", "Problem", "Scenario", "ScenarioError", "SimulationResult", "load_scenario", "simulate"]
