"""Workers and pools at run time: who is on, who is idle, what each is doing, and its pool's settings."""

from __future__ import annotations

from collections import deque
from typing import Any

from .metrics import PoolStats
from .quality import label_error
from .routing import RULES
from simulator.scenario.schema import Pool
from .tasks import TaskList


class Worker:
    """One person. `on` means available for work now (on shift, not in a shrinkage block, not gone)."""

    __slots__ = ("pool", "index", "on", "task", "item", "busy_until", "idle_since", "hired_at", "ramp_end", "leaves_at",
                 "sens_day", "sens_hours", "capped_day", "exposure")

    def __init__(self, pool: PoolRuntime, index: int, hired_at: float, leaves_at: float, ramp_end: float):
        self.pool = pool
        self.index = index
        self.on = False
        self.task: TaskList | None = None
        self.item: Any = None
        self.busy_until = 0.0  # when the item in hand is done
        self.idle_since = 0.0
        self.hired_at = hired_at
        self.ramp_end = ramp_end
        self.leaves_at = leaves_at
        self.sens_day = -1
        self.sens_hours = 0.0
        self.capped_day = -1
        self.exposure: dict[int, float] = {}  # local day -> sensitive hours (the per-worker daily log)

    def ramp(self, now: float) -> float:
        """Share of the ramp still to go at `now`: 1 on the hiring day, 0 once ramped (or never ramped)."""
        if now >= self.ramp_end:
            return 0.0
        spec = self.pool.spec.ramp
        return (self.ramp_end - now) / spec.duration if spec is not None else 0.0


class PoolRuntime:
    """A pool's workers and the task lists they serve, with per-list speed and label accuracy."""

    __slots__ = ("id", "spec", "stats", "workers", "idle", "idle_capped", "lists", "safe_lists", "queued",
                 "safe_queued", "choose", "speed", "accuracy", "error", "busy_now", "available_now", "local_day", "cap",
                 "plain", "hour_sensitive", "take")

    def __init__(self, pool_id: str, spec: Pool, lists: list[TaskList], local_day: list[int]):
        self.id = pool_id
        self.spec = spec
        self.stats = PoolStats(spec.cost_per_hour, {t.skill for t in lists})
        self.workers: list[Worker] = []
        self.idle: deque[Worker] = deque()
        self.idle_capped: deque[Worker] = deque()  # idle but at the exposure cap: non-sensitive work only
        self.lists = sorted(lists, key=lambda tl: tl.priority)
        self.safe_lists = [tl for tl in self.lists if not tl.sensitive]
        self.queued = tuple(tl.items for tl in self.lists)  # the lists' containers, for a C-level any()
        self.safe_queued = tuple(tl.items for tl in self.safe_lists)
        self.choose = RULES[spec.routing]
        self.speed = {tl: spec.skills[tl.skill].speed for tl in lists}
        self.accuracy = {tl: spec.skill_accuracy(tl.skill) for tl in lists}
        self.error = {tl: label_error(self.accuracy[tl], tl.queue.difficulty) for tl in lists}
        self.busy_now = 0
        self.available_now = 0
        self.local_day = local_day
        self.cap = spec.exposure_cap
        self.plain = self.cap is None and not any(tl.distinct for tl in lists)
        self.hour_sensitive = 0.0
        self.take: Any = None  # how a free worker takes its next task: set by Dispatcher.serve
        for tl in lists:
            tl.pools.append(self)
            tl.idle_queues.append(self.idle)
            tl.all_idle_queues.append(self.idle)
            if self.cap is None:
                continue
            if tl.sensitive:
                tl.capped_pools.append(self)
            else:  # a worker capped for sensitive work may still take this
                tl.all_idle_queues.append(self.idle_capped)

    def error_of(self, worker: Worker, task: TaskList, now: float) -> float:
        """Label error of `worker` on `task` at `now`, with a new hire's accuracy ramp."""
        left = worker.ramp(now)
        if left == 0.0:
            return self.error[task]
        factor = 1.0 - (1.0 - self.spec.ramp.accuracy) * left  # type: ignore[union-attr]
        return label_error(self.accuracy[task] * factor, task.queue.difficulty)

    def speed_of(self, worker: Worker, task: TaskList, now: float) -> float:
        """Speed of `worker` on `task` at `now`, with a new hire's speed ramp."""
        left = worker.ramp(now)
        if left == 0.0:
            return self.speed[task]
        return self.speed[task] * (1.0 - (1.0 - self.spec.ramp.speed) * left)  # type: ignore[union-attr]
