"""Where the search starts and how low its cost can go, from the analytic model alone.

Start: every head-count and hiring variable from the staffing integer program (analytic.staff: for
every set of skills and hour of the week, the pools that hold one of them cover the Erlang-C servers
the set needs when pooled, over its SLA target's span), under the categorical choices that cover
best; review sample rates at the smallest value whose expected delivered quality meets the
workflow's quality targets (qc_rates); every other variable at the scenario's own value (clamped to
its range and grid).

Lower bound: the LP relaxation of the same program with no queueing slack (capacity only has to
equal the offered work), QC rates and other numbers at their cheapest end, and the cheapest choice of
every categorical (all combinations up to 64). No plan whose capacity falls short of the mean work
can hold SLA targets much shorter than the window, so no such plan costs less than this bound.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Iterator

from simulator.scenario import ScenarioError, validate_data

from .analytic import columns, cover, delivered_quality, fixed_capacity, label_error, offered_work, staff
from .search_space import Decision, with_values


def read_path(raw: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of scenario data (list items by index), or None."""
    node: Any = raw
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def base_values(raw: dict[str, Any], decisions: list[Decision]) -> dict[str, Any]:
    """Each variable at the scenario's own value, snapped into its range and grid (first choice if absent)."""
    try:
        filled = validate_data(raw, {}, "start").model_dump(mode="json")  # defaults filled in
    except ScenarioError:
        filled = raw
    return {d.path: d.snap(read_path(filled, d.path)) for d in decisions}


def _int_paths(decisions: list[Decision]) -> dict[str, tuple[int, int, int]]:
    return {d.path: (int(d.low), int(d.high), int(d.step or 1)) for d in decisions if d.is_int}


def analytic_starts(raw: dict[str, Any], decisions: list[Decision], anchor: bool = True) -> list[dict[str, Any]]:
    """The first plans: cover hour by hour over each SLA target's span, thin hours waived within the
    allowed misses; with `anchor`, the same with review, adjudication and escalation skills covered in
    every hour (dearer, but the plan most likely to meet every target, exposure caps included, which the
    program does not model: the feasible end of the bracket); and cover of mean loads (cheap, but blind
    to the clock). The search simulates them and starts from the best. Iterative staffing repairs the
    first by simulation, so a roster search needs no anchor."""
    starts = [analytic_start(raw, decisions)]
    if anchor:
        starts.append(analytic_start(raw, decisions, strict_stages=True))
    starts.append(analytic_start(raw, decisions, weekly=True))
    return [s for i, s in enumerate(starts) if s not in starts[:i]]


def analytic_start(raw: dict[str, Any], decisions: list[Decision], weekly: bool = False,
                   strict_stages: bool = False) -> dict[str, Any]:
    """A first plan: head-counts and hires covering pooled Erlang-C requirements hour by hour (or on mean
    loads, `weekly`) at least cost (analytic.staff), under the categorical choices whose cover is best
    (fewest uncovered server-hours, then cost; every combination up to 16, else the scenario's own)."""
    base = dict(base_values(raw, decisions), **qc_rates(raw, decisions))
    best: tuple[tuple[float, float], dict[str, Any]] | None = None
    for values, scenario in _over_choices(raw, decisions, base, 16):
        cols = columns(scenario, _int_paths(decisions))
        answer = staff(scenario, cols, weekly, strict_stages=strict_stages)
        values.update(answer.values)
        score = (round(answer.shortfall, 6), answer.cost + _fixed_cost(scenario, cols))
        if best is None or score < best[0]:
            best = (score, values)
    return base if best is None else best[1]


QUALITY_MARGIN = 0.003  # above each quality target: new hires' ramp and verification's confidence bound


def _review_rates(decisions: list[Decision]) -> Iterator[tuple[Decision, str]]:
    """The varied review sample rates (`workflows.W.review.sample`), each with its workflow W."""
    for d in decisions:
        parts = d.path.split(".")
        if d.choices is None and len(parts) == 4 and parts[0] == "workflows" and parts[2:] == ["review", "sample"]:
            yield d, parts[1]


def _smallest_rate(d: Decision, meets: Callable[[float], bool]) -> Any:
    """The smallest grid value of `d` that `meets` (monotone: quality rises with the rate); the top if none."""
    low, high = 0, d.steps
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if meets(d.at(middle)) else (middle + 1, high)
    return d.at(low)


def qc_rates(raw: dict[str, Any], decisions: list[Decision]) -> dict[str, Any]:
    """Each varied review sample rate at the smallest value on its grid whose expected delivered quality
    (analytic.delivered_quality, least accurate pool labelling) meets every quality target of W's queues
    with QUALITY_MARGIN to spare; the top of the range if none does."""
    out: dict[str, Any] = {}
    scenario = validate_data(with_values(raw, base_values(raw, decisions)), {}, "search")
    for d, name in _review_rates(decisions):
        targets = [(qid, q.quality_target) for qid, q in scenario.queues.items()
                   if q.workflow == name and q.quality_target is not None]
        out[d.path] = _smallest_rate(d, lambda rate: all(
            delivered_quality(scenario, qid, sample=rate) >= target + QUALITY_MARGIN for qid, target in targets))
    return out


def measured_qc_rates(raw: dict[str, Any], decisions: list[Decision], plan: dict[str, Any],
                      violations: dict[str, float]) -> dict[str, Any]:
    """Each varied review sample rate re-aimed by a simulation of `plan`: from each queue's simulated quality
    (its target less `violations["queues.Q.quality"]`, so verification's margin is already off it), the
    labelling error that quality implies at the plan's rate (analytic.label_error), then the smallest grid
    rate whose delivered quality under that error meets every target of the workflow's queues with
    QUALITY_MARGIN to spare (the re-aimed plan's own estimate is as noisy as the one it came from).
    qc_rates assumes the least accurate pool labels everything; the simulation knows the mix the roster
    routes, so QC work is bought only as needed. A rate none of whose queues was measured stays as it is."""
    scenario = validate_data(with_values(raw, plan), {}, "search")
    out: dict[str, Any] = {}
    for d, name in _review_rates(decisions):
        errors = []
        for qid, q in scenario.queues.items():
            violation = violations.get(f"queues.{qid}.quality")
            if q.workflow == name and q.quality_target is not None and violation is not None and math.isfinite(violation):
                errors.append((qid, q.quality_target, label_error(scenario, qid, q.quality_target - violation, plan[d.path])))
        out[d.path] = plan[d.path] if not errors else _smallest_rate(d, lambda rate: all(
            delivered_quality(scenario, qid, error, rate) >= target + QUALITY_MARGIN for qid, target, error in errors))
    return out


def _over_choices(raw: dict[str, Any], decisions: list[Decision], values: dict[str, Any],
                  limit: int) -> Iterator[tuple[dict[str, Any], Any]]:
    """`values` under every combination of the categorical choices (up to `limit`, else only the ones
    in `values`), each with its validated scenario; combinations the model refuses are skipped."""
    categorical = [d for d in decisions if d.choices is not None]
    combos = list(itertools.islice(itertools.product(*(d.choices for d in categorical)), limit + 1))
    if len(combos) > limit:
        combos = [tuple(values[d.path] for d in categorical)]
    for combo in combos:
        chosen = dict(values, **dict(zip((d.path for d in categorical), combo)))
        try:
            yield chosen, validate_data(with_values(raw, chosen), {}, "search")
        except ScenarioError:
            continue


def _fixed_cost(scenario: Any, cols: list[Any]) -> float:
    """Paid cost per clock hour of what the columns do not vary (categoricals change it)."""
    _, cost = fixed_capacity(scenario, {c.path for c in cols})
    return sum(cost.values())


def lower_bound(raw: dict[str, Any], decisions: list[Decision]) -> float | None:
    """The cost no plan in the search space can beat by the fluid argument above (None: not computable)."""
    # the program's columns (head-counts, hires, pattern heads) keep the scenario's values: the LP sets them,
    # and a roster with every pattern at 0 would not load
    chosen_by_lp = {c.path for c in columns(validate_data(raw, {}, "bound"), _int_paths(decisions))}
    cheapest = dict(base_values(raw, decisions),
                    **{d.path: d.cheapest() for d in decisions if d.choices is None and d.path not in chosen_by_lp})
    best = math.inf
    for _, scenario in _over_choices(raw, decisions, cheapest, 64):
        solution = cover(scenario, columns(scenario, _int_paths(decisions)), offered_work(scenario), integral=False)
        if solution is not None:
            best = min(best, solution.cost)
    return None if math.isinf(best) else best
