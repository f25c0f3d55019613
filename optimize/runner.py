"""The search: Optuna ask-and-tell over worker processes, stored so that a killed run resumes.

Default storage is a SQLite file in the output folder (`study.db`); without an output folder the
study lives in memory. Running the same command again continues the same study: finished trials
are kept, trials left RUNNING by a killed run are marked FAIL and their budget is spent again.
When every variable is discrete and the whole grid fits in the trial budget, every grid point is
enqueued and evaluated once; otherwise TPE, seeded by the scenario seed, searches (it reads the
constraints each trial sets with set_constraint).
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import optuna
import pandas as pd

from simulator.scenario.errors import Problem, ScenarioError
from simulator.scenario.loader import load_raw, validate_data
from simulator.replications import default_jobs

from .constraints import Constraint, check_objectives, plan_constraints
from .pareto import pareto_front
from .evaluate import Evaluation, evaluate
from .screen import overload, paid_cost, warm_start
from .storage import Heartbeat, StudyLock, open_storage
from .search_space import Decision, decisions, with_values
from .verify import verify

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Heartbeat (storage.py) beats for ask-and-tell trials itself; Optuna warns as if nothing would.
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
warnings.filterwarnings("ignore", message=".*fail_stale_trials is experimental")

Progress = Callable[[int, int, float | None], None]


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

    def summary(self) -> dict[str, Any]:
        """DESIGN.md's optimize JSON {"feasible", "params", "objective", "kpis"}, plus the evidence
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


def prepare(path: str | Path, overrides: Iterable[str] = ()) -> Search:
    """Load the scenario and its `optimize:` section; every problem is a ScenarioError naming its place."""
    raw, lines = load_raw(path, overrides)
    scenario = validate_data(raw, lines, str(path))
    spec = scenario.optimize
    if spec is None or not spec.variables:
        raise ScenarioError([Problem(str(path), None, "optimize.variables", "nothing to optimise",
                                     "add optimize: {variables: {pools.ID.headcount: {low: 10, high: 60}}}")])
    objectives = [spec.objective] if isinstance(spec.objective, str) else list(spec.objective)
    check_objectives(scenario, objectives, str(path), lines)
    return Search(raw=raw, decisions=decisions(raw, spec.variables, lines, str(path)), objectives=objectives,
                  constraints=plan_constraints(scenario, str(path), lines), trials=spec.trials,
                  replications=spec.replications, seed=scenario.seed, name=scenario.name, screen=spec.screen,
                  prune=spec.prune)


def _grid(search: Search) -> list[dict[str, Any]] | None:
    """Every combination of the variables, when all are discrete and the grid fits in the trial budget."""
    grids = [d.grid() for d in search.decisions]
    if any(g is None for g in grids) or math.prod(len(g) for g in grids) > search.trials:  # type: ignore[arg-type]
        return None
    return [dict(zip((d.path for d in search.decisions), combo)) for combo in itertools.product(*grids)]  # type: ignore[arg-type]


def _record(study: optuna.Study, trial: optuna.Trial, result: Evaluation) -> None:
    for name, violation in result.violations.items():
        trial.set_constraint(name, violation)
    trial.set_user_attr("kpis", result.kpis)
    trial.set_user_attr("constraints", result.violations)  # also as a user attribute: optuna-dashboard lists them
    trial.set_user_attr("replications", result.replications)
    if result.pruned:
        trial.set_user_attr("pruned", result.pruned)
    study.tell(trial, result.objectives)


def run_search(search: Search, jobs: int | None = None, storage: str | None = None, study_name: str | None = None,
               progress: Progress | None = None, reclaim_running: bool = True,
               heartbeat: float = 60.0) -> optuna.Study:
    """Run trials until the study holds `search.trials` finished ones (resuming a stored study).

    Several processes or machines may run this on one shared storage: each new trial is claimed under
    the study lock, only while finished plus running trials are short of the budget, so together
    they run the budget exactly. A trial whose worker stops beating is failed and its values rerun.
    `reclaim_running` fails every trial left RUNNING at start: right for a study only this machine
    uses (a killed run left them), wrong for shared storage, where heartbeats do that job.
    """
    name = study_name or search.name
    lock = StudyLock(storage, name)
    states = optuna.trial.TrialState
    with lock:  # creating the schema and the study races too when several workers start at once
        rdb = open_storage(storage, heartbeat)
        study = optuna.create_study(storage=rdb, study_name=name, load_if_exists=True,
                                    directions=["minimize"] * len(search.objectives),
                                    sampler=optuna.samplers.TPESampler(seed=search.seed))
        if reclaim_running:
            for frozen in study.get_trials(deepcopy=False, states=(states.RUNNING,)):
                study._storage.set_trial_state_values(frozen._trial_id, states.FAIL)
        grid = _grid(search)
        if grid is not None:  # small discrete space: evaluate every point once (CRN makes a repeat identical)
            search.trials = len(grid)
            kept = (states.COMPLETE, states.WAITING, states.RUNNING)
            have = [t.system_attrs.get("fixed_params", t.params) for t in study.get_trials(deepcopy=False,
                                                                                             states=kept)]
            for point in grid:
                if point not in have:  # not skip_if_exists: that also skips points whose trial failed
                    study.enqueue_trial(point)
        elif not study.trials and search.screen:
            start = warm_start(search.raw, search.decisions)
            if start is not None:
                study.enqueue_trial(start)
    def args() -> tuple[Any, ...]:
        """evaluate()'s arguments after the trial values: the incumbent is read when the trial starts."""
        single_cost = len(search.objectives) == 1 and search.objectives[0] in ("cost", "budget")
        incumbent = _best_cost(study) if search.prune and single_cost else None
        return search.objectives, search.constraints, search.replications, incumbent, search.prune

    beat = Heartbeat(rdb, heartbeat)

    def claim() -> tuple[optuna.Trial, dict[str, Any] | None] | None:
        """The next trial and its values (None when the screen recorded it), or None when the budget is met."""
        with lock:
            optuna.storages.fail_stale_trials(study)
            busy = study.get_trials(deepcopy=False, states=(states.COMPLETE, states.RUNNING))
            if len(busy) >= search.trials:
                return None
            trial = study.ask()
            beat.start(trial._trial_id)  # before the lock opens: no worker ever sees it without a heartbeat
        values = {d.path: d.suggest(trial) for d in search.decisions}
        if not search.screen:
            return trial, values
        scenario = validate_data(with_values(search.raw, values), {}, "trial")
        verdict = overload(scenario)
        if verdict is None:
            return trial, values
        skill, excess = verdict
        trial.set_user_attr("screened", f"skill {skill}: offered work {1 + excess:.2f}x capacity")
        for constraint in search.constraints:
            trial.set_constraint(constraint.name, min(excess, 1e6))
        cost = paid_cost(scenario)
        study.tell(trial, [cost if name in ("cost", "budget") else math.inf for name in search.objectives])
        beat.running.discard(trial._trial_id)
        return trial, None

    def finished() -> bool:
        """The budget is done (not merely claimed: other workers' trials may still be running)."""
        return len(study.get_trials(deepcopy=False, states=(states.COMPLETE,))) >= search.trials

    def report() -> None:
        if progress:
            done = len(study.get_trials(deepcopy=False, states=(states.COMPLETE,)))
            progress(done, search.trials, _best_cost(study))

    with beat:
        if (jobs or default_jobs()) == 1:
            while True:
                claimed = claim()
                if claimed is None:
                    if finished():
                        break
                    time.sleep(heartbeat / 2)  # others' trials run: they finish, or go stale and return here
                    continue
                trial, values = claimed
                if values is not None:
                    _record(study, trial, evaluate(search.raw, values, *args()))
                    beat.running.discard(trial._trial_id)
                report()
        else:
            _run_parallel(study, search, jobs or default_jobs(), claim, finished, beat, report, args, heartbeat)
    lock.close()
    return study


def _run_parallel(study: optuna.Study, search: Search, jobs: int, claim: Callable[[], Any],
                  finished: Callable[[], bool], beat: Heartbeat, report: Callable[[], None],
                  args: Callable[[], tuple[Any, ...]],
                  heartbeat: float) -> None:
    """Keep `jobs` trials evaluating in worker processes until the budget is finished."""
    context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                                          else "spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        pending: dict[Future[Evaluation], optuna.Trial] = {}
        while True:
            claimed: Any = True
            while len(pending) < jobs and (claimed := claim()) is not None:
                if claimed[1] is None:
                    report()
                    continue
                trial, values = claimed
                pending[pool.submit(evaluate, search.raw, values, *args())] = trial
            if not pending:
                if finished():
                    return
                time.sleep(heartbeat / 2)  # others' trials run: they finish, or go stale and return here
                continue
            ready, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in ready:
                trial = pending.pop(future)
                _record(study, trial, future.result())
                beat.running.discard(trial._trial_id)
                report()


def _feasible(trial: optuna.trial.FrozenTrial) -> bool:
    return all(v <= 0 for v in trial.constraints.values())


def _best_cost(study: optuna.Study) -> float | None:
    feasible = [t.values[0] for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if _feasible(t)]
    return min(feasible) if feasible else None


def trials_table(study: optuna.Study, objectives: list[str]) -> pd.DataFrame:
    """One row per trial: number, state, params, objectives, constraint violations, feasibility."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"number": t.number, "state": t.state.name}
        row.update({f"param.{k}": v for k, v in t.params.items()})
        for name, value in zip(objectives, t.values or [None] * len(objectives)):
            row[f"objective.{name}"] = value
        row.update({f"constraint.{k}": v for k, v in t.constraints.items()})
        row["feasible"] = t.state == optuna.trial.TrialState.COMPLETE and _feasible(t)
        row["screened"] = t.user_attrs.get("screened", "")
        row["pruned"] = t.user_attrs.get("pruned", "")
        row["replications"] = t.user_attrs.get("replications", 0)
        rows.append(row)
    return pd.DataFrame(rows)


def choose(study: optuna.Study, search: Search, jobs: int | None = None, candidates: int = 5) -> OptimizeResult:
    """The cheapest plan that meets every target with 95% confidence on fresh replications (see verify.py).

    Feasible trials are re-run in order of cost, up to `candidates` distinct plans, until one passes.
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
    info = {"trials": len(complete), "screened": screened, "pruned": len(pruned),
            "simulations_saved": screened * search.replications + by_pruning,
            "simulations_saved_by_screen": screened * search.replications,
            "simulations_saved_by_pruning": by_pruning,
            "simulations_run": sum(t.user_attrs.get("replications", 0) for t in complete)}
    ordered = sorted((t for t in complete if _feasible(t)), key=lambda t: (t.values[0], t.number))
    unique = list({json.dumps(t.params, sort_keys=True): t for t in reversed(ordered)}.values())[::-1]
    fresh = max(5, 2 * search.replications)
    checked = []
    for trial in unique[:candidates]:
        result = verify(search.raw, dict(trial.params), search.objectives, search.constraints, fresh, jobs)
        checked.append(result)
        if result.met:
            break
    if checked:
        best = next((v for v in checked if v.met), max(checked, key=lambda v: v.confidence))
        closest = None if best.met else min(best.margins.items(), key=lambda kv: kv[1])
        verification = {"rule": "one-sided 95% t bound of every constraint meets its target",
                        "replications": fresh, "candidates_checked": len(checked), "met": best.met,
                        "confidence": best.confidence, "margins": best.margins}
        return OptimizeResult(feasible=best.met, params=best.params, objective=best.objective, kpis=best.kpis,
                              trials=table, closest=closest, scenario_raw=search.raw, verification=verification,
                              search=info, pareto=pareto)
    trial = min(complete, key=lambda t: (sum(max(0.0, v) for v in t.constraints.values()), t.number))
    name, miss = max(trial.constraints.items(), key=lambda kv: kv[1])
    return OptimizeResult(feasible=False, params=dict(trial.params),
                          objective=dict(zip(search.objectives, trial.values)), kpis=trial.user_attrs.get("kpis"),
                          trials=table, closest=(name, -miss), scenario_raw=search.raw, verification=None,
                          search=info, pareto=pareto)
