"""Task logs: simulate --events writes the log format; calibrate recovers the scenario that made it;
bad logs exit 2 naming file, row and column. The truth is the scenario itself, so every recovered
value is checked against the number that generated it, within its statistical tolerance."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from cli import main
from simulator.scenario import load_scenario
from tests.helpers import write_yaml

TRUTH = {
    "name": "truth", "seed": 3,
    "horizon": {"start": "2027-01-04", "duration": "5w", "warmup": "1d"},
    "queues": {
        "abuse": {"volume": {"mean": 3000, "per": "day"},
                  "hourly_profile": [1, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 2, 2, 1, 1, 1],
                  "weekly_profile": [1.2, 1, 1, 1, 1, 0.9, 0.9], "timezone": "America/New_York",
                  "growth_weekly": 0.03, "volume_cv": 0.1,
                  "handling_time": {"mean": "60s", "cv": 1.2, "dist": "gamma"}, "skill": "abuse",
                  "sla": {"target": "24h", "attainment": 0.95}, "workflow": "checked"},
        "spam": {"volume": {"mean": 1500, "per": "day"}, "timezone": "UTC",
                 "handling_time": {"mean": "30s", "cv": 0.5, "dist": "lognormal"}, "skill": "spam",
                 "sla": {"target": "24h", "attainment": 0.95}},
        "misinfo": {"volume": {"mean": 400, "per": "day"}, "handling_time": {"mean": "2m", "cv": 0.8},
                    "skill": "misinfo", "sla": {"target": "48h", "attainment": 0.9}, "workflow": "consensus"},
    },
    "workflows": {
        "checked": {"review": {"sample": 0.2, "skill": "qa", "handling_time": {"mean": "40s", "cv": 0.5},
                               "detection": 0.8},
                    "rework": {"handling_factor": 0.5, "max_loops": 2},
                    "escalation": {"probability": 0.03, "skill": "policy",
                                   "handling_time": {"mean": "5m", "cv": 0.7}}},
        "consensus": {"label": {"passes": 3}},
    },
    "pools": {
        "a": {"headcount": 22, "skills": {"abuse": {"accuracy": 0.9}, "spam": {"speed": 1.5, "accuracy": 0.97},
                                          "qa": {}, "misinfo": {"accuracy": 0.85}},
              "timezone": "America/New_York", "shrinkage": 0.2,
              "shifts": [{"start": "07:00", "length": "9h", "days": "Mon-Sun", "share": 0.5},
                         {"start": "13:00", "length": "9h", "days": "Mon-Sun", "share": 0.5}]},
        "b": {"headcount": 14, "skills": {"abuse": {"speed": 0.6, "accuracy": 0.8}, "spam": {}},
              "timezone": "Asia/Manila", "shrinkage": 0.2},
        "experts": {"headcount": 4, "skills": ["policy"], "accuracy": 0.99},
    },
}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The truth simulated once with --events (1 replication), its folder and scenario path."""
    folder = tmp_path_factory.mktemp("history")
    path = write_yaml(folder, TRUTH, "truth.yaml")
    out = folder / "run"
    result = CliRunner().invoke(main, ["simulate", str(path), "-r", "1", "--events", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.stderr
    return folder, path, out


def test_events_follow_the_log_format_and_conserve_items(simulated):
    """Every item that arrived is in the log with its passes; no worker does two tasks at once; times
    are ordered; reviews carry pass/fail and decisions right/wrong."""
    _, path, out = simulated
    events = pd.read_parquet(out / "events.parquet")
    assert list(events.columns) == ["replication", "item_id", "queue", "created_at", "stage", "pool", "started_at",
                                    "finished_at", "worker_id", "correct", "qa_result"]
    series = pd.read_parquet(out / "timeseries.parquet")
    arrived = series[(series.entity_type == "queue") & (series.metric == "arrivals")].groupby("entity")["value"].sum()
    summary = yaml.safe_load((out / "summary.json").read_text())
    assert all(summary["queues"][q]["undelivered"]["mean"] == 0 for q in TRUTH["queues"])
    items = events.groupby("queue", observed=True)["item_id"].nunique()
    assert items.to_dict() == {q: int(n) for q, n in arrived.items()}  # conservation: every item, once
    labels = events[events.stage == "label"].groupby("item_id").size()
    misinfo = events.loc[events.queue == "misinfo", "item_id"].unique()
    assert (labels.loc[misinfo] == 3).all() and (labels.drop(misinfo) == 1).all()
    assert (events.started_at >= events.created_at).all() and (events.finished_at >= events.started_at).all()
    by_worker = events.sort_values(["worker_id", "started_at"])
    overlap = (by_worker.started_at.to_numpy()[1:] < by_worker.finished_at.to_numpy()[:-1]) & \
        (by_worker.worker_id.to_numpy()[1:] == by_worker.worker_id.to_numpy()[:-1])
    assert not overlap.any()
    assert set(events.loc[events.stage == "review", "qa_result"]) == {"pass", "fail"}
    assert events.loc[events.stage != "review", "correct"].notna().all()
    assert events.loc[events.stage == "review", "correct"].isna().all()


def test_events_are_the_same_bytes_whatever_jobs_and_leave_results_unchanged(tmp_path):
    small = dict(TRUTH, horizon={"start": "2027-01-04", "duration": "1w", "warmup": "1d"})
    path = write_yaml(tmp_path, small)
    digests, summaries = [], []
    for jobs, extra in (("1", ["--events"]), ("2", ["--events"]), ("2", [])):
        out = tmp_path / f"j{jobs}{len(extra)}"
        result = CliRunner().invoke(main, ["simulate", str(path), "-r", "3", "-j", jobs, "--out", str(out), "-q",
                                           *extra])
        assert result.exit_code == 0, result.stderr
        if extra:
            digests.append(hashlib.sha256((out / "events.parquet").read_bytes()).hexdigest())
            assert sorted(pd.read_parquet(out / "events.parquet").replication.unique()) == [0, 1, 2]
        summaries.append((out / "summary.json").read_text())
        assert not (out / ".events-parts").exists()
    assert digests[0] == digests[1]
    assert summaries[0] == summaries[1] == summaries[2]


def test_calibrate_recovers_the_scenario_that_made_the_log(simulated):
    folder, path, out = simulated
    target = folder / "calibrated.yaml"
    result = CliRunner().invoke(main, ["calibrate", str(out / "events.parquet"), "--base", str(path), "-o",
                                       str(target)])
    assert result.exit_code == 0, result.stderr
    fitted = load_scenario(target)  # loads as it is
    text = target.read_text()
    assert "# 95% CI" not in text and "95% CI" in text and "label tasks at speed 1" in text
    abuse, spam = fitted.queues["abuse"], fitted.queues["spam"]
    assert abuse.volume.mean == pytest.approx(3000, rel=0.04)
    assert spam.volume.mean == pytest.approx(1500, rel=0.03)
    low, high = map(float, re.search(r"whole weeks; 95% CI (\S+) to (\S+)", text).groups())
    assert low <= 0.03 <= high and high - low < 0.1  # 10% day-to-day noise: about 4 weekly points' worth
    assert abs(spam.growth_weekly) < 0.01
    weekly = np.array(abuse.weekly_profile)
    assert weekly == pytest.approx(np.array(TRUTH["queues"]["abuse"]["weekly_profile"]), abs=0.08)
    hourly = np.array(abuse.hourly_profile)
    truth_hourly = np.array(TRUTH["queues"]["abuse"]["hourly_profile"], dtype=float)
    assert hourly / hourly.mean() == pytest.approx(truth_hourly / truth_hourly.mean(), abs=0.1)
    assert abuse.volume_cv == pytest.approx(0.1, abs=0.05) and spam.volume_cv < 0.04
    assert abuse.handling_time.mean == pytest.approx(60 / 3600, rel=0.02)
    assert abuse.handling_time.cv == pytest.approx(1.2, abs=0.06) and abuse.handling_time.dist == "gamma"
    assert spam.handling_time.mean == pytest.approx(30 / 3600, rel=0.02) and spam.handling_time.dist == "lognormal"
    a, b = fitted.pools["a"], fitted.pools["b"]
    assert a.skills["spam"].speed == pytest.approx(1.5, rel=0.03)
    assert a.skills["abuse"].speed == pytest.approx(1.0, rel=0.03)
    for pool, skill, accuracy in ((a, "abuse", 0.9), (b, "abuse", 0.8), (a, "spam", 0.97), (b, "spam", 0.95),
                                  (a, "misinfo", 0.85), (fitted.pools["experts"], "policy", 0.99)):
        assert pool.skill_accuracy(skill) == pytest.approx(accuracy, abs=0.012), (skill, pool)
    checked = fitted.workflows["checked"]
    assert checked.review.sample == pytest.approx(0.2, abs=0.01)
    assert checked.review.detection == pytest.approx(0.8, abs=0.03)
    assert checked.escalation.probability == pytest.approx(0.03, abs=0.004)
    assert checked.review.handling_time.mean == pytest.approx(40 / 3600, rel=0.03)
    assert fitted.workflows["consensus"].label.passes == 3


def test_the_calibration_view_sets_fitted_against_observed(simulated, tmp_path):
    """calibrate --out: QQ points of the handling time lie on the diagonal (within 5% over the 5th..95th
    percentiles, the fitted family being the true one), the fitted hour-of-week profile follows the
    observed one, and the report draws both."""
    _, path, out = simulated
    view_dir = tmp_path / "view"
    result = CliRunner().invoke(main, ["calibrate", str(out / "events.parquet"), "--base", str(path), "-o",
                                       str(tmp_path / "c.yaml"), "--out", str(view_dir)])
    assert result.exit_code == 0, result.stderr
    view = pd.read_parquet(view_dir / "calibration.parquet")
    qq = view[(view.kind == "qq") & (view.queue == "abuse")].iloc[4:95]
    assert (np.abs(qq.y / qq.x - 1) < 0.05).all()
    observed = view[(view.kind == "observed") & (view.queue == "abuse")].y.to_numpy()
    fitted = view[(view.kind == "fitted") & (view.queue == "abuse")].y.to_numpy()
    assert len(observed) == len(fitted) == 168
    assert np.abs(observed - fitted).sum() / observed.sum() < 0.06
    assert CliRunner().invoke(main, ["report", str(view_dir)]).exit_code == 0
    page = (view_dir / "report.html").read_text(encoding="utf-8")
    assert "Fitted against observed" in page and "empirical handling time (s)" in page


def test_calibrate_without_a_base_writes_a_scenario_that_runs(simulated, tmp_path):
    _, _, out = simulated
    target = tmp_path / "bare.yaml"
    result = CliRunner().invoke(main, ["calibrate", str(out / "events.parquet"), "-o", str(target)])
    assert result.exit_code == 0, result.stderr
    assert "no --base" in result.stderr
    fitted = load_scenario(target)
    assert fitted.horizon.duration == 5 * 168
    assert fitted.pools["a"].headcount == 22 and fitted.pools["experts"].headcount == 4
    b = fitted.pools["b"]  # the reference pool of both its queues: speed 1, the handling mean at its pace
    assert b.skills["abuse"].speed == 1.0 and fitted.queues["abuse"].handling_time.mean == pytest.approx(100 / 3600,
                                                                                                       rel=0.02)
    assert fitted.pools["a"].skills["abuse"].speed == pytest.approx(1 / 0.6, rel=0.03)
    assert "review_abuse" in fitted.pools["a"].skills and fitted.workflows["abuse"].review.skill == "review_abuse"
    assert CliRunner().invoke(main, ["simulate", str(target), "-r", "1", "-q"]).exit_code == 0


GOOD = ("item_id,queue,created_at,stage,pool,started_at,finished_at,worker_id,correct,qa_result\n"
        "1,q,2027-01-04T00:00:00,label,p,2027-01-04T00:01:00,2027-01-04T00:02:00,w1,true,\n"
        "1,q,2027-01-04T00:00:00,review,p,2027-01-04T00:03:00,2027-01-04T00:04:00,w2,,pass\n")


@pytest.mark.parametrize("change, message", [
    (lambda text: text.replace("stage,", "step,"), "column stage: this required column is missing"),
    (lambda text: text.replace("2027-01-04T00:03:00", "Jan 4th"), "line 3, column started_at: 'Jan 4th' is not an ISO 8601"),
    (lambda text: text.replace("2027-01-04T00:02:00", "2027-01-03T00:02:00"),
     "line 2, column finished_at: the task finished"),
    (lambda text: text.replace("review,", "triage,"), "line 3, column stage: unknown stage 'triage'"),
    (lambda text: text.replace(",q,2027-01-04T00:00:00,review", ",,2027-01-04T00:00:00,review"), "line 3, column queue: empty"),
])
def test_a_bad_log_exits_2_naming_file_row_and_column(tmp_path, change, message):
    log = tmp_path / "tasks.csv"
    log.write_text(change(GOOD))
    result = CliRunner().invoke(main, ["calibrate", str(log), "-o", str(tmp_path / "c.yaml")])
    assert result.exit_code == 2, result.output
    assert str(log) in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "c.yaml").exists()


def test_tolerable_defects_are_counted_and_reported_not_dropped_silently(tmp_path):
    lines = GOOD.splitlines()
    body = [lines[0]] + lines[1:] + [lines[2], lines[1].replace(",true,", ",maybe,").replace("w1", "w4"),
                                     lines[2].replace(",pass", ",unsure").replace("w2", "w3")]
    log = tmp_path / "tasks.csv"
    log.write_text("\n".join(body) + "\n")
    from simulator.scenario.task_log import read_task_log

    read = read_task_log(log)
    assert read.defects["repeating an earlier row (dropped)"] == (1, "line 4")
    assert read.defects["with a correct value that is not true/false (read as unknown)"] == (1, "line 5")
    assert read.defects["with a qa_result that is not pass/fail (read as unknown)"] == (1, "line 6")
    assert len(read.tasks) == 4


def synthetic_log(path, days: int, level: float, trend: float, weekly: list[float], seed: int = 5) -> np.ndarray:
    """A task log (one label row per item) whose daily counts are Poisson around level x (1 + trend x day) x
    weekly[weekday], from Monday 2027-01-04 UTC; returns the daily counts."""
    rng = np.random.default_rng(seed)
    day = np.arange(days)
    counts = rng.poisson(level * (1 + trend * day) * np.asarray(weekly)[day % 7])
    created = pd.Timestamp("2027-01-04", tz="UTC") + pd.to_timedelta(
        np.repeat(day, counts) + rng.random(counts.sum()), unit="D")
    created = created.sort_values()
    n = len(created)
    pd.DataFrame({"item_id": np.arange(n), "queue": "q", "created_at": created, "stage": "label", "pool": "p",
                  "started_at": created, "finished_at": created + pd.Timedelta(minutes=1)}).to_parquet(path)
    return counts


def test_forecast_intervals_hold_a_known_trend_and_weekly_season(tmp_path):
    """12 weeks of history, 4 forecast, four independent logs: pooled over their 112 held-back days the
    truth lies inside the 95% band about 95% of the time and inside the 80% band about 80%; the point
    forecast's WAPE is small. The files feed volume: {file: ...}."""
    weekly = [1.3, 1.1, 1.0, 1.0, 1.0, 0.8, 0.8]
    inside95, inside80 = [], []
    for seed in (1, 2, 3, 4):
        counts = synthetic_log(tmp_path / "all.parquet", 16 * 7, 800.0, 0.004, weekly, seed)
        history = pd.read_parquet(tmp_path / "all.parquet")
        history[history.created_at < pd.Timestamp("2027-03-29", tz="UTC")].to_parquet(tmp_path / "history.parquet")
        out = tmp_path / f"fc{seed}"
        result = CliRunner().invoke(main, ["forecast", str(tmp_path / "history.parquet"), "--horizon", "4w",
                                           "-o", str(out)])
        assert result.exit_code == 0, result.stderr
        assert "WAPE" in result.stdout
        table = pd.read_csv(out / "q.csv")
        assert len(table) == 28 and table.start.iloc[0].startswith("2027-03-29")
        actual = counts[84:]
        inside95 += list((actual >= table.lo95) & (actual <= table.hi95))
        inside80 += list((actual >= table.lo80) & (actual <= table.hi80))
        assert (table.lo95 <= table.lo80).all() and (table.lo80 <= table.volume).all()
        assert (table.volume <= table.hi80).all() and (table.hi80 <= table.hi95).all()
        assert float(np.abs(actual - table.volume).sum() / actual.sum()) < 0.05
        summary = yaml.safe_load((out / "summary.json").read_text())
        assert 0 <= summary["queues"]["q"]["wape"] < 0.06 and summary["queues"]["q"]["held_out_days"] == 21
    assert np.mean(inside95) >= 0.88 and np.mean(inside80) >= 0.65, (np.mean(inside95), np.mean(inside80))
    scenario = {"name": "from-forecast", "seed": 1,
                "horizon": {"start": "2027-03-29", "duration": "4w", "warmup": "0h"},
                "queues": {"q": {"volume": {"file": str(out / "q.csv")}, "handling_time": {"mean": "1m"},
                                 "skill": "s", "sla": {"target": "24h"}}},
                "pools": {"p": {"headcount": 5, "skills": ["s"]}}}
    run = CliRunner().invoke(main, ["simulate", str(write_yaml(tmp_path, scenario)), "-r", "1", "--json", "-q"])
    assert run.exit_code == 0, run.stderr
    arrivals = yaml.safe_load(run.stdout)["queues"]["q"]["arrivals"]["mean"]
    assert arrivals == pytest.approx(table.volume.sum(), rel=0.02)


def test_forecast_refuses_a_log_too_short_for_weekly_seasonality(tmp_path):
    synthetic_log(tmp_path / "short.parquet", 20, 100.0, 0.0, [1] * 7)
    result = CliRunner().invoke(main, ["forecast", str(tmp_path / "short.parquet"), "-o", str(tmp_path / "fc")])
    assert result.exit_code == 2 and "at least 28" in result.stderr


LOADED = {"name": "loaded", "seed": 8, "horizon": {"start": "2027-01-04", "duration": "3w", "warmup": "1d"},
          "queues": {"q": {"volume": {"mean": 1200, "per": "day"}, "skill": "s",
                           "handling_time": {"mean": "6m", "dist": "exponential"},
                           "sla": {"target": "30m", "attainment": 0.9}}},
          "pools": {"p": {"headcount": 7, "skills": ["s"], "cost_per_hour": 10.0}}}  # 5 servers of load: 71%


@pytest.fixture(scope="module")
def loaded_log(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backtest")
    path = write_yaml(folder, LOADED)
    out = folder / "run"
    result = CliRunner().invoke(main, ["simulate", str(path), "-r", "1", "--seed", "99", "--events", "--out",
                                       str(out), "-q"])
    assert result.exit_code == 0, result.stderr
    return folder, path, out / "events.parquet"


def test_a_scenario_backtested_on_its_own_log_is_within_noise(loaded_log):
    """The log is another replication of the same model (seed 99): replayed, every weekly figure is within
    twice the noise between simulated replications; the arrivals are the log's, so delivered matches."""
    folder, path, log = loaded_log
    out = folder / "own"
    result = CliRunner().invoke(main, ["backtest", str(path), str(log), "-r", "3", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = yaml.safe_load(result.stdout)
    assert summary["flagged"] == []
    rows = {(r["entity"], r["metric"]): r for r in summary["errors"]}
    assert rows[("q", "delivered")]["error"] < 0.01
    assert rows[("q", "sla_attainment")]["actual"] == pytest.approx(rows[("q", "sla_attainment")]["simulated"], abs=0.03)
    assert rows[("p", "utilisation")]["actual"] == pytest.approx(0.71, abs=0.03)
    assert CliRunner().invoke(main, ["report", str(out)]).exit_code == 0
    assert "How well the model reproduces history" in (out / "report.html").read_text(encoding="utf-8")


def test_a_log_with_double_the_volume_is_flagged(loaded_log, tmp_path):
    """Every item twice (new ids, the same times): replayed through 7 heads the load is 10 servers, so the
    simulated TAT, SLA and backlog are far from the log's, and the backtest exits 1 naming them."""
    _, path, log = loaded_log
    events = pd.read_parquet(log)
    twin = events.assign(item_id=events.item_id + events.item_id.max() + 1)
    doubled = tmp_path / "doubled.parquet"
    pd.concat([events, twin]).sort_values(["item_id", "started_at"]).to_parquet(doubled)
    result = CliRunner().invoke(main, ["backtest", str(path), str(doubled), "-r", "2", "--json"])
    assert result.exit_code == 1, result.stderr
    flagged = set(yaml.safe_load(result.stdout)["flagged"])
    assert {"q.tat_p90_h", "q.sla_attainment", "q.backlog"} <= flagged
    assert "the model does not reproduce" in result.stderr


def test_a_replayed_volume_is_checked_at_load(loaded_log, tmp_path):
    _, _, log = loaded_log
    queue = dict(LOADED["queues"]["q"], volume={"replay": str(log)})
    ok = dict(LOADED, queues={"q": queue})
    assert CliRunner().invoke(main, ["validate", str(write_yaml(tmp_path, ok))]).exit_code == 0
    for volume, extra, message in (({"replay": "nowhere.csv"}, {}, "no such task log"),
                                   ({"replay": str(log), "queue": "zz"}, {}, "the log has no queue named 'zz'"),
                                   ({"replay": str(log)}, {"growth_weekly": 0.1}, "played as they happened"),
                                   ({"replay": str(log), "mean": 5}, {}, "give one of mean")):
        bad = dict(LOADED, queues={"q": dict(queue, volume=volume, **extra)})
        result = CliRunner().invoke(main, ["validate", str(write_yaml(tmp_path, bad))])
        assert result.exit_code == 2 and message in result.stderr and "queues.q" in result.stderr, result.stderr


def test_shrinkage_is_read_from_a_schedule_where_work_waited(tmp_path):
    """10 heads around the clock with 25% shrinkage, loaded past capacity by day: in the hours an item
    waited throughout, busy over rostered worker-hours is 0.75, so the fitted shrinkage is 0.25."""
    data = {"name": "shrink", "seed": 4, "horizon": {"start": "2027-01-04", "duration": "1w", "warmup": "0h",
                                                     "drain": "0h"},
            "queues": {"q": {"volume": {"mean": 2080, "per": "day"}, "hourly_profile": [20] * 8 + [120] * 16,
                             "handling_time": {"mean": "6m", "dist": "exponential"}, "skill": "s",
                             "sla": {"target": "24h"}}},
            "pools": {"p": {"headcount": 10, "skills": ["s"], "shrinkage": 0.25}}}
    path = write_yaml(tmp_path, data)
    out = tmp_path / "run"
    assert CliRunner().invoke(main, ["simulate", str(path), "-r", "1", "--events", "--out", str(out), "-q"]).exit_code == 0
    schedule = tmp_path / "schedule.csv"
    schedule.write_text("worker_id,pool,start,end\n" + "".join(
        f"p-{w},p,2027-01-04T00:00:00,2027-01-11T00:00:00\n" for w in range(10)))
    target = tmp_path / "c.yaml"
    result = CliRunner().invoke(main, ["calibrate", str(out / "events.parquet"), "--base", str(path), "-o", str(target),
                                       "--schedule", str(schedule)])
    assert result.exit_code == 0, result.stderr
    assert load_scenario(target).pools["p"].shrinkage == pytest.approx(0.25, abs=0.02)
    assert "hours with work waiting" in target.read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("worker_id,pool,start,end\np-0,p,2027-01-04T00:00:00,yesterday\n")
    result = CliRunner().invoke(main, ["calibrate", str(out / "events.parquet"), "-o", str(target), "--schedule", str(bad)])
    assert result.exit_code == 2 and "row 1, column end" in result.stderr
