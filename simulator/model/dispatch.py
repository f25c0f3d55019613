"""Who does what next: new work goes to the longest-idle worker who may take it; a worker who is free
takes the next task by its pool's routing rule. Starting and finishing tasks schedule the events.

Exposure caps: a worker starts a sensitive task only if its hours today plus the task's stay within
the pool's `exposure_cap`; otherwise the worker is capped until local midnight and takes only
non-sensitive work, so no worker exceeds the cap, except by a single item that is itself longer
than the cap (taken by a worker with no sensitive hours yet that day, else it could never be done).
Hours count on the local day the task starts.
"""

from __future__ import annotations

from collections import deque
from heapq import heappush
from itertools import compress
from typing import Any

import simpy

from .items import Item
from .tasks import TaskList
from .workers import PoolRuntime, Worker


class Wake:
    """The smallest event SimPy's Environment.step can process: callbacks, _ok and a payload.

    Scheduling it straight onto the environment's heap skips Timeout.__init__ and
    Environment.schedule, two Python frames per event: about 20% of the engine's time per item.
    """

    __slots__ = ("callbacks", "_ok", "_value")

    def __init__(self, callback: Any, value: Any):
        self.callbacks = [callback]
        self._ok = True
        self._value = value


class Dispatcher:
    """Matches work and workers on one SimPy environment; accounts busy and sensitive hours."""

    def __init__(self, env: simpy.Environment, window_start: float, horizon: float, n_hours: int):
        self.env = env
        self.window_start = window_start
        self.horizon = horizon
        self.n_hours = n_hours
        self.heap = env._queue  # type: ignore[attr-defined]  # see Wake; simpy is pinned < 5
        self.eid = env._eid  # type: ignore[attr-defined]
        self._finish_cb = self._finish
        self.capped_idle = 0  # idle workers at their exposure cap, all pools (see offer)

    def at(self, when: float, callback: Any, value: Any) -> None:
        """Schedule `callback(event)` at clock time `when` (NORMAL priority, FIFO among equal times)."""
        heappush(self.heap, (when, 1, next(self.eid), Wake(callback, value)))

    # -- new work -----------------------------------------------------------------------------------

    def offer(self, task: TaskList, item: Item, now: float) -> None:
        """New work: an idle worker who may take it starts at once (longest idle first), else it waits."""
        pools = task.pools
        if len(pools) == 1 and pools[0].plain:
            idle = pools[0].idle
            if idle:
                self.start(idle.popleft(), task, item, now)
                return
            task.push(item)
            return
        for pool in task.capped_pools:
            if pool.idle:
                self._cap_unfitting_idle(pool, task, item, now)
        # capped idle workers are rare (none in the shipped T&S quarter): while there are none, their
        # empty deques are left out of the scan, with the same result
        idle_queues = task.all_idle_queues if self.capped_idle else task.idle_queues
        if not any(idle_queues):  # one C-level pass over the deques: the usual case when work queues up
            task.push(item)
            return
        best: deque[Worker] = None  # type: ignore[assignment]  # some deque is non-empty
        for idle in idle_queues:
            if idle and (best is None or idle[0].idle_since < best[0].idle_since):
                best = idle
        worker = best.popleft()
        if self.capped_idle and best is worker.pool.idle_capped:
            self.capped_idle -= 1
        self.start(worker, task, item, now)

    def _cap_unfitting_idle(self, pool: PoolRuntime, task: TaskList, item: Item, now: float) -> None:
        """Sensitive work in a capped pool: cap the idle workers it would overrun, from the head on."""
        while pool.idle and not self._fits(pool.idle[0], task, item, now):
            worker = pool.idle.popleft()
            self._cap(worker, now)
            pool.idle_capped.append(worker)
            self.capped_idle += 1

    # -- a worker is free -----------------------------------------------------------------------------

    def serve(self, pool: PoolRuntime) -> None:
        """Wire how the pool's free workers take their next task (`pool.take`): the cheapest procedure
        its settings allow, chosen once rather than tested at every task end."""
        if not pool.plain:
            pool.take = self._take_checked
        elif len(pool.lists) == 1:
            pool.take = self._take_only
        else:
            pool.take = self._take_routed

    def _take_only(self, worker: Worker, now: float) -> None:
        """A pool with one task list and no caps or consensus: its head, or wait idle."""
        task = worker.pool.lists[0]
        if task.items:
            self.start(worker, task, task.pop(), now)
        else:
            worker.idle_since = now
            worker.pool.idle.append(worker)

    def _take_routed(self, worker: Worker, now: float) -> None:
        """Several task lists, no caps or consensus: the routing rule's choice, or wait idle."""
        pool = worker.pool  # most calls find every list empty: any() says so without the rule's Python loop
        task = pool.choose(compress(pool.lists, pool.queued)) if any(pool.queued) else None
        if task is None:
            worker.idle_since = now
            pool.idle.append(worker)
        else:
            self.start(worker, task, task.pop(), now)

    def _take_checked(self, worker: Worker, now: float) -> None:
        """With exposure caps or consensus passes: skip passes the worker labelled, and sensitive work
        that would overrun its cap (then it is capped until local midnight)."""
        pool = worker.pool
        if worker.capped_day >= 0 and worker.capped_day == pool.local_day[int(now)]:  # never capped: no lookup
            capped, lists, queued = True, pool.safe_lists, pool.safe_queued
        else:
            capped, lists, queued = False, pool.lists, pool.queued
        if any(queued):
            refused: list[TaskList] | None = None
            while True:
                waiting = compress(lists, queued)
                task = pool.choose(waiting if refused is None else [tl for tl in waiting if tl not in refused])
                if task is None:
                    break
                index = task.first_for(worker) if task.distinct else 0  # any other list: its head
                if index < 0:  # only passes of items this worker labelled already
                    refused = [*(refused or ()), task]
                    continue
                if task.sensitive and pool.cap is not None and not self._fits(worker, task, task.items[index], now):
                    self._cap(worker, now)
                    capped, lists, queued = True, pool.safe_lists, pool.safe_queued
                    continue
                self.start(worker, task, task.take(index) if index else task.pop(), now)
                return
        worker.idle_since = now
        if capped:
            pool.idle_capped.append(worker)
            self.capped_idle += 1
        else:
            pool.idle.append(worker)

    def _day(self, pool: PoolRuntime, now: float) -> int:
        return pool.local_day[int(now)]

    def _fits(self, worker: Worker, task: TaskList, item: Item, now: float) -> bool:
        pool = worker.pool
        today = pool.local_day[int(now)]
        if worker.capped_day == today or worker.sens_day != today:
            return worker.capped_day != today
        # a worker with no sensitive hours today may take one item even if it alone is longer than the
        # cap (handled above: sens_day is not today); otherwise the item must fit in what is left
        speed = pool.speed[task] if now >= worker.ramp_end else pool.speed_of(worker, task, now)
        return worker.sens_hours + item.work / speed <= pool.cap + 1e-9

    def _cap(self, worker: Worker, now: float) -> None:
        worker.capped_day = self._day(worker.pool, now)

    def lift_caps(self, pool: PoolRuntime, now: float) -> None:
        """Local midnight: idle capped workers may take sensitive work again."""
        waiting = list(pool.idle_capped)
        pool.idle_capped.clear()
        self.capped_idle -= len(waiting)
        for worker in waiting:
            pool.take(worker, now)

    # -- doing the work -------------------------------------------------------------------------------

    def start(self, worker: Worker, task: TaskList, item: Item, now: float) -> None:
        pool = worker.pool
        window_start = self.window_start
        if item.first_start < 0:  # the first labelling visit: its wait is also the label stage's
            item.first_start = now
            if window_start <= item.arrival < self.horizon:
                stats = item.queue.stats
                stats.wait_sum += now - item.arrival
                stats.wait_n += 1
                if now > item.arrival:
                    stats.waited += 1
        else:
            wait = task.wait
            if wait is not None and window_start <= item.arrival < self.horizon:
                wait[0] += now - item.ready
                wait[1] += 1
        duration = item.work / (pool.speed[task] if now >= worker.ramp_end else pool.speed_of(worker, task, now))
        end = now + duration
        worker.busy_until = end
        if end > window_start and now < self.horizon:
            measured = duration if now >= window_start and end <= self.horizon else \
                min(end, self.horizon) - max(now, window_start)
            counters = pool.stats
            counters.busy += measured
            counters.busy_by_skill[task.skill] += measured
        if task.sensitive:
            self._expose(worker, now, duration)
        if task.distinct:
            item.labellers.append(worker)
        worker.task = task
        worker.item = item
        pool.busy_now += 1
        heappush(self.heap, (end, 1, next(self.eid), Wake(self._finish_cb, worker)))

    def _expose(self, worker: Worker, now: float, hours: float) -> None:
        """Add sensitive hours to the worker's local day (the whole task counts on the day it starts)."""
        pool = worker.pool
        day = pool.local_day[int(now)]
        if worker.sens_day != day:
            worker.sens_day = day
            worker.sens_hours = 0.0
        worker.sens_hours += hours
        if now < self.horizon:  # the log covers the horizon, not the drain after it
            worker.exposure[day] = worker.sens_hours
        pool.hour_sensitive += hours
        if self.window_start <= now < self.horizon and worker.sens_hours > pool.stats.exposure_max:
            pool.stats.exposure_max = worker.sens_hours

    def _finish(self, event: Wake) -> None:
        worker = event._value
        now = self.env._now  # type: ignore[attr-defined]
        worker.pool.busy_now -= 1
        task, item = worker.task, worker.item
        worker.task = worker.item = None
        task.done(item, worker, now)
        if worker.on:
            worker.pool.take(worker, now)

    # -- calendars ------------------------------------------------------------------------------------

    def come_on(self, worker: Worker) -> None:
        worker.on = True
        worker.pool.available_now += 1
        if worker.item is None:
            worker.pool.take(worker, self.env.now)

    def go_off(self, worker: Worker) -> None:
        worker.on = False
        pool = worker.pool
        pool.available_now -= 1
        if worker.item is None:
            if worker in pool.idle:
                pool.idle.remove(worker)
            else:
                pool.idle_capped.remove(worker)
                self.capped_idle -= 1
