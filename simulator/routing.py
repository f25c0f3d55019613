"""Where a worker chooses its next item: the pool's routing rule over the task lists it is skilled for.

- priority: most urgent queue first (lowest priority number), oldest arrival within it;
- oldest: oldest arrival across the worker's lists, priority breaks ties;
- deadline: earliest SLA due time (arrival + target) first, priority breaks ties.
Within one task list every rule agrees (same priority and target), so only list heads are compared.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .tasks import TaskList

Chooser = Callable[[Sequence[TaskList]], "TaskList | None"]


def by_priority(lists: Sequence[TaskList]) -> TaskList | None:
    """Lists must be sorted by priority; the first non-empty priority level, oldest head within it."""
    best = None
    for tl in lists:
        if best is not None and tl.priority != best.priority:
            break
        if tl.items and (best is None or tl.items[0] < best.items[0]):
            best = tl
    return best


def by_oldest(lists: Sequence[TaskList]) -> TaskList | None:
    """The list whose head arrived first; priority, then list order, breaks ties."""
    best, best_time = None, 0.0
    for tl in lists:
        items = tl.items
        if items:
            time = items[0].arrival
            if best is None or time < best_time or (time == best_time and tl.priority < best.priority):
                best, best_time = tl, time
    return best


def by_deadline(lists: Sequence[TaskList]) -> TaskList | None:
    """The list whose head is due first (arrival + SLA target); priority breaks ties."""
    best, best_time = None, 0.0
    for tl in lists:
        items = tl.items
        if items:
            time = items[0].arrival + tl.target
            if best is None or time < best_time or (time == best_time and tl.priority < best.priority):
                best, best_time = tl, time
    return best


RULES: dict[str, Chooser] = {"priority": by_priority, "oldest": by_oldest, "deadline": by_deadline}
