"""Calendar routines (shift edges, local midnights, hourly samples) waiting on a heap of their own.

Each routine is a generator that yields delays in hours, as a SimPy process yields timeouts. About a
hundred workers each wait for their next shift edge; as SimPy timeouts they would sit on the
environment's heap and make every task's push and pop dearer (log of the heap's size). Here they
wait on a separate heap and only the earliest has an event on SimPy's heap. Routines start in the
order they were added and equal times run first-scheduled first, as SimPy orders processes, so
the results are those of one SimPy process per routine, to the last digit.
"""

from __future__ import annotations

from heapq import heappop, heappush
from itertools import count
from typing import Any, Callable, Iterator

import simpy

Routine = Iterator[float]
At = Callable[[float, Any, Any], None]


class Timetable:
    """Routines added before the run, started together by `start()` at time 0."""

    def __init__(self, env: simpy.Environment, at: At):
        self.env = env
        self._at = at  # schedules a callback on SimPy's heap (Dispatcher.at)
        self._main = env._queue  # type: ignore[attr-defined]  # simpy is pinned < 5
        self._waiting: list[tuple[float, int, Routine]] = []  # (due, order scheduled, routine)
        self._order = count()
        self._added: list[Routine] = []
        self._tick_cb = self._tick

    def add(self, routine: Routine) -> None:
        """Register a routine; it runs to its first yield when `start()` is called."""
        self._added.append(routine)

    def start(self) -> None:
        """Run every routine to its first yield, in the order added, and wake at the earliest due time."""
        now = self.env.now
        for routine in self._added:
            self._step(routine, now)
        self._added.clear()
        if self._waiting:
            self._schedule()

    def _step(self, routine: Routine, now: float) -> None:
        delay = next(routine, None)
        if delay is not None:
            heappush(self._waiting, (now + delay, next(self._order), routine))

    def _schedule(self) -> None:
        self._at(self._waiting[0][0], self._tick_cb, None)

    def _tick(self, event: Any) -> None:
        """Run the routines that are due; while the next is due before any SimPy event, run it too."""
        env, waiting, main = self.env, self._waiting, self._main
        while True:
            now, _, routine = heappop(waiting)
            env._now = now  # type: ignore[attr-defined]
            self._step(routine, now)
            if not waiting:
                return
            if waiting[0][0] >= main[0][0]:
                self._schedule()
                return
