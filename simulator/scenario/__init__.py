"""The scenario file format: schema, YAML reading with line numbers, cross-checks and loading.

This layer knows nothing of the model: it turns a file into a validated, frozen `Scenario`, or into
a `ScenarioError` listing every problem with file, line, field and fix.
"""

from .errors import AnnoplanError, Problem, ScenarioError
from .loader import load_raw, load_scenario, validate_data
from .schema import (HandlingTime, Horizon, Optimize, Pool, Queue, Scenario, Shift, Surge, Variable, Volume,
                     Workflow)

__all__ = ["AnnoplanError", "HandlingTime", "Horizon", "Optimize", "Pool", "Problem", "Queue", "Scenario",
           "ScenarioError", "Shift", "Surge", "Variable", "Volume", "Workflow", "load_raw", "load_scenario",
           "validate_data"]
