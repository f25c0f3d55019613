"""The decision variables of `optimize.variables`: how each is suggested, and checked against the model.

A variable is a dotted scenario path with `low`/`high` (an int when the bounds and step are written
as integers, e.g. 40; a float when written 40.0 or 0.05) or `choices`. Its bounds must be values the scenario accepts: both
ends are validated through the scenario schema at load time, so an impossible range is a load
error naming the variable, not a failed trial.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import optuna

from simulator.scenario.errors import Problem, ScenarioError
from simulator.scenario.loader import validate_data
from simulator.scenario.schema import Variable
from simulator.scenario.yaml_source import LineMap, apply_override


FLOAT_STEPS = 50  # a float variable without a step is searched on a grid of this many steps
MAX_STEPS = 100_000  # a variable's grid points: more is a typo (0..1e9), not a plan


@dataclass(frozen=True)
class Decision:
    """One decision variable: its path and how Optuna suggests it."""

    path: str
    low: float | None
    high: float | None
    step: float | None
    choices: tuple[Any, ...] | None

    @property
    def is_int(self) -> bool:
        """Written as integers in the file (40, not 40.0): a head-count, not a rate."""
        values = [self.low, self.high] + ([self.step] if self.step is not None else [])
        return self.choices is None and all(isinstance(v, int) for v in values if v is not None)

    def suggest(self, trial: optuna.Trial) -> Any:
        """Ask the trial for this variable's value."""
        if self.choices is not None:
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.is_int:
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=int(self.step or 1))
        return trial.suggest_float(self.path, float(self.low), float(self.high), step=self.step)

    @property
    def unit(self) -> float:
        """One step of the structured search: the variable's step, 1 for ints, a 50th of a float's range."""
        if self.step is not None:
            return self.step
        return 1 if self.is_int else (float(self.high) - float(self.low)) / FLOAT_STEPS  # type: ignore[arg-type]

    @property
    def steps(self) -> int:
        """How many units the range spans."""
        return int(round((float(self.high) - float(self.low)) / self.unit))  # type: ignore[arg-type]

    def at(self, k: int) -> Any:
        """The value k units above low, clamped to the range (an int for int variables)."""
        k = min(max(k, 0), self.steps)
        if self.is_int:
            return int(self.low) + k * int(self.unit)  # type: ignore[arg-type]
        return round(float(self.low) + k * self.unit, 12)  # type: ignore[arg-type]

    def index(self, value: Any) -> int:
        """The grid index nearest to `value`."""
        return min(max(int(round((float(value) - float(self.low)) / self.unit)), 0), self.steps)  # type: ignore[arg-type]

    def snap(self, value: Any) -> Any:
        """`value` moved into the range and onto the grid; a choice not offered becomes the first choice."""
        if self.choices is not None:
            return value if value in self.choices else self.choices[0]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return self.at(0)
        return self.at(self.index(value))

    def cheapest(self) -> Any:
        """The low end: fewest heads, least QC work, lowest rate (the first choice of a categorical)."""
        return self.choices[0] if self.choices is not None else self.at(0)

    def size(self) -> int | None:
        """How many values `grid()` holds, without building it (None for a continuous float)."""
        if self.choices is not None:
            return len(self.choices)
        return self.steps + 1 if self.is_int else None

    def grid(self) -> list[Any] | None:
        """Every value, when the variable is discrete (ints or choices); None for a continuous float."""
        if self.choices is not None:
            return list(self.choices)
        if self.is_int:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        return None


def with_values(raw: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of merged scenario data with each `path: value` applied (the caller's data is untouched)."""
    data = copy.deepcopy(raw)
    lines: LineMap = {}
    for path, value in values.items():
        apply_override(data, lines, f"{path}={value!r}" if isinstance(value, str) else f"{path}={value}")
    return data


def decisions(raw: dict[str, Any], variables: dict[str, Variable], lines: LineMap, file: str) -> list[Decision]:
    """The scenario's decision variables, each checked: a range or choices, and both ends valid in the model."""
    out: list[Decision] = []
    problems: list[Problem] = []
    for path, var in variables.items():
        where = lines.get(("optimize", "variables", path), (file, None))
        dotted = f"optimize.variables.{path}"
        if (var.choices is None) == (var.low is None or var.high is None):
            problems.append(Problem(where[0], where[1], dotted, "give low and high, or choices",
                                    "e.g. {low: 40, high: 200, step: 5}"))
            continue
        if var.choices is None and var.low > var.high:  # type: ignore[operator]
            problems.append(Problem(where[0], where[1], dotted, f"low {var.low:g} is above high {var.high:g}",
                                    "swap them"))
            continue
        decision = Decision(path, var.low, var.high, var.step, tuple(var.choices) if var.choices else None)
        if decision.choices is None and decision.steps > MAX_STEPS:
            problems.append(Problem(where[0], where[1], dotted, f"the range has {decision.steps:,} steps; at most "
                                    f"{MAX_STEPS:,}", "narrow it or give a larger step"))
            continue
        ends = list(decision.choices) if decision.choices else [decision.low, decision.high]
        if ".shifts." in path and path.endswith(".headcount"):
            ends = []  # a roster pattern: whether its 0 leaves the pool empty depends on the other patterns
        for value in ends:
            value = int(value) if decision.is_int else value
            try:
                validate_data(with_values(raw, {path: value}), {}, file)
            except ScenarioError as exc:
                reason = exc.problems[0].message
                problems.append(Problem(where[0], where[1], dotted, f"the value {value!r} does not fit the model: "
                                        f"{exc.problems[0].path}: {reason}", "narrow the range"))
                break
        else:
            out.append(decision)
    if problems:
        raise ScenarioError(problems)
    return out
