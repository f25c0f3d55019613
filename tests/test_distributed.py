"""Several workers on one PostgreSQL study: the budget is run exactly, and a dead worker's trial is rerun.

Needs a server: .ci/run starts one on 127.0.0.1 and sets ANNOPLAN_TEST_POSTGRES. Under CI=true a missing
server fails these tests instead of skipping them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
import yaml

from tests.helpers import STAFFING

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
URL = os.environ.get("ANNOPLAN_TEST_POSTGRES")

SEARCH = dict(STAFFING, name="distributed", seed=5,
              horizon={"start": "2027-01-04", "duration": "300h", "warmup": "30h"},
              optimize={"trials": 10, "replications": 1,
                        "variables": {"pools.p.headcount": {"low": 18, "high": 80},
                                      "pools.p.cost_per_hour": {"low": 9.0, "high": 11.0}}})


@pytest.fixture
def postgres() -> str:
    if not URL:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but ANNOPLAN_TEST_POSTGRES is unset: .ci/run should have started PostgreSQL")
        pytest.skip("no PostgreSQL: set ANNOPLAN_TEST_POSTGRES (source .ci/postgres.sh starts one)")
    return URL


def _worker(scenario: Path, study: str, heartbeat: str = "60") -> subprocess.Popen:
    command = [sys.executable, "-m", "cli", "optimize", str(scenario), "--storage", URL, "--study", study,
               "-j", "1", "-q", "--json", "--heartbeat", heartbeat]
    return subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _states(study: str) -> dict[str, int]:
    trials = optuna.load_study(study_name=study, storage=URL).get_trials(deepcopy=False)
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def test_two_workers_finish_the_budget_with_no_trial_lost_or_duplicated(postgres, tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(SEARCH))
    study = f"two-workers-{uuid.uuid4().hex[:8]}"
    workers = [_worker(scenario, study), _worker(scenario, study)]
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    trials = optuna.load_study(study_name=study, storage=postgres).get_trials(deepcopy=False)
    assert _states(study) == {"COMPLETE": 10}  # nothing left running, failed or waiting
    assert sorted(t.number for t in trials) == list(range(10))
    assert all("kpis" in t.user_attrs or "screened" in t.user_attrs for t in trials)
    assert all(set(t.constraints) == {"queues.q.sla_attainment"} for t in trials)


def test_a_dead_workers_trial_is_failed_and_rerun(postgres, tmp_path):
    # trials of about 1.5 s: the worker is killed mid-trial, not after it finished (polls take ~0.3 s)
    data = dict(SEARCH, horizon={"start": "2027-01-04", "duration": "12000h", "warmup": "30h"},
                optimize=dict(SEARCH["optimize"], trials=3))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(data))
    study = f"dead-worker-{uuid.uuid4().hex[:8]}"
    doomed = _worker(scenario, study, heartbeat="1")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and doomed.poll() is None:
        time.sleep(0.2)
        try:
            trials = optuna.load_study(study_name=study, storage=URL).get_trials(deepcopy=False)
        except KeyError:  # the study is not created yet
            continue
        if any(t.state.name == "RUNNING" and len(t.params) == 2 for t in trials):
            break  # a trial is being simulated (both values suggested)
    assert doomed.poll() is None, "the first worker ended before it could be killed"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    rescuer = _worker(scenario, study, heartbeat="1")
    _, err = rescuer.communicate(timeout=600)
    assert rescuer.returncode == 0, err
    trials = optuna.load_study(study_name=study, storage=postgres).get_trials(deepcopy=False)
    failed = [t for t in trials if t.state.name == "FAIL"]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(failed) == 1 and len(complete) == 3 and not [t for t in trials if t.state.name == "RUNNING"]
    assert failed[0].params in [t.params for t in complete]  # the dead worker's trial was run again
