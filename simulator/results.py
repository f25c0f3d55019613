"""A simulation's results for notebooks and files: tidy DataFrames and the --json summary object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .scenario.calendar import horizon_origin
from .model.engine import ReplicationResult
from .model.metrics import POOL_KPIS, QUEUE_KPIS, TOTAL_KPIS
from .scenario import Scenario
from .stats import mean_ci

_GROUPS = (("queue", "queues", QUEUE_KPIS), ("pool", "pools", POOL_KPIS))


@dataclass
class SimulationResult:
    """Replications of one scenario: `kpis` and `timeseries` DataFrames (long format) and `summary()`."""

    scenario: Scenario
    runs: list[ReplicationResult]
    _kpis: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def replications(self) -> int:
        return len(self.runs)

    @property
    def kpis(self) -> pd.DataFrame:
        """One row per replication x entity x KPI: replication, entity_type, entity, kpi, value."""
        if self._kpis is None:
            rows = []
            for run in self.runs:
                for entity_type, key, names in _GROUPS:
                    for entity, values in run.kpis[key].items():
                        rows += [(run.replication, entity_type, entity, k, values[k]) for k in names]
                rows += [(run.replication, "total", "total", k, run.kpis["totals"][k]) for k in TOTAL_KPIS]
            self._kpis = pd.DataFrame(rows, columns=["replication", "entity_type", "entity", "kpi", "value"])
        return self._kpis

    @property
    def timeseries(self) -> pd.DataFrame:
        """Hourly series, long format: replication, hour, time (UTC), entity_type, entity, metric, value.

        Queues: arrivals and completions during the hour, backlog (open items) at its end.
        Pools: on_shift, available (on shift less shrinkage) and busy workers at the hour's start.
        """
        origin = pd.Timestamp(horizon_origin(self.scenario.horizon.start))
        frames = []
        for run in self.runs:
            for entity_type, series in (("queue", run.queue_series), ("pool", run.pool_series)):
                for entity, metrics in series.items():
                    for metric, values in metrics.items():
                        hours = np.arange(len(values))
                        frames.append(pd.DataFrame({
                            "replication": run.replication, "hour": hours,
                            "time": origin + pd.to_timedelta(hours, unit="h"),
                            "entity_type": entity_type, "entity": entity, "metric": metric,
                            "value": np.asarray(values, dtype=float)}))
        return pd.concat(frames, ignore_index=True)

    @property
    def weekly(self) -> pd.DataFrame:
        """Per replication, queue and week of delivery (week 1 starts at the horizon's start): items
        delivered that arrived in the measured window, SLA attainment and quality among them (NaN for
        a week with none, e.g. during warm-up). Open items count only in the whole-run KPIs."""
        frames = []
        for run in self.runs:
            for queue, counts in run.queue_weeks.items():
                delivered = counts["delivered"].astype(float)
                with np.errstate(invalid="ignore", divide="ignore"):
                    frames.append(pd.DataFrame({
                        "replication": run.replication, "week": np.arange(1, len(delivered) + 1), "queue": queue,
                        "delivered": delivered, "sla_attainment": counts["within_target"] / delivered,
                        "quality": counts["correct"] / delivered}))
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> dict[str, Any]:
        """The --json object (docs/scenario.md): every KPI as {"mean", "low", "high"} over replications (null if undefined)."""
        out: dict[str, Any] = {"scenario": self.scenario.name, "seed": self.scenario.seed,
                               "replications": self.replications}
        for _, key, names in _GROUPS:
            entities = self.runs[0].kpis[key]
            out[key] = {e: {k: mean_ci(r.kpis[key][e][k] for r in self.runs) for k in names} for e in entities}
        out["totals"] = {k: mean_ci(r.kpis["totals"][k] for r in self.runs) for k in TOTAL_KPIS}
        return out
