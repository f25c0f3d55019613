"""Trials of the study: claiming them under the study lock, evaluating them (here or in worker
processes), screening them analytically, and recording what they found.

Every plan any strategy evaluates is an Optuna trial: the structured search's plans go in through
`enqueue_trial` and ask-and-tell, TPE's through `ask`. So SQLite resume, PostgreSQL workers and
optuna-dashboard see one study whatever proposed the plans. A plan already in the study (finished by
this run, a killed earlier one or another worker) is read back, never run again: under common random
numbers the same plan gives the same numbers.
"""

from __future__ import annotations

import itertools
import json
import math
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import optuna

from simulator.model.engine import run_replication
from simulator.processes import worker_pool
from simulator.scenario import validate_data

from .constraints import Constraint
from .evaluate import Assessment, Evaluation, evaluate
from .rosters import over_pattern_limit
from .screen import overload, paid_cost
from .search_space import Decision, with_values
from .sequential import Paired
from .storage import Heartbeat, StudyLock

DUPLICATE_TRIES = 10  # proposals of finished plans before one is recorded as a repeat

COMPLETE = optuna.trial.TrialState.COMPLETE
RUNNING = optuna.trial.TrialState.RUNNING
WAITING = optuna.trial.TrialState.WAITING


def _fail_stale(study: optuna.Study) -> None:
    """Fail trials whose worker stopped beating (Optuna marks this experimental; it is what sharing needs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _ask(study: optuna.Study) -> optuna.Trial:
    """study.ask, without the warning that heartbeats belong to Study.optimize: Heartbeat beats for us."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return study.ask()


def plan_key(params: dict[str, Any]) -> str:
    """A plan's identity: its parameters as canonical JSON."""
    return json.dumps(params, sort_keys=True, default=str)


def effort(params: dict[str, Any], decisions: list[Decision]) -> float:
    """How high a plan sits in its ranges (sum of each numeric variable's share of its range): among
    plans of equal cost the one with less QC work and fewer resources is preferred."""
    return sum(d.index(params[d.path]) / max(1, d.steps) for d in decisions if d.choices is None and d.path in params)


def rank(trial: optuna.trial.FrozenTrial, decisions: list[Decision]) -> tuple[float, float, int]:
    """Order of preference among feasible trials: first objective, then effort, then trial number."""
    return objective_values(trial)[0], effort(trial.params, decisions), trial.number


def objective_values(trial: optuna.trial.FrozenTrial) -> list[float | None]:
    """The plan's objective values (cost, ...) whether or not it is feasible. An infeasible trial is told
    to Optuna as +inf (see `told`), so its values live in the user attribute `objectives`."""
    return list(trial.user_attrs.get("objectives", trial.values))


def told(values: list[float], is_feasible: bool) -> list[float]:
    """What Optuna is told: the objective values of a feasible plan, +inf for an infeasible one. Optuna
    ranks by constraints itself, but optuna-dashboard's best trial is the plain minimum of the values,
    so an infeasible plan must never look cheapest there."""
    return list(values) if is_feasible else [math.inf] * len(values)


def feasible(trial: optuna.trial.FrozenTrial) -> bool:
    """Every constraint's mean violation is <= 0."""
    return all(v <= 0 for v in trial.constraints.values())


@dataclass(frozen=True)
class Outcome:
    """What the search needs to know of a finished trial."""

    params: dict[str, Any]
    number: int
    cost: float  # the first objective
    violations: dict[str, float]  # each constraint's violation as verification would judge it (see below)
    screened: bool
    late_share: dict[str, list[float]] | None = None  # rosters: per queue and hour of the week, share missed
    skill_share: dict[str, dict[str, float]] | None = None  # rosters: per pool and skill, share of productive hours
    by_replication: dict[str, list[float]] = field(default_factory=dict)  # each constraint's, per replication run

    @property
    def feasible(self) -> bool:
        """Meets every target with the margin verification will ask for."""
        return all(v <= 0 for v in self.violations.values())


def outcome(trial: optuna.trial.FrozenTrial) -> Outcome:
    """A finished trial as the structured search sees it: each constraint's mean violation plus the
    one-sided 95% t margin that verification's fresh replications would add (`verification_margins`: the
    larger of the plan's own and the feasible plans' pooled spread); a trial the paired look stopped, its
    paired estimates; screened trials keep their constraints."""
    margins = trial.user_attrs.get("verification_margins") or dict(trial.constraints)
    margins = dict(margins, **(trial.user_attrs.get("paired") or {}).get("estimate", {}))
    return Outcome(dict(trial.params), trial.number, objective_values(trial)[0], margins,
                   "screened" in trial.user_attrs, trial.user_attrs.get("late_share"),
                   trial.user_attrs.get("skill_share"), trial.user_attrs.get("violations_by_replication", {}))


def difference_spread(trials: list[optuna.trial.FrozenTrial], replications: int) -> dict[str, float]:
    """Per constraint, the pooled SD of the per-replication difference between two plans that ran every
    replication and differ in one variable: the noise of a paired comparison under common random numbers.
    Pairs whose values of that constraint are identical (the variable does not touch it) are left out; a
    constraint with fewer than MIN_PAIRS pairs is left out (no paired look on it)."""
    full = [t for t in trials if t.user_attrs.get("replications") == replications >= 2
            and "screened" not in t.user_attrs]
    buckets: dict[tuple[str, str], list[optuna.trial.FrozenTrial]] = {}
    for t in full:
        for name in t.params:
            rest = {k: v for k, v in t.params.items() if k != name}
            buckets.setdefault((name, plan_key(rest)), []).append(t)
    differences = []
    for group in buckets.values():
        for a, b in itertools.combinations(group, 2):
            ra, rb = a.user_attrs["violations_by_replication"], b.user_attrs["violations_by_replication"]
            differences += [(name, np.subtract(ra[name], rb[name])) for name in ra.keys() & rb.keys()]
    return pooled_sd([(name, d) for name, d in differences if d.any()], MIN_PAIRS)


def pooled_sd(samples: list[tuple[str, np.ndarray]], least: int) -> dict[str, float]:
    """Per name, the pooled SD of its samples (each about its own mean), for names with `least` samples."""
    squares: dict[str, float] = {}
    dof: dict[str, int] = {}
    count: dict[str, int] = {}
    for name, data in samples:
        squares[name] = squares.get(name, 0.0) + float(((data - data.mean()) ** 2).sum())
        dof[name] = dof.get(name, 0) + len(data) - 1
        count[name] = count.get(name, 0) + 1
    return {name: math.sqrt(total / dof[name]) for name, total in squares.items() if count[name] >= least}


MIN_PAIRS = 3  # pairs of neighbouring plans before the paired look trusts its difference SD


def fresh_replications(replications: int) -> int:
    """How many fresh replications verification runs for a search of `replications` per trial."""
    return max(5, 2 * replications)


PASS_CHANCE = 0.5  # a plan the search accepts passes verification at least this often, all constraints at once
SURE = 0.99  # a constraint at least this likely to pass verification is not counted among the uncertain


def verification_margins(by_replication: dict[str, list[float]], fresh: int,
                         pooled: dict[str, float] | None = None, level: float = 0.95,
                         chance: float = 0.5) -> dict[str, float]:
    """Each constraint's mean violation plus what verification's `fresh` replications need on top of it;
    > 0 means the structured search does not treat the plan as feasible.

    - The one-sided `level` t margin of `fresh` replications (verification's rule; its second look is
      97.5% on up to `verify_max`).
    - The chance that verification passes the plan: the fresh mean scatters about this plan's mean by
      spread x sqrt(1/n + 1/fresh) (n: this plan's replications), so each constraint passes with a
      normal probability. Verification needs every constraint to pass, so with k constraints below SURE,
      each must reach `chance` ** (1/k) (PASS_CHANCE for the search); its normal quantile times the scatter is added. With one
      uncertain constraint that adds nothing: a plan on its edge passes half the time. With several,
      the plan on the descent's edge would almost never pass (seven at one half: 1 in 128).

    The spread is the larger of the plan's own and the `pooled` SD of plans known to be feasible
    (level_spread): an SD from three replications is as likely as not to fall well short of the true one
    (a chi distribution with 2 degrees of freedom)."""
    from scipy import stats

    quantile = float(stats.t.ppf(level, fresh - 1))
    edge, scatter = {}, {}
    for name, values in by_replication.items():
        data = np.asarray(values, dtype=float)
        spread = max(float(data.std(ddof=1)) if len(data) > 1 else 0.0, (pooled or {}).get(name, 0.0))
        edge[name] = float(data.mean()) + quantile * spread / math.sqrt(fresh)
        scatter[name] = spread * math.sqrt(1 / len(data) + 1 / fresh)
    passing = [stats.norm.cdf(-edge[name] / scatter[name]) if scatter[name] > 0 else float(edge[name] <= 0)
               for name in edge]
    uncertain = max(1, sum(1 for p in passing if p < SURE))
    z = float(stats.norm.ppf(chance ** (1 / uncertain)))
    return {name: edge[name] + z * scatter[name] for name in edge}


def level_spread(trials: list[optuna.trial.FrozenTrial], replications: int) -> dict[str, float]:
    """Per constraint, the pooled per-replication SD over plans that ran every replication and meet every
    target on their means (at least two such plans)."""
    return pooled_sd([(name, np.asarray(values, dtype=float)) for t in trials
                      if t.user_attrs.get("replications") == replications >= 2 and "screened" not in t.user_attrs
                      and feasible(t)
                      for name, values in t.user_attrs.get("violations_by_replication", {}).items()], 2)


@dataclass
class Settings:
    """What evaluating a trial needs, fixed for the run."""

    raw: dict[str, Any]
    decisions: list[Decision]
    objectives: list[str]
    constraints: list[Constraint]
    replications: int
    trials: int  # the budget: finished plus running trials never exceed it
    screen: bool
    prune: bool
    deadline: float | None  # time.monotonic() after which no new trial is claimed
    seed: int = 0  # the scenario's: seeds each proposal of the sampler (see TrialDriver.claim_sampled)
    pattern_limits: dict[str, int] = field(default_factory=dict)  # pool -> max_patterns of its roster
    rosters: bool = False  # the search chooses shift patterns: trials keep where items missed (late_share)


class TrialDriver:
    """Claims, evaluates and records trials; `jobs` > 1 evaluates in worker processes."""

    def __init__(self, study: optuna.Study, settings: Settings, lock: StudyLock, beat: Heartbeat, jobs: int,
                 heartbeat: float, progress: Callable[[], None]):
        self.study, self.settings, self.lock, self.beat = study, settings, lock, beat
        self.jobs, self.heartbeat, self.progress = jobs, heartbeat, progress
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> TrialDriver:
        if self.jobs > 1:
            self._pool = worker_pool(self.jobs)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    # --- budget -----------------------------------------------------------------------------------
    def time_left(self) -> bool:
        return self.settings.deadline is None or time.monotonic() < self.settings.deadline

    def budget_left(self) -> bool:
        """Trials may still be claimed: budget not reached by finished plus running ones, time not up."""
        busy = self.study.get_trials(deepcopy=False, states=(COMPLETE, RUNNING))
        return len(busy) < self.settings.trials and self.time_left()

    def finished(self) -> bool:
        """The budget is done (not merely claimed: other workers' trials may still be running)."""
        done = len(self.study.get_trials(deepcopy=False, states=(COMPLETE,)))
        return done >= self.settings.trials or (not self.time_left() and not self._others_running())

    def _others_running(self) -> bool:
        return any(t._trial_id not in self.beat.running
                   for t in self.study.get_trials(deepcopy=False, states=(RUNNING,)))

    def best_cost(self) -> float | None:
        """The cheapest feasible first objective so far."""
        costs = [objective_values(t)[0] for t in self.study.get_trials(deepcopy=False, states=(COMPLETE,))
                 if feasible(t)]
        return min(costs) if costs else None

    # --- claiming ---------------------------------------------------------------------------------
    def _suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """The trial's values, set while the lock is held: another worker never sees a half-set plan."""
        values = {d.path: d.suggest(trial) for d in self.settings.decisions}
        self.beat.start(trial._trial_id)
        return values

    def _screen(self, trial: optuna.Trial, values: dict[str, Any]) -> tuple[optuna.Trial, dict[str, Any] | None]:
        """Screen a claimed trial: (trial, values) to simulate, or (trial, None) when recorded as screened."""
        if not self.settings.screen and not self.settings.pattern_limits:
            return trial, values
        scenario = validate_data(with_values(self.settings.raw, values), {}, "trial")
        verdict = over_pattern_limit(scenario, self.settings.pattern_limits)
        if verdict is None and self.settings.screen:
            verdict = overload(scenario)
            if verdict is not None:
                verdict = (f"{verdict[0]}: offered work {1 + verdict[1]:.2f}x capacity", verdict[1])
        if verdict is None:
            return trial, values
        where, excess = verdict
        trial.set_user_attr("screened", where)
        for constraint in self.settings.constraints:
            trial.set_constraint(constraint.name, min(excess, 1e6))
        cost = paid_cost(scenario)
        values = [cost if name in ("cost", "budget") else None for name in self.settings.objectives]
        trial.set_user_attr("objectives", values)
        trial.set_user_attr("feasible", False)
        self.study.tell(trial, told([math.inf] * len(values), False))
        self.beat.running.discard(trial._trial_id)
        return trial, None

    def claim_sampled(self) -> tuple[optuna.Trial, dict[str, Any] | None] | None:
        """The sampler's next trial (screened ones come back with values None), or None: no budget left.

        The sampler is seeded afresh for each proposal from (scenario seed, finished trials, attempt), so
        its proposals depend only on the study's history: a run resumed after a kill proposes what the
        uninterrupted run would have (a seeded sampler kept in memory would replay its start-up points).
        A proposal of a plan already finished is told as FAIL (`duplicate_of`) and asked again with the
        next attempt's seed; after DUPLICATE_TRIES, the earlier results are copied (`repeat_of`)."""
        for attempt in range(DUPLICATE_TRIES):
            with self.lock:
                _fail_stale(self.study)
                if not self.budget_left():
                    return None
                finished = len(self.study.get_trials(deepcopy=False, states=(COMPLETE,)))
                state = np.random.SeedSequence([self.settings.seed, finished, attempt]).generate_state(1)[0]
                self.study.sampler = optuna.samplers.TPESampler(seed=int(state))
                trial = _ask(self.study)
                values = self._suggest(trial)  # heartbeat before the lock opens: never seen without one
            earlier = self._finished_with(values)
            if earlier is None:
                return self._screen(trial, values)
            if attempt + 1 < DUPLICATE_TRIES:
                trial.set_user_attr("duplicate_of", earlier.number)
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                self.beat.running.discard(trial._trial_id)
        self._copy_repeat(trial, values, earlier)
        return trial, None

    def _finished_with(self, values: dict[str, Any]) -> optuna.trial.FrozenTrial | None:
        """The finished trial of the same plan, if any."""
        key = plan_key(values)
        return next((t for t in self.study.get_trials(deepcopy=False, states=(COMPLETE,))
                     if plan_key(t.params) == key), None)

    def _copy_repeat(self, trial: optuna.Trial, values: dict[str, Any], earlier: optuna.trial.FrozenTrial) -> None:
        """A sampled plan the study already finished gives the same numbers under common random numbers:
        record the earlier trial's results (user attribute `repeat_of`) instead of simulating again."""
        for name, violation in earlier.constraints.items():
            trial.set_constraint(name, violation)
        for name, value in earlier.user_attrs.items():
            if name not in ("pruned", "screened", "replications"):  # those describe how the earlier one ran
                trial.set_user_attr(name, value)
        trial.set_user_attr("repeat_of", earlier.number)
        trial.set_user_attr("replications", 0)
        self.study.tell(trial, earlier.values)  # `objectives` and `feasible` came with the user attributes
        self.beat.running.discard(trial._trial_id)

    def _claim_plan(self, plan: dict[str, Any]) -> tuple[str, Any]:
        """("done", FrozenTrial) if the study has the plan finished, ("busy", None) if another worker runs
        it, ("mine", (trial, values)) when this worker claimed it, ("none", None) with no budget left."""
        key = plan_key(plan)
        with self.lock:
            _fail_stale(self.study)
            for t in self.study.get_trials(deepcopy=False, states=(COMPLETE, RUNNING)):
                if plan_key(t.params) == key:
                    return ("done", t) if t.state == COMPLETE else ("busy", None)
            if not self.budget_left():
                return "none", None
            self.study.enqueue_trial(plan)
            trial = _ask(self.study)  # the queue held nothing else: every enqueue is asked under the lock
            values = self._suggest(trial)
        return "mine", self._screen(trial, values)

    # --- evaluating -------------------------------------------------------------------------------
    def _assessment(self, values: dict[str, Any], incumbent: float | None, noise: dict[str, float] | None = None,
                    paired: Paired | None = None) -> Assessment:
        s = self.settings
        single_cost = len(s.objectives) == 1 and s.objectives[0] in ("cost", "budget")
        return Assessment(s.raw, values, s.objectives, s.constraints, s.replications,
                          incumbent if s.prune and single_cost else None, s.prune,
                          noise if s.prune else None, paired if s.prune else None)

    def record(self, trial: optuna.Trial, result: Evaluation, pooled: dict[str, float] | None = None) -> None:
        """Store a finished evaluation: constraints, KPIs, per-replication violations, objective values, and
        the margins verification would want (with `pooled`, the feasible plans' SD read before the batch)."""
        for name, violation in result.violations.items():
            trial.set_constraint(name, violation)
        trial.set_user_attr("kpis", result.kpis)
        trial.set_user_attr("constraints", result.violations)  # also as a user attribute: optuna-dashboard lists them
        trial.set_user_attr("replications", result.replications)
        trial.set_user_attr("violations_by_replication", result.by_replication)
        margins = verification_margins(result.by_replication, fresh_replications(self.settings.replications), pooled)
        trial.set_user_attr("verification_margins", margins)
        trial.set_user_attr("verification_ready", all(v <= 0 for v in margins.values()))
        if result.pruned:
            trial.set_user_attr("pruned", result.pruned)
        if result.paired:
            trial.set_user_attr("paired", result.paired)
        if result.late_share is not None and self.settings.rosters:
            trial.set_user_attr("late_share", result.late_share)
            trial.set_user_attr("skill_share", result.skill_share)
        is_feasible = all(v <= 0 for v in result.violations.values())
        trial.set_user_attr("objectives", list(result.objectives))
        trial.set_user_attr("feasible", is_feasible)
        self.study.tell(trial, told(result.objectives, is_feasible))
        self.beat.running.discard(trial._trial_id)
        self.progress()

    def _run(self, claimed: list[tuple[optuna.Trial, dict[str, Any]]], incumbent: float | None,
             noise: dict[str, float] | None = None, paired: Paired | None = None) -> None:
        """Evaluate claimed trials, here or with their replications spread over the process pool (each
        trial's waves, evaluate.Assessment), and record each as it finishes (the pooled SD is read once
        before: the same margins whatever order the jobs finish in)."""
        if not claimed:
            return
        pooled = level_spread(self.study.get_trials(deepcopy=False, states=(COMPLETE,)), self.settings.replications)
        if noise:
            for trial, _ in claimed:
                trial.set_user_attr("noise", noise)
        trials = [(trial, self._assessment(values, incumbent, noise, paired)) for trial, values in claimed]
        if self._pool is None:
            for trial, assessment in trials:
                self.record(trial, evaluate(assessment), pooled)
            return
        waves: dict[int, list[Future[Any]]] = {}

        def submit(i: int) -> None:
            trial, assessment = trials[i]
            ks = assessment.wave()
            if ks:
                waves[i] = [self._pool.submit(run_replication, assessment.scenario, k) for k in ks]  # type: ignore[union-attr]
            else:
                self.record(trial, assessment.evaluation(), pooled)

        for i in range(len(trials)):
            submit(i)
        while waves:
            wait([f for fs in waves.values() for f in fs], return_when=FIRST_COMPLETED)
            for i in sorted(i for i, fs in waves.items() if all(f.done() for f in fs)):
                trials[i][1].add([f.result() for f in waves.pop(i)])
                submit(i)

    def noise(self) -> dict[str, float] | None:
        """Each constraint's per-replication SD in the preferred feasible trial that ran every replication:
        the scale of the one-replication look. None before such a trial exists."""
        full = [t for t in self.study.get_trials(deepcopy=False, states=(COMPLETE,))
                if feasible(t) and t.user_attrs.get("replications") == self.settings.replications >= 2]
        if not full:
            return None
        best = min(full, key=lambda t: rank(t, self.settings.decisions))
        by_rep = best.user_attrs.get("violations_by_replication", {})
        return {name: float(np.std(values, ddof=1)) for name, values in by_rep.items() if len(values) >= 2}

    def paired(self, reference: Outcome | None) -> Paired | None:
        """The paired look's reference for neighbours of `reference`: only a plan that ran every
        replication, once enough neighbouring pairs measured the difference SD (difference_spread)."""
        s = self.settings
        if reference is None or not s.prune or len(next(iter(reference.by_replication.values()), [])) != s.replications:
            return None
        spread = difference_spread(self.study.get_trials(deepcopy=False, states=(COMPLETE,)), s.replications)
        return Paired(reference.number, reference.by_replication, spread) if spread else None

    def evaluate_plans(self, plans: list[dict[str, Any]], reference: Outcome | None = None) -> list[Outcome | None]:
        """Each plan's outcome, in order: read back if the study has it, else claimed and evaluated (in
        parallel), or waited for while another worker runs it. None where the budget or time ran out.
        No plan is stopped early for its cost: the structured search compares neighbours on every
        replication (a plan clearly missing a target still stops early, by the paired look against
        `reference`, a neighbouring plan, when given)."""
        incumbent, noise = None, self.noise()  # read once per batch: the same for every job count
        paired = self.paired(reference)
        results: dict[str, Outcome | None] = {}
        while True:
            claimed, waiting, screened = [], False, False
            for plan in plans:
                key = plan_key(plan)
                if key in results:
                    continue
                state, found = self._claim_plan(plan)
                if state == "done":
                    results[key] = outcome(found)
                elif state == "none":
                    results[key] = None
                elif state == "busy":
                    waiting = True
                else:
                    trial, values = found
                    if values is not None:
                        claimed.append((trial, values))
                    else:  # screened: recorded already, read back on the next pass
                        screened = True
                        self.progress()
            self._run(claimed, incumbent, noise, paired)
            if not claimed and not waiting and not screened:
                break
            if waiting and not claimed:
                time.sleep(min(5.0, self.heartbeat / 4))
            if all(plan_key(p) in results for p in plans):
                break
        return [results.get(plan_key(p)) for p in plans]

    def sample(self, count: int) -> int:
        """Run up to `count` trials the sampler proposes (TPE); how many were claimed."""
        claimed, done = [], 0
        while done < count:
            got = self.claim_sampled()
            if got is None:
                break
            done += 1
            trial, values = got
            if values is None:
                self.progress()
            else:
                claimed.append((trial, values))
            if len(claimed) >= max(1, self.jobs):
                self._run(claimed, self.best_cost())
                claimed = []
        self._run(claimed, self.best_cost())
        return done

    def wait_for_others(self) -> None:
        """Block until trials other workers run have finished or gone stale (then failed by anyone)."""
        while not self.finished() and not self.budget_left():
            time.sleep(self.heartbeat / 2)
            with self.lock:
                _fail_stale(self.study)
