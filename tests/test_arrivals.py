"""Arrivals against the profile arithmetic of docs/scenario.md, forecast files read back to their totals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from simulator.model.arrivals import arrival_chunks, day_factors, expected_per_hour, merged_arrivals
from simulator.model.engine import run_replication
from simulator.scenario.loader import load_scenario
from tests.helpers import MMC, scenario

START = dt.date(2027, 1, 4)  # a Monday
HOURLY = [1.0] * 24
HOURLY[10] = 3.0  # sum 26
PROFILED = dict(MMC, queues={"q": dict(MMC["queues"]["q"], volume={"mean": 7000, "per": "week"},
                                       hourly_profile=HOURLY, weekly_profile=[2, 1, 1, 1, 1, 1, 1],
                                       growth_weekly=0.1,
                                       surges=[{"start": "2027-01-06", "duration": "1d", "factor": 2.0}])},
                horizon={"start": "2027-01-04", "duration": "2w"})


def test_expected_arrivals_follow_the_profile_arithmetic():
    rate = expected_per_hour(scenario(PROFILED).queues["q"], START, 336)
    daily, mon, other = 1000.0, 2 / (8 / 7), 1 / (8 / 7)  # weekly weights normalised to mean 1
    assert rate[10] == pytest.approx(daily * mon * 3 / 26)              # Mon 10:00, week 0
    assert rate[24 + 5] == pytest.approx(daily * other * 1 / 26)        # Tue 05:00
    assert rate[48 + 10] == pytest.approx(daily * other * 3 / 26 * 2)   # Wed 10:00, surge day
    assert rate[72 + 10] == pytest.approx(daily * other * 3 / 26)       # Thu: surge over
    assert rate[168 + 10] == pytest.approx(daily * mon * 3 / 26 * 1.1)  # Mon, week 1: growth
    week0 = daily * 7 + daily * other  # the surge doubles Wednesday
    assert rate[:168].sum() == pytest.approx(week0)
    assert rate[168:].sum() == pytest.approx(daily * 7 * 1.1)


def test_profiles_are_read_in_the_queue_time_zone():
    data = dict(PROFILED, queues={"q": dict(PROFILED["queues"]["q"], timezone="America/New_York", surges=[],
                                            growth_weekly=0)})
    rate = expected_per_hour(scenario(data).queues["q"], START, 336)
    # 10:00 in New York is 15:00 UTC in January; Monday in New York starts at 05:00 UTC
    assert rate[15] == pytest.approx(1000 * (2 / (8 / 7)) * 3 / 26)
    assert rate[24 + 15] == pytest.approx(1000 * (1 / (8 / 7)) * 3 / 26)
    assert rate[4] == pytest.approx(1000 * (1 / (8 / 7)) / 26)  # still Sunday 23:00 in New York


def test_simulated_counts_match_the_expected_counts():
    s = scenario(PROFILED)
    rate = expected_per_hour(s.queues["q"], START, 336)
    peak = [10 + 24 * d for d in range(14)]
    totals, peaks = [], []
    for k in range(5):
        series = run_replication(s, k).queue_series["q"]["arrivals"]
        totals.append(series.sum())
        peaks.append(series[peak].sum())
    # Poisson: variance = mean, over 5 replications
    assert abs(np.mean(totals) - rate.sum()) <= 4 * np.sqrt(rate.sum() / 5)
    assert abs(np.mean(peaks) - rate[peak].sum()) <= 4 * np.sqrt(rate[peak].sum() / 5)


def test_arrival_times_are_sorted_and_inside_their_hours():
    rng = np.random.default_rng(3)
    rates = np.array([0.0, 50.0, 0.0, 200.0] * 60)
    chunks = list(arrival_chunks(rates, rng, chunk_hours=7))
    assert len(chunks) == -(-len(rates) // 7)  # one per chunk, empty ones too
    times = np.concatenate(chunks).tolist()
    assert times == sorted(times)
    hours = np.floor(times).astype(int)
    assert set(np.unique(hours % 4)) == {1, 3}


def test_merged_arrivals_keep_every_queues_times_in_order():
    rates = np.array([0.0, 50.0, 0.0, 200.0] * 60)
    streams = {"a": (1, 1.0), "b": (2, 0.5), "c": (3, 0.0), "d": (1, 1.0)}  # d draws exactly a's times

    def chunks(seed: int, factor: float):
        return arrival_chunks(rates * factor, np.random.default_rng(seed), chunk_hours=7)

    names = list(streams)
    merged = [(t, names[q]) for t, q in merged_arrivals([chunks(*s) for s in streams.values()], end=200.5)]
    assert [t for t, _ in merged] == sorted(t for t, _ in merged)
    for name, (seed, factor) in streams.items():
        own = np.concatenate(list(chunks(seed, factor)))
        assert [t for t, q in merged if q == name] == own[own < 200.5].tolist()
    ties = [(q, r) for (t, q), (u, r) in zip(merged, merged[1:]) if t == u]
    assert ties and all(pair == ("a", "d") for pair in ties)  # equal times keep the queues' order


def test_day_factors_have_mean_one_and_the_given_cv():
    f = day_factors(0.2, 200_000, np.random.default_rng(5))
    assert f.mean() == pytest.approx(1.0, abs=4 * 0.2 / np.sqrt(200_000))
    assert f.std() / f.mean() == pytest.approx(0.2, rel=0.02)
    assert (day_factors(0.0, 10, np.random.default_rng(5)) == 1).all()


def _forecast_scenario(tmp_path, path, duration="13d"):
    yaml_text = f"""
name: fc
horizon: {{start: 2027-01-04, duration: {duration}}}
queues:
  q:
    volume: {{file: {path.name}}}
    hourly_profile: {HOURLY}
    handling_time: {{mean: 1m}}
    skill: s
    sla: {{target: 24h}}
pools:
  p: {{headcount: 5, skills: [s]}}
"""
    file = tmp_path / "s.yaml"
    file.write_text(yaml_text)
    return load_scenario(file)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_forecast_file_is_read_back_to_its_totals(tmp_path, fmt):
    days = pd.date_range("2027-01-04", periods=14, freq="D", tz="UTC")
    frame = pd.DataFrame({"start": days.strftime("%Y-%m-%dT%H:%M:%SZ"), "volume": np.arange(14) * 100.0 + 500})
    path = tmp_path / f"forecast.{fmt}"
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
    s = _forecast_scenario(tmp_path, path)
    rate = expected_per_hour(s.queues["q"], START, 13 * 24)
    # 13 days of the 14-day forecast are inside the horizon; each day's volume lands on its own day
    assert rate.sum() == pytest.approx(frame["volume"][:13].sum())
    for d in range(13):
        assert rate[24 * d:24 * (d + 1)].sum() == pytest.approx(frame["volume"][d])
        assert rate[24 * d + 10] == pytest.approx(frame["volume"][d] * 3 / 26)


def test_a_weekly_forecast_row_cut_by_the_horizon_keeps_its_share(tmp_path):
    frame = pd.DataFrame({"start": ["2027-01-04T00:00:00Z", "2027-01-11T00:00:00Z"], "volume": [7000.0, 14000.0]})
    path = tmp_path / "weekly.csv"
    frame.to_csv(path, index=False)
    s = _forecast_scenario(tmp_path, path, duration="10d")
    rate = expected_per_hour(s.queues["q"], START, 240)
    assert rate[:168].sum() == pytest.approx(7000.0)
    assert rate[168:].sum() == pytest.approx(14000.0 * 3 / 7)  # 3 of the second week's 7 flat days
