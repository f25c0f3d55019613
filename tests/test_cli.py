"""The command line in-process (click's CliRunner): outputs, files, determinism, overrides, extends."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from simulator import load_scenario

ROOT = Path(__file__).resolve().parent.parent
QUICK = str(ROOT / "scenarios" / "quickstart.yaml")
SHORT = ["--set", "horizon.duration=10d", "--set", "horizon.warmup=2d"]


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_json_is_exactly_the_design_object():
    result = CliRunner().invoke(main, ["simulate", QUICK, "-r", "2", "--jobs", "1", "--json", *SHORT])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert set(out) == {"scenario", "seed", "replications", "queues", "pools", "totals"}
    assert out["scenario"] == "quickstart" and out["seed"] == 7 and out["replications"] == 2
    design_queue = {"arrivals", "completed", "backlog_end", "wait_mean_h", "tat_mean_h", "tat_p50_h", "tat_p90_h",
                    "tat_p95_h", "sla_attainment", "quality", "audited_quality", "rework_rate", "escalation_rate"}
    assert design_queue <= set(out["queues"]["spam_en"])
    assert set(out["pools"]["dublin"]) == {"headcount_end", "paid_hours", "productive_hours", "busy_hours",
                                           "utilization", "cost", "exposure_h_max", "quality"}
    assert set(out["totals"]) == {"arrivals", "completed", "cost", "sla_attainment", "quality"}
    cell = out["queues"]["spam_en"]["tat_mean_h"]
    assert set(cell) == {"mean", "low", "high"} and cell["low"] <= cell["mean"] <= cell["high"]
    assert out["queues"]["spam_en"]["audited_quality"] == {"mean": None, "low": None, "high": None}


def test_out_dir_files_and_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        assert run("simulate", QUICK, "-r", "2", "--jobs", "1", "--out", str(tmp_path / name), *SHORT).exit_code == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir() if not p.name.startswith("."))
    assert names == ["kpis.parquet", "kpis.xlsx", "manifest.json", "scenario.resolved.yaml", "summary.json",
                     "timeseries.parquet", "weekly.parquet"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    kpis = pd.read_parquet(tmp_path / "a" / "kpis.parquet")
    assert list(kpis.columns) == ["replication", "entity_type", "entity", "kpi", "value"]
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    arrivals = kpis.query("entity == 'spam_en' and kpi == 'arrivals'")["value"]
    assert summary["queues"]["spam_en"]["arrivals"]["mean"] == pytest.approx(arrivals.mean())
    series = pd.read_parquet(tmp_path / "a" / "timeseries.parquet")
    assert set(series["metric"]) == {"arrivals", "completions", "backlog", "on_shift", "available", "busy",
                                     "headcount", "sensitive_hours"}
    assert len(series.query("replication == 0 and entity == 'spam_en' and metric == 'arrivals'")) == 240
    assert not list((tmp_path / "a").glob(".*"))  # no temporary files left behind


def test_jobs_do_not_change_a_byte(tmp_path):
    for jobs in ("1", "2"):
        assert run("simulate", QUICK, "-r", "3", "--jobs", jobs, "--out", str(tmp_path / jobs), *SHORT).exit_code == 0
    for name in ("summary.json", "kpis.parquet", "timeseries.parquet", "weekly.parquet", "kpis.xlsx"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


def test_seed_option_changes_the_numbers_and_is_recorded(tmp_path):
    a = json.loads(run("simulate", QUICK, "-r", "1", "--json", *SHORT).stdout)
    b = json.loads(run("simulate", QUICK, "-r", "1", "--json", "--seed", "8", *SHORT).stdout)
    assert b["seed"] == 8 and a["queues"] != b["queues"]


def test_resolved_scenario_loads_again_to_the_same_scenario(tmp_path):
    assert run("simulate", QUICK, "-r", "1", "--seed", "99", "--out", str(tmp_path), *SHORT).exit_code == 0
    text = (tmp_path / "scenario.resolved.yaml").read_text()
    assert text.startswith("# written by annoplan ") and "seed 99" in text.splitlines()[0]
    again = load_scenario(tmp_path / "scenario.resolved.yaml")
    original = load_scenario(QUICK, ["horizon.duration=10d", "horizon.warmup=2d", "seed=99"])
    assert again == original


def test_set_overrides_reach_the_model():
    out = json.loads(run("simulate", QUICK, "-r", "1", "--json", *SHORT, "--set", "pools.dublin.headcount=20",
                         "--set", "pools.dublin.cost_per_hour=10").stdout)
    assert out["pools"]["dublin"]["headcount_end"]["mean"] == 20
    assert out["pools"]["dublin"]["cost"]["mean"] == pytest.approx(out["pools"]["dublin"]["paid_hours"]["mean"] * 10)


def test_extends_deep_merges_with_paths_relative_to_the_file(tmp_path):
    (tmp_path / "base").mkdir()
    shutil.copy(QUICK, tmp_path / "base" / "quickstart.yaml")
    (tmp_path / "what_if.yaml").write_text("extends: base/quickstart.yaml\nname: what-if\n"
                                           "pools:\n  dublin:\n    headcount: 30\n")
    s = load_scenario(tmp_path / "what_if.yaml")
    assert s.name == "what-if" and s.pools["dublin"].headcount == 30
    assert s.pools["dublin"].cost_per_hour == 32.0 and s.queues["spam_en"].volume.mean == 2400
    (tmp_path / "broken.yaml").write_text("extends: base/quickstart.yaml\npools:\n  dublin:\n    headcont: 30\n")
    result = run("validate", str(tmp_path / "broken.yaml"))
    assert result.exit_code == 2 and "broken.yaml:4: pools.dublin.headcont: unknown field" in result.output


def test_table_output_names_every_queue_and_pool():
    result = run("simulate", QUICK, "-r", "2", "--jobs", "1", *SHORT)
    assert result.exit_code == 0
    assert "spam_en" in result.stdout and "dublin" in result.stdout and "totals:" in result.stdout


def test_schema_is_json_schema_of_the_scenario():
    schema = json.loads(run("schema").stdout)
    assert schema["type"] == "object"
    assert {"name", "horizon", "queues", "pools"} <= set(schema["required"])
    queue = schema["$defs"]["Queue"]
    assert queue["additionalProperties"] is False and "handling_time" in queue["properties"]


def test_validate_accepts_every_shipped_scenario():
    files = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    result = run("validate", *files)
    assert result.exit_code == 0 and result.stdout.count("ok: ") == len(files) >= 2


def test_help_teaches_with_an_example():
    assert "Example:" in run("simulate", "--help").stdout


def test_installed_console_script_runs():
    beside = Path(sys.executable).parent / "annoplan"  # the script installed with this interpreter
    exe = str(beside) if beside.exists() else shutil.which("annoplan")
    proc = subprocess.run([exe, "simulate", QUICK, "-r", "1", "--json", "-q", *SHORT],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["scenario"] == "quickstart"
    proc = subprocess.run([exe, "validate", "nowhere.yaml"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "file not found" in proc.stderr
