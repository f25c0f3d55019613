"""Shrinkage as planners mean it (staggered: N (1 - s) available at every moment), absence (whole
worker-shifts missed, binomial), and no bias at the horizon's end (measured items followed until
delivered), each against an exact result or an independent run."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.model.engine import run_replication
from tests.helpers import MMC, scenario, within
from tests.theory import erlang_c, mmc_mean_wait, mmc_sojourn_cdf

# 120 items/h of 6 minutes (exponential) on 20 heads at 25% shrinkage: planning practice is M/M/15
ERLANG = dict(MMC, horizon={"start": "2027-01-04", "duration": "1500h", "warmup": "100h"},
              queues={"q": {"volume": {"mean": 120, "per": "hour"}, "skill": "s",
                            "handling_time": {"mean": "6m", "dist": "exponential"}, "sla": {"target": "12m"}}},
              pools={"p": {"headcount": 20, "skills": ["s"], "shrinkage": 0.25, "cost_per_hour": 10.0}})

IDLE = dict(MMC, horizon={"start": "2027-01-04", "duration": "13w", "warmup": "1w"},
            queues={"q": dict(MMC["queues"]["q"], volume={"mean": 0, "per": "hour"})},
            pools={"p": {"headcount": 21, "skills": ["s"], "shrinkage": 0.25,
                         "shifts": [{"start": "09:00", "length": "8h", "days": "daily", "share": 1.0}]}})


def test_planned_shrinkage_matches_erlang_c_with_n_times_one_minus_s_agents():
    """Mean wait 0.0106 h, P(wait) 0.40 and 84.3% within 12 minutes: M/M/15, not the 4x longer waits of
    independently placed breaks."""
    runs = [run_replication(scenario(ERLANG), k).kpis["queues"]["q"] for k in range(4)]
    for kpi, exact in (("wait_mean_h", mmc_mean_wait(120, 10, 15)), ("waited_share", erlang_c(15, 12.0)),
                       ("sla_attainment", mmc_sojourn_cdf(0.2, 120, 10, 15))):
        ok, msg = within([r[kpi] for r in runs], exact, slack=0.03 * exact)
        assert ok, f"{kpi}: {msg}"


@pytest.mark.parametrize("heads, low, high", [(20, 15, 15), (21, 15, 16), (23, 17, 18)])
def test_staggered_breaks_keep_n_times_one_minus_s_available_up_to_rounding(heads, low, high):
    """With no work, every hour inside a shift finds floor or ceil of N (1 - s) available, and on
    average exactly N (1 - s)."""
    run = run_replication(scenario(IDLE, **{"pools.p.headcount": heads}), 0)
    series = run.pool_series["p"]
    inside = (series["on_shift"][1:] == heads) & (series["on_shift"][:-1] == heads)  # not a shift's first hour
    available = series["available"][1:][inside]
    assert set(np.unique(available)) <= {low, high}
    assert available.mean() == pytest.approx(heads * 0.75, abs=0.08)
    pool = run.kpis["pools"]["p"]
    assert pool["productive_hours"] == pytest.approx(pool["paid_hours"] * 0.75, rel=1e-9)


def test_long_items_take_no_break_time():
    """A saturated pool of 1.5 h items: a break that falls due mid-item starts when the item is done and
    keeps its length, so the hours worked equal paid x (1 - s), not 4% more. (The window holds whole
    days: a shift the window cuts keeps its exact share only over the whole shift.)"""
    data = dict(ERLANG, horizon={"start": "2027-01-04", "duration": "1008h", "warmup": "96h"},
                queues={"q": {"volume": {"mean": 0, "per": "hour"}, "skill": "s", "initial_backlog": 20000,
                              "handling_time": {"mean": "1.5h", "dist": "constant"}, "sla": {"target": "2000h"}}},
                pools={"p": {"headcount": 10, "skills": ["s"], "shrinkage": 0.25}})
    for k in range(2):
        pool = run_replication(scenario(data), k).kpis["pools"]["p"]
        assert pool["productive_hours"] == pytest.approx(pool["paid_hours"] * 0.75, rel=1e-9)
        assert pool["busy_hours"] == pytest.approx(pool["productive_hours"], rel=0.005)


def test_absence_misses_whole_shifts_independently():
    """20 heads, 20% absence, no shrinkage: the number at work in each shift is Binomial(20, 0.8): mean
    16, variance 3.2. Absence is paid by default; unpaid, paid hours are the hours worked."""
    data = dict(IDLE, pools={"p": dict(IDLE["pools"]["p"], headcount=20, shrinkage=0.0, absence=0.2)})
    counts, paid, productive = [], [], []
    for k in range(3):
        run = run_replication(scenario(data), k)
        counts += run.pool_series["p"]["available"][12::24].tolist()  # 12:00 UTC, mid-shift each day
        paid.append(run.kpis["pools"]["p"]["paid_hours"])
        productive.append(run.kpis["pools"]["p"]["productive_hours"])
    counts = np.asarray(counts)
    assert counts.max() <= 20
    ok, msg = within(counts.tolist(), 16.0)
    assert ok, msg
    assert 3.2 * 0.75 < counts.var(ddof=1) < 3.2 * 1.3  # about 270 shifts: the variance's SE is 9%
    rostered = 20 * 8 * 7 * 12  # twelve measured weeks
    assert paid == [pytest.approx(rostered)] * 3
    ok, msg = within(productive, rostered * 0.8)
    assert ok, msg
    unpaid = run_replication(scenario(data, **{"pools.p.absence_paid": False}), 0).kpis["pools"]["p"]
    assert unpaid["paid_hours"] == pytest.approx(unpaid["productive_hours"])
    assert unpaid["paid_hours"] < rostered


WEEKDAYS_ONLY = dict(MMC, horizon={"start": "2027-01-04", "duration": "4w", "warmup": "1w"},
                     queues={"q": {"volume": {"mean": 100, "per": "day"}, "skill": "s",
                                   "handling_time": {"mean": "30m", "dist": "exponential"},
                                   "sla": {"target": "48h"}}},
                     pools={"p": {"headcount": 10, "skills": ["s"],
                                  "shifts": [{"start": "09:00", "length": "8h", "days": "Mon-Fri", "share": 1.0}]}})


def test_the_horizon_end_after_an_unstaffed_weekend_is_not_biased():
    """The window ends on a Monday at 00:00 after a weekend nobody works, with a 48 h SLA. The truth is
    the same run continued with no more arrivals (under FIFO later arrivals never delay earlier ones).
    Following measured items past the end gives it; stopping at the end (drain 0) overstates the SLA,
    because Saturday's items, younger than 48 h at the end and bound to miss, were left out."""
    truth_data = dict(WEEKDAYS_ONLY, horizon=dict(WEEKDAYS_ONLY["horizon"], duration="6w"),
                      queues={"q": dict(WEEKDAYS_ONLY["queues"]["q"],
                                        surges=[{"start": "2027-02-01", "duration": "2w", "factor": 0}])})
    for k in range(2):
        drained = run_replication(scenario(WEEKDAYS_ONLY), k).kpis["queues"]["q"]
        truth = run_replication(scenario(truth_data), k).kpis["queues"]["q"]
        cut = run_replication(scenario(WEEKDAYS_ONLY, **{"horizon.drain": 0}), k).kpis["queues"]["q"]
        assert drained["arrivals"] == truth["arrivals"] == truth["completed"] == drained["completed"]
        assert drained["undelivered"] == 0 and cut["undelivered"] > 0
        assert drained["sla_attainment"] == pytest.approx(truth["sla_attainment"], abs=1e-9)
        assert drained["tat_mean_h"] == pytest.approx(truth["tat_mean_h"], rel=1e-9)
        assert cut["sla_attainment"] > truth["sla_attainment"] + 0.01
        assert cut["tat_mean_h"] < truth["tat_mean_h"] - 0.5


def test_items_still_open_at_the_drain_limit_are_counted():
    """A pool too small to ever catch up: measured items left at the drain limit are reported as
    undelivered, and as misses (they are past the target by then)."""
    data = dict(WEEKDAYS_ONLY, pools={"p": dict(WEEKDAYS_ONLY["pools"]["p"], headcount=2)})
    q = run_replication(scenario(data, **{"horizon.drain": "1w"}), 0).kpis["queues"]["q"]
    assert q["undelivered"] > 0
    assert q["arrivals"] == q["completed"] + q["undelivered"]
    hits = q["sla_attainment"] * (q["completed"] + q["undelivered"])
    assert hits == pytest.approx(round(hits)) and hits <= q["completed"]
