"""Routing rules with constant durations and exact completion times (SimPy's testing style)."""

from __future__ import annotations

import pytest

from simulator.model.engine import run_replication
from simulator.model.items import Item
from simulator.model.routing import by_deadline, by_oldest, by_priority
from simulator.model.tasks import TaskList
from tests.helpers import MMC, scenario

TWO_QUEUES = dict(MMC,
                  horizon={"start": "2027-01-04", "duration": "1d"},
                  queues={
                      "a": {"volume": {"mean": 0}, "initial_backlog": 3, "priority": 2, "skill": "s",
                            "handling_time": {"mean": "1h", "dist": "constant"}, "sla": {"target": "2h"}},
                      "b": {"volume": {"mean": 0}, "initial_backlog": 2, "priority": 1, "skill": "s",
                            "handling_time": {"mean": "1h", "dist": "constant"}, "sla": {"target": "10h"}},
                  },
                  pools={"p": {"headcount": 1, "skills": ["s"]}})


def _tat(rule):
    run = run_replication(scenario(TWO_QUEUES, **{"pools.p.routing": rule}), 0)
    return run.kpis["queues"]["a"]["tat_mean_h"], run.kpis["queues"]["b"]["tat_mean_h"]


def test_priority_serves_the_urgent_queue_first():
    # one worker, 1 h each: b's two items end at 1 and 2 h, then a's at 3, 4, 5 h
    assert _tat("priority") == (pytest.approx(4.0), pytest.approx(1.5))


def test_oldest_breaks_equal_arrival_times_by_priority():
    assert _tat("oldest") == (pytest.approx(4.0), pytest.approx(1.5))


def test_deadline_serves_the_earliest_due_first():
    # a is due at 2 h, b at 10 h: a's items end at 1, 2, 3 h, then b's at 4 and 5 h
    assert _tat("deadline") == (pytest.approx(2.0), pytest.approx(4.5))


class _Queue:
    def __init__(self, priority, target):
        self.priority, self.target, self.sensitive = priority, target, False


def _list(priority, target, arrivals):
    tl = TaskList("x", _Queue(priority, target), "s", ordered=True)
    for i, t in enumerate(arrivals):
        tl.push(Item(t, i, tl.queue, 1.0))
    return tl


def test_rules_compare_list_heads():
    urgent_new = _list(1, 48.0, [5.0])
    calm_old = _list(3, 4.0, [1.0])
    calm_older_far = _list(3, 100.0, [0.5])
    lists = sorted([urgent_new, calm_old, calm_older_far], key=lambda tl: tl.priority)
    assert by_priority(lists) is urgent_new
    assert by_oldest(lists) is calm_older_far
    assert by_deadline(lists) is calm_old  # due 5.0, against 53.0 and 100.5
    assert by_priority([]) is None and by_oldest([]) is None and by_deadline([]) is None


def test_priority_takes_the_oldest_among_equal_priorities():
    newer, older = _list(2, 8.0, [3.0]), _list(2, 8.0, [2.0])
    assert by_priority([newer, older, _list(3, 1.0, [1.0])]) is older


def test_heap_ordered_list_keeps_oldest_first():
    tl = TaskList("x", _Queue(1, 1.0), "s", ordered=False)
    for i, t in enumerate([5.0, 1.0, 3.0]):
        tl.push(Item(t, i, tl.queue, 1.0))
    assert [tl.pop().arrival for _ in range(3)] == [1.0, 3.0, 5.0]
