"""A work item (one piece of content) as it moves through its workflow."""

from __future__ import annotations

from typing import Any


class Item:
    """One item: when it arrived, the work content of its current task, and its state in the workflow.

    Later stages keep the item's queue priority and original arrival time, so every ordering rule
    reads `arrival` (and the queue's SLA target for deadline routing). `correct` is whether the
    item's current decision is right; `votes` counts right labels among finished passes.
    """

    __slots__ = ("arrival", "seq", "queue", "work", "first_start", "correct",
                 "loops", "escalated", "ready",  # StagedItem only
                 "votes", "passes_done", "labellers")  # consensus items only: set by QueueFlow.enter

    def __init__(self, arrival: float, seq: int, queue: Any, work: float):
        self.arrival = arrival
        self.seq = seq
        self.queue = queue
        self.work = work
        self.first_start = -1.0
        self.correct = True

    def __lt__(self, other: Item) -> bool:
        """Older first; arrival order breaks ties (an initial backlog arrives all at once)."""
        arrival = self.arrival
        return arrival < other.arrival or (arrival == other.arrival and self.seq < other.seq)


class StagedItem(Item):
    """An item of a multi-stage workflow: also the state review, rework and escalation read.

    A separate class so that single-pass, single-stage items do not pay for these fields.
    """

    __slots__ = ()

    def __init__(self, arrival: float, seq: int, queue: Any, work: float):
        self.arrival = arrival  # Item's fields set here too: one Python frame per item, not two
        self.seq = seq
        self.queue = queue
        self.work = work
        self.first_start = -1.0
        self.correct = True
        self.loops = 0
        self.escalated = False
        self.ready = arrival  # when the item entered its current stage's task list
