"""The shape of `summary.json` as each command writes it, checked with pydantic before the report reads
it: a folder that passes its manifest but holds a crafted or older summary is refused with the field
that is wrong (exit 2), as a scenario file would be."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from simulator.scenario.errors import AnnoplanError


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # newer annoplan versions may add fields


class Cell(_Open):
    mean: float | None
    low: float | None = None
    high: float | None = None


class Kpis(_Open):
    queues: dict[str, dict[str, Cell]]
    pools: dict[str, dict[str, Cell]]
    totals: dict[str, Cell]


class SimulationSummary(Kpis):
    scenario: str
    seed: int
    replications: int


class ComparisonSummary(_Open):
    seed: int
    replications: int
    baseline: str
    scenarios: dict[str, SimulationSummary]
    differences: dict[str, dict[str, Any]]


class SweepPoint(_Open):
    params: dict[str, Any]
    meets_targets: bool
    totals: dict[str, Cell]
    queues: dict[str, dict[str, Cell]]


class SweepSummary(_Open):
    scenario: str
    seed: int
    replications: int
    vary: dict[str, list[float]]
    points: list[SweepPoint]
    best: int | None


class OptimizationSummary(_Open):
    feasible: bool
    params: dict[str, Any]
    objective: dict[str, float | None]
    kpis: Kpis | None
    search: dict[str, Any]


class BacktestError(_Open):
    entity: str
    metric: str
    actual: float | None
    simulated: float | None
    error: float | None
    noise: float | None
    flagged: bool


class BacktestSummary(_Open):
    replications: int
    errors: list[BacktestError]
    flagged: list[str]


class CalibrationSummary(_Open):
    log: str
    base: str | None
    scenario: str
    defects: list[str]
    notes: list[str]


SHAPES: dict[str, type[BaseModel]] = {"calibrate": CalibrationSummary, "simulate": SimulationSummary, "compare": ComparisonSummary,
                                      "sweep": SweepSummary, "optimize": OptimizationSummary,
                                      "backtest": BacktestSummary}


def check_summary(data: Any, kind: str, file: str) -> None:
    """AnnoplanError naming the first wrong field unless `data` has the shape `kind`'s summary.json has."""
    try:
        SHAPES[kind].model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        raise AnnoplanError(f"{file}: {where}: {error['msg']}; this is not a summary annoplan {kind} writes "
                            "(run the command again with --out)") from None
