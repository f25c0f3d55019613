"""The search: an Optuna study run by ask-and-tell, stored so that a killed run resumes.

Strategy (`optimize.strategy`, default `auto`):
- `grid`: every combination, when all variables are discrete and the grid fits in the trial budget
  (under common random numbers a repeat would give identical numbers, so each point runs once);
- `structured`: the analytic start, then repair and descent on common random numbers with restarts
  for categoricals (structured.py), then the rest of the budget to TPE, descending again from any
  cheaper plan TPE finds;
- `tpe`: TPE seeded by the scenario seed (it reads the constraints each trial sets), from the analytic
  start.
`auto` is grid when the grid fits, structured for a single cost objective, TPE otherwise.

Default storage is a SQLite file in the output folder (`study.db`); without one the study lives in
memory. Running the same command again continues the study: finished trials are read back, not rerun,
and trials left RUNNING by a killed run are failed and their budget spent again.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import optuna
import pandas as pd

from simulator.processes import kept_workers
from simulator.replications import default_jobs
from simulator.scenario import Problem, ScenarioError, load_raw, validate_data

from .certificate import certify
from .constraints import Constraint, check_objectives, plan_constraints
from .pareto import pareto_front
from .polish import Polished, polish, undecided
from .raising import corrected_effects, move_effects, move_unit, raise_moves
from .rosters import expand, iterative_staffing, pattern_limits
from .search_space import Decision, decisions, with_values
from .start import analytic_start, analytic_starts, lower_bound
from .storage import Heartbeat, StudyLock, open_storage
from .structured import StructuredSearch
from .trials import (COMPLETE, RUNNING, WAITING, Outcome, Settings, TrialDriver, difference_spread, feasible,
                     effort, fresh_replications, level_spread, objective_values, outcome, plan_key, rank,
                     verification_margins)
from .verify import Verification, rule, verify

optuna.logging.set_verbosity(optuna.logging.WARNING)

Progress = Callable[[int, int, float | None], None]


def by_hour(raw: dict[str, Any], verified: Verification) -> pd.DataFrame:
    """Pool x hour of the week: the heads the load requires on shift (analytic.required_heads) beside the
    heads the verified plan had on shift and busy (mean over its fresh replications)."""
    from .analytic import WEEK, required_heads

    required = required_heads(validate_data(with_values(raw, verified.params), {}, "plan"))
    return pd.DataFrame([{"pool": pid, "hour_of_week": h, "required": float(required[pid][h]),
                          "on_shift": float(hours["on_shift"][h]), "busy": float(hours["busy"][h])}
                         for pid, hours in verified.pool_hours.items() for h in range(WEEK)])


@dataclass
class OptimizeResult:
    """The chosen plan and the evidence: every trial, and for an infeasible search the closest miss."""

    feasible: bool
    params: dict[str, Any]
    objective: dict[str, float]
    kpis: dict[str, Any]
    trials: pd.DataFrame
    closest: tuple[str, float] | None  # infeasible: the constraint missed most, and its margin (< 0)
    scenario_raw: dict[str, Any]
    verification: dict[str, Any] | None
    search: dict[str, Any]  # trials run, screened analytically, pruned, simulations saved
    pareto: pd.DataFrame | None = None  # multi-objective runs: the feasible non-dominated trials
    by_hour: pd.DataFrame | None = None  # verified plans: pool x hour of the week, required / on shift / busy

    def summary(self) -> dict[str, Any]:
        """The optimize --json object {"feasible", "params", "objective", "kpis"}, plus the evidence
        and, for a list objective, the Pareto front (trial number, params and objectives per point)."""
        out = {"feasible": self.feasible, "params": self.params, "objective": self.objective, "kpis": self.kpis,
               "verification": self.verification, "search": self.search}
        if self.pareto is not None:
            out["pareto"] = [{"number": int(row["number"]),
                              "params": {k[6:]: _plain(v) for k, v in row.items() if k.startswith("param.")},
                              "objective": {k[10:]: float(v) for k, v in row.items() if k.startswith("objective.")}}
                             for row in self.pareto.to_dict("records")]
        return out


def _plain(value: Any) -> Any:
    """A numpy scalar from a DataFrame row as the Python value it was written as."""
    return value.item() if hasattr(value, "item") else value


@dataclass
class Search:
    """Everything a trial needs, checked once at load."""

    raw: dict[str, Any]
    decisions: list[Decision]
    objectives: list[str]
    constraints: list[Constraint]
    trials: int
    replications: int
    seed: int
    name: str
    screen: bool
    prune: bool
    strategy: str = "auto"
    pattern_limits: dict[str, int] = field(default_factory=dict)  # pool -> max_patterns of its roster
    rosters: bool = False  # the scenario has optimize.rosters
    polish: int = 0  # step-downs of the verified plan tried on fresh replications (polish.py)
    polish_exchanges: int = 0  # exchanges tried after the step-downs (polish.py)


def prepare(path: str | Path, overrides: Iterable[str] = ()) -> Search:
    """Load the scenario and its `optimize:` section; every problem is a ScenarioError naming its place."""
    raw, lines = load_raw(path, overrides)
    scenario = validate_data(raw, lines, str(path))
    spec = scenario.optimize
    raw, roster_variables = expand(raw, scenario, str(path), lines)
    if roster_variables:
        scenario = validate_data(raw, lines, str(path))
        spec = scenario.optimize
    if spec is None or not (spec.variables or roster_variables):
        raise ScenarioError([Problem(str(path), None, "optimize.variables", "nothing to optimise",
                                     "add optimize: {variables: {pools.ID.headcount: {low: 10, high: 60}}}")])
    objectives = [spec.objective] if isinstance(spec.objective, str) else list(spec.objective)
    check_objectives(scenario, objectives, str(path), lines)
    variables = dict(spec.variables, **roster_variables)
    search = Search(raw=raw, decisions=decisions(raw, variables, lines, str(path)), objectives=objectives,
                    constraints=plan_constraints(scenario, str(path), lines), trials=spec.trials,
                    replications=spec.replications, seed=scenario.seed, name=scenario.name, screen=spec.screen,
                    prune=spec.prune, strategy=spec.strategy, pattern_limits=pattern_limits(scenario),
                    rosters=bool(roster_variables), polish=spec.polish,
                    polish_exchanges=spec.polish_exchanges)
    if spec.strategy == "grid" and _grid(search, fit=False) is None:
        where = lines.get(("optimize", "strategy"), (str(path), None))
        raise ScenarioError([Problem(where[0], where[1], "optimize.strategy",
                                     f"a grid needs discrete variables (ints or choices) and at most {MAX_GRID:,} plans",
                                     "give float variables a step, narrow the ranges, or use strategy: auto")])
    return search


def _grid(search: Search, fit: bool = True) -> list[dict[str, Any]] | None:
    """Every combination of the variables, when all are discrete (and, with `fit`, it fits in the budget)."""
    sizes = [d.size() for d in search.decisions]
    if any(n is None for n in sizes) or math.prod(sizes) > (search.trials if fit else MAX_GRID):  # type: ignore[arg-type]
        return None
    grids = [d.grid() for d in search.decisions]
    return [dict(zip((d.path for d in search.decisions), combo)) for combo in itertools.product(*grids)]  # type: ignore[arg-type]


def strategy_of(search: Search) -> str:
    """The strategy `auto` resolves to (see the module docstring)."""
    if search.strategy != "auto":
        return search.strategy
    if _grid(search) is not None:
        return "grid"
    if len(search.objectives) == 1 and search.objectives[0] in ("cost", "budget"):
        return "structured"
    return "tpe"


MAX_GRID = 1_000_000  # plans a `strategy: grid` search may list

TPE_CHUNK = 4  # TPE trials between looks for a cheaper plan to descend from


def run_search(search: Search, jobs: int | None = None, storage: str | None = None, study_name: str | None = None,
               progress: Progress | None = None, reclaim_running: bool = True, heartbeat: float = 60.0,
               time_limit: float | None = None) -> optuna.Study:
    """Run the strategy until the study holds `search.trials` finished trials or `time_limit` seconds pass.

    Several processes or machines may run this on one shared storage: each trial is claimed under the
    study lock, only while finished plus running trials are short of the budget, so together they run
    the budget exactly; the structured search's plans are shared out (a plan another worker runs is
    waited for, not run twice). A trial whose worker stops beating is failed and its plan rerun.
    `reclaim_running` fails every trial left RUNNING or WAITING at start: right for a study only this
    machine uses (a killed run left them), wrong for shared storage, where heartbeats do that job.
    """
    name = study_name or search.name
    deadline = None if time_limit is None else time.monotonic() + time_limit
    lock = StudyLock(storage, name)
    strategy = strategy_of(search)
    with lock:  # creating the schema and the study races too when several workers start at once
        rdb = open_storage(storage, heartbeat)
        study = optuna.create_study(storage=rdb, study_name=name, load_if_exists=True,
                                    directions=["minimize"] * len(search.objectives),
                                    sampler=optuna.samplers.TPESampler(seed=search.seed))
        if reclaim_running:
            for frozen in study.get_trials(deepcopy=False, states=(RUNNING, WAITING)):
                study._storage.set_trial_state_values(frozen._trial_id, optuna.trial.TrialState.FAIL)
        if strategy == "grid":
            grid = _grid(search, fit=search.strategy != "grid") or []
            search.trials = len(grid)
            have = [t.system_attrs.get("fixed_params", t.params)
                    for t in study.get_trials(deepcopy=False, states=(COMPLETE, WAITING, RUNNING))]
            for point in grid:
                if point not in have:  # not skip_if_exists: that also skips points whose trial failed
                    study.enqueue_trial(point)
        elif strategy == "tpe" and not study.trials and search.screen:
            study.enqueue_trial(analytic_start(search.raw, search.decisions))
    settings = Settings(search.raw, search.decisions, search.objectives, search.constraints, search.replications,
                        search.trials, search.screen, search.prune, deadline, search.seed, search.pattern_limits,
                        search.rosters)

    def report() -> None:
        if progress:
            done = len(study.get_trials(deepcopy=False, states=(COMPLETE,)))
            progress(done, search.trials, driver.best_cost())

    beat = Heartbeat(rdb, heartbeat)
    with beat, TrialDriver(study, settings, lock, beat, jobs or default_jobs(), heartbeat, report) as driver:
        if strategy == "structured":
            structured = StructuredSearch(search.raw, search.decisions, search.constraints, driver.evaluate_plans)
            starts = analytic_starts(search.raw, search.decisions, anchor=not search.rosters)
            if search.rosters:
                starts[0] = iterative_staffing(search.raw, search.decisions, starts[0], driver.evaluate_plans)
            structured.run(starts)
            visited = {plan_key(o.params) for o in structured.optima}
            while driver.sample(TPE_CHUNK):  # diversification: TPE with the rest of the budget
                best = _best_trial(study, search.decisions)
                if best is not None and plan_key(best.params) not in visited and driver.budget_left():
                    visited.add(plan_key(best.params))
                    structured.restart(dict(best.params))
        else:
            while driver.sample(max(1, jobs or default_jobs())):
                pass
        driver.wait_for_others()
    lock.close()
    return study


def _best_trial(study: optuna.Study, decisions: list[Decision]) -> optuna.trial.FrozenTrial | None:
    """The preferred feasible finished trial (trials.rank)."""
    done = [t for t in study.get_trials(deepcopy=False, states=(COMPLETE,)) if feasible(t)]
    return min(done, key=lambda t: rank(t, decisions)) if done else None


def trials_table(study: optuna.Study, objectives: list[str]) -> pd.DataFrame:
    """One row per trial: number, state, params, objectives, constraint violations, feasibility."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"number": t.number, "state": t.state.name}
        row.update({f"param.{k}": v for k, v in t.params.items()})
        values = objective_values(t) if t.state == optuna.trial.TrialState.COMPLETE else [None] * len(objectives)
        for name, value in zip(objectives, values):
            row[f"objective.{name}"] = value
        row.update({f"constraint.{k}": v for k, v in t.constraints.items()})
        row["feasible"] = t.state == optuna.trial.TrialState.COMPLETE and feasible(t)
        row["screened"] = t.user_attrs.get("screened", "")
        row["pruned"] = t.user_attrs.get("pruned", "")
        row["replications"] = t.user_attrs.get("replications", 0)
        row["repeat_of"] = t.user_attrs.get("repeat_of", -1)
        rows.append(row)
    return pd.DataFrame(rows)


def _bound(info: dict[str, Any], search: Search, cost: float | None) -> None:
    """The analytic lower bound on cost beside the plan's cost, and the gap: (cost - bound) / cost."""
    if search.objectives[0] not in ("cost", "budget"):
        return
    bound = lower_bound(search.raw, search.decisions)
    info["lower_bound"] = bound
    info["gap"] = None if bound is None or cost is None or cost <= 0 else (cost - bound) / cost


RAISES = 3  # rounds of raising a plan that failed verification before the search gives up


@dataclass
class Studied:
    """What the study measured, for raising a plan: every simulated plan's outcome by plan key, and per
    constraint the SD of the per-replication difference between neighbouring plans."""

    outcomes: dict[str, Outcome]
    spread: dict[str, float]


def _studied(trials: list[optuna.trial.FrozenTrial], replications: int) -> Studied:
    """The study's simulated plans (not screened ones) and its paired-difference SDs."""
    return Studied({plan_key(t.params): outcome(t) for t in trials
                    if t.user_attrs.get("violations_by_replication") and "screened" not in t.user_attrs},
                   difference_spread(trials, replications))


def _raised(search: Search, structured: StructuredSearch, plan: dict[str, Any], failed: Verification,
            effects: dict[str, dict[str, float]]) -> dict[str, Any]:
    """`plan` raised to cover what `failed` (its latest fresh verification) missed: the cheapest moves
    that the study's measured effects say remove every shortfall (raising.raise_moves); without such
    effects, one move of every variable serving a missed constraint (StructuredSearch.serves: the pools
    holding a missed queue's skills, its QC settings; of a roster's patterns only those with the most
    heads on the hours whose items missed, as in repair)."""
    shortfall = {name: -margin for name, margin in failed.margins.items()}
    moved = raise_moves(plan, search.decisions, shortfall, effects, structured.estimated_cost) if effects else None
    if moved is not None:
        return moved
    missed = [name for name, s in shortfall.items() if s > 0]
    moves = [(d, m) for d in structured.serves(missed) if d.choices is None
             if (m := structured.moved(plan, d, move_unit(d))) is not None]
    seen = Outcome(plan, -1, failed.objective.get(search.objectives[0], 0.0), dict(shortfall), False,
                   failed.late_share)
    return dict(plan, **{d.path: m[d.path] for d, m in structured.narrowed(plan, seen, moves)})


def _raise_until_verified(search: Search, failed: Verification, fresh: int, jobs: int | None,
                          studied: Studied | None = None) -> list[Verification]:
    """A candidate failed verification: raise it where it missed (_raised, with the effects the study
    measured around it) and verify again on the same fresh replications, so that the second look is
    paired with the first, up to RAISES rounds; after a round that falls short, the effects are corrected
    by what it achieved on those replications (raising.corrected_effects). The plan so found is dearer
    than the search's optimum, but verified; the summary says it was raised."""
    structured = StructuredSearch(search.raw, search.decisions, search.constraints, lambda plans, near: [])
    effects = move_effects(failed.params, search.decisions, studied.outcomes, studied.spread) if studied else {}
    out, plan = [], dict(failed.params)
    for round_ in range(RAISES):
        raised = _raised(search, structured, plan, failed, effects)
        if raised == plan:
            break
        after = verify(search.raw, raised, search.objectives, search.constraints, fresh, jobs)
        after.raised = round_ + 1
        out.append(after)
        if after.met:
            break
        if effects:
            effects = corrected_effects(effects, search.decisions, plan, raised, failed.margins, after.margins)
        plan, failed = raised, after
    return out


def _raise_option(search: Search, priced: StructuredSearch, failed: Verification,
                  studied: Studied) -> tuple[float, float, Verification] | None:
    """(paid cost, effort, candidate) of a failed candidate once raised by the study's measured effects;
    None when the study has no effects that cover what it missed. Effort (trials.effort) orders plans of
    equal cost: raising a QC rate costs nothing, yet a candidate with a lower rate is still preferred."""
    effects = move_effects(failed.params, search.decisions, studied.outcomes, studied.spread)
    moved = raise_moves(failed.params, search.decisions, {n: -m for n, m in failed.margins.items()}, effects,
                        priced.estimated_cost) if effects else None
    return None if moved is None else (priced.estimated_cost(moved), effort(moved, search.decisions), failed)


def _search_bias(checked: list[Verification], margins: dict[str, dict[str, float]]) -> dict[str, float]:
    """Per constraint, how much worse fresh replications judged a failed candidate than the search's own
    margins did (`margins`: plan key -> the trial's verification_margins), the largest over candidates."""
    bias: dict[str, float] = {}
    for v in checked:
        search = margins.get(plan_key(v.params), {})
        for name, fresh in v.margins.items():
            if fresh < 0 and name in search:
                bias[name] = max(bias.get(name, 0.0), -fresh - search[name])
    return bias


def _corrected_picks(search: Search, trials: list[optuna.trial.FrozenTrial], checked: list[Verification],
                     fresh: int, jobs: int | None, ceiling: float = math.inf,
                     priced: StructuredSearch | None = None) -> list[Verification]:
    """Every candidate failed verification: the search's replications were kinder than fresh ones (it
    picked its plans for their luck). Shift every plan's search margins by that bias, per constraint
    (_search_bias), and verify the cheapest plan of the study that still meets every target and whose
    paid cost (by `priced`) is below `ceiling` (what raising a failed candidate would cost); repeat with the bias
    updated, up to RAISES rounds. Under common random numbers the luck of the search's replications is
    shared by every plan, so the plans on the descent's way down, with more room, are the ones the
    correction brings back."""
    full = [t for t in trials if t.user_attrs.get("replications") == search.replications
            and "screened" not in t.user_attrs and t.user_attrs.get("verification_margins")]
    margins = {plan_key(t.params): t.user_attrs["verification_margins"] for t in full}
    out: list[Verification] = []
    for round_ in range(RAISES):
        bias = _search_bias(checked + out, margins)
        tried = {plan_key(v.params) for v in checked + out}
        meeting = [t for t in full if plan_key(t.params) not in tried
                   and (priced is None or priced.estimated_cost(dict(t.params)) < ceiling)
                   and all(m + bias.get(name, 0.0) <= 0 for name, m in margins[plan_key(t.params)].items())]
        if not bias or not meeting:
            break
        pick = min(meeting, key=lambda t: rank(t, search.decisions))
        result = verify(search.raw, dict(pick.params), search.objectives, search.constraints, fresh, jobs)
        result.corrected = round_ + 1
        out.append(result)
        if result.met:
            break
    return out


def _widest(search: Search, rest: list[optuna.trial.FrozenTrial], checked: list[Verification], fresh: int,
            jobs: int | None) -> list[Verification]:
    """Every cheap candidate sat on the edge of a target: verify the feasible plan not yet checked with the
    widest search margins (none left: nothing)."""
    tried = {plan_key(v.params) for v in checked}
    rest = [t for t in rest if plan_key(t.params) not in tried]
    if not rest:
        return []
    robust = min(rest, key=lambda t: max((t.user_attrs.get("verification_margins") or
                                          dict(t.constraints)).values(), default=0.0))
    return [verify(search.raw, dict(robust.params), search.objectives, search.constraints, fresh, jobs)]


PLAUSIBLE = 0.25  # a candidate this likely to pass verification's second look is verified in order of cost


def _second_look_plausible(search: Search,
                           trials: list[optuna.trial.FrozenTrial]) -> Callable[[optuna.trial.FrozenTrial], bool]:
    """Whether a trial passes verification's second look (97.5% on the replications every second look runs,
    verify.second_look) at least PLAUSIBLE of the time, by its own and the feasible plans' spread
    (trials.verification_margins). The
    search's margins judge the first look at an even chance; a plan a little inside its targets, which the
    second look passes, would otherwise be verified only after every dearer plan with room for the first,
    and one of those passes first (an unseen shared-pool case: 75,920 chosen over 64,240)."""
    from .verify import LEVEL, last_look, second_look

    first = fresh_replications(search.replications)
    most = second_look(first, last_look(validate_data(search.raw, {}, "verify").optimize, first))
    if most <= first:
        return lambda t: False
    pooled = level_spread(trials, search.replications)
    level = 1 - (1 - LEVEL) / 2

    def plausible(t: optuna.trial.FrozenTrial) -> bool:
        values = t.user_attrs.get("violations_by_replication")
        return bool(values) and len(next(iter(values.values()))) == search.replications and all(
            m <= 0 for m in verification_margins(values, most, pooled, level, PLAUSIBLE).values())
    return plausible


PASSED_OVER = 3  # cheaper feasible plans set aside as unready, verified once a dearer one has passed


def _passed_over(search: Search, unique: list[optuna.trial.FrozenTrial], checked: list[Verification],
                 priced: StructuredSearch, passed: Verification, fresh: int, jobs: int | None,
                 deadline: float | None) -> tuple[list[Verification], Verification | None]:
    """After a plan passes: the feasible trials cheaper than it that the order set aside (their search
    margins said verification would likely fail them), cheapest first, up to PASSED_OVER verifications.
    Common random numbers can be unkind to a plan with room (a shared-pool draw: the search's three
    replications put it 0.009 inside a target it meets by 0.017 on 40 fresh ones), and then the dearer
    plan that passed would stand. Each gets the first look only, at the one-look level: a plan with room
    passes it, and the second look's waves (up to 16 times the replications on the quarter) are kept for
    the plans the order chose. Picking the cheapest of several that pass favours luck, so one that
    passes stands only if it passes again on the second fresh set (verify.CONFIRM). Past `deadline`, none
    is checked. Returns the plans verified (first set) and the confirmed one, if any."""
    from .verify import CONFIRM

    tried = {plan_key(v.params) for v in checked}
    ceiling = priced.estimated_cost(passed.params)
    cheaper = sorted((t for t in unique if plan_key(t.params) not in tried
                      and priced.estimated_cost(dict(t.params)) < ceiling),
                     key=lambda t: rank(t, search.decisions))
    out: list[Verification] = []
    for trial in cheaper[:PASSED_OVER]:
        if deadline is not None and time.monotonic() >= deadline:
            break
        result = verify(search.raw, dict(trial.params), search.objectives, search.constraints, fresh, jobs,
                        most=fresh)
        out.append(result)
        if result.met and verify(search.raw, dict(trial.params), search.objectives, search.constraints, fresh,
                                 jobs, first=CONFIRM, most=fresh).met:
            return out[:-1], result
    return out, None


def choose(study: optuna.Study, search: Search, jobs: int | None = None, candidates: int = 5,
           deadline: float | None = None) -> OptimizeResult:
    """The cheapest plan that meets every target with 95% confidence on fresh replications (_choose); one
    pool of worker processes serves every verification, look and wave. Past `deadline` (time.monotonic())
    polish judges no new plan."""
    with kept_workers(jobs or default_jobs()):
        return _choose(study, search, jobs, candidates, deadline)


def _choose(study: optuna.Study, search: Search, jobs: int | None, candidates: int,
            deadline: float | None = None) -> OptimizeResult:
    """The cheapest plan that meets every target with 95% confidence on fresh replications (see verify.py).

    Feasible trials are re-run in order of cost, up to `candidates` distinct plans, until one passes, but
    once one has failed, a dearer candidate is re-run only if it costs less than raising a failed one
    by the effects the study measured (_raise_option): under common random numbers the candidates
    share the search's luck and tend to fail together. If none passes: the bias-corrected pick
    (_corrected_picks, below that same price), then, with no such estimate, the remaining feasible plan
    with the widest margins; then the failed candidate is raised where it missed
    (_raise_until_verified); if that fails too, the dearer candidates passed over and then the widest
    plan are verified after all. Once a plan passes, the cheaper feasible plans set aside as unready are
    verified too, cheapest first, and one that passes twice stands instead (_passed_over). The plan that
    stands is then polished (polish.py, up to `optimize.polish`
    verifications): its one-step decreases the study could not rule out are verified on the same fresh
    replications, and a cheaper plan so found stands only if it passes again on a second fresh set.
    With no feasible trial, or none passing, the result is infeasible and names the closest miss.
    """
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise RuntimeError("no trial finished")
    table = trials_table(study, search.objectives)
    pareto = pareto_front(table, search.objectives) if len(search.objectives) > 1 else None
    screened = sum(1 for t in complete if "screened" in t.user_attrs)
    pruned = [t for t in complete if "pruned" in t.user_attrs]
    by_pruning = sum(search.replications - t.user_attrs["replications"] for t in pruned)
    info: dict[str, Any] = {"strategy": strategy_of(search), "trials": len(complete), "screened": screened,
                            "pruned": len(pruned),
            "simulations_saved": screened * search.replications + by_pruning,
            "simulations_saved_by_screen": screened * search.replications,
            "simulations_saved_by_pruning": by_pruning,
            "simulations_run": sum(t.user_attrs.get("replications", 0) for t in complete),
            "repeats": sum(1 for t in complete if "repeat_of" in t.user_attrs), "passed_over_checked": 0}
    # plans that verification's rule may well pass first (the search's margins, or the second look's), by rank
    plausible = _second_look_plausible(search, complete)
    ordered = sorted((t for t in complete if feasible(t)),
                     key=lambda t: (not (t.user_attrs.get("verification_ready", False) or plausible(t)),
                                    rank(t, search.decisions)))
    unique = list({json.dumps(t.params, sort_keys=True): t for t in reversed(ordered)}.values())[::-1]
    fresh = fresh_replications(search.replications)
    studied = _studied(complete, search.replications)
    priced = StructuredSearch(search.raw, search.decisions, search.constraints, lambda plans, near: [])
    checked: list[Verification] = []
    options: list[tuple[float, float, Verification]] = []  # each failed candidate's raise: cost, effort
    deferred = []  # candidates dearer than raising a failed one: verified only if the raise fails
    for trial in unique[:candidates]:
        option = min(options, key=lambda o: o[:2], default=None)  # shared luck: the next may fail too
        if option is not None and (priced.estimated_cost(dict(trial.params)),
                                   effort(trial.params, search.decisions)) >= option[:2]:
            deferred.append(trial)
            continue
        result = verify(search.raw, dict(trial.params), search.objectives, search.constraints, fresh, jobs)
        checked.append(result)
        if result.met:
            break
        options += [o for o in [_raise_option(search, priced, result, studied)] if o is not None]
    passed = next((v for v in checked if v.met), None)
    if passed is not None:
        over, jumped = _passed_over(search, unique, checked, priced, passed, fresh, jobs, deadline)
        checked = ([jumped] if jumped is not None else []) + checked + over
        info["passed_over_checked"] = len(over)
    if checked and not any(v.met for v in checked):
        option = min(options, key=lambda o: o[:2], default=None)
        checked += _corrected_picks(search, complete, checked, fresh, jobs, option[0] if option else math.inf,
                                    priced)
        if not any(v.met for v in checked) and option is None:
            checked += _widest(search, unique[candidates:], checked, fresh, jobs)
        if not any(v.met for v in checked):
            start = option[2] if option else max(checked, key=lambda v: v.confidence)
            checked += _raise_until_verified(search, start, fresh, jobs, studied)
        for trial in deferred:  # the raise failed: the dearer candidates after all
            if any(v.met for v in checked):
                break
            checked.append(verify(search.raw, dict(trial.params), search.objectives, search.constraints, fresh,
                                  jobs))
        if not any(v.met for v in checked) and option is not None:
            checked += _widest(search, unique[candidates:], checked, fresh, jobs)
    if checked:
        best = next((v for v in checked if v.met), max(checked, key=lambda v: v.confidence))
        polished, known = Polished(best), {plan_key(v.params): v for v in checked}
        if best.met and (search.polish or search.polish_exchanges) and search.objectives in (["cost"], ["budget"]):
            polished = polish(search.decisions, best, study, studied.outcomes, studied.spread, known, search.polish,
                              priced.estimated_cost,
                              lambda plan, first: verify(search.raw, plan, search.objectives, search.constraints,
                                                         fresh, jobs, first=first), search.polish_exchanges,
                              deadline, priced.transfers)
        final = polished.verification
        closest = None if final.met else min(final.margins.items(), key=lambda kv: kv[1])
        verification = {"rule": rule(final.level, bool(final.controlled)),
                        "replications": final.replications, "controlled": final.controlled,
                        "candidates_checked": len(checked), "met": final.met,
                        "confidence": final.confidence, "margins": final.margins,
                        "corrected_after_verification": best.corrected,
                        "raised_after_verification": best.raised,
                        "polish_checked": len(polished.checked), "polished_steps": polished.steps,
                        "polish_unconfirmed": polished.unconfirmed > 0,
                        "polish_unconfirmed_steps": polished.unconfirmed, "polish_tried": polished.tried,
                        "polish_out_of_time": polished.out_of_time,
                        "undecided": undecided(polished.tried)}
        best = final
        _bound(info, search, best.objective.get(search.objectives[0]) if best.met else None)
        info["certificate"] = certify(best.params, search.decisions, study, {**known, **polished.checked})
        return OptimizeResult(feasible=best.met, params=best.params, objective=best.objective, kpis=best.kpis,
                              trials=table, closest=closest, scenario_raw=search.raw, verification=verification,
                              search=info, pareto=pareto, by_hour=by_hour(search.raw, best))
    trial = min(complete, key=lambda t: (sum(max(0.0, v) for v in t.constraints.values()), t.number))
    name, miss = max(trial.constraints.items(), key=lambda kv: kv[1])
    return OptimizeResult(feasible=False, params=dict(trial.params),
                          objective=dict(zip(search.objectives, objective_values(trial))), kpis=trial.user_attrs.get("kpis"),
                          trials=table, closest=(name, -miss), scenario_raw=search.raw, verification=None,
                          search=info, pareto=pareto)
