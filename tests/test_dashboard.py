"""optuna-dashboard tells feasible plans from infeasible ones: its best trial is the cheapest feasible
plan, read through the dashboard's own HTTP API (its WSGI app, called in-process: no server, no port)."""

from __future__ import annotations

import io
import json
import math
from wsgiref.util import setup_testing_defaults

import optuna
import pytest

from optimize import optimize
from tests.helpers import STAFFING, write_yaml

pytestmark = pytest.mark.slow


def _get(app, path: str) -> dict:
    """GET `path` from a WSGI app; the decoded JSON body."""
    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status[0].startswith("200"), (status, body[:300])
    return json.loads(body)


def test_dashboards_best_trial_is_the_cheapest_feasible_plan(tmp_path):
    """Grid over 18..26 heads of an M/M/c pool whose SLA needs 21: 18-20 are cheaper and miss it. The
    dashboard must name the trial of 21 heads as best, and list every trial's constraint values."""
    from optuna_dashboard._app import create_app

    data = dict(STAFFING, optimize={"trials": 9, "replications": 3, "strategy": "grid",
                                    "variables": {"pools.p.headcount": {"low": 18, "high": 26}}})
    url = f"sqlite:///{tmp_path / 'study.db'}"
    result = optimize(write_yaml(tmp_path, data), jobs=1, storage=url, study_name="s")
    assert result.feasible and result.params == {"pools.p.headcount": 21}

    study = optuna.load_study(study_name="s", storage=url)
    costs = {t.number: t.user_attrs["objectives"][0] for t in study.trials}
    feasible = [t for t in study.trials if all(v <= 0 for v in t.constraints.values())]
    infeasible = [t for t in study.trials if t not in feasible]
    cheapest = min(feasible, key=lambda t: costs[t.number])
    assert infeasible and min(costs[t.number] for t in infeasible) < costs[cheapest.number]  # the trap is set

    app = create_app(optuna.storages.get_storage(url))
    studies = _get(app, "/api/studies")["study_summaries"]
    detail = _get(app, f"/api/studies/{studies[0]['study_id']}")
    [best] = detail["best_trials"]
    assert best["number"] == cheapest.number
    assert best["params"][0]["param_external_value"] == str(cheapest.params["pools.p.headcount"])
    by_number = {t["number"]: t for t in detail["trials"]}
    for t in study.trials:
        attrs = {a["key"]: a["value"] for a in by_number[t.number]["user_attrs"]}
        assert json.loads(attrs["feasible"].lower()) == (t in feasible)  # a column the dashboard can filter on
        assert "queues.q.sla_attainment" in attrs["constraints"]
    assert all(math.isinf(t.value) for t in infeasible)
    assert all(t.value == costs[t.number] for t in feasible)
