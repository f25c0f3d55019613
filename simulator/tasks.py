"""Task lists: the queued work of one queue at one stage, kept oldest-arrival first."""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

from .items import Item


class TaskList:
    """Waiting items of one (queue, stage), in arrival order; `items[0]` is the oldest.

    First-stage work enters in arrival order, so a deque keeps it sorted for free; later stages
    enter out of arrival order and use a heap (`ordered=False`).
    """

    __slots__ = ("name", "queue", "skill", "priority", "target", "sensitive", "items", "pop", "push", "pools",
                 "done")

    def __init__(self, name: str, queue: Any, skill: str, *, ordered: bool):
        self.name = name
        self.queue = queue
        self.skill = skill
        self.priority: int = queue.priority
        self.target: float = queue.target
        self.sensitive: bool = queue.sensitive
        self.pools: list[Any] = []
        self.done: Any = None  # set by the workflow: what happens to an item when this stage's task ends
        if ordered:
            self.items: Any = deque()
            self.pop = self.items.popleft
            self.push = self.items.append
        else:
            heap: list[Item] = []
            self.items = heap
            self.pop = lambda: heapq.heappop(heap)
            self.push = lambda item: heapq.heappush(heap, item)

    def __len__(self) -> int:
        return len(self.items)
