"""A work item (one piece of content) as it moves through its workflow."""

from __future__ import annotations

from typing import Any


class Item:
    """One item: when it arrived, its work content, and its state in the workflow.

    Later stages keep the item's queue priority and original arrival time, so every ordering rule
    reads `arrival` (and the queue's SLA target for deadline routing).
    """

    __slots__ = ("arrival", "seq", "queue", "work", "first_start", "correct")

    def __init__(self, arrival: float, seq: int, queue: Any, work: float):
        self.arrival = arrival
        self.seq = seq
        self.queue = queue
        self.work = work
        self.first_start = -1.0
        self.correct = True

    def __lt__(self, other: Item) -> bool:
        return (self.arrival, self.seq) < (other.arrival, other.seq)
