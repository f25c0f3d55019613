"""annoplan's simulator: scenario files -> SimPy replications -> KPIs."""

from .errors import AnnoplanError, Problem, ScenarioError
from .loader import load_scenario
from .scenario import Scenario

__all__ = ["AnnoplanError", "Problem", "Scenario", "ScenarioError", "load_scenario"]
