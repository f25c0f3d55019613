"""Task lists: the queued work of one queue at one stage, kept oldest-arrival first."""

from __future__ import annotations

import heapq
from collections import deque
from functools import partial
from typing import Any

from .items import Item


class TaskList:
    """Waiting items of one (queue, stage), in arrival order; `items[0]` is the oldest.

    First-stage work enters in arrival order, so a deque keeps it sorted for free; later stages
    enter out of arrival order and use a heap (`ordered=False`). With `distinct` (consensus passes)
    a worker may not take a pass of an item it has labelled already. `items` stays the same
    container for the list's life: pools test it directly (PoolRuntime.queued).
    """

    __slots__ = ("name", "queue", "skill", "priority", "target", "sensitive", "items", "pop", "push", "pools",
                 "done", "distinct", "idle_queues", "all_idle_queues", "capped_pools", "wait")

    def __init__(self, name: str, queue: Any, skill: str, *, ordered: bool, distinct: bool = False):
        self.name = name
        self.queue = queue
        self.skill = skill
        self.priority: int = queue.priority
        self.target: float = queue.target
        self.sensitive: bool = queue.sensitive
        self.pools: list[Any] = []
        self.idle_queues: list[Any] = []  # the pools' idle-worker deques (see PoolRuntime)
        self.all_idle_queues: list[Any] = []  # ... and the deques of capped idle workers who may take this work
        self.capped_pools: list[Any] = []  # pools whose idle workers must be checked against a cap first
        self.done: Any = None  # set by the workflow: what happens to an item when this stage's task ends
        self.wait: list[float] | None = None  # [sum, count] of waits of visits after an item's first (staged flows)
        self.distinct = distinct
        if ordered:
            self.items: Any = deque()
            self.pop = self.items.popleft
            self.push = self.items.append
        else:
            heap: list[Item] = []
            self.items = heap
            self.pop = partial(heapq.heappop, heap)  # partial, not lambda: no Python frame per call
            self.push = partial(heapq.heappush, heap)

    def __len__(self) -> int:
        return len(self.items)

    def first_for(self, worker: Any) -> int:
        """Index of the oldest pass `worker` may take in a `distinct` list, or -1 if it labelled them all."""
        for index, item in enumerate(self.items):
            if worker not in item.labellers:
                return index
        return -1

    def take(self, index: int) -> Item:
        """Remove and return the entry at `index` (as found by `first_for`)."""
        if index == 0:
            return self.pop()
        item = self.items[index]
        del self.items[index]  # only ordered (deque) lists are distinct, so index > 0 is a deque
        return item
