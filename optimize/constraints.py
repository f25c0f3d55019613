"""Constraints of a plan: every queue's SLA attainment and quality target by default, plus the user's.

A user constraint is `METRIC <= VALUE` or `METRIC >= VALUE`. METRIC is a total (`cost`, also
spelt `budget`; `sla_attainment`, `quality`, `arrivals`, `completed`), `backlog_end` (all queues),
`exposure_h_max` (the largest over pools), a turnaround or wait KPI (`tat_p95_h`, `wait_mean_h`, ...:
the slowest queue's), or one entity's KPI: `queues.ID.KPI`, `pools.ID.KPI`. The same metrics name
objectives, which are minimised, so only lower-is-better metrics may be objectives.
Each constraint's value is its violation (> 0 violated, <= 0 met), as Optuna's set_constraint wants.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from simulator.scenario.errors import Problem, ScenarioError
from simulator.model.metrics import POOL_KPIS, QUEUE_KPIS, TOTAL_KPIS
from simulator.scenario.schema import Scenario

SLOWEST_QUEUE = ("wait_mean_h", "label_wait_mean_h", "review_wait_mean_h", "tat_mean_h", "tat_p50_h", "tat_p90_h",
                 "tat_p95_h")
LOWER_IS_BETTER = {"cost", "budget", "paid_hours", "busy_hours", "headcount_end", "backlog_end", "exposure_h_max",
                   "rework_rate", "escalation_rate", *SLOWEST_QUEUE}
_FORM = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """`metric op bound`; `name` is the key stored with every trial."""

    name: str
    metric: str
    op: str
    bound: float

    def violation(self, kpis: dict[str, Any]) -> float:
        """How far the plan's mean KPIs miss the bound (<= 0: met). Undefined metrics count as missed by 1."""
        value = metric_value(self.metric, kpis)
        if value is None:
            return 1.0
        return value - self.bound if self.op == "<=" else self.bound - value


def metric_value(metric: str, kpis: dict[str, Any]) -> float | None:
    """The mean of `metric` in a summary (the --json shape of docs/scenario.md)."""
    parts = metric.split(".")
    if len(parts) == 3:
        cell = kpis[parts[0]][parts[1]][parts[2]]
        return cell["mean"]
    if metric in ("budget", "cost"):
        return kpis["totals"]["cost"]["mean"]
    if metric == "backlog_end":
        return sum(q["backlog_end"]["mean"] or 0.0 for q in kpis["queues"].values())
    if metric == "exposure_h_max":
        return max((p["exposure_h_max"]["mean"] or 0.0 for p in kpis["pools"].values()), default=0.0)
    if metric in SLOWEST_QUEUE:
        values = [q[metric]["mean"] for q in kpis["queues"].values() if q[metric]["mean"] is not None]
        return max(values) if values else None
    return kpis["totals"][metric]["mean"]


def _finite_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _known(metric: str, scenario: Scenario) -> bool:
    parts = metric.split(".")
    if len(parts) == 3:
        group = {"queues": (scenario.queues, QUEUE_KPIS), "pools": (scenario.pools, POOL_KPIS)}.get(parts[0])
        return group is not None and parts[1] in group[0] and parts[2] in group[1]
    return metric in TOTAL_KPIS or metric in ("budget", "backlog_end", "exposure_h_max", *SLOWEST_QUEUE)


def check_objectives(scenario: Scenario, objectives: list[str], file: str, lines: dict[Any, Any]) -> None:
    """Every objective is a known, lower-is-better metric (objectives are minimised); else a ScenarioError."""
    problems = []
    for i, name in enumerate(objectives):
        key = ("optimize", "objective") if len(objectives) == 1 and isinstance(scenario.optimize.objective, str) \
            else ("optimize", "objective", i)
        where = lines.get(key, lines.get(("optimize", "objective"), (file, None)))
        if not _known(name, scenario) or name.split(".")[-1] not in LOWER_IS_BETTER:
            problems.append(Problem(where[0], where[1], ".".join(map(str, key)), f"cannot minimise {name!r}",
                                    "use cost, a turnaround such as tat_p95_h, backlog_end, exposure_h_max or "
                                    "queues.ID.KPI / pools.ID.KPI of that kind; put targets such as quality "
                                    "in constraints: ['quality >= 0.95']"))
    if problems:
        raise ScenarioError(problems)


def plan_constraints(scenario: Scenario, file: str, lines: dict[Any, Any]) -> list[Constraint]:
    """Default targets (every queue's SLA attainment and quality target) plus the scenario's own."""
    out = []
    for qid, queue in scenario.queues.items():
        out.append(Constraint(f"queues.{qid}.sla_attainment", f"queues.{qid}.sla_attainment", ">=",
                              queue.sla.attainment))
        if queue.quality_target is not None:
            out.append(Constraint(f"queues.{qid}.quality", f"queues.{qid}.quality", ">=", queue.quality_target))
    problems = []
    for i, text in enumerate(scenario.optimize.constraints if scenario.optimize else []):
        where = lines.get(("optimize", "constraints", i), (file, None))
        match = _FORM.match(text)
        if not match or not _known(match.group(1), scenario) or not _finite_number(match.group(3)):
            problems.append(Problem(where[0], where[1], f"optimize.constraints.{i}", f"cannot read {text!r}",
                                    "write METRIC <= VALUE or METRIC >= VALUE, with METRIC a total (budget, "
                                    "sla_attainment, quality, backlog_end, exposure_h_max) or queues.ID.KPI / "
                                    "pools.ID.KPI"))
            continue
        out.append(Constraint(text.replace(" ", ""), match.group(1), match.group(2), float(match.group(3))))
    if problems:
        raise ScenarioError(problems)
    return out
