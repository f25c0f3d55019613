"""One replication of a scenario: a fresh SimPy environment, its random streams, and the event logic.

Items move by plain SimPy events with callbacks (an arrival, a task end), not one process per item:
that is two events per single-stage item, and it keeps the engine several times faster than a
process-per-item model. Rare calendar changes (shifts, breaks) are ordinary SimPy processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from heapq import heappush
from typing import Any, Iterator

import numpy as np
import simpy

from .arrivals import arrival_times, hourly_rates
from .calendar import horizon_origin, local_hour_and_day
from .errors import AnnoplanError
from .handling import handling_times
from .items import Item
from .metrics import QueueStats, replication_kpis
from .quality import label_error
from .random_streams import stream, uniforms
from .scenario import Scenario
from .shifts import assign_patterns, available_intervals, hours_in_window, shift_instances
from .tasks import TaskList
from .workers import PoolRuntime, Worker
from .workflow import build_label_stage, check_supported


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


@dataclass
class ReplicationResult:
    """What one replication returns: KPIs (DESIGN.md shape, plain floats) and hourly series."""

    replication: int
    kpis: dict[str, Any]
    queue_series: dict[str, dict[str, np.ndarray]]
    pool_series: dict[str, dict[str, np.ndarray]]


class QueueRuntime:
    """A queue at run time: its settings, stats, first stage and random streams."""

    __slots__ = ("id", "skill", "priority", "target", "sensitive", "difficulty", "stats", "first", "work",
                 "arrivals", "series")

    def __init__(self, queue_id: str, scenario: Scenario, replication: int, n_hours: int):
        spec = scenario.queues[queue_id]
        self.id = queue_id
        self.skill = spec.skill
        self.priority = spec.priority
        self.target = spec.sla.target
        self.sensitive = spec.sensitive
        self.difficulty = spec.difficulty
        self.stats = QueueStats(scenario.horizon.warmup, spec.sla.target)
        self.work = handling_times(spec.handling_time, stream(scenario.seed, replication, f"handling/{queue_id}"))
        rng = stream(scenario.seed, replication, f"arrivals/{queue_id}")
        self.arrivals: Iterator[float] = arrival_times(hourly_rates(spec, scenario.horizon.start, n_hours, rng), rng)
        self.series = {name: np.zeros(n_hours) for name in ("arrivals", "completions", "backlog")}
        self.first: TaskList = None  # type: ignore[assignment]  # set once the workflow is built


class Replication:
    """Builds and runs one replication; `run()` returns its ReplicationResult."""

    def __init__(self, scenario: Scenario, replication: int):
        check_scenario_supported(scenario)
        self.scenario = scenario
        self.replication = replication
        self.env = simpy.Environment()
        self.horizon = scenario.horizon.duration
        self.window_start = scenario.horizon.warmup
        self.n_hours = math.ceil(self.horizon)
        self._seq = 0
        seed = scenario.seed
        self.queues: dict[str, QueueRuntime] = {}
        for qid in scenario.queues:
            queue = QueueRuntime(qid, scenario, replication, self.n_hours)
            queue.first = build_label_stage(queue, uniforms(stream(seed, replication, f"quality/{qid}")))
            self.queues[qid] = queue
        self.pools: dict[str, PoolRuntime] = {}
        self.on_shift: dict[str, np.ndarray] = {}
        for pid, spec in scenario.pools.items():
            lists = [q.first for q in self.queues.values() if q.skill in spec.skills]
            error = {tl: label_error(spec.skill_accuracy(tl.skill), tl.queue.difficulty) for tl in lists}
            _, _, local_day = local_hour_and_day(horizon_origin(scenario.horizon.start), self.n_hours, spec.timezone)
            self.pools[pid] = PoolRuntime(pid, spec, lists, local_day, error)
        self._finish_cb = self._finish
        self._arrive_cb = self._arrive
        self._heap = self.env._queue  # type: ignore[attr-defined]  # see Wake; simpy is pinned < 5
        self._eid = self.env._eid  # type: ignore[attr-defined]

    def _at(self, when: float, callback: Any, value: Any) -> None:
        """Schedule `callback(event)` at clock time `when` (NORMAL priority, FIFO among equal times)."""
        heappush(self._heap, (when, 1, next(self._eid), Wake(callback, value)))

    # -- wiring -------------------------------------------------------------------------------------

    def _start_calendars(self) -> None:
        """Give every worker its shift pattern and available intervals; start one process per worker."""
        lo, hi = self.window_start, self.horizon
        for pid, pool in self.pools.items():
            spec = pool.spec
            patterns = shift_instances(spec, self.scenario.horizon.start, self.horizon)
            shares = [1.0] if spec.shifts == "24x7" else [s.share for s in spec.shifts]
            which = assign_patterns(spec.headcount, shares)
            rng = stream(self.scenario.seed, self.replication, f"shrinkage/{pid}")
            on_shift = np.zeros(self.n_hours + 1)
            for pattern, instances in enumerate(patterns):
                workers = which.count(pattern)
                paid = hours_in_window(instances, lo, hi)
                pool.stats.paid += workers * paid
                for a, b in instances:
                    on_shift[math.ceil(a):math.ceil(b)] += workers
            self.on_shift[pid] = on_shift[: self.n_hours]
            for worker, pattern in zip(pool.workers, which):
                intervals = available_intervals(patterns[pattern], spec.shrinkage, rng)
                pool.stats.productive += hours_in_window(intervals, lo, hi)
                self.env.process(self._availability(worker, intervals))
            pool.stats.headcount_end = spec.headcount

    def _availability(self, worker: Worker, intervals: list[tuple[float, float]]):
        """SimPy process: the worker comes on and goes off at the edges of its available intervals."""
        env = self.env
        for begin, end in intervals:
            if begin > env.now:
                yield env.timeout(begin - env.now)
            self._come_on(worker)
            yield env.timeout(end - env.now)
            self._go_off(worker)

    def _start_arrivals(self) -> None:
        for qid, queue in self.queues.items():
            for _ in range(self.scenario.queues[qid].initial_backlog):
                self._new_item(queue, 0.0)
            first = next(queue.arrivals, None)
            if first is not None and first < self.horizon:
                self._at(first, self._arrive_cb, queue)

    def _sampler(self):
        """SimPy process: hourly snapshots of pools (at the hour's start) and queue counters (per hour)."""
        env = self.env
        for hour in range(self.n_hours):
            for pool in self.pools.values():
                pool_series = self._pool_series[pool.id]
                pool_series["available"][hour] = pool.available_now
                pool_series["busy"][hour] = pool.busy_now
            if hour + 1 < self.horizon:
                yield env.timeout(hour + 1.0 - env.now)
                self._close_hour(hour)

    def _close_hour(self, hour: int) -> None:
        for queue in self.queues.values():
            stats = queue.stats
            queue.series["arrivals"][hour] = stats.hour_arrivals
            queue.series["completions"][hour] = stats.hour_done
            queue.series["backlog"][hour] = stats.open
            stats.hour_arrivals = stats.hour_done = 0

    # -- the hot path -------------------------------------------------------------------------------

    def _new_item(self, queue: QueueRuntime, now: float) -> None:
        self._seq += 1
        item = Item(now, self._seq, queue, queue.work.next())
        stats = queue.stats
        stats.open += 1
        stats.hour_arrivals += 1
        if now >= self.window_start:
            stats.arrivals += 1
        self._offer(queue.first, item, now)

    def _arrive(self, event: Wake) -> None:
        queue = event._value
        now = self.env._now  # type: ignore[attr-defined]
        self._new_item(queue, now)
        following = next(queue.arrivals, None)
        if following is not None and following < self.horizon:
            heappush(self._heap, (following, 1, next(self._eid), Wake(self._arrive_cb, queue)))

    def _offer(self, task: TaskList, item: Item, now: float) -> None:
        """New work: an idle worker skilled for it takes it at once (longest idle first), else it waits."""
        pools = task.pools
        if len(pools) == 1:
            idle = pools[0].idle
            if idle:
                self._start(idle.popleft(), task, item, now)
                return
        else:
            best = None
            for pool in pools:
                if pool.idle and (best is None or pool.idle[0].idle_since < best.idle[0].idle_since):
                    best = pool
            if best is not None:
                self._start(best.idle.popleft(), task, item, now)
                return
        task.push(item)

    def _start(self, worker: Worker, task: TaskList, item: Item, now: float) -> None:
        pool = worker.pool
        if item.first_start < 0:
            item.first_start = now
            if item.arrival >= self.window_start:
                stats = item.queue.stats
                stats.wait_sum += now - item.arrival
                stats.wait_n += 1
                if now > item.arrival:
                    stats.waited += 1
        duration = item.work / pool.speed[task]
        end = now + duration
        if end > self.window_start:
            in_window = duration if now >= self.window_start and end <= self.horizon else \
                min(end, self.horizon) - max(now, self.window_start)
            pool.stats.busy += in_window
            if task.sensitive:
                self._expose(worker, now, in_window)
        worker.task = task
        worker.item = item
        pool.busy_now += 1
        heappush(self._heap, (end, 1, next(self._eid), Wake(self._finish_cb, worker)))

    def _expose(self, worker: Worker, now: float, hours: float) -> None:
        """Add sensitive hours to the worker's local day (counted on the day the task starts)."""
        day = worker.pool.local_day[min(int(now), self.n_hours - 1)]
        if worker.sens_day != day:
            worker.sens_day = day
            worker.sens_hours = 0.0
        worker.sens_hours += hours
        stats = worker.pool.stats
        if worker.sens_hours > stats.exposure_max:
            stats.exposure_max = worker.sens_hours

    def _finish(self, event: Wake) -> None:
        worker = event._value
        now = self.env._now  # type: ignore[attr-defined]
        pool = worker.pool
        pool.busy_now -= 1
        task, item = worker.task, worker.item
        worker.task = worker.item = None
        task.done(item, worker, now)
        if worker.on:
            self._take_next(worker, now)

    def _take_next(self, worker: Worker, now: float) -> None:
        pool = worker.pool
        lists = pool.lists
        if len(lists) == 1:  # the common single-skill pool needs no routing rule
            task = lists[0] if lists[0].items else None
        else:
            task = pool.choose(lists)
        if task is None:
            worker.idle_since = now
            pool.idle.append(worker)
        else:
            self._start(worker, task, task.pop(), now)

    def _come_on(self, worker: Worker) -> None:
        worker.on = True
        worker.pool.available_now += 1
        if worker.item is None:
            self._take_next(worker, self.env.now)

    def _go_off(self, worker: Worker) -> None:
        worker.on = False
        worker.pool.available_now -= 1
        if worker.item is None:
            worker.pool.idle.remove(worker)

    # -- running ------------------------------------------------------------------------------------

    def run(self) -> ReplicationResult:
        """Play the horizon out and return KPIs and hourly series."""
        self._pool_series = {pid: {"available": np.zeros(self.n_hours), "busy": np.zeros(self.n_hours)}
                             for pid in self.pools}
        self._start_arrivals()
        self._start_calendars()
        self.env.process(self._sampler())
        self.env.run(until=self.horizon)
        self._close_hour(self.n_hours - 1)  # run(until) stops before the sampler's event at the horizon
        self._count_open_overdue()
        pool_series = {pid: dict(series, on_shift=self.on_shift[pid]) for pid, series in self._pool_series.items()}
        return ReplicationResult(
            replication=self.replication,
            kpis=replication_kpis({q: r.stats for q, r in self.queues.items()},
                                  {p: r.stats for p, r in self.pools.items()}),
            queue_series={qid: q.series for qid, q in self.queues.items()},
            pool_series=pool_series,
        )

    def _count_open_overdue(self) -> None:
        """Censoring rule: an open item already older than its SLA target counts as a miss."""
        open_items = [item for q in self.queues.values() for item in q.first.items]
        open_items += [w.item for p in self.pools.values() for w in p.workers if w.item is not None]
        for item in open_items:
            stats = item.queue.stats
            if item.arrival >= self.window_start and self.horizon - item.arrival > stats.target:
                stats.open_overdue += 1


def check_scenario_supported(scenario: Scenario) -> None:
    """Refuse settings this version does not simulate yet, naming them, instead of ignoring them."""
    for qid in scenario.queues:
        check_supported(scenario.queues[qid].workflow, scenario.workflow_of(qid))
    for pid, pool in scenario.pools.items():
        later = [name for name in ("exposure_cap", "ramp") if getattr(pool, name) is not None]
        later += ["hires"] if pool.hires else []
        later += ["attrition_monthly"] if pool.attrition_monthly else []
        if later:
            raise AnnoplanError(f"pool {pid!r}: {', '.join(later)} not simulated yet; remove them to run")


def run_replication(scenario: Scenario, replication: int) -> ReplicationResult:
    """Run replication number `replication` (its random streams derive from the seed and this number)."""
    return Replication(scenario, replication).run()
