"""annoplan's simulator: scenario files -> SimPy replications -> KPIs.

Notebook use::

    from simulator import load_scenario, simulate
    result = simulate(load_scenario("scenarios/quickstart.yaml"), replications=5)
    result.summary(); result.kpis; result.timeseries
"""

from .errors import AnnoplanError, Problem, ScenarioError
from .loader import load_scenario
from .results import SimulationResult
from .scenario import Scenario
from .simulate import simulate

__all__ = ["AnnoplanError", "Problem", "Scenario", "ScenarioError", "SimulationResult", "load_scenario", "simulate"]
