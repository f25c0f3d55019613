"""The certificate of local optimality: for every variable of the chosen plan, what one step down does.

Each one-step decrease is looked up among the study's trials. It was either screened (work above
capacity), or evaluated on the search's replications (or on the first, paired with a neighbour:
sequential.Paired); then the certificate names the constraint it
misses most surely and the one-sided Student-t confidence that the true mean misses it, or, when its
means meet every target, the target it is too close to for verification's 95% rule. A decrease that
polishing verified on fresh replications (polish.py) is judged by that instead, the stronger evidence.
A plan is a certified local optimum when every decrease is at a range's end, screened, a miss, too
close, or fails verification on fresh replications. A fresh failure whose means all met their targets
also gives the replications that would settle it (verify.settle): the step is on the edge, not a miss.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import optuna

from .search_space import Decision
from .trials import COMPLETE, plan_key
from .verify import Verification


FAILS_FRESH = "fails verification on fresh replications"
HELD = ("at its lower bound", "screened", "misses", "too close to a target to pass verification", FAILS_FRESH)


def miss_confidence(values: list[float], sd: float | None = None) -> float:
    """One-sided t confidence that the mean violation is > 0 (a miss), from per-replication violations;
    from one replication, the normal confidence with `sd`, a feasible plan's per-replication SD."""
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2:
        return NormalDist().cdf(mean / sd) if sd else 0.5 if mean > 0 else 0.0
    se = float(data.std(ddof=1)) / math.sqrt(len(data))
    if se == 0:
        return float(mean > 0)
    from scipy import stats

    return float(stats.t.cdf(mean / se, len(data) - 1))


def paired_confidence(estimate: float, sd: float) -> float:
    """Normal confidence that a paired estimate's true mean violation is > 0 (sd: the paired difference's)."""
    return NormalDist().cdf(estimate / sd) if sd > 0 else float(estimate > 0)


def _entry(decision: Decision, params: dict[str, Any], trials: dict[str, optuna.trial.FrozenTrial],
           fresh: dict[str, Verification]) -> dict[str, Any]:
    value = params[decision.path]
    k = decision.index(value)
    if k == 0:
        return {"value": value, "status": "at its lower bound"}
    lower = decision.at(k - 1)
    entry: dict[str, Any] = {"value": value, "step_down": lower}
    key = plan_key(dict(params, **{decision.path: lower}))
    if key in fresh:
        v = fresh[key]
        if v.met:
            return dict(entry, status="passes verification on fresh replications, not confirmed on a second set")
        name = min(v.margins, key=lambda n: (v.margins[n], n))
        undecided = {"replications_needed": v.needed} if v.needed else {}
        return dict(entry, status=FAILS_FRESH, constraint=name, margin=v.margins[name], confidence=1 - v.confidence,
                    **undecided)
    trial = trials.get(key)
    if trial is None:
        return dict(entry, status="not evaluated")
    entry["trial"] = trial.number
    if "screened" in trial.user_attrs:
        return dict(entry, status="screened", reason=trial.user_attrs["screened"], confidence=1.0)
    by_rep: dict[str, list[float]] = trial.user_attrs.get("violations_by_replication", {})
    paired = trial.user_attrs.get("paired")
    if paired:  # stopped by the paired look: its estimates, each with the SD of a paired difference
        estimate = paired["estimate"]
        by_rep = {name: [value] for name, value in estimate.items()}
        missed = {name: paired_confidence(value, paired["sd"][name]) for name, value in estimate.items() if value > 0}
    else:
        noise = trial.user_attrs.get("noise") or {}
        missed = {name: miss_confidence(v, noise.get(name)) for name, v in by_rep.items() if float(np.mean(v)) > 0}
    if not missed:
        if not trial.user_attrs.get("verification_ready", True):
            margins = trial.user_attrs.get("verification_margins") or {}
            closest = max(by_rep, key=lambda n: (margins.get(n, float(np.mean(by_rep[n]))), n))
            return dict(entry, status="too close to a target to pass verification", constraint=closest,
                        violation=float(np.mean(by_rep[closest])), margin=margins.get(closest))
        return dict(entry, status="meets every target on the search's replications")
    name = max(missed, key=lambda n: (missed[n], n))
    return dict(entry, status="misses", constraint=name, violation=float(np.mean(by_rep[name])),
                confidence=missed[name])


def certify(params: dict[str, Any], decisions: list[Decision], study: optuna.Study,
            fresh: dict[str, Verification] | None = None) -> dict[str, Any]:
    """Per numeric variable: its value, the step below, and the evidence that the step misses a target
    (`fresh`: plan key -> verify.Verification of step-downs polishing tried)."""
    trials = {plan_key(t.params): t for t in study.get_trials(deepcopy=False, states=(COMPLETE,))}
    variables = {d.path: _entry(d, params, trials, fresh or {}) for d in decisions if d.choices is None}
    held = all(e["status"] in HELD for e in variables.values())
    return {"local_optimum": held, "variables": variables}
