"""Reliability: bad input of every kind exits 2 naming file, line and field (never a traceback, never a
runaway); runs that cannot fit are refused before they start; unforeseen errors and Ctrl-C end in one
line; worker processes never outlive their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from simulator.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parent.parent
QUICK = ROOT / "scenarios" / "quickstart.yaml"
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))


def validate(tmp_path: Path, text: str | bytes, *extra: str) -> tuple[int, str]:
    """`annoplan validate` on a file holding `text`: exit code and stderr."""
    path = tmp_path / "s.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = CliRunner().invoke(main, ["validate", str(path), *extra])
    return result.exit_code, result.stderr


def quick_with(old: str, new: str) -> str:
    text = QUICK.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize("text, line, field, words", [
    ("name: a\x01b\n", 1, "", "character #x0001"),
    ("name: !!int abc\n", 1, "name", "cannot read the value 'abc' as int"),
    ("name: !!bool maybe\n", 1, "name", "as bool"),
    ("a: &a [*a]\n", 1, "a.0", "refers to the block that contains it"),
    ("a: " + "[" * 500 + "]" * 500 + "\n", 1, "", "nested more than"),
    (b"name: x\n\xff\xfe: y\n", 2, "", "byte 0xff is not UTF-8"),
])
def test_malformed_yaml_exits_2_with_line_and_field(tmp_path, text, line, field, words):
    code, err = validate(tmp_path, text)
    assert code == 2 and "Traceback" not in err
    assert f"s.yaml:{line}:" in err and words in err
    if field:
        assert f" {field}:" in err


def test_an_alias_bomb_is_stopped_quickly(tmp_path):
    """Nine levels of nine aliases: 387 million values if expanded. Refused within a second or two."""
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    started = time.monotonic()
    code, err = validate(tmp_path, text)
    assert code == 2 and "once aliases are expanded" in err
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("old, new, field, words", [
    ("2027-01-04", "2027-02-30", "horizon.start", "day is out of range"),
    ("2027-01-04", "0001-01-01", "horizon.start", "outside 1970-2200"),
    ("2027-01-04", "9999-12-20", "horizon.start", "outside 1970-2200"),
    ("mean: 2400", "mean: .inf", "queues.spam_en.volume.mean", "finite number"),
    ("cost_per_hour: 32.0", "cost_per_hour: .nan", "pools.dublin.cost_per_hour", "finite number"),
    ("Europe/Dublin", "America", "pools.dublin.timezone", "unknown time zone"),
    ("mean: 90s", "mean: .inf", "queues.spam_en.handling_time.mean", "finite"),
])
def test_out_of_range_values_exit_2_at_load(tmp_path, old, new, field, words):
    code, err = validate(tmp_path, quick_with(old, new))
    assert code == 2 and "Traceback" not in err
    assert field in err and words in err
    assert "s.yaml:" in err.split(field)[0].splitlines()[-1]  # the line is named before the field


@pytest.mark.parametrize("assignment, words", [
    ("horizon.start=2027-02-30", "day is out of range"),
    ("name=&a [*a]", "refers to the block"),
    ("name=a\x01", "character #x0001"),
    ("queues.spam_en.volume={file: \"a\\0b.csv\"}", "null byte"),  # YAML's escape for NUL
])
def test_bad_values_through_set_exit_2(assignment, words):
    result = CliRunner().invoke(main, ["validate", str(QUICK), "--set", assignment])
    assert result.exit_code == 2 and words in result.stderr and "Traceback" not in result.stderr


def test_a_file_name_too_long_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(tmp_path / ("x" * 300 + ".yaml"))])
    assert result.exit_code == 2 and "cannot read the file" in result.stderr


@pytest.mark.parametrize("overrides, field", [
    (["queues.spam_en.initial_backlog=100000000"], "queues.spam_en.initial_backlog"),
    (["horizon.duration=520w", "queues.spam_en.volume.mean=1e9"], "queues.spam_en.volume"),
    (["horizon.duration=52w", "queues.spam_en.volume.mean=1e6"], "queues.spam_en.volume"),  # piles up: understaffed
])
def test_a_run_that_cannot_fit_in_memory_is_refused_before_it_starts(overrides, field):
    started = time.monotonic()
    args = ["simulate", str(QUICK), "-q", "--jobs", "1"] + [x for o in overrides for x in ("--set", o)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and field in result.stderr and "GB of memory" in result.stderr
    assert time.monotonic() - started < 20


def test_an_unwritable_out_is_refused_before_computing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["simulate", str(ROOT / "scenarios" / "trust_safety_q1.yaml"), "-q",
                                       "--out", str(blocker / "out")])
    assert result.exit_code == 2 and "cannot write there" in result.stderr
    assert time.monotonic() - started < 10  # the 13-week quarter was not simulated first


def test_replications_and_optimizer_ranges_are_bounded(tmp_path):
    result = CliRunner().invoke(main, ["simulate", str(QUICK), "-r", "5000"])
    assert result.exit_code == 2 and "1<=x<=1000" in result.output
    spec = tmp_path / "o.yaml"
    spec.write_text(f"extends: {QUICK}\noptimize:\n  variables:\n    pools.dublin.headcount: {{low: 0, high: 1000000000}}\n")
    result = CliRunner().invoke(main, ["optimize", str(spec), "-q"])
    assert result.exit_code == 2 and "at most 100,000" in result.stderr
    spec.write_text(f"extends: {QUICK}\noptimize:\n  constraints: ['budget <= 1.2.3']\n"
                    "  variables:\n    pools.dublin.headcount: {low: 8, high: 12}\n")
    result = CliRunner().invoke(main, ["optimize", str(spec), "-q"])
    assert result.exit_code == 2 and "optimize.constraints.0" in result.stderr
    result = CliRunner().invoke(main, ["optimize", str(spec), "-q", "--set", "optimize.objective=[]"])
    assert result.exit_code == 2 and "optimize.objective" in result.stderr


@pytest.mark.parametrize("url", ["bogus://x", "postgresql://u:p@127.0.0.1:1/db"])
def test_a_storage_that_cannot_be_opened_exits_2(tmp_path, url):
    spec = tmp_path / "o.yaml"
    spec.write_text(f"extends: {QUICK}\noptimize:\n  variables:\n    pools.dublin.headcount: {{low: 8, high: 12}}\n")
    result = CliRunner().invoke(main, ["optimize", str(spec), "-q", "--storage", url])
    assert result.exit_code == 2 and f"--storage {url}: cannot open it" in result.stderr


def test_an_unforeseen_error_is_one_short_message_with_exit_3(monkeypatch):
    import simulator.simulation

    def broken(*args, **kwargs):
        raise RuntimeError("something annoplan did not foresee")

    monkeypatch.setattr(simulator.simulation, "simulate", broken)
    result = CliRunner().invoke(main, ["simulate", str(QUICK), "-q"])
    assert result.exit_code == 3
    assert "internal error: RuntimeError: something annoplan did not foresee" in result.stderr
    assert "Traceback" not in result.stderr and "report it" in result.stderr


# --- the loader never fails other than with a ScenarioError -----------------------------------------------

def _load_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_scenario(path)
    except ScenarioError as exc:
        assert exc.problems and all(p.file for p in exc.problems)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["1h", "90s", "13w", "2027-01-04", "Mon-Fri", "24x7",
                                                           ".inf", "-1", "UTC", "America", "x" * 300]))
TREES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.sampled_from(
        ["name", "horizon", "queues", "pools", "start", "duration", "warmup", "volume", "mean", "per", "skill",
         "sla", "target", "headcount", "skills", "shifts", "shrinkage", "absence", "optimize", "variables",
         "q", "p", "s", "extends", "workflows", "review", "sample", "file"]), children, max_size=5)), max_leaves=25)


@settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREES)
def test_generated_scenario_trees_load_or_exit_2(tmp_path, tree):
    _load_text(tmp_path, yaml.safe_dump({"tree": tree} if not isinstance(tree, dict) else tree))


@settings(max_examples=200, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(SHIPPED) - 1), position=st.floats(0, 1), cut=st.integers(0, 40),
       insert=st.text(max_size=20))
def test_mutated_shipped_scenarios_load_or_exit_2(tmp_path, index, position, cut, insert):
    """Cut and splice the shipped files at random places: a valid scenario or a ScenarioError, never
    another exception. (Forecast paths are relative to the file, so the copy sits beside the original.)"""
    text = SHIPPED[index].read_text(encoding="utf-8")
    at = int(position * len(text))
    mutated = text[:at] + insert + text[at + cut:]
    path = SHIPPED[index].parent / f".fuzz-{os.getpid()}.yaml"
    try:
        path.write_text(mutated, encoding="utf-8", errors="surrogatepass")
        try:
            load_scenario(path)
        except ScenarioError as exc:
            assert exc.problems
    finally:
        path.unlink(missing_ok=True)


# --- processes -------------------------------------------------------------------------------------------

def _children(pid: int) -> set[int]:
    """Every live descendant of `pid`, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _start_long_run() -> tuple[subprocess.Popen, set[int]]:
    """A 4-replication quarter in 2 worker processes; returns once the workers are running."""
    process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "simulate",
                                str(ROOT / "scenarios" / "trust_safety_q1.yaml"), "-r", "4", "--jobs", "2", "-q"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = _children(process.pid)
        if len(workers) >= 3:  # the forkserver and its two workers (and the resource tracker)
            time.sleep(1.0)
            return process, _children(process.pid)
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the workers never started")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_a_killed_parent(how):
    process, workers = _start_long_run()
    process.send_signal(how)
    process.wait(timeout=10)
    deadline = time.monotonic() + 5
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(workers), f"orphans after {how.name}: {sorted(_alive(workers))}"


def test_ctrl_c_stops_at_once_with_one_line_and_exit_130():
    process, workers = _start_long_run()
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 130 and time.monotonic() - started < 5
    assert err.strip() == "annoplan: interrupted"
    deadline = time.monotonic() + 5
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(workers)


def test_kept_workers_serve_every_run_inside_the_block_with_the_same_results_and_end_with_it():
    """Verification starts a run per look and wave; inside kept_workers they share one pool (no new
    workers after the first run), give the same bytes as runs with their own pools, and the workers are
    gone once the block ends."""
    from simulator.processes import kept_workers
    from simulator.replications import run_replications

    scenario = load_scenario(QUICK, ["horizon.duration=4d", "horizon.warmup=1d"])
    alone = [json.dumps(run_replications(scenario, 2, jobs=2, first=k)[1].kpis, sort_keys=True) for k in (0, 5)]
    helpers = _alive(_children(os.getpid()))  # the forkserver and resource tracker live as long as we do
    with kept_workers(2):
        first = run_replications(scenario, 2, jobs=2)
        workers = _alive(_children(os.getpid())) - helpers
        second = run_replications(scenario, 2, jobs=2, first=5)
        assert _alive(_children(os.getpid())) - helpers == workers and len(workers) == 2
    assert [json.dumps(run[1].kpis, sort_keys=True) for run in (first, second)] == alone
    deadline = time.monotonic() + 5
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(workers)


# --- output folders ---------------------------------------------------------------------------------------

SHORT = ["--set", "horizon.duration=10d", "--set", "horizon.warmup=2d"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A complete simulate folder of the quickstart scenario."""
    out = tmp_path_factory.mktemp("runs") / "base"
    result = CliRunner().invoke(main, ["simulate", str(QUICK), "-r", "2", "--jobs", "1", "-q", "--out", str(out), *SHORT])
    assert result.exit_code == 0, result.stderr
    return out


def _copy(folder: Path, target: Path) -> Path:
    target.mkdir()
    for path in folder.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
    return target


@pytest.mark.parametrize("damage, words", [
    (lambda f: (f / "manifest.json").unlink(), "did not finish"),
    (lambda f: (f / "manifest.json").write_text("{not json"), "manifest.json is damaged"),
    (lambda f: (f / "timeseries.parquet").write_bytes(b""), "timeseries.parquet: missing, damaged"),
    (lambda f: (f / "weekly.parquet").unlink(), "weekly.parquet: missing"),
    (lambda f: (f / "summary.json").write_text('{"scenario": 1}'), "summary.json: missing, damaged"),
])
def test_report_refuses_a_damaged_or_incomplete_folder(finished, tmp_path, damage, words):
    folder = _copy(finished, tmp_path / "copy")
    damage(folder)
    result = CliRunner().invoke(main, ["report", str(folder)])
    assert result.exit_code == 2 and words in result.stderr and "Traceback" not in result.stderr


def test_report_refuses_a_folder_mixing_two_runs(finished, tmp_path):
    """The same folder, one file taken from a run with another seed: its hash gives it away."""
    other = tmp_path / "other"
    result = CliRunner().invoke(main, ["simulate", str(QUICK), "-r", "2", "--jobs", "1", "-q", "--seed", "5",
                                       "--out", str(other), *SHORT])
    assert result.exit_code == 0
    folder = _copy(finished, tmp_path / "mixed")
    (folder / "kpis.parquet").write_bytes((other / "kpis.parquet").read_bytes())
    result = CliRunner().invoke(main, ["report", str(folder)])
    assert result.exit_code == 2 and "kpis.parquet" in result.stderr and "another run" in result.stderr
    assert CliRunner().invoke(main, ["report", str(finished)]).exit_code == 0  # the untouched folder reports


def test_a_queue_named_like_mathtext_is_drawn_as_text(tmp_path):
    out = tmp_path / "dollar"
    text = QUICK.read_text(encoding="utf-8").replace("spam_en:\n    volume", '"$a^^b$":\n    volume', 1)
    (tmp_path / "s.yaml").write_text(text)
    result = CliRunner().invoke(main, ["simulate", str(tmp_path / "s.yaml"), "-r", "1", "-q", "--out", str(out), *SHORT])
    assert result.exit_code == 0, result.stderr
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "$a^^b$" in (out / "report.html").read_text(encoding="utf-8")  # mathtext would refuse a double ^


def test_a_second_run_into_a_busy_folder_is_refused_and_a_killed_one_is_not_reported(tmp_path):
    out = tmp_path / "busy"
    first = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "simulate", str(ROOT / "scenarios" / "trust_safety_q1.yaml"),
                              "-r", "2", "--jobs", "1", "-q", "--out", str(out)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (out / ".annoplan.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = CliRunner().invoke(main, ["simulate", str(QUICK), "-q", "--out", str(out), *SHORT])
        assert second.exit_code == 2 and "another annoplan run is writing there" in second.stderr
    finally:
        first.kill()
        first.wait()
    report = CliRunner().invoke(main, ["report", str(out)])
    assert report.exit_code == 2 and "Traceback" not in report.stderr  # killed before or while writing
    again = CliRunner().invoke(main, ["simulate", str(QUICK), "-q", "--jobs", "1", "--out", str(out), *SHORT])
    assert again.exit_code == 0  # the dead run's lock went with it
    assert CliRunner().invoke(main, ["report", str(out)]).exit_code == 0


def test_report_refuses_a_summary_of_the_wrong_shape_even_with_a_matching_manifest(finished, tmp_path):
    """A crafted summary.json, its manifest entry updated to match: pydantic names the wrong field."""
    import hashlib
    import json

    folder = _copy(finished, tmp_path / "crafted")
    summary = json.loads((folder / "summary.json").read_text())
    summary["totals"]["cost"]["mean"] = "a lot"
    (folder / "summary.json").write_text(json.dumps(summary))
    manifest = json.loads((folder / "manifest.json").read_text())
    data = (folder / "summary.json").read_bytes()
    manifest["files"]["summary.json"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(main, ["report", str(folder)])
    assert result.exit_code == 2 and "totals.cost.mean" in result.stderr and "Traceback" not in result.stderr
