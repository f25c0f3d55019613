"""One trial's evaluation: the scenario with the trial's values, run for N replications (common
random numbers: replication k uses the same streams in every trial), scored and checked; a trial
that is clearly infeasible or clearly costlier stops early (sequential.py). Replications run in
waves that the caller may spread over worker processes (Assessment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.model.engine import run_replication
from simulator.scenario.loader import validate_data
from simulator.results import SimulationResult

from .constraints import Constraint, metric_value
from .search_space import with_values
from .sequential import Paired, stop_reason


@dataclass
class Evaluation:
    """What a trial reports back: objective values, constraint violations, the summary KPIs, and how
    many replications it took (fewer than asked when the sequential rule stopped it, saying why)."""

    objectives: list[float]
    violations: dict[str, float]
    kpis: dict[str, Any]
    replications: int
    by_replication: dict[str, list[float]]  # each constraint's violation in each replication run
    pruned: str | None = None
    late_share: dict[str, list[float]] | None = None  # per queue and hour of the week of arrival: share missed
    paired: dict[str, Any] | None = None  # stopped by the paired look: reference trial, estimates and their SDs
    skill_share: dict[str, dict[str, float]] | None = None  # per pool and skill: share of productive hours busy on it


WAVE = 2  # replications run side by side after the first look: fixed, so results never depend on --jobs


class Assessment:
    """One trial's evaluation in waves: replication 0, a look (sequential.py), then WAVE replications at a
    time with a look after each, until a look stops it or every replication ran. The caller runs each
    wave's replications, here or in worker processes, so a lone plan still uses every core; the waves and
    the looks are the same whatever the job count, and so is the result."""

    def __init__(self, raw: dict[str, Any], values: dict[str, Any], objectives: list[str],
                 constraints: list[Constraint], replications: int, incumbent: float | None = None,
                 prune: bool = True, noise: dict[str, float] | None = None, paired: Paired | None = None):
        """`incumbent`: the cheapest feasible cost so far; `noise`: each constraint's per-replication SD in a
        feasible plan (the one-replication look); `paired`: a neighbouring plan that ran every replication
        (the paired look, sequential.Paired)."""
        self.scenario = validate_data(with_values(raw, values), {}, "optimize")
        self.objectives, self.constraints, self.replications = objectives, constraints, replications
        self.incumbent, self.prune, self.noise, self.paired = incumbent, prune, noise, paired
        self.runs: list[Any] = []
        self.summaries: list[dict[str, Any]] = []
        self.reason: str | None = None
        self.looked: dict[str, Any] | None = None

    def wave(self) -> list[int]:
        """The replications to run next; none when the trial is done."""
        done = len(self.runs)
        if self.reason is not None or done >= self.replications:
            return []
        size = self.replications if not self.prune else 1 if done == 0 else WAVE
        return list(range(done, min(done + size, self.replications)))

    def add(self, runs: list[Any]) -> None:
        """Take a wave's replications (in order), then look whether the trial can stop."""
        self.runs += runs
        self.summaries += [SimulationResult(self.scenario, [run]).summary() for run in runs]
        if not self.prune or len(self.runs) >= self.replications:
            return
        if len(self.runs) == 1 and self.paired is not None:
            first = {c.name: c.violation(self.summaries[0]) for c in self.constraints}
            self.reason = self.paired.stop_reason(first)
            self.looked = {"trial": self.paired.number, "estimate": self.paired.estimate(first),
                           "sd": dict(self.paired.spread)}
        self.reason = self.reason or stop_reason(self.summaries, self.objectives, self.constraints,
                                                 self.incumbent, self.noise)

    def evaluation(self) -> Evaluation:
        """The trial's scores over the replications run."""
        summary = SimulationResult(self.scenario, self.runs).summary()
        scores = []
        for name in self.objectives:
            value = metric_value(name, summary)
            scores.append(float("inf") if value is None else float(value))
        n = len(self.runs)
        pruned = None if self.reason is None else f"stopped after {n} of {self.replications} replications: {self.reason}"
        by_replication = {c.name: [c.violation(one) for one in self.summaries] for c in self.constraints}
        return Evaluation(scores, {c.name: c.violation(summary) for c in self.constraints}, summary, n,
                          by_replication, pruned, late_share(self.runs),
                          self.looked if n == 1 and self.reason else None, skill_share(self.runs))


def evaluate(assessment: Assessment) -> Evaluation:
    """Run every wave of `assessment` in this process."""
    while wave := assessment.wave():
        assessment.add([run_replication(assessment.scenario, k) for k in wave])
    return assessment.evaluation()


def late_share(runs: list[Any]) -> dict[str, list[float]]:
    """Per queue and clock hour of the week of arrival: the share of measured items that missed the
    target, over the runs (0 where none arrived). What iterative roster staffing raises cover by."""
    out = {}
    for qid in runs[0].late_by_hour:
        late = np.sum([r.late_by_hour[qid][0] for r in runs], axis=0)
        arrived = np.sum([r.late_by_hour[qid][1] for r in runs], axis=0)
        out[qid] = np.round(late / np.maximum(arrived, 1), 4).tolist()
    return out


def skill_share(runs: list[Any]) -> dict[str, dict[str, float]]:
    """Per pool and skill: the share of the pool's productive hours spent on that skill's tasks, over the
    runs (pools with no productive hours left out). What a priority pool leaves its last lists is what
    iterative roster staffing counts it for (rosters.routed_share)."""
    out = {}
    for pid in runs[0].busy_by_skill:
        productive = sum(r.kpis["pools"][pid]["productive_hours"] for r in runs)
        if productive > 0:
            out[pid] = {s: round(sum(r.busy_by_skill[pid][s] for r in runs) / productive, 4)
                        for s in runs[0].busy_by_skill[pid]}
    return out
