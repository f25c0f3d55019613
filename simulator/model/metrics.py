"""Per-replication counters and the KPIs of docs/scenario.md computed from them.

Memory stays flat in the number of items: turnaround percentiles come from a log-spaced histogram
(bins 0.25% wide, so a percentile is within 0.125% of the exact order statistic), not from a list of
every item's turnaround. Means and SLA hits are counted exactly. Turnarounds wait in a buffer of at
most 65,536 and are folded into the histogram by numpy: per item that is a list append, not a log.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .random_streams import NEVER
from simulator.stats import wilson

_BINS_PER_E = 400
_TAT_MIN_H = 1e-4
_N_BINS = int(math.log(1e6 / _TAT_MIN_H) * _BINS_PER_E) + 1
_LOG_MIN = math.log(_TAT_MIN_H)
_BUFFER = 65_536

QUEUE_KPIS = ("arrivals", "offered_h", "completed", "backlog_end", "undelivered", "wait_mean_h", "waited_share", "label_wait_mean_h",
              "review_wait_mean_h", "tat_mean_h", "tat_p50_h", "tat_p90_h",
              "tat_p95_h", "sla_attainment", "quality", "audited_quality", "audited_quality_low",
              "audited_quality_high", "audited_items", "rework_rate", "escalation_rate")
POOL_KPIS = ("headcount_end", "paid_hours", "productive_hours", "busy_hours", "utilization", "cost",
             "exposure_h_max", "quality")
TOTAL_KPIS = ("arrivals", "completed", "cost", "sla_attainment", "quality")


class QueueStats:
    """Counters of one queue. Item KPIs count the measured items: those arriving in the measured window
    [start + warmup, end), followed after the end until delivered (see engine.Replication.run)."""

    __slots__ = ("window_start", "window_end", "target", "backlog_end", "undelivered", "late", "arrived", "arrivals", "offered", "completed", "open", "wait_sum", "wait_n", "tat_sum",
                 "waited", "hits", "correct", "reworks", "escalations", "audited", "audited_correct",
                 "hist", "tats", "open_overdue", "hour_arrivals", "hour_done", "label_wait", "review_wait",
                 "weeks", "staged", "audits")

    def __init__(self, window_start: float, window_end: float, target: float):
        self.window_start = window_start
        self.window_end = window_end
        self.target = target
        self.backlog_end = 0  # items open at the window's end (measured or not)
        self.undelivered = 0  # measured items still open when the run stopped
        self.late = [0] * 168  # measured items that missed the target, by clock hour of the week of arrival
        self.arrived = [0] * 168  # measured items, by clock hour of the week of arrival
        self.arrivals = 0
        self.offered = 0.0  # work content (hours at speed 1) of the measured items' first tasks
        self.completed = 0
        self.open = 0
        self.wait_sum = 0.0
        self.wait_n = 0
        self.waited = 0
        self.tat_sum = 0.0
        self.hits = 0
        self.correct = 0
        self.reworks = 0
        self.escalations = 0
        self.audited = 0
        self.audited_correct = 0
        self.open_overdue = 0
        self.hist = np.zeros(_N_BINS, dtype=np.int64)
        self.tats: list[float] = []
        self.hour_arrivals = 0
        self.hour_done = 0
        self.label_wait = [0.0, 0]  # waits of later label visits (passes 2..k, reworks); first visits: wait_sum
        self.review_wait = [0.0, 0]
        self.weeks: list[tuple[int, int, int]] = []  # cumulative (completed, hits, correct) at each week's end
        self.staged = False  # set by the workflow: items carry reworks and escalation, and may be audited
        self.audits: Callable[[], int] = NEVER  # is this delivered item audited (set by the workflow)

    def close_week(self) -> None:
        """Snapshot the cumulative delivery counters at a week's end (weekly KPIs are the differences)."""
        self.fold()
        self.weeks.append((self.completed, self.hits, self.correct))

    def close_drain(self) -> None:
        """Items delivered after the end (in the drain) count in the last week, so the weeks add up."""
        if self.weeks:
            self.fold()
            self.weeks[-1] = (self.completed, self.hits, self.correct)

    def weekly(self) -> dict[str, np.ndarray]:
        """Per week of delivery: measured items delivered, how many within the SLA target, how many
        correct; the last week includes those delivered after the end."""
        cumulative = np.asarray([(0, 0, 0), *self.weeks], dtype=np.int64)
        delivered, hits, correct = np.diff(cumulative, axis=0).T
        return {"delivered": delivered, "within_target": hits, "correct": correct}

    def delivered(self, item: Any, now: float) -> None:
        """Record one delivered item; with `staged` (a multi-stage flow) also its reworks, escalation
        and audit. One call per item wherever the flow ends, as the engine's hottest counter."""
        self.open -= 1
        self.hour_done += 1
        arrival = item.arrival
        if not self.window_start <= arrival < self.window_end:
            return
        if now - arrival > self.target:
            self.late[int(arrival) % 168] += 1
        self.tats.append(now - arrival)
        correct = item.correct
        if correct:
            self.correct += 1
        self.completed += 1
        if not self.completed % _BUFFER:
            self.fold()
        if self.staged:
            if item.loops:
                self.reworks += item.loops
            if item.escalated:
                self.escalations += 1
            if self.audits():
                self.audited += 1
                self.audited_correct += correct

    def fold(self) -> None:
        """Fold buffered turnarounds into the sum, the SLA hits and the histogram."""
        if not self.tats:
            return
        tat = np.asarray(self.tats)
        self.tats.clear()
        self.tat_sum += float(tat.sum())
        self.hits += int((tat <= self.target).sum())
        index = ((np.log(np.maximum(tat, _TAT_MIN_H)) - _LOG_MIN) * _BINS_PER_E).astype(np.int64)
        self.hist += np.bincount(np.minimum(index, _N_BINS - 1), minlength=_N_BINS)

    def percentile(self, q: float) -> float:
        """The q-quantile of turnaround (hours) of completed items, from the histogram; NaN if none."""
        if self.completed == 0:
            return math.nan
        counts = np.cumsum(self.hist)
        index = int(np.searchsorted(counts, q * self.completed, side="left"))
        return _TAT_MIN_H * math.exp((index + 0.5) / _BINS_PER_E)

    def kpis(self) -> dict[str, float]:
        """This replication's queue KPIs (docs/scenario.md names)."""
        self.fold()
        done = self.completed
        counted = done + self.open_overdue
        audit_low, audit_high = wilson(self.audited_correct, self.audited)
        return {
            "arrivals": float(self.arrivals),
            "offered_h": self.offered,
            "completed": float(done),
            "backlog_end": float(self.backlog_end),
            "undelivered": float(self.undelivered),
            "wait_mean_h": self.wait_sum / self.wait_n if self.wait_n else math.nan,
            "waited_share": self.waited / self.wait_n if self.wait_n else math.nan,
            "label_wait_mean_h": (self.wait_sum + self.label_wait[0]) / (self.wait_n + self.label_wait[1])
            if self.staged and self.wait_n + self.label_wait[1] else math.nan,
            "review_wait_mean_h": self.review_wait[0] / self.review_wait[1] if self.review_wait[1] else math.nan,
            "tat_mean_h": self.tat_sum / done if done else math.nan,
            "tat_p50_h": self.percentile(0.50),
            "tat_p90_h": self.percentile(0.90),
            "tat_p95_h": self.percentile(0.95),
            "sla_attainment": self.hits / counted if counted else math.nan,
            "quality": self.correct / done if done else math.nan,
            "audited_quality": self.audited_correct / self.audited if self.audited else math.nan,
            "audited_quality_low": audit_low,
            "audited_quality_high": audit_high,
            "audited_items": float(self.audited),
            "rework_rate": self.reworks / done if done else math.nan,
            "escalation_rate": self.escalations / done if done else math.nan,
        }


class PoolStats:
    """Counters of one pool over the measured window."""

    __slots__ = ("cost_per_hour", "paid", "productive", "busy", "busy_by_skill", "exposure_max", "headcount_end",
                 "labels", "labels_right")

    def __init__(self, cost_per_hour: float, skills: set[str]):
        """`skills`: those of the task lists the pool works (the keys of busy_by_skill)."""
        self.cost_per_hour = cost_per_hour
        self.labels = 0  # labels (passes and reworks) this pool gave items of the measured window
        self.labels_right = 0
        self.paid = 0.0
        self.productive = 0.0
        self.busy = 0.0
        self.busy_by_skill = dict.fromkeys(sorted(skills), 0.0)  # busy hours by the skill of the task worked
        self.exposure_max = 0.0
        self.headcount_end = 0

    def kpis(self) -> dict[str, float]:
        """This replication's pool KPIs (docs/scenario.md names)."""
        return {
            "headcount_end": float(self.headcount_end),
            "paid_hours": self.paid,
            "productive_hours": self.productive,
            "busy_hours": self.busy,
            "utilization": self.busy / self.productive if self.productive > 0 else math.nan,
            "cost": self.paid * self.cost_per_hour,
            "exposure_h_max": self.exposure_max,
            "quality": self.labels_right / self.labels if self.labels else math.nan,
        }


def totals(queues: dict[str, QueueStats], pools: dict[str, PoolStats]) -> dict[str, float]:
    """Scenario totals: sums, volume-weighted SLA attainment and delivery-weighted quality."""
    for q in queues.values():
        q.fold()
    completed = sum(q.completed for q in queues.values())
    counted = sum(q.completed + q.open_overdue for q in queues.values())
    return {
        "arrivals": float(sum(q.arrivals for q in queues.values())),
        "completed": float(completed),
        "cost": sum(p.paid * p.cost_per_hour for p in pools.values()),
        "sla_attainment": sum(q.hits for q in queues.values()) / counted if counted else math.nan,
        "quality": sum(q.correct for q in queues.values()) / completed if completed else math.nan,
    }


def replication_kpis(queues: dict[str, QueueStats], pools: dict[str, PoolStats]) -> dict[str, Any]:
    """All KPIs of one replication, shaped like the --json output (plain floats, no intervals)."""
    return {
        "queues": {qid: q.kpis() for qid, q in queues.items()},
        "pools": {pid: p.kpis() for pid, p in pools.items()},
        "totals": totals(queues, pools),
    }
