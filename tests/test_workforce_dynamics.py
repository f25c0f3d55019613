"""Exposure caps, hiring, ramp-up and attrition against their arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.model.engine import Replication, run_replication
from simulator.model.staffing import HOURS_PER_MONTH, roster
from tests.helpers import scenario

CAPPED = {
    "name": "caps", "seed": 3,
    "horizon": {"start": "2027-01-04", "duration": "5d"},
    "queues": {
        "gore": {"volume": {"mean": 1.5, "per": "hour"}, "skill": "s", "priority": 1, "sensitive": True,
                 "handling_time": {"mean": "1h", "dist": "exponential"}, "sla": {"target": "8h"}},
        "spam": {"volume": {"mean": 3.0, "per": "hour"}, "skill": "s", "priority": 2,
                 "handling_time": {"mean": "1h", "dist": "exponential"}, "sla": {"target": "24h"}},
    },
    "pools": {"p": {"headcount": 10, "skills": ["s"]}},
}


def test_no_worker_ever_exceeds_the_exposure_cap():
    """Items of 25-35 min (each shorter than the cap, so the cap is never overrun by one item alone)."""
    s = scenario(CAPPED, **{"pools.p.exposure_cap": "2h", "queues.gore.volume.mean": 3.0,
                            "queues.gore.handling_time": {"mean": "30m", "cv": 0.05, "dist": "gamma"}})
    for k in range(3):
        run = run_replication(s, k)
        log = run.exposure["p"]
        assert log and max(hours for _, _, hours in log) <= 2.0 + 1e-9
        assert run.kpis["pools"]["p"]["exposure_h_max"] <= 2.0 + 1e-9
        assert run.pool_series["p"]["sensitive_hours"].sum() == pytest.approx(sum(h for _, _, h in log))


def test_the_count_of_capped_idle_workers_matches_their_deques():
    """Offers skip the capped-idle deques while the dispatcher counts none: the count must be exact
    at every instant (checked each quarter hour of a run where the cap binds), and it must be used."""
    rep = Replication(scenario(CAPPED, **{"pools.p.exposure_cap": "2h", "pools.p.headcount": 6}), 0)
    rep._staff()
    rep._start_arrivals()
    rep.timetable.start()
    seen = []
    for quarter in range(1, 4 * 120):
        rep.env.run(until=quarter / 4)
        seen.append(rep.dispatch.capped_idle)
        assert rep.dispatch.capped_idle == sum(len(pool.idle_capped) for pool in rep.pools.values())
    assert max(seen) >= 2


def test_a_binding_cap_raises_the_sensitive_queue_wait():
    """36 sensitive hours a day against 10 workers x 2 h of allowed exposure: the cap binds."""
    free = [run_replication(scenario(CAPPED), k) for k in range(3)]
    capped = [run_replication(scenario(CAPPED, **{"pools.p.exposure_cap": "2h"}), k) for k in range(3)]
    assert min(r.kpis["pools"]["p"]["exposure_h_max"] for r in free) > 2.0
    for a, b in zip(free, capped):  # common random numbers: same arrivals and work, replication by replication
        assert b.kpis["queues"]["gore"]["wait_mean_h"] > 3 * a.kpis["queues"]["gore"]["wait_mean_h"] + 0.5
        assert b.kpis["queues"]["gore"]["backlog_end"] > a.kpis["queues"]["gore"]["backlog_end"] + 20
        assert b.kpis["queues"]["spam"]["wait_mean_h"] <= a.kpis["queues"]["spam"]["wait_mean_h"] + 0.05


ATTRITION = {
    "name": "attrition", "seed": 9,
    "horizon": {"start": "2027-01-04", "duration": f"{6 * HOURS_PER_MONTH}h"},
    "queues": {"q": {"volume": {"mean": 0}, "skill": "s", "handling_time": {"mean": "1h"}, "sla": {"target": "8h"}}},
    "pools": {"p": {"headcount": 2000, "skills": ["s"], "attrition_monthly": 0.06}},
}


def test_head_count_decays_as_n_times_one_minus_m_to_the_t():
    s = scenario(ATTRITION)
    runs = [run_replication(s, k) for k in range(3)]
    n, m = 2000, 0.06
    for months in range(1, 6):
        p = (1 - m) ** months
        counts = [r.pool_series["p"]["headcount"][int(months * HOURS_PER_MONTH)] for r in runs]
        assert abs(np.mean(counts) - n * p) <= 4 * np.sqrt(n * p * (1 - p) / len(runs)), (months, counts)
    end = [r.kpis["pools"]["p"]["headcount_end"] for r in runs]
    p = (1 - m) ** 6
    assert abs(np.mean(end) - n * p) <= 4 * np.sqrt(n * p * (1 - p) / len(runs))


RAMP = {
    "name": "ramp", "seed": 4,
    "horizon": {"start": "2027-01-04", "duration": "6w"},
    "queues": {"q": {"volume": {"mean": 0}, "initial_backlog": 100_000, "skill": "s",
                     "handling_time": {"mean": "1h", "dist": "constant"}, "sla": {"target": "8h"}}},
    "pools": {"p": {"headcount": 0, "skills": ["s"], "accuracy": 0.9, "hires": [{"week": 1, "count": 10}],
                    "ramp": {"duration": "4w", "speed": 0.5, "accuracy": 0.8}}},
}


def test_new_hires_deliver_by_the_ramp_arithmetic():
    """Speed ramps 0.5 -> 1 over 4 weeks: week w delivers 10 x the integral of the speed over its 168 h."""
    run = run_replication(scenario(RAMP), 0)
    done = run.queue_series["q"]["completions"].reshape(6, 168).sum(axis=1)
    ramp = 4 * 168.0
    for week in range(6):
        t0, t1 = 168.0 * week, 168.0 * (week + 1)
        hours = np.linspace(t0, t1, 10_001)
        speed = 1 - 0.5 * np.clip((ramp - hours) / ramp, 0, None)
        expected = 10 * np.trapezoid(speed, hours)
        assert done[week] == pytest.approx(expected, rel=0.015), (week, done[week], expected)
    weekly_quality_low = run.kpis["queues"]["q"]["quality"] < 0.9
    assert weekly_quality_low  # early labels were made at up to 20% lower accuracy


def test_hires_join_at_the_start_of_their_week_and_are_paid_from_then():
    s = scenario(RAMP, **{"pools.p.headcount": 5, "pools.p.hires": [{"week": 3, "count": 4}], "pools.p.ramp": None})
    run = run_replication(s, 0)
    heads = run.pool_series["p"]["headcount"]
    assert heads[335] == 5 and heads[336] == 9
    horizon = 6 * 168
    assert run.kpis["pools"]["p"]["paid_hours"] == pytest.approx(5 * horizon + 4 * (horizon - 336))
    assert run.kpis["pools"]["p"]["headcount_end"] == 9


def test_hires_fill_the_shift_furthest_below_its_share():
    s = scenario(RAMP, **{"pools.p.headcount": 3, "pools.p.hires": [{"week": 2, "count": 3}],
                          "pools.p.shifts": [{"start": "08:00", "length": "8h", "days": "daily", "share": 0.5},
                                             {"start": "16:00", "length": "8h", "days": "daily", "share": 0.5}]})
    people = roster(s.pools["p"], np.random.default_rng(0))
    assert [p.pattern for p in people] == [0, 0, 1, 1, 0, 1]
    assert [p.hired_at for p in people] == [0, 0, 0, 168, 168, 168]
