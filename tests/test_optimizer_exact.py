"""The structured search against exact answers: Erlang-C optima of independent pools, the optimum of a
shared multi-skill pool found by enumeration on the same common random numbers, the smallest QC sample
rate from the exact quality formula, and the certificate of local optimality re-checked by simulation."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import numpy as np
import pytest

from optimize import optimize
from optimize.analytic import hall_overload
from optimize.certificate import FAILS_FRESH
from optimize.verify import FRESH
from simulator.model.engine import run_replication
from simulator.scenario.loader import validate_data
from tests.helpers import write_yaml
from tests.theory import mmc_sojourn_cdf

pytestmark = pytest.mark.slow

# (arrivals per hour, mean handling h, SLA target h, attainment, cost per hour): six M/M/c queues whose
# Erlang-C optimum is at least 0.04 of attainment clear of the target on both sides
SIX = [(6, 1.0, 1.0, 0.50, 10.0), (12, 0.5, 0.5, 0.45, 12.0), (30, 0.25, 0.4, 0.60, 20.0),
       (4, 2.0, 3.0, 0.65, 8.0), (20, 0.2, 0.25, 0.60, 15.0), (9, 1.0, 2.0, 0.75, 30.0)]


def erlang_optimum(lam: float, mean: float, target: float, attainment: float) -> int:
    c = math.floor(lam * mean) + 1
    while mmc_sojourn_cdf(target, lam, 1 / mean, c) < attainment:
        c += 1
    return c


def independent_pools(specs: list[tuple[float, float, float, float, float]], seed: int,
                      trials: int | None = None) -> dict:
    """One M/M/c queue and its own pool per (arrivals per hour, mean handling h, SLA target h, attainment,
    cost per hour); each head-count a variable from the least stable count up 12; `trials` None: the
    scenario's default budget."""
    queues, pools, variables = {}, {}, {}
    for i, (lam, mean, target, attainment, rate) in enumerate(specs):
        queues[f"q{i}"] = {"volume": {"mean": lam, "per": "hour"},
                           "handling_time": {"mean": f"{mean * 60:g}m", "dist": "exponential"},
                           "skill": f"s{i}", "sla": {"target": f"{target * 60:g}m", "attainment": attainment}}
        pools[f"p{i}"] = {"headcount": 30, "skills": [f"s{i}"], "cost_per_hour": rate}
        low = math.floor(lam * mean) + 1
        variables[f"pools.p{i}.headcount"] = {"low": low, "high": low + 12}
    search = {"replications": 3, "variables": variables, **({"trials": trials} if trials else {})}
    return {"name": "pools", "seed": seed, "horizon": {"start": "2027-01-04", "duration": "1000h", "warmup": "50h"},
            "queues": queues, "pools": pools, "optimize": search}


def six_pools(seed: int) -> dict:
    return independent_pools(SIX, seed, trials=20)


def drawn_pools(rng: random.Random, n: int) -> list[tuple[float, float, float, float, float]]:
    """`n` M/M/c queues drawn at random (load 0.8-12 Erlangs, at most 40 arrivals an hour, targets 0.3-3
    mean handling times, attainment 0.5-0.95), kept when the Erlang-C optimum meets its target by 0.02
    and one server fewer misses it by 0.03: clear enough for 3 replications of 1000 hours."""
    specs: list[tuple[float, float, float, float, float]] = []
    while len(specs) < n:
        load = rng.uniform(0.8, 12)
        mean = rng.choice([m for m in (0.05, 0.1, 0.25, 0.5, 1.0, 2.0) if load / m <= 40])
        lam, target, attainment = load / mean, round(mean * rng.uniform(0.3, 3.0), 4), round(rng.uniform(0.5, 0.95), 3)
        if attainment >= 1 - math.exp(-target / mean) - 0.05:
            continue  # out of reach even with no wait
        c = erlang_optimum(lam, mean, target, attainment)
        if (mmc_sojourn_cdf(target, lam, 1 / mean, c) - attainment >= 0.02
                and attainment - mmc_sojourn_cdf(target, lam, 1 / mean, c - 1) >= 0.03):
            specs.append((lam, mean, target, attainment, rng.choice([8.0, 10.0, 15.0, 22.0, 30.0, 41.0])))
    return specs


@pytest.mark.parametrize("seed", [4, 19])
def test_six_independent_pools_each_at_its_erlang_c_optimum(tmp_path, seed):
    exact = {f"pools.p{i}.headcount": erlang_optimum(*spec[:4]) for i, spec in enumerate(SIX)}
    for i, (lam, mean, target, attainment, _) in enumerate(SIX):  # the margins the test relies on
        c = exact[f"pools.p{i}.headcount"]
        assert mmc_sojourn_cdf(target, lam, 1 / mean, c) - attainment >= 0.02
        assert attainment - mmc_sojourn_cdf(target, lam, 1 / mean, c - 1) >= 0.04
    result = optimize(write_yaml(tmp_path, six_pools(seed)), jobs=2)
    assert result.feasible and result.params == exact
    assert result.search["strategy"] == "structured"
    cert = result.search["certificate"]
    assert cert["local_optimum"] and all(e["status"] in ("misses", FAILS_FRESH) for e in cert["variables"].values())
    assert 0 < result.search["lower_bound"] <= result.objective["cost"]


def test_eight_pools_drawn_at_random_each_at_its_erlang_c_optimum_within_the_default_budget(tmp_path):
    """Numbers the code was not tuned on: eight queues drawn at random, no trial budget given (the default)."""
    specs = drawn_pools(random.Random(201), 8)
    exact = {f"pools.p{i}.headcount": erlang_optimum(*spec[:4]) for i, spec in enumerate(specs)}
    assert all(c <= math.floor(lam * mean) + 13 for c, (lam, mean, *_) in zip(exact.values(), specs))  # in range
    result = optimize(write_yaml(tmp_path, independent_pools(specs, 201)), jobs=2)
    assert result.feasible and result.params == exact


def test_a_batch_the_screen_rejects_whole_comes_back_screened_not_as_budget_spent(tmp_path):
    """Two plans below the offered work, evaluated as one batch, are screened (never simulated) and come
    back as screened outcomes; None would tell the structured search its budget ran out."""
    import optuna

    from optimize.runner import prepare
    from optimize.storage import Heartbeat, StudyLock
    from optimize.trials import Settings, TrialDriver

    data = six_pools(4)
    data["optimize"]["variables"] = {path: {"low": 1, "high": 60} for path in data["optimize"]["variables"]}
    search = prepare(write_yaml(tmp_path, data))
    study = optuna.create_study(directions=["minimize"])
    settings = Settings(search.raw, search.decisions, search.objectives, search.constraints, search.replications,
                        search.trials, search.screen, search.prune, None, search.seed)
    enough = {f"pools.p{i}.headcount": erlang_optimum(*spec[:4]) for i, spec in enumerate(SIX)}
    batch = [dict(enough, **{"pools.p0.headcount": 1}), dict(enough, **{"pools.p1.headcount": 1})]
    with Heartbeat(None, 60.0) as beat, TrialDriver(study, settings, StudyLock(None, "t"), beat, 1, 60.0,
                                                    lambda: None) as driver:
        outcomes = driver.evaluate_plans(batch)
    assert all(o is not None and o.screened and not o.feasible for o in outcomes)
    assert len(study.trials) == 2


def test_the_search_logic_reaches_the_optimum_of_an_exact_oracle_and_the_bracket_saves_steps(tmp_path):
    """The structured search's logic on an exact, noise-free oracle (a plan is feasible when every pool has at
    least its Erlang-C optimum; cost is paid heads): from an infeasible cheap start and a dear start it
    repairs, brackets and descends to the optimum, in fewer evaluations than without the bracket."""
    from optimize.runner import prepare
    from optimize.structured import StructuredSearch
    from optimize.trials import Outcome

    data = six_pools(4)
    data["optimize"]["variables"] = {path: {"low": 1, "high": 60} for path in data["optimize"]["variables"]}
    search = prepare(write_yaml(tmp_path, data))
    exact = {f"pools.p{i}.headcount": erlang_optimum(*spec[:4]) for i, spec in enumerate(SIX)}
    rate = {f"pools.p{i}.headcount": spec[4] for i, spec in enumerate(SIX)}

    def run(bracket: bool) -> tuple[dict, int]:
        seen: list[dict] = []

        def oracle(plans: list[dict], near: Outcome | None = None) -> list[Outcome]:
            seen.extend(p for p in plans if p not in seen)
            return [Outcome(dict(p), seen.index(p), sum(rate[k] * v for k, v in p.items()),
                            {k: float(exact[k] - v) for k, v in p.items()}, False) for p in plans]

        structured = StructuredSearch(search.raw, search.decisions, search.constraints, oracle)
        if not bracket:
            structured.bracket = lambda *args: None  # type: ignore[method-assign]
        cheap = {k: max(1, v - 4) for k, v in exact.items()}
        dear = {k: min(60, v + 14) for k, v in exact.items()}
        dear["pools.p0.headcount"] = exact["pools.p0.headcount"] - 1  # the dear start misses too: repair first
        structured.run([dear, cheap])
        return structured.best.params, len(seen)

    with_bracket, without = run(True), run(False)
    assert with_bracket[0] == exact and without[0] == exact
    assert with_bracket[1] < without[1]


def shared_case(name: str, seed: int, qa: tuple[float, str, str, float], qb: tuple[float, str, str, float],
                costs: tuple[float, float, float]) -> dict:
    """Two exponential queues (arrivals per hour, mean handling, SLA target, attainment), each with a
    dedicated pool (A for qa, B for qb), and a shared pool S holding both skills, at `costs` per hour."""
    def queue(skill: str, spec: tuple[float, str, str, float]) -> dict:
        rate, mean, target, attainment = spec
        return {"volume": {"mean": rate, "per": "hour"}, "handling_time": {"mean": mean, "dist": "exponential"},
                "skill": skill, "sla": {"target": target, "attainment": attainment}}

    return {"name": name, "seed": seed, "horizon": {"start": "2027-01-04", "duration": "1500h", "warmup": "40h"},
            "queues": {"qa": queue("a", qa), "qb": queue("b", qb)},
            "pools": {"A": {"headcount": 3, "skills": ["a"], "cost_per_hour": costs[0]},
                      "B": {"headcount": 3, "skills": ["b"], "cost_per_hour": costs[1]},
                      "S": {"headcount": 1, "skills": ["a", "b"], "cost_per_hour": costs[2]}}}


SHARED = shared_case("shared", 8, (5, "30m", "1h", 0.8), (3, "40m", "80m", 0.8), (10.0, 11.0, 12.0))
RANGES = {"pools.A.headcount": range(0, 7), "pools.B.headcount": range(0, 7), "pools.S.headcount": range(0, 7)}


def with_heads(data: dict, values: dict) -> Any:
    """The scenario `data` with each `pools.P.headcount` of `values` set, validated."""
    plan = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    plan["pools"] = {pid: dict(p) for pid, p in data["pools"].items()}
    for path, value in values.items():
        plan["pools"][path.split(".")[1]]["headcount"] = value
    return validate_data(plan, {}, "enumeration")


def mean_sla(data: dict, values: dict, replications: int) -> dict[str, float]:
    """Mean SLA attainment per queue over replications 0..n-1 (the search's common random numbers)."""
    scenario = with_heads(data, values)
    runs = [run_replication(scenario, k) for k in range(replications)]
    return {q: float(np.nanmean([r.kpis["queues"][q]["sla_attainment"] for r in runs])) for q in scenario.queues}


def crn_optimum(data: dict, ranges: dict[str, range], reps: int) -> tuple[int, ...]:
    """The grid of head-counts, cheapest first, simulated on replications 0..reps-1 until a plan's mean
    attainment meets every target; asserts that every other plan of that cost misses (one answer)."""
    def cost(combo: tuple[int, ...]) -> float:
        return sum(n * data["pools"][path.split(".")[1]]["cost_per_hour"] for n, path in zip(combo, ranges))

    work = sum(q["volume"]["mean"] * float(q["handling_time"]["mean"][:-1]) / 60 for q in data["queues"].values())
    best = None
    for combo in sorted(itertools.product(*ranges.values()), key=lambda c: (cost(c), c)):
        if sum(combo) <= work:  # not even the offered work: unstable
            continue
        sla = mean_sla(data, dict(zip(ranges, combo)), reps)
        if all(sla[q] >= data["queues"][q]["sla"]["attainment"] for q in sla):
            best = combo
            break
    assert best is not None
    for tie in (c for c in itertools.product(*ranges.values()) if cost(c) == cost(best) and c != best):
        sla = mean_sla(data, dict(zip(ranges, tie)), reps)
        assert any(sla[q] < data["queues"][q]["sla"]["attainment"] for q in sla), tie
    return best


def test_a_shared_multi_skill_pool_reaches_the_enumerated_optimum(tmp_path):
    """The 7 x 7 x 7 grid, cheapest first, simulated on replications 0-2 until a plan's mean attainment
    meets both targets: that plan (one of the shared pool's, cheaper than the dedicated teams) is what
    the search returns from a budget well below the grid. Every other plan of that cost misses."""
    reps = 3
    best = crn_optimum(SHARED, RANGES, reps)
    assert best[2] > 0
    data = dict(SHARED, optimize={"trials": 40, "replications": reps,
                                  "variables": {k: {"low": r.start, "high": r.stop - 1} for k, r in RANGES.items()}})
    result = optimize(write_yaml(tmp_path, data), jobs=2)
    trials = result.trials[result.trials["feasible"] & (result.trials["replications"] == reps)]
    cheapest = trials.sort_values(["objective.cost", "number"]).iloc[0]
    assert tuple(int(cheapest[f"param.{k}"]) for k in RANGES) == best
    assert result.params == dict(zip(RANGES, best))


# A shared-pool case drawn at random (session 24, Random(302), second draw): the search's three
# replications put its optimum (3, 2, 2) only 0.009 inside qb's target, so verification's order set it
# aside for a dearer plan with room, (5, 3, 0), which passed first.
DRAWN_SHARED = shared_case("drawn-shared", 411, (5.28, "43m", "126m", 0.8), (4.82, "26m", "64m", 0.73),
                           (8.1, 8.07, 10.71))


def test_a_cheaper_plan_the_search_replications_were_unkind_to_is_verified_after_a_dearer_one_passes(tmp_path):
    """The enumerated optimum on the search's replications meets both targets with room on 40 fresh
    replications (at least 3 standard errors); the plan returned is that optimum, not the dearer plan
    that verification's order checked first."""
    reps = 3
    ranges = {f"pools.{p}.headcount": range(0, 11) for p in "ABS"}
    best = crn_optimum(DRAWN_SHARED, ranges, reps)
    scenario = with_heads(DRAWN_SHARED, dict(zip(ranges, best)))
    fresh = [run_replication(scenario, FRESH + k).kpis["queues"] for k in range(40)]
    for q, queue in DRAWN_SHARED["queues"].items():
        values = np.array([r[q]["sla_attainment"] for r in fresh])
        assert values.mean() - queue["sla"]["attainment"] > 3 * values.std(ddof=1) / math.sqrt(len(values)), q
    data = dict(DRAWN_SHARED, optimize={"trials": 40, "replications": reps,
                                        "variables": {k: {"low": r.start, "high": r.stop - 1} for k, r in ranges.items()}})
    result = optimize(write_yaml(tmp_path, data), jobs=2)
    assert result.params == dict(zip(ranges, best))


def test_plans_the_paired_look_stopped_do_miss_on_every_replication(tmp_path):
    """Each plan the paired look stopped after one replication, re-run on all the search's replications
    (common random numbers), misses the constraint it was stopped for."""
    reps = 3
    data = dict(SHARED, optimize={"trials": 30, "replications": reps,
                                  "variables": {k: {"low": r.start, "high": r.stop - 1} for k, r in RANGES.items()}})
    result = optimize(write_yaml(tmp_path, data), jobs=2)
    paired = result.trials[result.trials["pruned"].str.contains("paired with trial", regex=False)]
    assert len(paired) >= 3 and (paired["replications"] == 1).all()
    for _, row in paired.iterrows():
        name = row["pruned"].split(": ", 1)[1].split(" missed")[0]
        queue = name.split(".")[1]
        plan = {k: int(row[f"param.{k}"]) for k in RANGES}
        mean = mean_sla(SHARED, plan, reps)[queue]
        assert mean < SHARED["queues"][queue]["sla"]["attainment"], (plan, name, mean)


def exact_quality(accuracy: float, sample: float, detection: float, loops: int) -> float:
    """Delivered quality with sampled review: 1 - e[(1 - s) + s R(m)], R(0) = 1, R(m) = (1-d) + d e R(m-1)."""
    e = 1 - accuracy
    r = 1.0
    for _ in range(loops):
        r = (1 - detection) + detection * e * r
    return 1 - e * ((1 - sample) + sample * r)


def qc_case(accuracy: float, detection: float, loops: int, target: float, sample: dict, seed: int) -> dict:
    """One queue of 3-minute items, 20 an hour, labelled and reviewed by one pool; the review sample rate
    (`sample`: its variable's range and step) and the head-count are the search's variables."""
    return {"name": "qc", "seed": seed, "horizon": {"start": "2027-01-04", "duration": "1500h", "warmup": "50h"},
            "queues": {"q": {"volume": {"mean": 20, "per": "hour"}, "handling_time": {"mean": "3m"}, "skill": "l",
                             "sla": {"target": "8h", "attainment": 0.9}, "quality_target": target,
                             "workflow": "checked"}},
            "workflows": {"checked": {"review": {"skill": "r", "handling_time": {"mean": "1m"}, "sample": 0.9,
                                                 "detection": detection},
                                      "rework": {"max_loops": loops}}},
            "pools": {"p": {"headcount": 3, "skills": ["l", "r"], "accuracy": accuracy, "cost_per_hour": 10.0}},
            "optimize": {"trials": 25, "replications": 3,
                         "variables": {"pools.p.headcount": {"low": 1, "high": 8},
                                       "workflows.checked.review.sample": sample}}}


def test_the_qc_sample_rate_is_the_smallest_meeting_the_quality_target(tmp_path):
    """The target is the exact quality at s* = 0.66, half-way between grid points 0.64 and 0.68, so each
    neighbour is 0.002 of quality (3 standard errors of the search's mean) from the target."""
    accuracy, detection, loops, step = 0.88, 0.9, 2, 0.04
    target = exact_quality(accuracy, 0.66, detection, loops)
    # quality is linear in s: q(s) = q(0) + s (q(1) - q(0)); s* is where it reaches the target
    q0, q1 = exact_quality(accuracy, 0.0, detection, loops), exact_quality(accuracy, 1.0, detection, loops)
    exact = (target - q0) / (q1 - q0)
    assert exact == pytest.approx(0.66)
    data = qc_case(accuracy, detection, loops, target, {"low": 0.0, "high": 1.0, "step": step}, 12)
    result = optimize(write_yaml(tmp_path, data), jobs=2)
    rate = result.params["workflows.checked.review.sample"]
    assert result.feasible
    assert exact - step <= rate <= exact + step  # within one step of the exact formula
    assert result.params["pools.p.headcount"] == 2  # 20/h x (3 + ~0.6 x 1) min = 1.2 busy: 2 heads suffice
    cert = result.search["certificate"]["variables"]["workflows.checked.review.sample"]
    assert cert["status"] in ("misses", FAILS_FRESH) and cert["constraint"] == "queues.q.quality"


def test_a_qc_rate_on_the_default_grid_is_not_raised_past_a_cheaper_equal_cost_candidate(tmp_path):
    """No `step`: the rate moves on a 50-point grid (0.02). The smallest grid rate meeting the target sits
    0.0008 of quality inside it, under one replication's SD, so the search's first candidate (one grid
    point lower, inside only on the search's luck) fails verification. Raising that candidate's rate
    costs nothing, yet the next candidate (the next grid point, as cheap and with less QC work than the
    raise) must be verified rather than passed over for the raise, and polish must try the rate's step
    down though it saves no money: the plan is within one step of the exact formula."""
    accuracy, detection, loops = 0.927, 0.73, 3
    target = round(exact_quality(accuracy, 0.464, detection, loops), 4)
    q0, q1 = exact_quality(accuracy, 0.0, detection, loops), exact_quality(accuracy, 1.0, detection, loops)
    exact = (target - q0) / (q1 - q0)
    data = qc_case(accuracy, detection, loops, target, {"low": 0.0, "high": 1.0}, 402)
    result = optimize(write_yaml(tmp_path, data), jobs=2)
    rate = result.params["workflows.checked.review.sample"]
    assert result.feasible and result.params["pools.p.headcount"] == 2
    assert exact <= rate <= exact + 0.02
    cert = result.search["certificate"]["variables"]["workflows.checked.review.sample"]
    assert cert["status"] in ("misses", FAILS_FRESH) and cert["step_down"] == pytest.approx(rate - 0.02)


def test_the_certificate_claims_hold_when_rechecked(tmp_path):
    """Each one-step decrease the certificate says misses a target (on the search's replications, or
    on verification's when polishing tried it) does miss it, by theory and on yet other replications."""
    data = six_pools(4)
    data["optimize"] = dict(data["optimize"], trials=10)
    result = optimize(write_yaml(tmp_path, data), jobs=2)
    for path, entry in result.search["certificate"]["variables"].items():
        assert entry["status"] in ("misses", FAILS_FRESH)
        i = int(path.split(".")[1][1:])
        lam, mean, target, attainment, _ = SIX[i]
        assert mmc_sojourn_cdf(target, lam, 1 / mean, entry["step_down"]) < attainment  # the theory agrees
        down = dict(result.params, **{path: entry["step_down"]})
        plan = dict(data, pools={pid: dict(p, headcount=down[f"pools.{pid}.headcount"])
                                 for pid, p in data["pools"].items()})
        scenario = validate_data({k: v for k, v in plan.items() if k != "optimize"}, {}, "recheck")
        fresh = [run_replication(scenario, 500_000 + k).kpis["queues"][f"q{i}"]["sla_attainment"] for k in range(3)]
        assert np.mean(fresh) < attainment, (path, fresh)


def test_hall_check_finds_the_set_of_pools_short_of_its_own_work():
    """Skills a and b each fit their holders' total hours, but together only pools A and S hold them:
    5 + 4 = 9 hours of work for 4 + 3 = 7 hours (the per-skill check misses it)."""
    work = {"a": 5.0, "b": 4.0, "c": 1.0}
    capacity = {"A": 4.0, "S": 3.0, "C": 10.0}
    speeds = {"A": {"a": 1.0, "b": 1.0}, "S": {"a": 1.0, "b": 1.0}, "C": {"c": 1.0}}
    assert hall_overload(work, capacity, speeds) == (("A", "S"), 9.0, 7.0)
    assert hall_overload({"a": 5.0, "b": 2.0, "c": 1.0}, capacity, speeds) is None
    # a faster pool serves the same work in fewer hours
    assert hall_overload(work, capacity, {"A": {"a": 2.0, "b": 2.0}, "S": {"a": 1.0, "b": 1.0},
                                          "C": {"c": 1.0}}) is None


def test_the_structured_path_is_the_same_whatever_the_job_count(tmp_path):
    """Batches have a fixed width and read the study once, so one and two processes run the same plans
    in the same order, and choose the same plan."""
    data = six_pools(4)
    data["optimize"] = dict(data["optimize"], trials=8)
    one = optimize(write_yaml(tmp_path, data, "one.yaml"), jobs=1)
    two = optimize(write_yaml(tmp_path, data, "two.yaml"), jobs=2)
    structured = 7  # the start and the six one-step decreases of the certificate
    params = [c for c in one.trials.columns if c.startswith("param.")]
    assert one.trials[params].head(structured).equals(two.trials[params].head(structured))
    assert one.params == two.params


def test_a_time_budget_stops_proposing_and_still_verifies(tmp_path):
    data = six_pools(4)
    data["optimize"] = dict(data["optimize"], trials=500)
    result = optimize(write_yaml(tmp_path, data), jobs=2, time_limit=6.0)
    assert 1 <= result.search["trials"] < 500
    assert result.verification is not None and result.verification["replications"] in (6, 24)  # 24: a second look


def test_a_plan_every_candidate_of_which_fails_verification_is_raised_until_verified(tmp_path, monkeypatch):
    """Verification made stricter than the search (one more head than the Erlang-C optimum in every pool):
    every candidate fails, and the most confident is raised one head in each pool missing its target, then
    verified: the result is feasible, the optimum plus one head, and says it was raised."""
    import optimize.runner as runner

    exact = {f"pools.p{i}.headcount": erlang_optimum(*spec[:4]) for i, spec in enumerate(SIX)}
    real = runner.verify

    def strict(raw, params, objectives, constraints, replications, jobs=None, first=FRESH, most=None):
        result = real(raw, params, objectives, constraints, replications, jobs, first)
        short = {f"queues.q{i}.sla_attainment": -0.01 for i in range(len(SIX))
                 if params[f"pools.p{i}.headcount"] <= exact[f"pools.p{i}.headcount"]}
        result.margins = dict(result.margins, **{k: v for k, v in short.items() if k in result.margins})
        result.met = all(m >= 0 for m in result.margins.values())
        return result

    monkeypatch.setattr(runner, "verify", strict)
    data = six_pools(4)
    data["optimize"] = dict(data["optimize"], trials=12)
    result = optimize(write_yaml(tmp_path, data), jobs=2)
    assert result.feasible
    assert result.verification["raised_after_verification"] == 1
    assert result.params == {k: v + 1 for k, v in exact.items()}



def test_a_local_optimum_of_dedicated_teams_gives_way_to_one_pooled_team(tmp_path):
    """An exact oracle with the economy of pooling: queues needing 3 and 2 servers alone need 4 when one
    team serves both (2 and 1 Erlangs). Dedicated teams (3, 2, 0) cost 47; the shared team alone (0, 0, 4)
    costs 44, the optimum by enumeration. Every single step and one-for-one swap from (3, 2, 0) costs more
    or misses, so only the consolidation kick (all heads into the shared pool, then descent) finds it."""
    from optimize.runner import prepare
    from optimize.structured import StructuredSearch
    from optimize.trials import Outcome

    price = {"pools.A.headcount": 9.0, "pools.B.headcount": 10.0, "pools.S.headcount": 11.0}

    def misses(p: dict) -> float:
        a, b, s = p["pools.A.headcount"], p["pools.B.headcount"], p["pools.S.headcount"]
        need = 4 if a == b == 0 else 5  # pooled: one team of 4; otherwise the dedicated needs add up
        return float(max(3 - a - s, 0) + max(2 - b - s, 0) + max(need - a - b - s, 0))

    grid = [dict(zip(price, c)) for c in itertools.product(range(7), repeat=3)]
    best = min((p for p in grid if misses(p) == 0), key=lambda p: sum(price[k] * v for k, v in p.items()))
    assert best == {"pools.A.headcount": 0, "pools.B.headcount": 0, "pools.S.headcount": 4}
    data = dict(SHARED, optimize={"trials": 40, "replications": 3,
                                  "variables": {k: {"low": 0, "high": 6} for k in price}})
    search = prepare(write_yaml(tmp_path, data))
    seen: list[dict] = []

    def oracle(plans: list[dict], near: Outcome | None = None) -> list[Outcome]:
        seen.extend(p for p in plans if p not in seen)
        return [Outcome(dict(p), seen.index(p), sum(price[k] * v for k, v in p.items()),
                        {"miss": misses(p)}, False) for p in plans]

    structured = StructuredSearch(search.raw, search.decisions, search.constraints, oracle)
    structured.run([{"pools.A.headcount": 3, "pools.B.headcount": 2, "pools.S.headcount": 0}])
    assert structured.best.params == best
    assert {"pools.A.headcount": 0, "pools.B.headcount": 0, "pools.S.headcount": 5} in seen  # the consolidation


def test_the_pooled_queue_needs_what_erlang_c_says_for_one_class_and_matches_sampling_for_two():
    """pooled_servers of identical classes equals erlang_servers of their merged stream (exact); a class
    served at its own rate after the mix's M/M/c wait has the sojourn-time distribution a Monte Carlo of
    that wait plus its own exponential service gives (200,000 draws, within 4 standard errors)."""
    from optimize.analytic import erlang_c, erlang_servers, pooled_servers, sojourn_within

    for lam, mean, target, att in [(6.0, 1 / 3, 1.0, 0.8), (40.0, 0.1, 0.25, 0.9), (3.0, 0.5, 2.0, 0.95)]:
        assert pooled_servers([(lam / 2, mean, target, att)] * 2) == erlang_servers(lam, mean, target, att)
    lam, mu, own, c, t = 8.0, 8.0 / 3.0, 2.0, 4, 4 / 3
    rng = np.random.default_rng(3)
    n = 200_000
    waits = np.where(rng.random(n) < erlang_c(c, lam / mu), rng.exponential(1 / (c * mu - lam), n), 0.0)
    share = float(np.mean(waits + rng.exponential(1 / own, n) <= t))
    assert abs(sojourn_within(t, lam, mu, c, own) - share) < 4 * math.sqrt(share * (1 - share) / n)
    assert pooled_servers([(6.0, 1 / 3, 1.0, 0.8), (2.0, 0.5, 4 / 3, 0.85)]) == 4  # 3 and 2 alone


def test_repair_crosses_a_plateau_where_one_or_two_more_heads_change_nothing(tmp_path):
    """Capacity in lumps: a 70:30 weekday/weekend split puts round(0.3 n) heads on the weekend, 2 for 6
    to 8 heads and 3 from 9, and the weekend needs 3. From 6, one and two more heads remove none of the
    miss; repair must not stop there. It takes longer steps, and the search ends at 9, the cheapest
    feasible plan by enumeration."""
    from optimize.runner import prepare
    from optimize.structured import StructuredSearch
    from optimize.trials import Outcome

    path = "pools.S.headcount"

    def misses(heads: int) -> float:
        return 0.1 * max(3 - round(0.3 * heads), 0)

    best = min(h for h in range(0, 17) if misses(h) == 0)
    assert best == 9 and misses(6) == misses(7) == misses(8) > 0
    data = dict(SHARED, optimize={"trials": 40, "replications": 3, "variables": {path: {"low": 0, "high": 16}}})
    search = prepare(write_yaml(tmp_path, data))
    seen: list[dict] = []

    def oracle(plans: list[dict], near: Outcome | None = None) -> list[Outcome]:
        seen.extend(p for p in plans if p not in seen)
        return [Outcome(dict(p), seen.index(p), 12.0 * p[path], {"miss": misses(p[path])}, False) for p in plans]

    structured = StructuredSearch(search.raw, search.decisions, search.constraints, oracle)
    structured.run([{path: 6}])
    assert structured.best is not None and structured.best.params == {path: best}



def test_the_first_feasible_plan_re_aims_its_qc_rate_by_the_quality_it_delivered(tmp_path):
    """The search's logic on an exact oracle: labels from an accurate pool (0.90) and a poor, dearer one
    (0.75) in proportion to their heads, the quality the exact formula at that mix; the heads must cover
    labelling (2 Erlangs) and review (0.5 per unit of sample rate) at 80% occupancy; four other pools
    each need 3 heads of their own. The start reviews everything (no rate reaches the target at the poor
    pool's accuracy), so a descent that lowers the cost-free rate only when every head-count is blocked
    steps every pool down again once it has. Re-aimed by the quality it delivered before the descent,
    the search reaches the optimum found by enumeration after fewer evaluations than without."""
    from optimize.runner import prepare
    from optimize.structured import StructuredSearch
    from optimize.trials import Outcome

    accuracy, detection, loops, target = {"good": 0.90, "poor": 0.75}, 0.9, 1, 0.94
    data = qc_case(0.90, detection, loops, target, {"low": 0.0, "high": 1.0, "step": 0.05}, 3)
    others = [f"f{i}" for i in range(4)]
    data["pools"] = {"good": {"headcount": 3, "skills": ["l", "r"], "accuracy": 0.90, "cost_per_hour": 10.0},
                     "poor": {"headcount": 1, "skills": ["l"], "accuracy": 0.75, "cost_per_hour": 14.0},
                     **{f: {"headcount": 3, "skills": ["o"], "cost_per_hour": 12.0} for f in others}}
    data["optimize"]["variables"] = {"workflows.checked.review.sample": {"low": 0.0, "high": 1.0, "step": 0.05},
                                     "pools.good.headcount": {"low": 0, "high": 12},
                                     "pools.poor.headcount": {"low": 0, "high": 4},
                                     **{f"pools.{f}.headcount": {"low": 0, "high": 12} for f in others}}
    search = prepare(write_yaml(tmp_path, data))
    rate, good, poor = "workflows.checked.review.sample", "pools.good.headcount", "pools.poor.headcount"

    def judged(p: dict) -> tuple[float, dict[str, float]]:
        heads = p[good] + p[poor]
        mix = (p[good] * accuracy["good"] + p[poor] * accuracy["poor"]) / heads if heads else 0.0
        need = math.ceil((2.0 + 0.5 * p[rate]) / 0.8 - 1e-9)
        return 10.0 * p[good] + 14.0 * p[poor] + 12.0 * sum(p[f"pools.{f}.headcount"] for f in others), {
            "queues.q.sla_attainment": float(need - heads) if p[good] else 1.0,  # only `good` reviews
            "queues.q.quality": target - exact_quality(mix, p[rate], detection, loops) if heads else 1.0,
            **{f"pools.{f}.utilization": 3.0 - p[f"pools.{f}.headcount"] for f in others}}

    grid = itertools.product([round(0.05 * k, 2) for k in range(21)], range(13), range(5))
    plans = [dict(zip((rate, good, poor), v), **{f"pools.{f}.headcount": 3 for f in others}) for v in grid]
    optimum = min((p for p in plans if all(v <= 0 for v in judged(p)[1].values())),
                  key=lambda p: (judged(p)[0], p[rate]))
    assert optimum[poor] == 0 and optimum[good] == 3 and optimum[rate] < 1.0

    def run(re_aim: bool) -> tuple[dict, int]:
        seen: list[dict] = []

        def oracle(batch: list[dict], near: Outcome | None = None) -> list[Outcome]:
            seen.extend(p for p in batch if p not in seen)
            return [Outcome(dict(p), seen.index(p), *judged(p), False) for p in batch]

        structured = StructuredSearch(search.raw, search.decisions, search.constraints, oracle)
        if not re_aim:
            structured.re_aimed = lambda plan, out: (plan, out)  # type: ignore[method-assign]
        structured.run([{rate: 1.0, good: 8, poor: 2, **{f"pools.{f}.headcount": 9 for f in others}}])
        return structured.best.params, seen.index(optimum) + 1

    (re_aimed, evaluated), (without, evaluated_without) = run(True), run(False)
    assert re_aimed == optimum and without == optimum
    assert evaluated < evaluated_without  # evaluations until the optimum is first reached: 67 against 83
