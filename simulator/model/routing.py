"""Where a worker chooses its next item: the pool's routing rule over the task lists it is skilled for.

- priority: most urgent queue first (lowest priority number), oldest arrival within it;
- oldest: oldest arrival across the worker's lists, priority breaks ties;
- deadline: earliest SLA due time (arrival + target) first, priority breaks ties.
Within one task list every rule agrees (same priority and target), so only list heads are compared.
A rule sees only the lists with work waiting, in priority order (the caller filters them with
itertools.compress, in C), so it never scans empty lists.
"""

from __future__ import annotations

from typing import Callable, Iterable

from .tasks import TaskList

Chooser = Callable[[Iterable[TaskList]], "TaskList | None"]


def by_priority(waiting: Iterable[TaskList]) -> TaskList | None:
    """The first list's priority level (the most urgent with work), oldest head within it."""
    best = None
    for tl in waiting:
        if best is None:
            best, head = tl, tl.items[0]
        elif tl.priority != best.priority:
            break
        elif tl.items[0] < head:
            best, head = tl, tl.items[0]
    return best


def by_oldest(waiting: Iterable[TaskList]) -> TaskList | None:
    """The list whose head arrived first; priority, then list order, breaks ties."""
    best, best_time = None, 0.0
    for tl in waiting:
        time = tl.items[0].arrival
        if best is None or time < best_time or (time == best_time and tl.priority < best.priority):
            best, best_time = tl, time
    return best


def by_deadline(waiting: Iterable[TaskList]) -> TaskList | None:
    """The list whose head is due first (arrival + SLA target); priority breaks ties."""
    best, best_time = None, 0.0
    for tl in waiting:
        time = tl.items[0].arrival + tl.target
        if best is None or time < best_time or (time == best_time and tl.priority < best.priority):
            best, best_time = tl, time
    return best


RULES: dict[str, Chooser] = {"priority": by_priority, "oldest": by_oldest, "deadline": by_deadline}
