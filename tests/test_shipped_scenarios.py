"""Every shipped scenario validates and runs a full replication with sane, conserved numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import load_scenario
from simulator.model.engine import run_replication

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_runs(path):
    s = load_scenario(path)
    run = run_replication(s, 0)
    for qid, q in run.kpis["queues"].items():
        assert q["arrivals"] > 0, qid
        assert 0.0 <= q["sla_attainment"] <= 1.0 and 0.5 <= q["quality"] <= 1.0, qid
    for pid, p in run.kpis["pools"].items():
        assert 0 < p["busy_hours"] <= p["paid_hours"], pid
        assert p["utilization"] < 1.05, pid


def test_trust_and_safety_scenario_is_realistic():
    s = load_scenario(SCENARIOS[0].parent / "trust_safety_q1.yaml")
    zones = {p.timezone for p in s.pools.values()}
    assert len(zones) >= 3 and len(s.queues) >= 6
    assert any(q.sensitive for q in s.queues.values()) and len({q.sla.target for q in s.queues.values()}) >= 3
    assert len({q.priority for q in s.queues.values()}) >= 3
    costs = {p.cost_per_hour for p in s.pools.values()}
    assert min(costs) < 0.5 * max(costs)  # vendor vs in-house


@pytest.mark.parametrize("path", [p for p in SCENARIOS if "optimize:" in p.read_text()],
                         ids=lambda p: p.stem)
def test_shipped_optimize_sections_load_with_their_bounds_checked(path):
    """Every variable's both ends pass the model's validation and every constraint parses."""
    from optimize.runner import prepare

    search = prepare(path)
    assert search.decisions and search.constraints and search.trials >= 1
