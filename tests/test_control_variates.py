"""Control variates in verification (optimize/controls.py): a congestion KPI regressed on the offered
work, whose mean is known exactly. Checked by Monte Carlo against the error rate the two looks claim
(at most 5% for a plan on its target, with or without correlation) and the power the control adds; the
control's expectation against a hand calculation and against simulated means; and on a real M/M/c
queue at 95% load against the exact Erlang-C attainment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optimize.constraints import Constraint
from optimize.controls import components, control_values, controlled_queues, expected_offered
from optimize.verify import bounds, looks, verify
from simulator.model.engine import run_replication
from simulator.scenario.loader import validate_data
from tests.theory import mmc_sojourn_cdf

AT_LEAST = Constraint("x", "x", ">=", 0.0)


def pass_rate(mean: float, rho: float, runs: int, seed: int, control: bool = True) -> float:
    """Share of `runs` plans passed by the two looks (6, then waves up to 24): per replication the KPI is
    mean + rho x + sqrt(1 - rho^2) e, with x the control (mean exactly 0) and e independent, both N(0, 1)."""
    rng = np.random.default_rng(seed)
    passed = 0
    for _ in range(runs):
        x, e = rng.normal(size=24), rng.normal(size=24)
        y = mean + rho * x + math.sqrt(1 - rho * rho) * e
        given = (lambda k: {"x": x[:k]}) if control else (lambda k: {})
        n, level = looks(lambda k: {"x": y[:k]}, [AT_LEAST], 6, 24, given)
        passed += bounds({"x": y[:n]}, [AT_LEAST], level, given(n))[0]["x"] >= 0
    return passed / runs


@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_a_plan_on_its_target_passes_at_most_5_percent_with_the_control(rho):
    rate = pass_rate(0.0, rho, 20_000, 7)
    assert rate < 0.05 + 4 * (0.05 * 0.95 / 20_000) ** 0.5


def test_the_control_resolves_a_margin_the_plain_bound_cannot():
    """0.4 SD of one replication inside the target: the plain second look of 24 needs 0.42 SD, a coin
    flip; with a control correlated 0.9 the residual SD is 0.44 of it, so the bound needs about 0.19."""
    plain, controlled = pass_rate(0.4, 0.9, 4_000, 8, control=False), pass_rate(0.4, 0.9, 4_000, 9)
    assert plain < 0.6
    assert controlled > 0.9


def test_the_expected_arrivals_in_a_window_match_the_hand_calculation_and_the_simulation():
    """Constant 6 per hour over a fractional window [10.5, 100.25) plus no backlog after 0: 6 x 89.75 items,
    each 20 minutes of work. With a daily profile, a surge and day-to-day forecast error the expectation
    is checked against 60 replications' offered work."""
    data = {"name": "w", "seed": 5, "horizon": {"start": "2027-01-04", "duration": "100.25h", "warmup": "10.5h"},
            "queues": {"q": {"volume": {"mean": 6, "per": "hour"}, "initial_backlog": 40, "skill": "s",
                             "handling_time": {"mean": "20m", "dist": "exponential"}, "sla": {"target": "4h"}}},
            "pools": {"p": {"headcount": 4, "skills": ["s"]}}}
    assert expected_offered(validate_data(data, {}, "w"))["q"] == pytest.approx(6 * 89.75 / 3)
    data["horizon"]["warmup"] = 0
    assert expected_offered(validate_data(data, {}, "w"))["q"] == pytest.approx((6 * 100.25 + 40) / 3)
    data["queues"]["q"].update(hourly_profile=[0.2] * 8 + [2.0] * 8 + [0.8] * 8, volume_cv=0.3,
                               surges=[{"start": "2027-01-05T06:00", "duration": "20h", "factor": 2.5}])
    scenario = validate_data(data, {}, "w")
    offered = np.array([run_replication(scenario, i).kpis["queues"]["q"]["offered_h"] for i in range(60)])
    assert abs(offered.mean() - expected_offered(scenario)["q"]) < 4 * offered.std(ddof=1) / 60 ** 0.5


def test_constraints_get_the_work_of_the_queues_sharing_their_pools_and_quality_gets_none():
    data = {"name": "c", "seed": 1, "horizon": {"start": "2027-01-04", "duration": "50h"},
            "queues": {q: {"volume": {"mean": 2, "per": "hour"}, "skill": s, "sla": {"target": "4h"},
                           "handling_time": {"mean": "10m"}} for q, s in (("a", "x"), ("b", "y"), ("c", "z"))},
            "pools": {"p": {"headcount": 2, "skills": ["x", "y"]}, "r": {"headcount": 2, "skills": ["z"]}}}
    scenario = validate_data(data, {}, "c")
    assert sorted(map(sorted, components(scenario))) == [["a", "b"], ["c"]]
    named = {m: Constraint(m, m, ">=", 0.5) for m in ("queues.a.sla_attainment", "queues.c.tat_p90_h",
                                                       "queues.a.quality", "pools.r.exposure_h_max", "cost",
                                                       "sla_attainment")}
    assert controlled_queues(scenario, named["queues.a.sla_attainment"]) == {"a", "b"}
    assert controlled_queues(scenario, named["queues.c.tat_p90_h"]) == {"c"}
    assert controlled_queues(scenario, named["pools.r.exposure_h_max"]) == {"c"}
    assert controlled_queues(scenario, named["sla_attainment"]) == {"a", "b", "c"}
    assert controlled_queues(scenario, named["queues.a.quality"]) is None
    assert controlled_queues(scenario, named["cost"]) is None


LAM, MEAN, SERVERS, TARGET_H = 20.0, 1.0, 21, 1.0  # M/M/21 at 95% load: attainment within 1 h, SD 0.05 per 1,000 h


def busy_queue(control: bool) -> dict:
    return {"name": "busy", "seed": 3, "horizon": {"start": "2027-01-04", "duration": "1000h", "warmup": "50h"},
            "queues": {"q": {"volume": {"mean": LAM, "per": "hour"}, "skill": "s",
                             "handling_time": {"mean": f"{MEAN * 60:g}m", "dist": "exponential"},
                             "sla": {"target": f"{TARGET_H * 60:g}m", "attainment": 0.5}}},
            "pools": {"p": {"headcount": SERVERS, "skills": ["s"], "cost_per_hour": 10.0}},
            "optimize": {"control_variates": control, "verify_max": 24}}  # both rules judged on 24 at most


def test_on_a_queue_at_95_percent_load_the_control_passes_a_plan_two_points_inside_its_exact_target():
    """The exact attainment (Erlang C) is 0.366; a target 0.02 below it is what the six-pool tests leave
    as clearance. One replication's SD is about 0.05, so 24 plain replications need 0.021 (t 2.07 x
    0.05 / sqrt 24): a coin flip. The work offered explains 80% of the variance (correlation -0.9)."""
    exact = mmc_sojourn_cdf(TARGET_H, LAM, 1 / MEAN, SERVERS)
    target = Constraint("queues.q.sla_attainment", "queues.q.sla_attainment", ">=", exact - 0.02)
    scenario = validate_data(busy_queue(True), {}, "busy")
    runs = [run_replication(scenario, 1_000_000 + i).kpis["queues"] for i in range(24)]
    y = np.array([r["q"]["sla_attainment"] for r in runs])
    x = control_values(scenario, [target], runs)[target.name]
    assert np.corrcoef(x, y)[0, 1] < -0.7
    with_control = verify(busy_queue(True), {}, ["cost"], [target], 6)
    plain = verify(busy_queue(False), {}, ["cost"], [target], 6)
    assert with_control.met and with_control.replications > 6
    assert plain.replications == with_control.replications == 24
    assert with_control.margins[target.name] > plain.margins[target.name] + 0.005
