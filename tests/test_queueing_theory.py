"""The engine against exact M/M/c results, Little's law and conservation of items.

Tolerances follow from the replications: the replication means' standard error times 4
(a false alarm about once in 16,000 runs), never pinned seeded decimals.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.model.engine import run_replication
from tests.helpers import scenario, within
from tests.theory import erlang_c, mmc_mean_wait, mmc_sojourn_cdf, mmc_sojourn_quantile

LAM, MU, C = 18.0, 1.0, 20
REPS = 8


@pytest.fixture(scope="module")
def mmc_runs():
    s = scenario()
    return [run_replication(s, k) for k in range(REPS)]


def _q(runs, kpi):
    return [r.kpis["queues"]["q"][kpi] for r in runs]


def test_mean_wait_is_erlang_c(mmc_runs):
    ok, msg = within(_q(mmc_runs, "wait_mean_h"), mmc_mean_wait(LAM, MU, C))
    assert ok, msg


def test_probability_of_waiting_is_erlang_c(mmc_runs):
    ok, msg = within(_q(mmc_runs, "waited_share"), erlang_c(C, LAM / MU))
    assert ok, msg


def test_sla_attainment_is_the_sojourn_time_distribution(mmc_runs):
    ok, msg = within(_q(mmc_runs, "sla_attainment"), mmc_sojourn_cdf(2.0, LAM, MU, C))
    assert ok, msg


@pytest.mark.parametrize("kpi,q", [("tat_p50_h", 0.5), ("tat_p90_h", 0.9), ("tat_p95_h", 0.95)])
def test_turnaround_percentiles_match_the_sojourn_quantiles(mmc_runs, kpi, q):
    # the histogram bins are 0.25% wide: allow that on top of the sampling error
    expected = mmc_sojourn_quantile(q, LAM, MU, C)
    ok, msg = within(_q(mmc_runs, kpi), expected, slack=0.0025 * expected)
    assert ok, msg


def test_utilization_is_offered_load_per_server(mmc_runs):
    ok, msg = within([r.kpis["pools"]["p"]["utilization"] for r in mmc_runs], LAM / (C * MU))
    assert ok, msg


def test_littles_law_on_reported_figures(mmc_runs):
    """Time-average items in system (hourly backlog snapshots) = arrival rate x mean turnaround."""
    s = scenario()
    window = s.horizon.duration - s.horizon.warmup
    lhs, rhs = [], []
    for run in mmc_runs:
        backlog = run.queue_series["q"]["backlog"][int(s.horizon.warmup):]
        lhs.append(backlog.mean())
        rhs.append(run.kpis["queues"]["q"]["arrivals"] / window * run.kpis["queues"]["q"]["tat_mean_h"])
    diff = np.asarray(lhs) - np.asarray(rhs)
    assert abs(diff.mean()) <= 4 * diff.std(ddof=1) / np.sqrt(len(diff)) + 0.01 * np.mean(rhs)
    # and the busy servers: mean busy = lambda x E[S]
    busy = [r.kpis["pools"]["p"]["busy_hours"] / window for r in mmc_runs]
    ok, msg = within(busy, LAM / MU)
    assert ok, msg


def test_items_are_conserved():
    """With no warm-up every item is counted. Stopping at the end (drain 0): arrivals = completed + open
    at the end, exactly. With the drain, every measured item open at the end is delivered after it."""
    s = scenario(**{"horizon.warmup": 0, "horizon.duration": "300h", "horizon.drain": 0,
                    "queues.q.initial_backlog": 500})
    for k in range(3):
        run = run_replication(s, k)
        q = run.kpis["queues"]["q"]
        assert q["arrivals"] == q["completed"] + q["backlog_end"] and q["undelivered"] == q["backlog_end"]
        series = run.queue_series["q"]
        assert series["arrivals"].sum() == q["arrivals"]
        assert series["completions"].sum() == q["completed"]
        assert series["backlog"][-1] == q["backlog_end"]
        assert q["backlog_end"] > 0 or q["completed"] > 500
        drained = run_replication(scenario(**{"horizon.warmup": 0, "horizon.duration": "300h",
                                              "queues.q.initial_backlog": 500}), k).kpis["queues"]["q"]
        assert drained["backlog_end"] > 0 and drained["undelivered"] == 0
        assert drained["arrivals"] == drained["completed"] == q["arrivals"]


def test_more_staff_means_less_waiting():
    waits = [np.mean([run_replication(scenario(**{"pools.p.headcount": c}), k).kpis["queues"]["q"]["wait_mean_h"]
                      for k in range(3)]) for c in (19, 20, 22, 26)]
    assert waits == sorted(waits, reverse=True) and waits[-1] < waits[0] / 5


def test_zero_volume_means_zero_work():
    run = run_replication(scenario(**{"queues.q.volume": {"mean": 0, "per": "hour"}}), 0)
    assert run.kpis["queues"]["q"]["arrivals"] == 0
    assert run.kpis["pools"]["p"]["busy_hours"] == 0
    assert run.kpis["pools"]["p"]["paid_hours"] == 20 * 1800
