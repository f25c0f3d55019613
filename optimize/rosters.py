"""Rosters: which shifts, not only how many people. `optimize.rosters` names, per pool, candidate
patterns (start x length x days in the pool's time zone); the optimiser chooses every pattern's
head-count. Here the scenario is rewritten so that each pattern is one of the pool's shifts with an
absolute head-count, and each such head-count is an integer variable of the search
(`pools.P.shifts.I.headcount`, 0 to `max_heads`). The analytic start then solves the covering integer
program over the patterns (analytic.staff: Erlang requirements per skill set and hour of the week,
each pattern covering the hours it works), and the structured search and verification run on the
patterns as on any head-count.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np

from simulator.scenario import Problem, Scenario, ScenarioError, Variable
from simulator.scenario.calendar import parse_days


def expand(raw: dict[str, Any], scenario: Scenario, file: str,
           lines: dict[Any, Any] | None = None) -> tuple[dict[str, Any], dict[str, Variable]]:
    """The scenario data with each roster pool's shifts replaced by its candidate patterns (the pool's
    head-count on the first, so consensus and cover checks pass before the search sets every pattern's
    heads), and the search variables of their head-counts. (Unknown pools were refused at load: checks.py.)"""
    spec = scenario.optimize
    if spec is None or not spec.rosters:
        return raw, {}
    data = copy.deepcopy(raw)
    variables: dict[str, Variable] = {}
    problems = []
    for pid, roster in spec.rosters.items():
        taken = [path for path in spec.variables if path == f"pools.{pid}.headcount"
                 or path.startswith(f"pools.{pid}.shifts.")]
        if taken:
            where = (lines or {}).get(("optimize", "variables", taken[0]), (file, None))
            problems.append(Problem(where[0], where[1], f"optimize.variables.{taken[0]}",
                                    f"the roster of {pid} decides its shifts and head-count",
                                    "remove this variable, or the roster"))
            continue
        pool = scenario.pools[pid]
        high = roster.max_heads or max(10, 2 * pool.headcount)
        patterns = roster.patterns()
        node = dict(data["pools"][pid])
        node.pop("headcount", None)
        node["shifts"] = [{"start": start, "length": length, "days": days, "headcount": pool.headcount if i == 0 else 0}
                          for i, (start, length, days) in enumerate(patterns)]  # heads on the first: checks pass
        data["pools"][pid] = node
        for i in range(len(patterns)):
            variables[f"pools.{pid}.shifts.{i}.headcount"] = Variable(low=0, high=high)
    if problems:
        raise ScenarioError(problems)
    return data, variables


def pattern_limits(scenario: Scenario) -> dict[str, int]:
    """Pool -> the most patterns its roster may use (`max_patterns`), for the pools that set one."""
    spec = scenario.optimize
    if spec is None:
        return {}
    return {pid: r.max_patterns for pid, r in spec.rosters.items() if r.max_patterns is not None}


def patterns_used(scenario: Scenario, pid: str) -> int:
    """How many of the pool's shifts have anyone on them."""
    shifts = scenario.pools[pid].shifts
    return 0 if shifts == "24x7" else sum(1 for s in shifts if (s.headcount or 0) > 0)


def over_pattern_limit(scenario: Scenario, limits: dict[str, int]) -> tuple[str, float] | None:
    """(where, excess) for the first pool using more patterns than its roster's max_patterns, else None
    (the trial is then screened out like an overloaded plan)."""
    for pid, limit in limits.items():
        used = patterns_used(scenario, pid)
        if used > limit:
            return f"{pid} staffs {used} patterns, max_patterns {limit}", (used - limit) / limit
    return None


def roster_rows(scenario: Scenario) -> list[list[Any]]:
    """The chosen roster: (pool, start, length h, days, head-count, paid hours per week) for every staffed
    pattern of every pool whose roster the optimiser chose."""
    spec = scenario.optimize
    rows = []
    for pid in (spec.rosters if spec is not None else {}):
        pool = scenario.pools[pid]
        for shift in pool.shifts if pool.shifts != "24x7" else []:
            if shift.headcount:
                rows.append([pid, shift.start, shift.length, shift.days if isinstance(shift.days, str)
                             else ",".join(shift.days), shift.headcount,
                             shift.headcount * shift.length * len(parse_days(shift.days))])
    return rows


def staffed_only(raw: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """The plan's data with each roster pool keeping only the patterns someone works (all of them if none
    does), so the resolved scenario reads as the roster it is."""
    spec = scenario.optimize
    data = copy.deepcopy(raw)
    for pid in (spec.rosters if spec is not None else {}):
        shifts = data["pools"][pid]["shifts"]
        staffed = [s for s in shifts if s.get("headcount")]
        data["pools"][pid]["shifts"] = staffed or shifts
    return data


def pattern_label(scenario: Scenario, path: str) -> str | None:
    """"08:00 8h Mon-Fri" for a roster pattern's head-count variable, else None."""
    parts = path.split(".")
    if len(parts) != 5 or parts[2] != "shifts" or parts[1] not in scenario.pools:
        return None
    shifts = scenario.pools[parts[1]].shifts
    if shifts == "24x7" or int(parts[3]) >= len(shifts):
        return None
    shift = shifts[int(parts[3])]
    return f"{shift.start} {shift.length:g}h {shift.days}"


ROUNDS = 4  # simulate-raise-solve rounds before the structured search takes over


def iterative_staffing(raw: dict[str, Any], decisions: list[Any], start: dict[str, Any],
                       evaluate_plans: Callable[[list[dict[str, Any]]], list[Any]]) -> dict[str, Any]:
    """Simulation-based iterative staffing (Feldman, Mandelbaum, Massey & Whitt 2008): simulate the
    roster; for every queue that misses its SLA, raise the requirement by one server in each hour of
    the week whose arrivals missed more often than the target allows; solve the covering program
    again; repeat until the plan meets its targets or ROUNDS are spent. Returns the last plan (every
    plan simulated is a trial of the study)."""
    from simulator.scenario import validate_data

    from .analytic import columns, staff
    from .search_space import with_values
    from .start import _int_paths

    plan, extra = dict(start), {}
    for _ in range(ROUNDS):
        [out] = evaluate_plans([plan])
        if out is None or out.feasible or not out.late_share:
            return plan
        scenario = validate_data(with_values(raw, plan), {}, "roster")
        raised = False
        for qid, shares in out.late_share.items():
            if out.violations.get(f"queues.{qid}.sla_attainment", 0.0) <= 0:
                continue
            hours = np.asarray(shares) > 1 - scenario.queues[qid].sla.attainment
            if hours.any():
                extra[qid] = extra.get(qid, np.zeros(168)) + hours
                raised = True
        if not raised:
            return plan
        answer = staff(scenario, columns(scenario, _int_paths(decisions)), extra=extra)
        following = dict(plan, **answer.values)
        if following == plan:
            return plan
        plan = following
    return plan
