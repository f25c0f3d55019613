"""Handling-time distributions keep their mean and cv; block draws hand out numpy's values in order;
replication intervals are Student-t intervals."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.model.handling import handling_times, sampler
from simulator.model.random_streams import NEVER, bernoulli, uniforms
from simulator.scenario.schema import HandlingTime
from simulator.stats import mean_ci


@pytest.mark.parametrize("dist,cv", [("lognormal", 0.8), ("gamma", 1.5), ("exponential", 1.0), ("constant", 0.0)])
def test_handling_time_has_the_given_mean_and_cv(dist, cv):
    spec = HandlingTime(mean="45s", cv=cv, dist=dist) if dist != "constant" else HandlingTime(mean="45s", dist=dist)
    draws = sampler(spec, np.random.default_rng(4))(400_000)
    mean = 45 / 3600
    assert draws.mean() == pytest.approx(mean, abs=4 * mean * cv / np.sqrt(len(draws)) + 1e-15)
    assert draws.std() / draws.mean() == pytest.approx(cv, abs=0.02 * max(cv, 1) ** 2)


def test_rework_factor_scales_the_mean():
    draws = sampler(HandlingTime(mean=2.0, dist="constant"), np.random.default_rng(0), factor=0.6)(3)
    assert draws.tolist() == [1.2, 1.2, 1.2]


def test_block_draws_hand_out_numpys_values_in_order_across_blocks():
    """Values come one at a time from blocks of 4,096: the first 10,000 equal one numpy call's."""
    spec = HandlingTime(mean="45s", cv=0.8)
    times = handling_times(spec, np.random.default_rng(3))
    assert [times.next() for _ in range(10_000)] == sampler(spec, np.random.default_rng(3))(10_000).tolist()
    draws = uniforms(np.random.default_rng(3))
    assert [draws.next() for _ in range(10_000)] == np.random.default_rng(3).random(10_000).tolist()


@pytest.mark.parametrize("p", [0.0, 0.05, 0.5, 0.999])
def test_bernoulli_decides_as_comparing_each_uniform(p):
    """One uniform per decision, 1 exactly when u < p: the outcomes (and so every KPI) are those of
    drawing uniforms one by one, across block boundaries."""
    decide = bernoulli(np.random.default_rng(8), p)
    u = np.random.default_rng(8).random(9_000)
    assert [decide() for _ in range(9_000)] == [int(x < p) for x in u.tolist()]
    assert not any(NEVER() for _ in range(100))


def test_mean_ci_is_the_t_interval():
    # mean 3, s = sqrt(2.5), t(0.975, 4) = 2.776445: half-width 2.776445 * 1.581139 / sqrt(5) = 1.963243
    cell = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert cell["mean"] == 3.0
    assert cell["low"] == pytest.approx(3 - 1.963243, abs=1e-6) and cell["high"] == pytest.approx(3 + 1.963243, abs=1e-6)
    assert mean_ci([2.0]) == {"mean": 2.0, "low": None, "high": None}
    assert mean_ci([float("nan")]) == {"mean": None, "low": None, "high": None}
