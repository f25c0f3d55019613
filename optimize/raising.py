"""How much to raise a plan that failed verification, from what the study already measured.

Every candidate sits on the edge of the search's common random numbers, and fresh replications judge
it worse: it misses some targets by a measured shortfall. The study holds the plan's neighbours along
each variable (the descent stepped there, or tried to step down and the certificate records it), so
the effect of one move of each variable on each constraint is known on the search's paired
replications. The cheapest set of moves whose summed effect covers every shortfall, without using
up the room of the constraints that passed, is a small covering integer program (scipy's milp).
When a raise falls short on fresh replications, what it achieved there corrects the effects for the
next round (Broyden's secant update), so returns that shrink as capacity grows are not assumed away.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .search_space import Decision
from .trials import Outcome, plan_key

if TYPE_CHECKING:
    from .verify import Verification

MOST = 8  # moves of one variable in one raise


def move_effects(plan: dict[str, Any], decisions: list[Decision], studied: dict[str, Outcome],
                 spread: dict[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Per variable (not categorical), the change in each constraint's violation per upward unit move,
    from the nearest neighbour along that variable in `studied` (plan key -> outcome): above the plan
    on a tie (the step the descent came down), else below it. Each change is the mean paired difference
    over the replications both ran plus a one-sided 90% margin of it (t over the differences' own SD; for
    a neighbour the paired look stopped after one replication, normal over `spread`, the study's SD of
    such differences), so that noise never shows as help (negative: the move helps) and harm is not
    understated: a move that only looks useful on luck (a QC rate "helping" a turnaround) is not bought.
    Variables with no neighbour are left out, and so are constraints whose noise is unknown."""
    here = studied.get(plan_key(plan))
    if here is None:
        return {}
    effects = {}
    for d in decisions:
        if d.choices is None:
            k = d.index(plan[d.path])
            near = sorted((abs(j - k), j < k, j) for j in range(d.steps + 1)
                          if j != k and plan_key(dict(plan, **{d.path: d.at(j)})) in studied)
            if near:
                j = near[0][2]
                there = studied[plan_key(dict(plan, **{d.path: d.at(j)}))]
                per_unit = move_unit(d) / (j - k)
                changes = {name: _effect(there.by_replication[name], ours, per_unit, (spread or {}).get(name))
                           for name, ours in here.by_replication.items() if name in there.by_replication}
                effects[d.path] = {name: c for name, c in changes.items() if c is not None}
    return effects


def fresh_effects(judged: list[tuple[Decision, Verification, Verification]]) -> dict[str, dict[str, float]]:
    """Per variable, the change in each constraint's violation per upward unit move, read off its step
    downs verified on the same fresh replications (`judged`: the variable, the plan it stepped down from,
    the step's verification; the latest of each variable counts): the paired difference over the
    replications both ran, plus its one-sided 90% margin, as move_effects reads the study. Where the study
    never stepped around a plan, these are the effects measured, and on the very replications an exchange
    is judged by."""
    effects = {}
    for d, plan, lower in judged:
        if d.is_int and d.index(plan.params[d.path]) - d.index(lower.params[d.path]) == move_unit(d):
            changes = {name: _effect(lower.violations[name], ours, -1.0, None)
                       for name, ours in plan.violations.items() if name in lower.violations}
            if any(c is not None for c in changes.values()):
                effects[d.path] = {name: c for name, c in changes.items() if c is not None}
    return effects


def _effect(there: list[float], here: list[float], per_unit: float, spread: float | None) -> float | None:
    """Mean per-unit paired difference over the replications both ran, plus its one-sided 90% margin."""
    from scipy import stats

    m = min(len(there), len(here))
    change = (np.asarray(there[:m], dtype=float) - np.asarray(here[:m], dtype=float)) * per_unit
    if m >= 2:
        return float(change.mean() + stats.t.ppf(0.9, m - 1) * change.std(ddof=1) / math.sqrt(m))
    if m == 1 and spread is not None:
        return float(change[0] + stats.norm.ppf(0.9) * spread * abs(per_unit))
    return None


def corrected_effects(effects: dict[str, dict[str, float]], decisions: list[Decision], plan: dict[str, Any],
                      raised: dict[str, Any], before: dict[str, float],
                      after: dict[str, float]) -> dict[str, dict[str, float]]:
    """The effects after `plan` was raised to `raised` and both ran the same fresh replications (`before`,
    `after`: each constraint's verification margin, < 0 missed). Broyden's update (1965), for each
    constraint the raise was meant to cover: the gap between the change of its margin (the very shortfall
    the covering program covers, paired on those replications) and the change the effects predicted is
    shared among the moved variables in proportion to their moves, the least change to the effects that
    reproduces what the raise achieved. A head that buys less than the study's neighbour showed is then
    priced at what it bought, and the next round covers the rest rather than undershooting again."""
    by_path = {d.path: d for d in decisions}
    moves = {p: (by_path[p].index(raised[p]) - by_path[p].index(plan[p])) / move_unit(by_path[p]) for p in effects}
    norm = sum(m * m for m in moves.values())
    if not norm:
        return effects
    out = {p: dict(e) for p, e in effects.items()}
    for name, margin in before.items():
        if not (margin < 0 and math.isfinite(margin) and math.isfinite(after.get(name, math.nan))):
            continue  # met before the round, or undefined: not what the round was meant to cover
        achieved = before[name] - after[name]  # change of the shortfall, in violation units (< 0: it shrank)
        gap = achieved - sum(m * effects[p].get(name, 0.0) for p, m in moves.items())
        for p, m in moves.items():
            if m:
                out[p][name] = out[p].get(name, 0.0) + gap * m / norm
    return out


def move_unit(d: Decision) -> int:
    """Grid steps of one raise move: one head, or a 25th of a rate's range."""
    return 1 if d.is_int else max(1, d.steps // 25)


def raise_moves(plan: dict[str, Any], decisions: list[Decision], shortfall: dict[str, float],
                effects: dict[str, dict[str, float]],
                cost_of: Callable[[dict[str, Any]], float]) -> dict[str, Any] | None:
    """The cheapest plan above `plan` whose moves, by `effects`, remove every constraint's `shortfall`
    (> 0: missed by that much; <= 0: the room a passing constraint may give up); None when the study's
    effects cannot cover some shortfall. Each move's price is its paid cost (`cost_of` the moved plan
    minus the plan's), at least a millionth of the plan's so that no move is free."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    by_path = {d.path: d for d in decisions}
    paths = [p for p in effects if by_path[p].index(plan[p]) + move_unit(by_path[p]) <= by_path[p].steps]
    missed = [name for name, s in shortfall.items() if s > 0]
    if not paths or not missed:
        return None
    base = cost_of(plan)
    up = {p: by_path[p].at(by_path[p].index(plan[p]) + move_unit(by_path[p])) for p in paths}
    price = np.array([max(cost_of(dict(plan, **{p: up[p]})) - base, 1e-6 * max(abs(base), 1.0)) for p in paths])
    names = sorted(shortfall)
    gain = np.array([[-effects[p].get(name, 0.0) for p in paths] for name in names])  # > 0: the move helps
    if any(gain[names.index(name)].max() <= 0 for name in missed):
        return None  # nothing the study measured moves this constraint the right way
    room = [min(MOST, (by_path[p].steps - by_path[p].index(plan[p])) // move_unit(by_path[p])) for p in paths]
    solution = milp(price, integrality=np.ones(len(paths)), bounds=Bounds(0, room),
                    constraints=LinearConstraint(gain, lb=np.array([shortfall[name] for name in names])))
    if solution.x is None:
        return None
    moves = [int(round(x)) for x in solution.x]
    return dict(plan, **{p: by_path[p].at(by_path[p].index(plan[p]) + m * move_unit(by_path[p]))
                         for p, m in zip(paths, moves) if m > 0})
