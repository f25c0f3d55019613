"""What-if commands: compare on common random numbers (paired differences), sweeps against Erlang C,
kpis.xlsx, and the weekly series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from simulator.compare import compare
from simulator.replications import run_replications
from simulator.results import SimulationResult
from simulator.sweep import parse_vary, sweep
from tests.helpers import STAFFING, scenario, write_yaml
from tests.theory import mmc_sojourn_cdf

ROOT = Path(__file__).resolve().parent.parent
SHORT = {"horizon.duration": "600h", "horizon.warmup": "60h"}

def test_more_staff_is_a_significant_paired_improvement():
    """20 vs 22 servers at load 18: waits fall and attainment rises, both significantly; the cost
    difference is exactly 2 heads x 900 paid hours x 10."""
    base = scenario(**{"pools.p.headcount": 20, **SHORT})
    more = scenario(**{"pools.p.headcount": 22, **SHORT})
    result = compare([base, more], replications=5, jobs=2)
    diff = result.summary()["differences"][result.labels[1]]
    wait = diff["queues"]["q"]["wait_mean_h"]
    assert wait["significant"] and wait["high"] < 0
    sla = diff["queues"]["q"]["sla_attainment"]
    assert sla["significant"] and sla["low"] > 0
    assert diff["totals"]["cost"]["mean"] == pytest.approx(2 * 10.0 * 540)
    exact = mmc_sojourn_cdf(2.0, 18, 1, 22) - mmc_sojourn_cdf(2.0, 18, 1, 20)
    assert sla["low"] - 0.02 <= exact <= sla["high"] + 0.02  # 600 h runs carry a little start-up bias


def test_paired_intervals_are_tighter_than_independent_ones():
    """Common random numbers: the paired difference's interval is narrower than the one two independent
    runs would give (the spread of a difference of independent means)."""
    base = scenario(**{"pools.p.headcount": 20, **SHORT})
    more = scenario(**{"pools.p.headcount": 21, **SHORT})
    result = compare([base, more], replications=6, jobs=2)
    paired = result.summary()["differences"][result.labels[1]]["queues"]["q"]["wait_mean_h"]
    a = [r.kpis["queues"]["q"]["wait_mean_h"] for r in result.results[0].runs]
    b = [r.kpis["queues"]["q"]["wait_mean_h"] for r in run_replications(more, 6, jobs=2, first=100)]
    independent = np.sqrt(np.var(a, ddof=1) / 6 + np.var(b, ddof=1) / 6)
    assert (paired["high"] - paired["low"]) / 2 < 0.8 * 2.571 * independent  # t(0.975, 5) x se of the difference


def test_identical_scenarios_differ_by_exactly_zero_even_with_another_seed_written():
    base = scenario(**SHORT)
    twin = scenario(**{**SHORT, "seed": 999})  # compare runs it on the first scenario's seed
    result = compare([base, twin], replications=3, jobs=2)
    table = result.differences
    assert len(table) > 20
    assert (table["mean"].dropna() == 0).all() and (table["low"].dropna() == 0).all()
    assert (table["high"].dropna() == 0).all() and not table["significant"].any()
    assert result.seed == base.seed


def test_compare_cli_variants_json_out_and_workbook(tmp_path):
    out = tmp_path / "cmp"
    run = CliRunner().invoke(main, ["compare", str(ROOT / "scenarios" / "quickstart.yaml"),
                                    "--variant", "pools.dublin.headcount=14", "-r", "3", "-j", "2",
                                    "--set", "horizon.duration=2w", "--set", "horizon.warmup=2d",
                                    "--json", "--out", str(out)])
    assert run.exit_code == 0, run.stderr
    summary = json.loads(run.stdout)
    assert list(summary["scenarios"]) == ["quickstart", "pools.dublin.headcount=14"]
    assert summary["baseline"] == "quickstart"
    cost = summary["differences"]["pools.dublin.headcount=14"]["totals"]["cost"]
    assert cost["mean"] == pytest.approx(2 * 63 * 2 * 32.0 * (12 / 14))  # paid hours over 12 of 14 days
    assert {p.name for p in out.iterdir()} == {"summary.json", "kpis.parquet", "differences.parquet",
                                               "weekly.parquet", "kpis.xlsx", "scenarios.resolved.yaml",
                                               "manifest.json"}
    kpis = pd.read_parquet(out / "kpis.parquet")
    assert set(kpis["scenario"]) == set(summary["scenarios"]) and set(kpis["replication"]) == {0, 1, 2}

    wb = openpyxl.load_workbook(out / "kpis.xlsx")
    assert wb.sheetnames == ["kpis", "differences", "assumptions"]
    for ws in wb:
        assert ws.freeze_panes == "A2" and all(c.font.bold for c in ws[1])
    header = [c.value for c in wb["kpis"][1]]
    assert header[:4] == ["entity type", "entity", "kpi", "target"]
    assert header[4:7] == ["quickstart mean", "quickstart 95% low", "quickstart 95% high"]
    rows = {(r[1].value, r[2].value): r for r in wb["kpis"].iter_rows(min_row=2)}
    sla = rows[("spam_en", "sla_attainment")]
    assert sla[3].value == 0.95 and sla[4].number_format == "0.0%"
    assert sla[4].value == summary["scenarios"]["quickstart"]["queues"]["spam_en"]["sla_attainment"]["mean"]
    assert rows[("total", "cost")][7].value == summary["scenarios"]["pools.dublin.headcount=14"]["totals"]["cost"]["mean"]
    assert rows[("total", "cost")][7].number_format == "#,##0"
    assert rows[("spam_en", "tat_p95_h")][4].number_format == "#,##0.00"
    inputs = {(r[0].value, r[1].value): [c.value for c in r[2:]] for r in wb["assumptions"].iter_rows(min_row=2)}
    assert inputs[("pool dublin", "head-count")] == [12, 14]


def test_compare_needs_two_scenarios_and_names_bad_variants(tmp_path):
    quick = str(ROOT / "scenarios" / "quickstart.yaml")
    one = CliRunner().invoke(main, ["compare", quick])
    assert one.exit_code == 2 and "compare needs two scenarios" in one.stderr
    bad = CliRunner().invoke(main, ["compare", quick, "--variant", "pools.dublin.headcount=-3"])
    assert bad.exit_code == 2 and "pools.dublin.headcount" in bad.stderr and "Traceback" not in bad.stderr


def test_simulate_out_writes_a_workbook_that_matches_the_summary(tmp_path):
    out = tmp_path / "sim"
    run = CliRunner().invoke(main, ["simulate", str(ROOT / "scenarios" / "quickstart.yaml"), "-r", "2", "-j", "2",
                                    "--set", "horizon.duration=2w", "--set", "horizon.warmup=2d", "-q",
                                    "--out", str(out)])
    assert run.exit_code == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    wb = openpyxl.load_workbook(out / "kpis.xlsx")
    assert wb.sheetnames == ["kpis", "assumptions"]
    assert [c.value for c in wb["kpis"][1]] == ["entity type", "entity", "kpi", "target", "mean", "95% low",
                                                "95% high"]
    rows = {(r[1].value, r[2].value): r for r in wb["kpis"].iter_rows(min_row=2)}
    for (entity, kpi), group in ((("spam_en", "quality"), "queues"), (("dublin", "utilization"), "pools")):
        cell = summary[group][entity][kpi]
        assert [rows[(entity, kpi)][i].value for i in (4, 5, 6)] == [cell["mean"], cell["low"], cell["high"]]
        assert rows[(entity, kpi)][4].number_format == "0.0%"
    assert rows[("dublin", "cost")][4].number_format == "#,##0"
    assert wb["kpis"].column_dimensions["B"].width >= len("spam_en")
    inputs = {(r[0].value, r[1].value): r[2].value for r in wb["assumptions"].iter_rows(min_row=2)}
    assert inputs[("queue spam_en", "SLA target (h)")] == 24.0 and inputs[("pool dublin", "head-count")] == 12


def test_weekly_series_add_up_to_the_run_kpis():
    """Per week of delivery: delivered items sum to `completed`, correct ones to quality x completed."""
    s = scenario(**{"horizon.duration": "3w", "horizon.warmup": "2d"})
    result = SimulationResult(s, run_replications(s, 2, jobs=1))
    weekly = result.weekly
    assert sorted(set(weekly["week"])) == [1, 2, 3]
    for run in result.runs:
        week = weekly[weekly["replication"] == run.replication]
        kpis = run.kpis["queues"]["q"]
        assert week["delivered"].sum() == kpis["completed"]
        assert (week["quality"] * week["delivered"]).sum() == pytest.approx(kpis["quality"] * kpis["completed"])
        counts = run.queue_weeks["q"]
        assert counts["within_target"].sum() <= counts["delivered"].sum()


def test_sweep_marks_the_exact_erlang_c_minimal_head_count(tmp_path):
    """Sweep 18..24 servers: attainment rises with head-count, and the cheapest point meeting 71% within
    1.5 h is 21, as Erlang C says (20 gives 0.681, 21 gives 0.735: margins of about 5 SE)."""
    assert mmc_sojourn_cdf(1.5, 18, 1, 20) < 0.71 < mmc_sojourn_cdf(1.5, 18, 1, 21)
    path = write_yaml(tmp_path, STAFFING, "staffing.yaml")
    result = sweep(path, [parse_vary("pools.p.headcount=18:24:1")], replications=3, jobs=2)
    summary = result.summary()
    attainment = [p["queues"]["q"]["sla_attainment"]["mean"] for p in summary["points"]]
    assert all(b > a for a, b in zip(attainment, attainment[1:]))
    assert summary["points"][summary["best"]]["params"] == {"pools.p.headcount": 21}
    for point, heads in zip(summary["points"], range(18, 25)):
        if heads >= 20:
            exact = mmc_sojourn_cdf(1.5, 18, 1, heads)
            cell = point["queues"]["q"]["sla_attainment"]
            assert cell["low"] - 0.01 <= exact <= cell["high"] + 0.01
    table = result.table
    assert len(table) == 7 * 3 * (table.groupby(["point", "replication"]).size().iloc[0])
    assert list(table.columns[:2]) == ["point", "pools.p.headcount"]


def test_sweep_cli_grid_files_and_errors(tmp_path):
    path = write_yaml(tmp_path, STAFFING, "staffing.yaml")
    out = tmp_path / "sw"
    run = CliRunner().invoke(main, ["sweep", str(path), "--vary", "pools.p.headcount=20:22:2",
                                    "--vary", "pools.p.cost_per_hour=9.5:10.5:1.0", "-r", "2", "-j", "2",
                                    "--set", "horizon.duration=300h", "--set", "horizon.warmup=30h",
                                    "--json", "--out", str(out)])
    assert run.exit_code == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["vary"] == {"pools.p.headcount": [20, 22], "pools.p.cost_per_hour": [9.5, 10.5]}
    assert [p["params"] for p in summary["points"]] == [
        {"pools.p.headcount": 20, "pools.p.cost_per_hour": 9.5}, {"pools.p.headcount": 20, "pools.p.cost_per_hour": 10.5},
        {"pools.p.headcount": 22, "pools.p.cost_per_hour": 9.5}, {"pools.p.headcount": 22, "pools.p.cost_per_hour": 10.5}]
    parquet, csv = pd.read_parquet(out / "sweep.parquet"), pd.read_csv(out / "sweep.csv")
    assert len(parquet) == len(csv) and set(parquet["replication"]) == {0, 1}
    assert {p.name for p in out.iterdir()} == {"summary.json", "sweep.parquet", "sweep.csv", "scenario.resolved.yaml",
                                               "manifest.json"}
    for bad, message in (("pools.p.headcount=5-9", "PATH=LOW:HIGH:STEP"), ("pools.p.headcount=9:5:1", "LOW <= HIGH"),
                         ("pools.p.headcount=-2:0:1", "pools.p.headcount")):
        result = CliRunner().invoke(main, ["sweep", str(path), "--vary", bad])
        assert result.exit_code == 2, bad
        assert message in result.stderr and "Traceback" not in result.stderr
