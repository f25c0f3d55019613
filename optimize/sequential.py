"""Stop spending replications on a trial that is clearly infeasible or clearly costlier (a sequential rule).

At each look from the second replication on (after each wave, evaluate.Assessment), a trial stops
when, over the replications run so far,
- some constraint's violation has a one-sided 99% Student-t lower bound above 0 (it is missed with
  99% confidence), or
- with cost as the only objective, the one-sided 99% lower bound of its cost is above the cheapest
  feasible cost found so far (it cannot be the answer).
99% rather than 95% because the rule looks after every wave. Replication k is the same
common-random-number replication in every trial, so a stopped trial's estimate is the same paired
estimate, only over fewer replications. The trial is recorded with those means and marked `pruned`.

The paired look (`Paired`): a neighbour of a plan that ran every replication is judged after its first
replication by the control-variate estimate reference mean + (neighbour's replication 0 - reference's
replication 0). Under common random numbers the two first replications share their arrivals and
handling times, so that difference varies far less than either level: a neighbour stops when the
estimate misses by more than PAIRED_SDS of the difference's SD, measured on earlier pairs of plans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats

from .constraints import Constraint, metric_value

LEVEL = 0.99
FIRST_LOOK = 2  # replications before the first look: a t bound needs two
COST_METRICS = ("cost", "budget")


def _lower_bound(values: Sequence[float]) -> float:
    """One-sided LEVEL lower confidence bound of the mean of `values` (n >= 2)."""
    data = np.asarray(values, dtype=float)
    se = float(data.std(ddof=1)) / math.sqrt(len(data))
    return float(data.mean()) - float(stats.t.ppf(LEVEL, len(data) - 1)) * se


FIRST_LOOK_SDS = 4.0  # a one-replication miss by this many of the incumbent's per-replication SDs stops
PAIRED_SDS = 3.0  # a paired estimate this many difference SDs beyond a target stops after one replication


@dataclass(frozen=True)
class Paired:
    """The reference of a paired look: a plan's per-replication violations and, per constraint, the SD of
    the per-replication difference between neighbouring plans (trials.difference_spread)."""

    number: int  # the reference trial
    by_replication: dict[str, list[float]]
    spread: dict[str, float]

    def estimate(self, first: dict[str, float]) -> dict[str, float]:
        """Each constraint's mean violation, estimated from the neighbour's first replication."""
        return {name: float(np.mean(ref)) + first[name] - ref[0] for name, ref in self.by_replication.items()
                if name in first and name in self.spread}

    def stop_reason(self, first: dict[str, float]) -> str | None:
        """Why a neighbour with these first-replication violations can stop; None: keep going."""
        for name, value in self.estimate(first).items():
            sd = self.spread[name]
            if value > PAIRED_SDS * sd:
                far = f"{value / sd:.1f} difference SDs" if sd > 0 else "a deterministic margin"
                return f"{name} missed by {far} (paired with trial {self.number})"
        return None  # a one-replication miss by this many of the incumbent's per-replication SDs stops


def stop_reason(summaries: list[dict[str, Any]], objectives: list[str], constraints: list[Constraint],
                incumbent: float | None, noise: dict[str, float] | None = None) -> str | None:
    """Why the trial can stop now, given one summary per replication run so far; None: keep going.

    With `noise` (each constraint's per-replication SD in a plan known to be feasible), a first
    replication that misses a constraint by more than FIRST_LOOK_SDS of those SDs stops at once: the
    cheap look of the structured search, which only discards plans far from every target."""
    if len(summaries) == 1 and noise:
        for constraint in constraints:
            sd = noise.get(constraint.name, 0.0)
            violation = constraint.violation(summaries[0])
            if sd > 0 and violation > FIRST_LOOK_SDS * sd:
                return f"{constraint.name} missed by {violation / sd:.1f} replication SDs"
    if len(summaries) < FIRST_LOOK:
        return None
    for constraint in constraints:
        if _lower_bound([constraint.violation(s) for s in summaries]) > 0:
            return f"{constraint.name} missed with {LEVEL:.0%} confidence"
    if incumbent is not None and len(objectives) == 1 and objectives[0] in COST_METRICS:
        costs = [metric_value("cost", s) or 0.0 for s in summaries]
        if _lower_bound(costs) > incumbent:
            return f"costs more than the cheapest feasible plan so far ({incumbent:,.0f}) with {LEVEL:.0%} confidence"
    return None
