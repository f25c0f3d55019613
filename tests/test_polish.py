"""Polishing the verified plan (optimize/polish.py): one-step decreases judged on fresh replications,
the result confirmed on a second fresh set."""

from __future__ import annotations

import itertools
import math

import numpy as np
import optuna
import pytest
from scipy import stats

from tests.test_optimize import _two_pool_search, _two_pool_study

NAME = "queues.q.sla_attainment"


def _fake(met_if, cost, calls: list):
    """A noiseless fake of runner.verify: a plan meets its target iff `met_if(p1, p2)`."""
    from optimize.verify import FRESH, Verification

    def fresh(raw, params, objectives, constraints, replications, jobs=None, first=FRESH, most=None):
        heads = (params["pools.p1.headcount"], params["pools.p2.headcount"])
        calls.append((heads, first))
        met = met_if(*heads)
        return Verification(params, {}, {"cost": cost(*heads)}, met, 0.99 if met else 0.2,
                            {NAME: 0.01 if met else -0.01}, {}, {})
    return fresh


def test_polish_steps_the_verified_plan_down_to_the_cheapest_plan_an_enumeration_finds_and_confirms_it(
        tmp_path, monkeypatch):
    """The study's only plan (10, 10) passes; fresh replications pass every plan with p1 + p2 >= 17 and
    p2 >= 7 (p1 costs 5, p2 12). The search never tried a step down, so polish does, the largest saving
    first: p2 down to 7, then p1 and p2 both fail. The plan equals the cheapest plan of the 16 x 16 grid
    that meets the rule (by enumeration), each step was confirmed on the second fresh set in the order
    taken, and the certificate holds on the fresh evidence."""
    import optimize.runner as runner
    from optimize.verify import CONFIRM, FRESH

    search = _two_pool_search(tmp_path, 12.0, polish=6)
    study = _two_pool_study(NAME, 12.0, [(10, 10, [-0.01] * 3)])
    rule = lambda p1, p2: p1 + p2 >= 17 and p2 >= 7  # noqa: E731
    price = lambda p1, p2: 5.0 * p1 + 12.0 * p2  # noqa: E731
    calls: list = []
    monkeypatch.setattr(runner, "verify", _fake(rule, price, calls))
    result = runner.choose(study, search)

    cheapest = min((p for p in itertools.product(range(5, 21), repeat=2) if rule(*p)), key=lambda p: price(*p))
    assert (result.params["pools.p1.headcount"], result.params["pools.p2.headcount"]) == cheapest == (10, 7)
    assert calls == [((10, 10), FRESH), ((10, 9), FRESH), ((10, 8), FRESH), ((10, 7), FRESH), ((10, 6), FRESH),
                     ((9, 7), FRESH), ((10, 9), CONFIRM), ((10, 8), CONFIRM), ((10, 7), CONFIRM)]
    v = result.verification
    assert (v["polish_checked"], v["polished_steps"], v["polish_unconfirmed"]) == (5, 3, False)
    cert = result.search["certificate"]
    assert cert["local_optimum"]
    assert {e["status"] for e in cert["variables"].values()} == {"fails verification on fresh replications"}


def test_a_polished_plan_that_fails_on_the_second_fresh_set_gives_way_to_the_plan_first_verified(
        tmp_path, monkeypatch):
    """Fresh replications of the first set pass (10, 9), but the second set does not: the plan that
    stands is the one verification first passed, and its certificate does not claim local optimality."""
    import optimize.runner as runner
    from optimize.verify import CONFIRM

    search = _two_pool_search(tmp_path, 12.0, polish=6)
    study = _two_pool_study(NAME, 12.0, [(10, 10, [-0.01] * 3)])
    calls: list = []
    first_set = _fake(lambda p1, p2: p1 + p2 >= 19, lambda p1, p2: 5.0 * p1 + 12.0 * p2, calls)

    def fresh(raw, params, objectives, constraints, replications, jobs=None, first=None, most=None):
        v = first_set(raw, params, objectives, constraints, replications, jobs, first)
        if first == CONFIRM:
            v.met, v.margins = False, {NAME: -0.002}
        return v

    monkeypatch.setattr(runner, "verify", fresh)
    result = runner.choose(study, search)
    assert result.params == {"pools.p1.headcount": 10, "pools.p2.headcount": 10}
    assert result.verification["polish_unconfirmed"] and result.verification["polished_steps"] == 0
    assert not result.search["certificate"]["local_optimum"]


def test_the_steps_are_confirmed_in_the_order_taken_and_the_last_confirmed_plan_stands(tmp_path, monkeypatch):
    """The first set passes p2 down to 7 (three steps); the second set passes p2 >= 8 only. Confirmed in
    the order taken (a fixed sequence), (10, 9) and (10, 8) pass and (10, 7) fails: (10, 8) stands, two
    steps, one unconfirmed. Confirming the cheapest alone would have thrown away both good steps."""
    import optimize.runner as runner
    from optimize.verify import CONFIRM

    search = _two_pool_search(tmp_path, 12.0, polish=6)
    study = _two_pool_study(NAME, 12.0, [(10, 10, [-0.01] * 3)])
    calls: list = []
    first_set = _fake(lambda p1, p2: p1 + p2 >= 17 and p2 >= 7, lambda p1, p2: 5.0 * p1 + 12.0 * p2, calls)

    def fresh(raw, params, objectives, constraints, replications, jobs=None, first=None, most=None):
        v = first_set(raw, params, objectives, constraints, replications, jobs, first)
        if first == CONFIRM and params["pools.p2.headcount"] < 8:
            v.met, v.confidence, v.margins = False, 0.9, {NAME: -0.001}
        return v

    monkeypatch.setattr(runner, "verify", fresh)
    result = runner.choose(study, search)
    assert [heads for heads, first in calls if first == CONFIRM] == [(10, 9), (10, 8), (10, 7)]
    assert result.params == {"pools.p1.headcount": 10, "pools.p2.headcount": 8}
    v = result.verification
    assert (v["polished_steps"], v["polish_unconfirmed"], v["polish_unconfirmed_steps"]) == (2, True, 1)
    p2 = "pools.p2.headcount"  # the summary's trace: every step judged, in order, and how the second set saw it
    assert [(t["variable"], t["from"], t["to"], t["kept"], t.get("confirmed")) for t in v["polish_tried"]] == [
        (p2, 10, 9, True, True), (p2, 9, 8, True, True), (p2, 8, 7, True, False),
        (p2, 7, 6, False, None), ("pools.p1.headcount", 10, 9, False, None)]
    from optimize.output import search_lines
    lines = search_lines(result)
    assert "  pools.p2.headcount 8 -> 7: kept (99.0% on the first fresh set), failed on the second" in lines
    assert "  pools.p2.headcount 7 -> 6: not kept (20.0% on the first fresh set)" in lines


def test_polish_skips_what_the_study_saw_miss_for_sure_and_keeps_to_its_budget(tmp_path, monkeypatch):
    """The study saw (10, 9) miss on every replication (certain): polish does not verify it again, and
    with a budget of 1 it verifies only the next step-down (9, 10), which fails: no confirmation run."""
    import optimize.runner as runner

    search = _two_pool_search(tmp_path, 12.0, polish=1)
    study = _two_pool_study(NAME, 12.0, [(10, 10, [-0.01, -0.011, -0.009]), (10, 9, [0.02, 0.021, 0.019])])
    calls: list = []
    monkeypatch.setattr(runner, "verify", _fake(lambda p1, p2: p1 + p2 >= 20, lambda p1, p2: 5.0 * p1 + 12.0 * p2,
                                                calls))
    result = runner.choose(study, search)
    assert [heads for heads, _ in calls] == [(10, 10), (9, 10)]
    assert result.verification["polish_checked"] == 1 and result.verification["polished_steps"] == 0


def test_the_second_fresh_set_keeps_polishing_within_verifications_95_percent_rule():
    """Monte Carlo of the claim, independent of the code's statistics: a plan whose 20 one-step decreases
    each truly miss by a little (mean slack 0.05 of a replication SD below target, 6 replications) is
    polished 1000 times, every decrease judged by the one-sided 95% t rule (and its t confidence) on
    draws of its own. Keeping what passes the first set would stand a truly infeasible plan far more
    often than 5% (twenty chances); confirmed on a second set, at most about 5%."""
    from optimize.polish import polish
    from optimize.search_space import Decision
    from optimize.verify import Verification

    rng = np.random.default_rng(11)
    n, t = 6, stats.t.ppf(0.95, 5)
    decisions = [Decision(f"pools.p{i}.headcount", 0, 20, None, None) for i in range(20)]
    top = {d.path: 10 for d in decisions}
    price = lambda plan: float(sum(plan.values()))  # noqa: E731
    study = optuna.create_study()

    def judge(plan: dict, first: int) -> Verification:
        mean = 1.0 if plan == top else -0.05  # true slack in replication SDs: every decrease misses
        draws = mean + rng.normal(0.0, 1.0, n)
        se = draws.std(ddof=1) / math.sqrt(n)
        margin = float(draws.mean() - t * se)
        return Verification(plan, {}, {"cost": price(plan)}, margin >= 0, float(stats.t.cdf(draws.mean() / se, n - 1)),
                            {NAME: margin}, {}, {})

    kept_on_first, standing = 0, 0
    runs = 1000
    for _ in range(runs):
        start = judge(top, 0)
        start.met = True
        out = polish(decisions, start, study, {}, {}, {}, 20, price, judge)
        kept_on_first += out.confirmation is not None
        standing += out.verification.params != top
    assert kept_on_first / runs > 0.1
    assert standing / runs <= 0.05


def test_a_step_less_sure_than_the_plan_verified_or_99_percent_waits_and_is_confirmed_last():
    """The verified plan passed with 97% confidence. A step that passes at 96.8% is kept at once (nearly
    as sure); the steps that pass at 96% and 96.2% wait. When no sure step is left they are taken, the
    larger saving first, on the verification already run, and each is confirmed after the sure steps;
    p1's, whose plan moved (p0 stepped twice), is judged again from the plan that stands although the
    budget of 4 is spent (once: it passes at 96.1%, and p1 steps no further).
    From a plan verified at 99.9%, a step at 98.5% waits behind the other variable's at 99.5%; when the
    second set fails the unsure step, only that step is lost."""
    from optimize.polish import polish
    from optimize.search_space import Decision
    from optimize.verify import CONFIRM, Verification

    decisions = [Decision(f"pools.p{i}.headcount", 0, 20, None, None) for i in range(2)]
    top = {d.path: 10 for d in decisions}
    price = lambda plan: 2.0 * plan["pools.p0.headcount"] + plan["pools.p1.headcount"]  # noqa: E731
    sure = {(9, 10): 0.968, (8, 10): 0.96, (9, 9): 0.962, (8, 9): 0.961}
    confirm: dict = {}
    calls = []

    def judge(plan: dict, first: int) -> Verification:
        heads = (plan["pools.p0.headcount"], plan["pools.p1.headcount"])
        calls.append((heads, first))
        confidence = confirm.get(heads, 0.97) if first == CONFIRM else sure.get(heads, 0.5)
        return Verification(plan, {}, {"cost": price(plan)}, confidence >= 0.95, confidence, {NAME: 0.0}, {}, {})

    start = Verification(top, {}, {"cost": price(top)}, True, 0.97, {NAME: 0.0}, {}, {})
    out = polish(decisions, start, optuna.create_study(), {}, {}, {}, 4, price, judge)
    assert [h for h, first in calls if first != CONFIRM] == [(9, 10), (8, 10), (9, 9), (7, 10), (8, 9)]
    assert [h for h, first in calls if first == CONFIRM] == [(9, 10), (9, 9), (8, 9)]  # p1 96.1% before p0 96%
    assert [(t["to"], t["kept"]) for t in out.tried] == [(9, True), (8, False), (9, False), (8, True), (7, False),
                                                         (9, True)]
    assert out.steps == 3 and out.verification.params == {"pools.p0.headcount": 8, "pools.p1.headcount": 9}

    start.confidence, calls[:] = 0.999, []
    sure.clear()
    sure.update({(9, 10): 0.985, (10, 9): 0.995, (9, 9): 0.98})
    confirm[(9, 9)] = 0.6
    out = polish(decisions, start, optuna.create_study(), {}, {}, {}, 4, price, judge)
    assert [h for h, first in calls if first != CONFIRM] == [(9, 10), (10, 9), (10, 8), (9, 9)]
    assert [h for h, first in calls if first == CONFIRM] == [(10, 9), (9, 9)]  # the sure step first
    assert (out.steps, out.unconfirmed) == (1, 1)
    assert out.verification.params == {"pools.p0.headcount": 10, "pools.p1.headcount": 9}


def test_one_variables_step_at_the_edge_failing_the_second_set_never_costs_another_variables_backed_steps():
    """The first set passes p1 down to 8 and p2 down to 7 (p1 taken first: it saves more). The second set
    fails every plan with p1 < 9. Confirmed in the order taken, (8, 10) would fail second and end the
    sequence, losing p2's three steps. The steps backed by a further step of their variable come first,
    then the edges, most sure first (p2's 7 at 99.95% before p1's 8 at 99.5%): (9, 7) stands, four
    steps, and only p1's edge step is lost."""
    from optimize.polish import polish
    from optimize.search_space import Decision
    from optimize.verify import CONFIRM, Verification

    decisions = [Decision(f"pools.p{i}.headcount", 0, 20, None, None) for i in (1, 2)]
    top = {d.path: 10 for d in decisions}
    price = lambda plan: 5.0 * plan["pools.p1.headcount"] + plan["pools.p2.headcount"]  # noqa: E731
    calls = []

    def judge(plan: dict, first: int) -> Verification:
        heads = (plan["pools.p1.headcount"], plan["pools.p2.headcount"])
        calls.append((heads, first))
        if first == CONFIRM:
            confidence = 0.999 if heads[0] >= 9 else 0.6
        else:
            confidence = 0.0 if heads[0] < 8 or heads[1] < 7 else 0.995 if heads == (8, 10) else 0.9995
        return Verification(plan, {}, {"cost": price(plan)}, confidence >= 0.95, confidence, {NAME: 0.0}, {}, {})

    start = Verification(top, {}, {"cost": price(top)}, True, 0.9999, {NAME: 0.0}, {}, {})
    out = polish(decisions, start, optuna.create_study(), {}, {}, {}, 7, price, judge)
    assert [h for h, first in calls if first != CONFIRM] == [(9, 10), (8, 10), (7, 10), (8, 9), (8, 8), (8, 7),
                                                             (8, 6)]
    assert [h for h, first in calls if first == CONFIRM] == [(9, 10), (9, 9), (9, 8), (9, 7), (8, 7)]
    assert (out.steps, out.unconfirmed) == (4, 1)
    assert out.verification.params == {"pools.p1.headcount": 9, "pools.p2.headcount": 7}
    assert [(t["variable"][6:8], t["to"], t.get("confirmed")) for t in out.tried if t["kept"]] == [
        ("p1", 9, True), ("p1", 8, False), ("p2", 9, True), ("p2", 8, True), ("p2", 7, True)]


def test_a_step_down_that_fails_only_on_the_edge_is_reported_with_the_replications_that_would_decide_it(
        tmp_path, monkeypatch):
    """Fresh replications fail (10, 6) on its bound with every mean inside (verify.settle names 70); p1's
    step fails outright. The summary's polish trace and certificate carry the 70, and the terminal says
    what the undecided step would save (a head of p2 at 12 an hour over the paid hours: 10,800) and which
    verify_max would decide it."""
    import optimize.runner as runner
    from optimize.output import search_lines

    search = _two_pool_search(tmp_path, 12.0, polish=6)
    study = _two_pool_study(NAME, 12.0, [(10, 10, [-0.01] * 3)])
    first_set = _fake(lambda p1, p2: p1 + p2 >= 17 and p2 >= 7, lambda p1, p2: 5.0 * p1 + 12.0 * p2, [])

    def fresh(raw, params, objectives, constraints, replications, jobs=None, first=None, most=None):
        v = first_set(raw, params, objectives, constraints, replications, jobs, first)
        if params["pools.p2.headcount"] == 6:
            v.needed = 70
        return v

    monkeypatch.setattr(runner, "verify", fresh)
    result = runner.choose(study, search)
    edge = [t for t in result.verification["polish_tried"] if t.get("replications_needed")]
    assert [(t["variable"], t["from"], t["to"], t["saving"]) for t in edge] == [("pools.p2.headcount", 7, 6, 10_800.0)]
    assert result.search["certificate"]["variables"]["pools.p2.headcount"]["replications_needed"] == 70
    assert "replications_needed" not in result.search["certificate"]["variables"]["pools.p1.headcount"]
    lines = search_lines(result)
    assert result.verification["undecided"] == edge
    assert ("  pools.p2.headcount 7 -> 6 would save 10,800; about 70 fresh replications would decide it "
            "(--set optimize.verify_max=70, slower)") in lines


def test_exchanges_carry_the_plan_to_the_cheapest_plan_an_enumeration_finds_when_no_single_step_down_passes(
        tmp_path, monkeypatch):
    """Both pools serve one queue and every head adds the same 0.01 of attainment (fresh margins are
    0.01 (p1 + p2 - 20) + 0.005, met at p1 + p2 >= 20), but p1 costs 5 an hour and p2 12. From the
    verified (10, 10) no single step down passes; the study measured one p1 head's effect. Each exchange
    steps p2 down and raises p1 by the one head that covers what the step missed: (11, 9), (12, 8), ...
    down to p2's floor, (15, 5), the cheapest plan of the 16 x 16 grid that meets the rule (by
    enumeration). Each exchange is confirmed on the second fresh set, in the order taken."""
    import optimize.runner as runner
    from optimize.output import search_lines
    from optimize.verify import CONFIRM, Verification

    search = _two_pool_search(tmp_path, 12.0, polish=12, exchanges=6)
    levels = [(p1, p2, [v, v + 0.002, v - 0.002]) for p1, p2 in [(10, 10), (11, 10), (10, 11)]
              for v in [0.01 * (20 - p1 - p2) - 0.005]]
    study = _two_pool_study(NAME, 12.0, levels)
    margin = lambda p1, p2: 0.01 * (p1 + p2 - 20) + 0.005  # noqa: E731
    price = lambda p1, p2: 5.0 * p1 + 12.0 * p2  # noqa: E731
    calls: list = []

    def fresh(raw, params, objectives, constraints, replications, jobs=None, first=None, most=None):
        heads = (params["pools.p1.headcount"], params["pools.p2.headcount"])
        calls.append((heads, first))
        met = margin(*heads) >= 0
        return Verification(params, {}, {"cost": price(*heads)}, met, 0.999 if met else 0.2,
                            {NAME: margin(*heads)}, {}, {})

    monkeypatch.setattr(runner, "verify", fresh)
    result = runner.choose(study, search)
    cheapest = min((p for p in itertools.product(range(5, 21), repeat=2) if margin(*p) >= 0), key=lambda p: price(*p))
    assert (result.params["pools.p1.headcount"], result.params["pools.p2.headcount"]) == cheapest == (15, 5)
    assert [heads for heads, first in calls if first == CONFIRM] == [(11, 9), (12, 8), (13, 7), (14, 6), (15, 5)]
    exchanges = [t for t in result.verification["polish_tried"] if t.get("exchange")]
    assert [(t["from"], t["to"], t["exchange"], t["kept"]) for t in exchanges][:2] == [
        (10, 9, {"pools.p1.headcount": [10, 11]}, True), (9, 8, {"pools.p1.headcount": [11, 12]}, True)]
    assert result.verification["polished_steps"] == 5
    assert ("  pools.p2.headcount 10 -> 9, pools.p1.headcount 10 -> 11 (an exchange): kept (99.9% on the first "
            "fresh set), confirmed on the second") in search_lines(result)


def test_an_exchange_that_saves_nothing_is_never_verified():
    """p1 costs 12 a head and adds 0.01 of attainment; p2 costs 5 and adds 0.002 (fresh margins 0.01 (p1 -
    10) + 0.002 (p2 - 10) + 0.001). From (10, 10) both steps down fail. Covering p2's step takes a p1 head
    (12 > 5), and p1's takes five p2 heads (25 > 12): no exchange saves money, so none is verified."""
    from optimize.polish import polish
    from optimize.search_space import Decision
    from optimize.trials import Outcome, plan_key
    from optimize.verify import Verification

    decisions = [Decision(f"pools.p{i}.headcount", 0, 20, None, None) for i in (1, 2)]
    top = {d.path: 10 for d in decisions}
    price = lambda plan: 12.0 * plan["pools.p1.headcount"] + 5.0 * plan["pools.p2.headcount"]  # noqa: E731
    margin = lambda plan: 0.01 * (plan["pools.p1.headcount"] - 10) + 0.002 * (plan["pools.p2.headcount"] - 10) + 0.001  # noqa: E731,E501
    studied = {}
    for p1, p2 in [(10, 10), (11, 10), (10, 11)]:
        plan = {"pools.p1.headcount": p1, "pools.p2.headcount": p2}
        v = -margin(plan)
        studied[plan_key(plan)] = Outcome(plan, 0, price(plan), {NAME: v}, False,
                                          by_replication={NAME: [v, v + 0.002, v - 0.002]})
    calls = []

    def judge(plan: dict, first: int) -> Verification:
        calls.append(plan)
        m = margin(plan)
        return Verification(plan, {}, {"cost": price(plan)}, m >= 0, 0.999 if m >= 0 else 0.2, {NAME: m}, {}, {})

    start = judge(top, 0)
    out = polish(decisions, start, optuna.create_study(), studied, {}, {}, 10, price, judge, exchanges=4)
    assert [(c["pools.p1.headcount"], c["pools.p2.headcount"]) for c in calls[1:]] == [(9, 10), (10, 9)]
    assert out.steps == 0 and not any(t.get("exchange") for t in out.tried)


def test_exchanges_read_the_raises_effect_off_the_fresh_step_downs_when_the_study_never_stepped_there():
    """The study holds no neighbour of the verified plan, so only fresh replications measure what a head
    buys: p1's failed step down (paired with the plan on the same replications) shows 0.01 of
    attainment a head. The exchanges then run as with the study's effects, to (15, 5), the cheapest plan
    of the grid that meets the rule (by enumeration), and each is confirmed on the second fresh set."""
    from optimize.polish import polish
    from optimize.search_space import Decision
    from optimize.verify import CONFIRM, Verification

    decisions = [Decision(f"pools.p{i}.headcount", 5, 20, None, None) for i in (1, 2)]
    heads = lambda plan: (plan["pools.p1.headcount"], plan["pools.p2.headcount"])  # noqa: E731
    price = lambda plan: 5.0 * plan["pools.p1.headcount"] + 12.0 * plan["pools.p2.headcount"]  # noqa: E731
    margin = lambda p1, p2: 0.01 * (p1 + p2 - 20) + 0.005  # noqa: E731
    noise = np.random.default_rng(3).normal(0.0, 0.004, 24)  # common random numbers: the same in every plan
    calls = []

    def judge(plan: dict, first: int) -> Verification:
        calls.append((heads(plan), first))
        m = margin(*heads(plan))
        return Verification(plan, {}, {"cost": price(plan)}, m >= 0, 0.999 if m >= 0 else 0.2, {NAME: m}, {}, {},
                            replications=24, violations={NAME: list(-m + noise)})

    start = judge({"pools.p1.headcount": 10, "pools.p2.headcount": 10}, 0)
    out = polish(decisions, start, optuna.create_study(), {}, {}, {}, 12, price, judge, exchanges=6)
    cheapest = min((p for p in itertools.product(range(5, 21), repeat=2) if margin(*p) >= 0),
                   key=lambda p: price(dict(zip(("pools.p1.headcount", "pools.p2.headcount"), p))))
    assert heads(out.verification.params) == cheapest == (15, 5)
    assert [h for h, first in calls if first == CONFIRM] == [(11, 9), (12, 8), (13, 7), (14, 6), (15, 5)]


def test_an_exchange_covers_a_step_that_missed_from_an_earlier_plan_and_runs_on_its_own_budget():
    """Constraint A: 0.004 (p1 - 10) + 0.01 (p2 - 10) + 0.0015 (p3 - 5) + 0.001 >= 0; B: p3 >= 5 (heads cost
    3, 12 and 8). From (10, 10, 10) p2's step down misses A by 0.0015; p3 then steps down to its floor,
    which takes 0.0075 more of A, and only there does p1's step miss. p2's miss was from an earlier plan:
    from (10, 10, 5) it is expected to miss by 0.009 (its own miss moved by the plan's fall in margin, on
    the same replications), which takes three p1 heads, not one. Exchanges carry on to (20, 6, 5), the
    cheapest plan of the grid (by enumeration). With the single steps' budget spent on the first seven,
    the first exchange still runs, on its own budget."""
    from optimize.polish import polish
    from optimize.search_space import Decision
    from optimize.verify import CONFIRM, Verification

    names = ("pools.p1.headcount", "pools.p2.headcount", "pools.p3.headcount")
    decisions = [Decision(name, 5, 20, None, None) for name in names]
    heads = lambda plan: tuple(plan[name] for name in names)  # noqa: E731
    price = lambda plan: 3.0 * plan[names[0]] + 12.0 * plan[names[1]] + 8.0 * plan[names[2]]  # noqa: E731
    margins = lambda p1, p2, p3: {"A": 0.004 * (p1 - 10) + 0.01 * (p2 - 10) + 0.0015 * (p3 - 5) + 0.001,  # noqa: E731
                                  "B": 0.01 * (p3 - 5) + 0.005}
    meets = lambda plan: min(margins(*plan).values()) >= -1e-12  # noqa: E731
    noise = np.random.default_rng(5).normal(0.0, 0.004, 24)  # common random numbers: the same in every plan

    def run(tries: int) -> tuple[tuple[int, ...], list]:
        calls = []

        def judge(plan: dict, first: int) -> Verification:
            calls.append((heads(plan), first))
            m, met = margins(*heads(plan)), meets(heads(plan))
            return Verification(plan, {}, {"cost": price(plan)}, met, 0.999 if met else 0.2, m, {}, {},
                                replications=24, violations={n: list(-v + noise) for n, v in m.items()})

        start = judge(dict(zip(names, (10, 10, 10))), 0)
        out = polish(decisions, start, optuna.create_study(), {}, {}, {}, tries, price, judge, exchanges=8)
        return heads(out.verification.params), calls

    cheapest = min(filter(meets, itertools.product(range(5, 21), repeat=3)), key=lambda p: price(dict(zip(names, p))))
    plan, calls = run(tries=30)
    assert plan == cheapest == (20, 6, 5)
    assert [h for h, first in calls if first == CONFIRM][-1] == (20, 6, 5)
    plan, calls = run(tries=7)
    assert [h for h, first in calls[1:9]] == [(10, 9, 10), (10, 10, 9), (10, 10, 8), (10, 10, 7), (10, 10, 6),
                                              (10, 10, 5), (9, 10, 5), (13, 9, 5)]
    assert plan == (13, 9, 5)


def test_past_the_time_limit_polish_judges_no_new_step_and_still_confirms_the_steps_it_kept(tmp_path, monkeypatch):
    """The first test's case, with a clock that ticks once per fresh verification and a deadline at the
    third tick: the candidate (10, 10) and two steps, (10, 9) and (10, 8), are judged; (10, 7), which
    passes without a deadline, is never tried; both kept steps are confirmed on the second set, so
    (10, 8) stands, and the summary and the terminal say polish stopped for time."""
    import optimize.polish as polishing
    import optimize.runner as runner
    from optimize.output import search_lines
    from optimize.verify import CONFIRM, FRESH

    search = _two_pool_search(tmp_path, 12.0, polish=6)
    study = _two_pool_study(NAME, 12.0, [(10, 10, [-0.01] * 3)])
    calls: list = []
    judged = _fake(lambda p1, p2: p1 + p2 >= 17 and p2 >= 7, lambda p1, p2: 5.0 * p1 + 12.0 * p2, calls)
    monkeypatch.setattr(runner, "verify", judged)
    monkeypatch.setattr(polishing, "monotonic", lambda: float(sum(1 for _, first in calls if first == FRESH)))
    result = runner.choose(study, search, deadline=3.0)

    assert calls == [((10, 10), FRESH), ((10, 9), FRESH), ((10, 8), FRESH), ((10, 9), CONFIRM), ((10, 8), CONFIRM)]
    assert result.params == {"pools.p1.headcount": 10, "pools.p2.headcount": 8}
    v = result.verification
    assert (v["polished_steps"], v["polish_out_of_time"]) == (2, True)
    assert any("stopped at the time limit" in line for line in search_lines(result))
    calls.clear()
    untimed = runner.choose(_two_pool_study(NAME, 12.0, [(10, 10, [-0.01] * 3)]), search, deadline=None)
    assert untimed.params["pools.p2.headcount"] == 7 and not untimed.verification["polish_out_of_time"]


def test_a_step_that_saves_nothing_but_qc_work_comes_after_every_saving_and_is_confirmed_last():
    """A QC rate costs nothing when review time is not paid apart, yet the plan with the least QC work is
    preferred. Polish tries its step down only once no money-saving step is left, and confirms it after
    them: when the second set fails the QC step (an unlucky draw), the head-count step stays."""
    from optimize.polish import polish
    from optimize.search_space import Decision
    from optimize.verify import CONFIRM, Verification

    heads, rate = "pools.p.headcount", "workflows.w.review.sample"
    decisions = [Decision(heads, 0, 20, None, None), Decision(rate, 0.0, 1.0, 0.1, None)]
    price = lambda plan: 10.0 * plan[heads]  # noqa: E731
    passes = lambda plan: plan[heads] >= 8 and plan[rate] >= 0.45  # noqa: E731
    calls = []

    def judge(plan: dict, first: int) -> Verification:
        calls.append(((plan[heads], round(plan[rate], 1)), first))
        met = passes(plan) and not (first == CONFIRM and plan[rate] < 0.55)
        confidence = 0.999 if met else 0.1
        return Verification(plan, {}, {"cost": price(plan)}, met, confidence, {NAME: 0.0 if met else -0.01}, {}, {})

    top = {heads: 10, rate: 0.7}
    start = Verification(top, {}, {"cost": price(top)}, True, 0.999, {NAME: 0.0}, {}, {})
    out = polish(decisions, start, optuna.create_study(), {}, {}, {}, 10, price, judge)
    first_set = [h for h, first in calls if first != CONFIRM]
    assert first_set == [(9, 0.7), (8, 0.7), (7, 0.7), (8, 0.6), (8, 0.5), (8, 0.4)]  # every saving first
    assert [t["saving"] for t in out.tried] == [10.0, 10.0, 10.0, 0.0, 0.0, 0.0]
    assert [h for h, first in calls if first == CONFIRM] == [(9, 0.7), (8, 0.7), (8, 0.6), (8, 0.5)]
    assert out.verification.params == {heads: 8, rate: pytest.approx(0.6)} and out.steps == 3


def test_a_roster_head_whose_step_down_missed_moves_to_the_pattern_within_its_hours_instead(tmp_path):
    """08:00 patterns on weekdays, weekends or daily; a fake verification under which a plan meets its
    target while weekdays keep 4 heads and weekends 3. From 4 daily heads both kinds of step fail: taking a
    daily head off leaves weekdays short, and no other pattern is staffed to step down or to measure a
    raise by, so single steps and exchanges stop there. Moving the head to the weekday pattern (within its
    hours) instead passes, and polish ends at the cheapest plan an enumeration finds (and confirms it)."""
    from optimize.polish import polish
    from optimize.runner import prepare
    from optimize.structured import StructuredSearch
    from optimize.verify import CONFIRM, Verification
    from tests.helpers import write_yaml
    from tests.test_rosters import THREE_BLOCKS

    roster = {"starts": ["08:00"], "lengths": ["8h"], "days": ["Mon-Fri", "Sat-Sun", "daily"], "max_heads": 12}
    search = prepare(write_yaml(tmp_path, dict(THREE_BLOCKS, optimize={"rosters": {"p": roster}})))
    weekdays, weekends, daily = (d.path for d in search.decisions)
    priced = StructuredSearch(search.raw, search.decisions, search.constraints, lambda plans, near: [])
    calls: list = []

    def judge(plan: dict, first: int) -> Verification:
        calls.append((dict(plan), first))
        m = min(plan[weekdays] + plan[daily] - 4, plan[weekends] + plan[daily] - 3) + 0.5
        return Verification(plan, {}, {"cost": priced.estimated_cost(plan)}, m >= 0, 0.999 if m >= 0 else 0.2,
                            {NAME: m / 100}, {}, {})

    start = judge({weekdays: 0, weekends: 0, daily: 4}, 0)
    without = polish(search.decisions, start, optuna.create_study(), {}, {}, {}, 10, priced.estimated_cost, judge,
                     exchanges=4)
    out = polish(search.decisions, start, optuna.create_study(), {}, {}, {}, 10, priced.estimated_cost, judge,
                 exchanges=4, transfers=priced.transfers)
    cheapest = min(priced.estimated_cost({weekdays: m, weekends: w, daily: d})
                   for m, w, d in itertools.product(range(13), repeat=3) if m + d >= 4 and w + d >= 3)
    assert without.verification.params == start.params
    assert priced.estimated_cost(out.verification.params) == pytest.approx(cheapest)
    assert cheapest < priced.estimated_cost(start.params)
    assert out.verification.params == {weekdays: 1, weekends: 0, daily: 3}
    assert (out.verification.params, CONFIRM) in calls
    assert [t["exchange"] for t in out.tried if t.get("exchange") and t["kept"]] == [{weekdays: [0, 1]}]
