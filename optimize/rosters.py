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
    the week whose arrivals missed more often than the target allows, and solve the covering program
    again; repeat until the plan meets its targets or ROUNDS are spent. A roster that meets every target
    gets one more round with the review sample rates re-aimed by the qualities it delivered
    (start.measured_qc_rates: the pools' real labelling mix, where the start assumed the least accurate),
    so QC work is bought only as needed. Each round solves the program twice: as it stands, and with each
    priority pool counted, for the sets that missed, only with the share of its hours its more urgent
    work left (routed_share). Both rosters are simulated side by side; the cheaper one meeting every
    target ends the loop (or the plan it came from, when that met them and is cheaper), else the one
    missing least goes on. Returns the last plan chosen (every plan simulated is a trial of the study)."""
    from simulator.scenario import validate_data

    from .analytic import columns, staff
    from .search_space import with_values
    from .start import _int_paths, measured_qc_rates

    plan, extra, missed, aimed = dict(start), {}, set(), False
    [out] = evaluate_plans([plan])
    for _ in range(ROUNDS):
        if out is None or (not out.feasible and not out.late_share) or (out.feasible and aimed):
            return plan
        # QC is re-aimed only from a roster meeting every target, once: a round's other roster routes
        # another labelling mix, and re-aiming from plans that miss chased each round's noise
        rates = measured_qc_rates(raw, decisions, plan, out.violations) if out.feasible else {}
        aimed = aimed or out.feasible
        scenario = validate_data(with_values(raw, dict(plan, **rates)), {}, "roster")
        raised = False
        for qid, shares in (out.late_share or {}).items():
            if out.violations.get(f"queues.{qid}.sla_attainment", 0.0) <= 0:
                continue
            hours = np.asarray(shares) > 1 - scenario.queues[qid].sla.attainment
            if hours.any():
                extra[qid] = extra.get(qid, np.zeros(168)) + hours
                missed.add(scenario.queues[qid].skill)
                raised = True
        if not raised and all(plan[p] == r for p, r in rates.items()):
            return plan
        cols = columns(scenario, _int_paths(decisions))
        solved = [dict(plan, **rates, **staff(scenario, cols, extra=extra).values),
                  dict(plan, **rates, **staff(scenario, cols, extra=extra,
                                              share=routed_share(scenario, out.skill_share or {}, missed)).values)]
        following = [p for i, p in enumerate(solved) if p != plan and p not in solved[:i]]
        if not following:
            return plan
        tried = list(zip(following, evaluate_plans(following)))
        if out.feasible:
            tried.append((plan, out))
        chosen, out = min(tried, key=lambda po: _round_rank(po[1]))
        if chosen is plan:
            return plan
        plan = chosen
    return plan


def _round_rank(out: Any) -> tuple[bool, float]:
    """Iterative staffing's choice between a round's rosters: meeting every target first, then the
    cheaper; among plans that miss, the smaller summed violation."""
    if out is None:
        return True, float("inf")
    if out.feasible:
        return False, out.cost
    return True, sum(max(0.0, v) for v in out.violations.values())


def routed_share(scenario: Scenario, busy: dict[str, dict[str, float]],
                 missed: set[str]) -> Callable[[str, frozenset[str]], float]:
    """share(pool, skill set K) for the sets holding a skill whose queue missed its target (`missed`):
    the share of a priority pool's productive hours that K can have, all but the share the simulation
    measured on skills outside K whose queues are all more urgent than K's most urgent (`busy`:
    evaluate.skill_share); 1 for every other set and for deadline and oldest-first pools. The covering
    program counts any holder of K in full (Hall's condition), but a priority pool serves its last
    lists only with what the first leave: a Dublin busy all day on its English lists delivered none of
    the Spanish consensus work the program had counted it for. As a share, it undervalues a head added
    to a pool whose urgent work is a fixed volume; so it is one of the two rosters each round tries."""
    from .analytic import stage_work

    urgency: dict[str, int] = {}  # skill -> the most urgent priority among the queues with a stage on it
    for qid, queue in scenario.queues.items():
        for skill in stage_work(scenario, qid):
            urgency[skill] = min(urgency.get(skill, queue.priority), queue.priority)

    def share(pid: str, skills: frozenset[str]) -> float:
        first = min((urgency[s] for s in skills if s in urgency), default=None)
        if scenario.pools[pid].routing != "priority" or pid not in busy or not skills & missed or first is None:
            return 1.0
        crowded = sum(h for s, h in busy[pid].items() if s not in skills and urgency.get(s, first) < first)
        return max(0.0, 1.0 - crowded)
    return share
