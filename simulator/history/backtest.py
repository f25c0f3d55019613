"""`annoplan backtest SCENARIO LOG`: replay the log's arrivals through the scenario's staffing and
process, then compare simulated and actual history week by week: items delivered, TAT p50 and p90,
SLA attainment, open backlog at each week's end, and each pool's utilisation.

Both sides are measured by the same code on the same format: the simulation writes its own task log
(--events), so the comparison is of like with like. How far apart two simulated replications of the
same arrivals are is the noise; a figure is flagged when the actual history is further from the
simulation than twice that noise plus a floor (FLOORS), i.e. when the model does not reproduce it.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.results import SimulationResult
from simulator.scenario import Scenario, validate_data
from simulator.scenario.calendar import horizon_origin
from simulator.scenario.errors import AnnoplanError
from simulator.scenario.task_log import read_task_log
from simulator.simulation import simulate

QUEUE_METRICS = ("delivered", "tat_p50_h", "tat_p90_h", "sla_attainment", "backlog")
FLOORS = {"delivered": 0.02, "tat_p50_h": 0.05, "tat_p90_h": 0.05, "sla_attainment": 0.01, "backlog": 0.05,
          "utilisation": 0.02}  # relative for counts and hours, absolute for shares


def weekly_figures(tasks: pd.DataFrame, origin: pd.Timestamp, weeks: int, targets: dict[str, float],
                   on_shift: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long table (entity, week, metric, value) of one history: per queue the items delivered in each
    week (an item is delivered when its last task ends), their TAT p50 / p90 in hours and the share
    within the SLA target, and the items open at the week's end; per pool busy hours over on-shift
    hours (`on_shift`: on-shift heads summed per week)."""
    def hours(times: pd.Series) -> np.ndarray:
        return (times - origin).dt.total_seconds().to_numpy() / 3600.0

    items = tasks.groupby("item_id", observed=True).agg(queue=("queue", "first"), created=("created_at", "first"),
                                                         done=("finished_at", "max"))
    created, done = hours(items["created"]), hours(items["done"])
    week = np.floor(done / 168).astype(int)
    tat = done - created
    rows = []
    for queue in sorted(targets):
        mine = (items["queue"].astype(str) == queue).to_numpy()
        for w in range(weeks):
            sel = mine & (week == w)
            t = tat[sel]
            rows += [(queue, w, "delivered", float(sel.sum())),
                     (queue, w, "tat_p50_h", float(np.median(t)) if len(t) else np.nan),
                     (queue, w, "tat_p90_h", float(np.quantile(t, 0.9)) if len(t) else np.nan),
                     (queue, w, "sla_attainment", float((t <= targets[queue]).mean()) if len(t) else np.nan),
                     (queue, w, "backlog", float((mine & (created < 168 * (w + 1)) & (done >= 168 * (w + 1))).sum()))]
    start, duration = hours(tasks["started_at"]), (tasks["finished_at"] - tasks["started_at"]).dt.total_seconds() / 3600
    busy = pd.DataFrame({"pool": tasks["pool"].astype(str).to_numpy(), "week": np.floor(start / 168).astype(int),
                         "hours": duration.to_numpy()}).groupby(["pool", "week"])["hours"].sum()
    for pool, shift in on_shift.items():
        for w in range(weeks):
            rows.append((pool, w, "utilisation", float(busy.get((pool, w), 0.0)) / shift[w] if shift[w] else np.nan))
    return pd.DataFrame(rows, columns=["entity", "week", "metric", "value"])


def _error(metric: str, a: np.ndarray, b: np.ndarray) -> float:
    """How far series b is from series a over the weeks both have: relative for counts and hours
    (sum |a - b| / sum |a|), absolute mean for shares."""
    both = ~(np.isnan(a) | np.isnan(b))
    a, b = a[both], b[both]
    if not len(a):
        return float("nan")
    if metric in ("sla_attainment", "utilisation"):
        return float(np.abs(a - b).mean())
    return float(np.abs(a - b).sum() / max(np.abs(a).sum(), 1e-9))


@dataclass
class Backtest:
    """Weekly figures of the actual and each simulated history, and the error table."""

    weekly: pd.DataFrame  # entity, week, metric, value, source (actual | replication k)
    errors: pd.DataFrame  # entity, metric, actual, simulated (week means), error, noise, flagged
    replications: int

    def summary(self) -> dict[str, Any]:
        """The --json object: every error row, and which figures are flagged."""
        rows = self.errors.replace({np.nan: None}).to_dict("records")
        return {"replications": self.replications, "errors": rows,
                "flagged": [f"{r['entity']}.{r['metric']}" for r in rows if r["flagged"]]}


def replay_scenario(raw: dict[str, Any], log: Path, queues: list[str], file: str) -> Scenario:
    """The scenario with every queue the log holds replaying the log's arrivals (no growth, noise or surges)."""
    data = copy.deepcopy(raw)
    for qid in queues:
        node = data["queues"][qid]
        node["volume"] = {"replay": str(log.resolve()), "queue": qid}
        for key in ("growth_weekly", "volume_cv", "surges", "hourly_profile", "weekly_profile"):
            node.pop(key, None)
    return validate_data(data, {}, file)


def backtest(raw: dict[str, Any], log_path: Path, replications: int = 3, jobs: int | None = None,
             file: str = "scenario") -> Backtest:
    """Replay `log_path` through the scenario `raw` in `replications` runs and compare week by week."""
    log = read_task_log(log_path)
    tasks = log.history()
    in_log = sorted(set(tasks["queue"].astype(str).unique()))
    queues = [q for q in in_log if q in raw.get("queues", {})]
    if not queues:
        raise AnnoplanError(f"{log_path}: none of the log's queues ({', '.join(in_log[:5])}) is in the scenario; "
                            "name the scenario's queues as the log does")
    scenario = replay_scenario(raw, log_path, queues, file)
    origin = pd.Timestamp(horizon_origin(scenario.horizon.start))
    weeks = int(scenario.horizon.duration // 168)
    if weeks < 1:
        raise AnnoplanError(f"{file}: horizon.duration is under a week; a backtest compares whole weeks")
    targets = {q: scenario.queues[q].sla.target for q in queues}
    with tempfile.TemporaryDirectory() as folder:
        result = simulate(scenario, replications, jobs, events=Path(folder))
        simulated = [pd.read_parquet(Path(folder) / f"{k}.parquet") for k in range(replications)]
    on_shift = _on_shift(result, weeks)
    frames = [weekly_figures(tasks, origin, weeks, targets, on_shift).assign(source="actual")]
    for k, events in enumerate(simulated):
        frames.append(weekly_figures(events, origin, weeks, targets, on_shift).assign(source=f"replication {k}"))
    weekly = pd.concat(frames, ignore_index=True)
    return Backtest(weekly, _errors(weekly, replications), replications)


def _on_shift(result: SimulationResult, weeks: int) -> dict[str, np.ndarray]:
    """Per pool, on-shift head-hours per week (mean over replications): the utilisation's denominator."""
    out = {}
    for pid in result.scenario.pools:
        hourly = np.mean([run.pool_series[pid]["on_shift"] for run in result.runs], axis=0)
        out[pid] = np.array([hourly[168 * w:168 * (w + 1)].sum() for w in range(weeks)])
    return out


def _errors(weekly: pd.DataFrame, replications: int) -> pd.DataFrame:
    """Per entity and metric: the actual's error against each replication (mean), against the noise
    between replications (mean over pairs), and the flag."""
    rows = []
    for (entity, metric), group in weekly.groupby(["entity", "metric"], sort=False):
        series = {source: g.sort_values("week")["value"].to_numpy() for source, g in group.groupby("source")}
        actual = series.pop("actual")
        sims = list(series.values())
        error = float(np.nanmean([_error(metric, actual, s) for s in sims]))
        noise = float(np.nanmean([_error(metric, a, b) for a, b in combinations(sims, 2)])) if len(sims) > 1 else 0.0
        rows.append({"entity": entity, "metric": metric, "actual": float(np.nanmean(actual)),
                     "simulated": float(np.nanmean(np.mean(sims, axis=0))), "error": error, "noise": noise,
                     "flagged": bool(error > 2 * noise + FLOORS[metric])})
    return pd.DataFrame(rows)
