"""Shifts in pool time zones (with DST), off-shift waiting, shrinkage and cost against the arithmetic."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from simulator.model.engine import run_replication
from simulator.model.shifts import assign_patterns, available_intervals, shift_instances
from tests.helpers import MMC, scenario, within

SG = dict(MMC,
          horizon={"start": "2027-01-04", "duration": "4w", "warmup": "1w"},
          queues={"q": dict(MMC["queues"]["q"], volume={"mean": 6, "per": "hour"},
                            handling_time={"mean": "36s", "dist": "constant"}, sla={"target": "8h"})},
          pools={"p": {"headcount": 50, "skills": ["s"], "timezone": "Asia/Singapore", "cost_per_hour": 20.0,
                       "shifts": [{"start": "09:00", "length": "9h", "days": "Mon-Sun", "share": 1.0}]}})


def test_a_singapore_shift_covers_the_known_utc_window():
    run = run_replication(scenario(SG), 0)
    on = run.pool_series["p"]["on_shift"]
    by_hour = on.reshape(-1, 24)
    # 09:00-18:00 in Singapore (UTC+8) is 01:00-10:00 UTC
    assert (by_hour[:, 1:10] == 50).all()
    assert (by_hour[:, [0] + list(range(10, 24))] == 0).all()


def test_items_arriving_off_shift_wait_for_it():
    """Flat arrivals, ample fast staff: mean wait = P(off shift) x mean time to the next start = 15/24 x 7.5 h."""
    s = scenario(SG)
    waits = [run_replication(s, k).kpis["queues"]["q"]["wait_mean_h"] for k in range(6)]
    # the queue built overnight (about 90 items of 36 s over 50 workers) drains in under 0.02 h
    ok, msg = within(waits, 15 / 24 * 7.5, slack=0.02)
    assert ok, msg


def test_shift_start_moves_with_daylight_saving_time():
    """09:00 in New York is 14:00 UTC before 14 March 2027 and 13:00 UTC after it."""
    s = scenario(SG, **{"horizon.start": "2027-03-08", "horizon.duration": "2w", "horizon.warmup": 0,
                        "pools.p.timezone": "America/New_York",
                        "pools.p.shifts": [{"start": "09:00", "length": "8h", "days": "Mon-Fri", "share": 1}]})
    [instances] = shift_instances(s.pools["p"], dt.date(2027, 3, 8), 336.0)
    starts = [a for a, _ in instances]
    assert starts[:5] == [14 + 24 * d for d in range(5)]          # Mon 8 - Fri 12 March, EST
    assert starts[5:] == [13 + 24 * d for d in range(7, 12)]      # Mon 15 - Fri 19 March, EDT
    on = run_replication(s, 0).pool_series["p"]["on_shift"]
    assert on[13] == 0 and on[14] == 50 and on[24 * 7 + 13] == 50 and on[24 * 7 + 21] == 0


def test_shrinkage_takes_its_share_of_paid_hours_and_cost_is_paid_hours_times_rate():
    s = scenario(SG, **{"horizon.warmup": 0, "pools.p.shrinkage": 0.3, "pools.p.timezone": "UTC",
                        "pools.p.shifts": [{"start": "09:00", "length": "9h", "days": "Mon-Fri", "share": 1}]})
    run = run_replication(s, 0)
    pool = run.kpis["pools"]["p"]
    assert pool["paid_hours"] == pytest.approx(50 * 9 * 20)  # 20 weekdays in 4 weeks
    assert pool["productive_hours"] == pytest.approx(pool["paid_hours"] * 0.7)
    assert pool["cost"] == pytest.approx(pool["paid_hours"] * 20.0)
    series = run.pool_series["p"]
    shift_hours = series["on_shift"] > 0
    share = series["available"][shift_hours].sum() / series["on_shift"][shift_hours].sum()
    assert share == pytest.approx(0.7, abs=0.02)


def test_wrapped_shrinkage_block_leaves_exactly_one_minus_shrinkage():
    rng = np.random.default_rng(1)
    instances = [(24.0 * d + 9, 24.0 * d + 18) for d in range(200)]
    intervals = available_intervals(instances, 0.3, rng.random(200), np.zeros(200, dtype=bool))
    assert sum(b - a for a, b, _ in intervals) == pytest.approx(200 * 9 * 0.7)
    assert all(9 <= a % 24 <= 18 and 9 <= (b - 1e-9) % 24 <= 18 for a, b, _ in intervals)


def test_head_count_is_split_by_shares_with_largest_remainder():
    assert assign_patterns(10, [0.7, 0.3]) == [0] * 7 + [1] * 3
    which = assign_patterns(7, [0.34, 0.33, 0.33])
    assert len(which) == 7 and sorted(set(which)) == [0, 1, 2] and which.count(0) == 3


def test_busy_worker_finishes_the_item_in_hand_after_shift_end():
    """One worker, shift 09:00-10:00 UTC, one 2 h item at 09:00: it is done at 11:00, not dropped."""
    s = scenario(MMC, **{"horizon.duration": "1d", "horizon.warmup": 0, "queues.q.initial_backlog": 2,
                         "queues.q.volume": {"mean": 0, "per": "hour"},
                         "queues.q.handling_time": {"mean": "2h", "dist": "constant"},
                         "pools.p.headcount": 1,
                         "pools.p.shifts": [{"start": "09:00", "length": "1h", "days": "daily", "share": 1}]})
    q = run_replication(s, 0).kpis["queues"]["q"]
    assert q["completed"] == 1 and q["backlog_end"] == 1
    assert q["tat_mean_h"] == pytest.approx(11.0, rel=0.003)  # p50 from histogram; the mean is exact
    assert q["wait_mean_h"] == pytest.approx(9.0)


ROSTER = dict(MMC, horizon={"start": "2027-01-04", "duration": "2w", "warmup": "0h"},
              queues={"q": dict(MMC["queues"]["q"], volume={"mean": 0, "per": "hour"})},
              pools={"p": {"skills": ["s"], "cost_per_hour": 10.0,
                           "shifts": [{"start": "08:00", "length": "8h", "days": "daily", "headcount": 3},
                                      {"start": "16:00", "length": "8h", "days": "Mon-Fri", "headcount": 2}]}})


def test_absolute_shift_head_counts_set_who_works_when():
    s = scenario(ROSTER)
    assert s.pools["p"].headcount == 5 and s.pools["p"].shift_shares() == [0.6, 0.4]
    run = run_replication(s, 0)
    by_hour = run.pool_series["p"]["on_shift"].reshape(-1, 24)
    assert (by_hour[:, 8:16] == 3).all()
    weekdays = [d for d in range(14) if d % 7 < 5]
    assert (by_hour[weekdays, 16:24] == 2).all() and (by_hour[[5, 6, 12, 13], 16:24] == 0).all()
    assert run.kpis["pools"]["p"]["paid_hours"] == pytest.approx(14 * 8 * 3 + 10 * 8 * 2)


def test_hires_join_the_absolute_shift_furthest_below_its_share():
    """Shifts of 3 and 2 (60/40): five hires bring the pool to 10, so three join the first and two the second."""
    from simulator.model.staffing import roster

    s = scenario(ROSTER, **{"pools.p.hires": [{"week": 2, "count": 5}]})
    people = roster(s.pools["p"], np.random.default_rng(0))
    assert [p.pattern for p in people[5:]].count(0) == 3 and [p.pattern for p in people[5:]].count(1) == 2


@pytest.mark.parametrize("change, words", [
    ({"pools.p.shifts.1.share": 0.4}, "not a mix"),
    ({"pools.p.headcount": 7}, "differs from the shifts' head-counts"),
])
def test_mixing_shares_and_head_counts_is_a_load_error(change, words):
    from simulator.scenario import ScenarioError

    with pytest.raises(ScenarioError) as error:
        scenario(ROSTER, **change)
    assert words in str(error.value.problems[0]) and "pools.p" in str(error.value.problems[0])


def test_an_absolute_roster_loads_again_from_the_resolved_file(tmp_path):
    from simulator.outputs.files import resolved_yaml
    from simulator.scenario import load_scenario

    s = scenario(ROSTER)
    path = tmp_path / "resolved.yaml"
    path.write_text(resolved_yaml(s, "test"))
    again = load_scenario(path)
    assert [x.headcount for x in again.pools["p"].shifts] == [3, 2] and again.pools["p"].headcount == 5
