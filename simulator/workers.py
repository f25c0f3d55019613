"""Workers and pools at run time: who is on, who is idle, what each is doing, and its pool's settings."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from .metrics import PoolStats
from .routing import RULES
from .scenario import Pool
from .tasks import TaskList


class Worker:
    """One person. `on` means available for work now (on shift and not in a shrinkage block)."""

    __slots__ = ("pool", "on", "task", "item", "idle_since", "sens_day", "sens_hours")

    def __init__(self, pool: PoolRuntime):
        self.pool = pool
        self.on = False
        self.task: TaskList | None = None
        self.item: Any = None
        self.idle_since = 0.0
        self.sens_day = -1
        self.sens_hours = 0.0


class PoolRuntime:
    """A pool's workers and the task lists they serve, with per-list speed and label error."""

    __slots__ = ("id", "spec", "stats", "workers", "idle", "lists", "choose", "speed", "error", "busy_now",
                 "available_now", "local_day")

    def __init__(self, pool_id: str, spec: Pool, lists: list[TaskList], local_day: np.ndarray,
                 error: dict[TaskList, float]):
        self.id = pool_id
        self.spec = spec
        self.stats = PoolStats(spec.cost_per_hour)
        self.workers = [Worker(self) for _ in range(spec.headcount)]
        self.idle: deque[Worker] = deque()
        self.lists = sorted(lists, key=lambda tl: tl.priority)
        self.choose = RULES[spec.routing]
        self.speed = {tl: spec.skills[tl.skill].speed for tl in lists}
        self.error = error
        self.busy_now = 0
        self.available_now = 0
        self.local_day = local_day
        for tl in lists:
            tl.pools.append(self)
