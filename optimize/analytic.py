"""Queueing theory and linear programming ahead of any simulation: offered work, Erlang-C staffing,
the Hall-type overload check, the covering integer program and the cost lower bound.

Work is counted in worker-hours at speed 1 per clock hour (busy servers), averaged over the measured
window, and includes every stage an item can visit: k label passes, adjudication of ties, escalation,
sampled review and the rework loop it triggers (each rework is labelled and reviewed again).

Capacity is per head: the productive hours (rostered x (1 - shrinkage) x (1 - absence)) a head of
the pool supplies per clock hour of the window, weighted by the expected share still employed under attrition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Any, Callable

import numpy as np

from simulator.model.arrivals import expected_per_hour
from simulator.model.shifts import hours_in_window, shift_instances
from simulator.scenario.schema import Pool, Queue, Scenario, Workflow

HOURS_PER_MONTH = 730.5


@lru_cache(maxsize=256)
def _mean_rate(queue_json: str, start: Any, duration: float, warmup: float) -> float:
    """Mean expected arrivals per hour over the measured window, initial backlog spread over the horizon."""
    queue = Queue.model_validate_json(queue_json)
    n_hours = math.ceil(duration)
    rates = expected_per_hour(queue, start, n_hours)
    return float(rates[int(warmup):].mean()) + queue.initial_backlog / n_hours


def arrival_rate(scenario: Scenario, queue_id: str) -> float:
    """Mean arrivals per hour of one queue over the measured window (cached: trials rarely change volumes)."""
    h = scenario.horizon
    return _mean_rate(scenario.queues[queue_id].model_dump_json(), h.start, h.duration, h.warmup)


def _best_accuracy(scenario: Scenario, skill: str) -> float:
    """The most accurate label any pool gives for `skill` (fewest reworks: a lower bound of work)."""
    return max((p.skill_accuracy(skill) for p in scenario.pools.values() if skill in p.skills), default=1.0)


def _majority_error(e: float, passes: int) -> tuple[float, float]:
    """(P(majority wrong), P(tie)) for `passes` independent labels each wrong with probability e."""
    wrong = tie = 0.0
    for k in range(passes + 1):  # k wrong labels
        p = math.comb(passes, k) * e ** k * (1 - e) ** (passes - k)
        if 2 * k > passes:
            wrong += p
        elif 2 * k == passes:
            tie += p
    return wrong, tie


def stage_work(scenario: Scenario, queue_id: str) -> dict[str, float]:
    """Expected worker-hours per item by skill: passes, adjudication, escalation, review and reworks."""
    queue = scenario.queues[queue_id]
    wf: Workflow = scenario.workflow_of(queue_id)
    e = min(0.5, (1 - _best_accuracy(scenario, queue.skill)) * queue.difficulty)
    work: dict[str, float] = {}

    def add(skill: str, hours: float) -> None:
        work[skill] = work.get(skill, 0.0) + hours

    add(queue.skill, wf.label.passes * queue.handling_time.mean)
    wrong, tie = _majority_error(e, wf.label.passes)
    if wf.adjudication is not None and tie > 0:
        add(wf.adjudication.skill, tie * wf.adjudication.handling_time.mean)
        wrong += tie * (1 - _best_accuracy(scenario, wf.adjudication.skill))
    escalated = wf.escalation.probability if wf.escalation is not None else 0.0
    if wf.escalation is not None and escalated > 0:
        add(wf.escalation.skill, escalated * wf.escalation.handling_time.mean)
    if wf.review is not None and wf.review.sample > 0:
        caught = wf.review.detection
        # reworks per reviewed item: the first decision is caught with prob wrong*d, each rework's new
        # label with prob e*d, up to max_loops reworks
        reworks = wrong * caught * sum((e * caught) ** i for i in range(wf.rework.max_loops))
        reviewed = (1 - escalated) * wf.review.sample
        add(wf.review.skill, reviewed * (1 + reworks) * wf.review.handling_time.mean)
        add(queue.skill, reviewed * reworks * wf.rework.handling_factor * queue.handling_time.mean)
    return work


def stage_reach(scenario: Scenario, queue_id: str) -> dict[str, float]:
    """Probability that an item of the queue has a stage on each skill (its label 1; adjudication, escalation
    and review their chance), capped at 1: the items a skill's uncovered hour puts at risk."""
    queue = scenario.queues[queue_id]
    wf: Workflow = scenario.workflow_of(queue_id)
    e = min(0.5, (1 - _best_accuracy(scenario, queue.skill)) * queue.difficulty)
    reach = {queue.skill: 1.0}

    def add(skill: str, p: float) -> None:
        reach[skill] = min(1.0, reach.get(skill, 0.0) + p)

    escalated = wf.escalation.probability if wf.escalation is not None else 0.0
    if wf.adjudication is not None:
        add(wf.adjudication.skill, _majority_error(e, wf.label.passes)[1])
    if wf.escalation is not None and escalated > 0:
        add(wf.escalation.skill, escalated)
    if wf.review is not None and wf.review.sample > 0:
        add(wf.review.skill, (1 - escalated) * wf.review.sample)
    return reach


def _worst_accuracy(scenario: Scenario, skill: str) -> float:
    """The least accurate label any pool gives for `skill` (the cheap pools an allocation favours often are)."""
    return min((p.skill_accuracy(skill) for p in scenario.pools.values() if skill in p.skills), default=1.0)


def delivered_quality(scenario: Scenario, queue_id: str, error: float | None = None,
                      sample: float | None = None) -> float:
    """Expected share of the queue's delivered items decided right when its least accurate pool labels
    (or each label is wrong with probability `error`), at the workflow's review rate (or `sample`):
    majority of the passes (ties to adjudication), escalation decided by the expert pool, then sampled
    review with reworks: 1 - w [(1 - s) + s R(m)], R(0) = 1, R(m) = (1 - d) + d e R(m - 1)."""
    queue = scenario.queues[queue_id]
    wf: Workflow = scenario.workflow_of(queue_id)
    e = min(0.5, (1 - _worst_accuracy(scenario, queue.skill)) * queue.difficulty) if error is None else error
    s = (wf.review.sample if wf.review is not None else 0.0) if sample is None else sample
    wrong, tie = _majority_error(e, wf.label.passes)
    if wf.adjudication is not None:  # an even pass count without one is refused at load
        wrong += tie * min(0.5, (1 - _worst_accuracy(scenario, wf.adjudication.skill)) * queue.difficulty)
    if wf.review is not None and s > 0:
        d, residual = wf.review.detection, 1.0
        for _ in range(wf.rework.max_loops):
            residual = (1 - d) + d * e * residual
        wrong *= (1 - s) + s * residual
    escalated = wf.escalation.probability if wf.escalation is not None else 0.0
    if escalated > 0:
        expert = min(0.5, (1 - _worst_accuracy(scenario, wf.escalation.skill)) * queue.difficulty)
        return (1 - escalated) * (1 - wrong) + escalated * (1 - expert)
    return 1 - wrong


def label_error(scenario: Scenario, queue_id: str, quality: float, sample: float) -> float:
    """The labelling error under which delivered_quality at review rate `sample` equals `quality` (bisection:
    quality falls as the error grows), clamped to [0, 0.5]: what a simulated mix of pools labels like."""
    low, high = 0.0, 0.5
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if delivered_quality(scenario, queue_id, middle, sample) > quality else (low, middle)
    return (low + high) / 2


def offered_work(scenario: Scenario) -> dict[str, float]:
    """Busy servers needed on average by skill (worker-hours at speed 1 per clock hour)."""
    total: dict[str, float] = {}
    for qid in scenario.queues:
        rate = arrival_rate(scenario, qid)
        for skill, hours in stage_work(scenario, qid).items():
            total[skill] = total.get(skill, 0.0) + rate * hours
    return total


def _survival(pool: Pool, joined: float, lo: float, hi: float) -> float:
    """Mean share of a cohort joined at `joined` still employed over [max(lo, joined), hi) (exponential stay)."""
    start = max(lo, joined)
    if hi <= start:
        return 0.0
    rate = -math.log(1 - pool.attrition_monthly) / HOURS_PER_MONTH if pool.attrition_monthly > 0 else 0.0
    if rate == 0:
        return 1.0
    a, b = start - joined, hi - joined
    return (math.exp(-rate * a) - math.exp(-rate * b)) / (rate * (b - a))


@dataclass(frozen=True)
class PoolRates:
    """What one more head (or one more hire of each wave) adds, per clock hour of the measured window."""

    paid_per_head: float  # paid hours per clock hour, attrition included
    productive_per_head: float  # rostered x (1 - shrinkage) x (1 - absence)
    paid_per_hire: tuple[float, ...]  # per hire of each wave in pool.hires
    productive_per_hire: tuple[float, ...]
    paid_per_pattern_head: tuple[float, ...]  # per head on each shift pattern alone (absolute rosters)
    productive_per_pattern_head: tuple[float, ...]


def pool_rates(scenario: Scenario, pool_id: str) -> PoolRates:
    """Paid and productive hours per clock hour for a head of the pool, split over its shifts by share."""
    pool = scenario.pools[pool_id]
    lo, hi = scenario.horizon.warmup, scenario.horizon.duration
    window = hi - lo
    patterns = shift_instances(pool, scenario.horizon.start, hi)
    shares = pool.shift_shares()

    def paid_from(joined: float) -> float:
        hours = sum(share * hours_in_window(p, max(lo, joined), hi) for share, p in zip(shares, patterns))
        return hours / window * _survival(pool, joined, lo, hi) * pool.paid_share()

    keep = pool.available_share()
    head = paid_from(0.0)
    hires = tuple(paid_from((h.week - 1) * 168.0) for h in pool.hires)
    on_pattern = tuple(hours_in_window(p, lo, hi) / window * _survival(pool, 0.0, lo, hi) * pool.paid_share()
                       for p in patterns)
    return PoolRates(head, head * keep, hires, tuple(x * keep for x in hires), on_pattern,
                     tuple(x * keep for x in on_pattern))


def erlang_c(servers: int, load: float) -> float:
    """P(wait) in M/M/c with offered load `load` (Erlang B recursion: stable for thousands of servers)."""
    if servers <= load:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return servers * b / (servers - load * (1 - b))


def sojourn_within(t: float, lam: float, mu: float, servers: int, own: float | None = None) -> float:
    """P(wait + service <= t) in M/M/c, FCFS; with `own`, for an item whose service rate is `own` while
    the queue's mix serves at `mu` (a class of a pooled queue)."""
    if servers * mu <= lam:
        return 0.0
    own = mu if own is None else own
    c_wait, theta = erlang_c(servers, lam / mu), servers * mu - lam
    if abs(theta - own) < 1e-12:
        tail = (1 + own * t) * math.exp(-own * t)
    else:
        tail = (theta * math.exp(-own * t) - own * math.exp(-theta * t)) / (theta - own)
    return 1.0 - ((1 - c_wait) * math.exp(-own * t) + c_wait * tail)


def pooled_servers(classes: list[tuple[float, float, float, float]]) -> int | None:
    """The fewest M/M/c servers of one FCFS queue pooling `classes` (arrival rate, mean service hours,
    SLA target hours, attainment) that keep every class's attainment within its target, the wait at
    the mix's mean service and each class's own service after it; None if some class's target is
    shorter than its own service allows."""
    lam = sum(c[0] for c in classes)
    if lam <= 0:
        return 0
    mu = lam / sum(c[0] * c[1] for c in classes)
    if any(att >= 1 - math.exp(-target / mean) - 1e-9 for _, mean, target, att in classes):
        return None
    c = math.floor(lam / mu) + 1
    while any(sojourn_within(target, lam, mu, c, 1 / mean) < att for _, mean, target, att in classes):
        c += 1
    return c


def erlang_servers(lam: float, mean_hours: float, target_hours: float, attainment: float) -> int:
    """The fewest M/M/c servers keeping `attainment` of sojourn times within `target_hours`."""
    servers = pooled_servers([(lam, mean_hours, target_hours, attainment)])
    if servers is None:  # no head-count reaches it (even with no wait at all): staff for a short wait instead
        return math.ceil(lam * mean_hours + 3 * math.sqrt(lam * mean_hours) + 1)
    return servers


def safety_factors(scenario: Scenario) -> dict[str, tuple[float, float]]:
    """Per queue: (labelling load in servers, square-root safety factor beta), beta = (c - a) / sqrt(a)
    with c the Erlang-C servers its SLA needs on its own."""
    out = {}
    for qid, queue in scenario.queues.items():
        lam = arrival_rate(scenario, qid)
        load = lam * queue.handling_time.mean
        if load <= 0:
            continue
        servers = erlang_servers(lam, queue.handling_time.mean, queue.sla.target, queue.sla.attainment)
        out[qid] = (load, (servers - load) / math.sqrt(load))
    return out


def _pooled_beta(scenario: Scenario, queues: list[str]) -> float:
    """The square-root safety factor of the queues pooled into one FCFS M/M/c queue (pooled_servers), at
    mean loads; inf when pooling does not apply (one queue, or a target no head-count reaches). Each
    queue's own factor is rounded up to whole servers, so their load-weighted mean overstates a pooled
    set's: two queues of 2 and 1 Erlangs needing 3 and 2 servers alone may need 4, not 5, together."""
    if len(queues) < 2:
        return math.inf
    classes = [(arrival_rate(scenario, q), scenario.queues[q].handling_time.mean, scenario.queues[q].sla.target,
                scenario.queues[q].sla.attainment) for q in queues]
    servers = pooled_servers(classes)
    load = sum(lam * mean for lam, mean, _, _ in classes)
    return math.inf if servers is None or load <= 0 else (servers - load) / math.sqrt(load)


def skill_sets(skills: list[str], limit: int = 12) -> list[frozenset[str]]:
    """Every non-empty set of skills (up to `limit` skills), else each skill and all of them together."""
    if len(skills) <= limit:
        return [frozenset(c) for k in range(1, len(skills) + 1) for c in combinations(sorted(skills), k)]
    return [frozenset([s]) for s in skills] + [frozenset(skills)]


def hall_overload(work: dict[str, float], capacity: dict[str, float],
                  speeds: dict[str, dict[str, float]]) -> tuple[tuple[str, ...], float, float] | None:
    """The set of pools most short of the work only they can do: (pools, work, capacity), or None.

    For every set P of pools, the work of skills that only pools in P hold, each at the best speed
    within P, must fit within P's productive hours (Hall's condition for the skill-to-pool allocation).
    Sets are enumerated up to 16 pools; above that, single pools and each skill's holders are checked.
    """
    pools = sorted(capacity)
    holders = {s: frozenset(p for p in pools if s in speeds[p]) for s in work}
    if len(pools) <= 16:
        sets = (frozenset(c) for k in range(1, len(pools) + 1) for c in combinations(pools, k))
    else:
        sets = iter({frozenset([p]) for p in pools} | set(holders.values()))
    worst: tuple[tuple[str, ...], float, float] | None = None
    worst_ratio = 1.0
    for members in sets:
        need = sum(w / max(speeds[p][s] for p in members if s in speeds[p])
                   for s, w in work.items() if w > 0 and holders[s] and holders[s] <= members)
        have = sum(capacity[p] for p in members)
        ratio = math.inf if have <= 0 and need > 0 else (need / have if have > 0 else 0.0)
        if ratio > worst_ratio + 1e-12:
            worst, worst_ratio = (tuple(sorted(members)), need, have), ratio
    orphan = [s for s, w in work.items() if w > 0 and not holders[s]]
    if orphan:
        return (), sum(work[s] for s in orphan), 0.0
    return worst


@dataclass(frozen=True)
class Column:
    """One integer decision of the covering program: a head-count or a hiring wave's size."""

    path: str
    pool: str
    low: int
    high: int
    step: int
    paid: float  # paid hours per clock hour per unit
    productive: float
    cost_per_hour: float


def pattern_of(path: str) -> tuple[str, int] | None:
    """(pool, shift index) for a shift's absolute head-count `pools.P.shifts.I.headcount`, else None."""
    parts = path.split(".")
    if len(parts) == 5 and parts[0] == "pools" and parts[2] == "shifts" and parts[3].isdigit() and parts[4] == "headcount":
        return parts[1], int(parts[3])
    return None


def _fixed_heads(scenario: Scenario, pid: str, varied: set[str]) -> list[tuple[int | None, int]]:
    """(shift pattern or None for the pool's share-weighted mix, heads) the columns do not vary."""
    pool = scenario.pools[pid]
    if pool.shifts != "24x7" and pool.shifts[0].headcount is not None:  # an absolute roster
        return [(i, s.headcount or 0) for i, s in enumerate(pool.shifts)
                if f"pools.{pid}.shifts.{i}.headcount" not in varied]
    return [] if f"pools.{pid}.headcount" in varied else [(None, pool.headcount)]


def columns(scenario: Scenario, paths: dict[str, tuple[int, int, int]]) -> list[Column]:
    """The head-count and hire-count variables among `paths` (path -> low, high, step), with their rates."""
    out = []
    for path, (low, high, step) in paths.items():
        parts = path.split(".")
        if parts[0] != "pools" or parts[1] not in scenario.pools:
            continue
        pool = scenario.pools[parts[1]]
        rates = pool_rates(scenario, parts[1])
        if parts[2:] == ["headcount"]:
            paid, productive = rates.paid_per_head, rates.productive_per_head
        elif len(parts) == 5 and parts[2] == "hires" and parts[4] == "count" and int(parts[3]) < len(pool.hires):
            paid, productive = rates.paid_per_hire[int(parts[3])], rates.productive_per_hire[int(parts[3])]
        elif pattern_of(path) is not None and pattern_of(path)[1] < len(rates.paid_per_pattern_head):  # type: ignore[index]
            i = pattern_of(path)[1]  # type: ignore[index]
            paid, productive = rates.paid_per_pattern_head[i], rates.productive_per_pattern_head[i]
        else:
            continue
        out.append(Column(path, parts[1], low, high, step, paid, productive, pool.cost_per_hour))
    return out


def fixed_capacity(scenario: Scenario, varied: set[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Productive hours per clock hour and paid cost per clock hour of everything the columns do not vary."""
    capacity, cost = {}, {}
    for pid, pool in scenario.pools.items():
        rates = pool_rates(scenario, pid)
        productive = paid = 0.0
        for pattern, heads in _fixed_heads(scenario, pid, varied):
            productive += heads * (rates.productive_per_head if pattern is None else
                                   rates.productive_per_pattern_head[pattern])
            paid += heads * (rates.paid_per_head if pattern is None else rates.paid_per_pattern_head[pattern])
        for i, hire in enumerate(pool.hires):
            if f"pools.{pid}.hires.{i}.count" not in varied:
                productive += hire.count * rates.productive_per_hire[i]
                paid += hire.count * rates.paid_per_hire[i]
        capacity[pid], cost[pid] = productive, paid * pool.cost_per_hour
    return capacity, cost


WEEK = 168


def fold_week(series: np.ndarray, lo: int) -> np.ndarray:
    """Mean of an hourly series over the measured window [lo, end), by hour of the week (clock hours)."""
    hours = np.arange(lo, len(series))
    sums = np.bincount(hours % WEEK, weights=series[lo:], minlength=WEEK)
    counts = np.bincount(hours % WEEK, minlength=WEEK)
    return sums / np.maximum(counts, 1)


def _window_mean(profile: np.ndarray, length: int) -> np.ndarray:
    """Cyclic mean of a weekly profile over [h, h + length) for every hour h."""
    length = max(1, min(length, WEEK))
    doubled = np.concatenate([profile, profile])
    cumulative = np.concatenate([[0.0], np.cumsum(doubled)])
    return (cumulative[length:length + WEEK] - cumulative[:WEEK]) / length


def weekly_work(scenario: Scenario) -> tuple[dict[tuple[str, str], np.ndarray], dict[str, np.ndarray]]:
    """By (queue, skill) and hour of the week: expected work (busy servers) of every stage, each counted
    in its item's arrival hour; and each queue's labelling load."""
    h = scenario.horizon
    n_hours, lo = math.ceil(h.duration), int(h.warmup)
    work: dict[tuple[str, str], np.ndarray] = {}
    label: dict[str, np.ndarray] = {}
    for qid, queue in scenario.queues.items():
        arrivals = fold_week(expected_per_hour(queue, h.start, n_hours), lo) + queue.initial_backlog / n_hours
        for skill, hours in stage_work(scenario, qid).items():
            work[(qid, skill)] = arrivals * hours
        label[qid] = arrivals * queue.handling_time.mean
    return work, label


def weekly_capacity(scenario: Scenario, pool_id: str, joined: float = 0.0, pattern: int | None = None) -> np.ndarray:
    """Productive servers one head of the pool (joined at clock hour `joined`) gives by hour of the week:
    share-weighted on-shift time (or shift `pattern`'s alone), less shrinkage and absence, times the share
    still employed under attrition."""
    pool = scenario.pools[pool_id]
    h = scenario.horizon
    n_hours, lo = math.ceil(h.duration), int(h.warmup)
    shares = pool.shift_shares() if pattern is None else [float(i == pattern) for i in range(len(pool.shift_shares()))]
    on = np.zeros(n_hours)
    for share, instances in zip(shares, shift_instances(pool, h.start, float(n_hours))):
        for begin, end in instances:
            begin = max(begin, joined)
            for hour in range(int(begin), min(n_hours, math.ceil(end))):
                on[hour] += share * max(0.0, min(end, hour + 1) - max(begin, hour))
    if pool.attrition_monthly > 0:
        rate = -math.log(1 - pool.attrition_monthly) / HOURS_PER_MONTH
        clock = np.arange(n_hours) + 0.5
        on *= np.where(clock >= joined, np.exp(-rate * np.maximum(clock - joined, 0.0)), 0.0)
    return fold_week(on, lo) * (1 - pool.shrinkage) * (1 - pool.absence)


def _sets(scenario: Scenario, skills: list[str]) -> list[tuple[frozenset[str], bool]]:
    """The skill sets whose cover the staffing program checks, each with whether it is checked on mean
    loads only: all sets, hour by hour, for up to 4 skills; else, hour by hour, each skill, each pool's
    skills and all together, and on mean loads the skills only each further set of pools can do (Hall's
    condition on the sets that bind in practice). A pool-closed set such as the in-house-only work mixes
    SLA targets from 2 to 48 hours, so hour-by-hour cover over its shortest target would ask round-the-
    clock capacity for work that may wait two days; its mean load must still fit, or the same heads
    would be counted once per skill."""
    if len(skills) <= 4:
        return [(k, False) for k in skill_sets(skills)]
    family = {frozenset([s]) for s in skills} | {frozenset(skills)}
    family |= {frozenset(set(p.skills) & set(skills)) for p in scenario.pools.values()}
    holders = {s: frozenset(p for p, pool in scenario.pools.items() if s in pool.skills) for s in skills}
    pools = sorted(scenario.pools)
    closed: set[frozenset[str]] = set()
    if len(pools) <= 12:
        for r in range(1, len(pools) + 1):
            for chosen in combinations(pools, r):
                closed.add(frozenset(s for s in skills if holders[s] <= set(chosen)))
    ordered = sorted((k for k in family | closed if k), key=lambda k: (len(k), sorted(k)))
    return [(k, k not in family) for k in ordered]


SHORTFALL_PENALTY = 1e3  # per server-hour uncovered, relative to the dearest head: cover first, then cost
WAIVER_SHARE = 0.5  # of each SLA's allowed misses (1 - attainment) that whole uncovered hours may spend
# The covering program stops after this many branch-and-bound nodes, a limit that gives the same start on
# any machine and load (a time limit did not: the day-swing roster's start, and so its plan, changed with
# the load). The time guard only stops a far larger program than the shipped scenarios hold.
MILP_NODES = 300
MILP_GUARD_S = 600.0


@dataclass(frozen=True)
class Staffing:
    """The staffing program's answer: column values, their cost per clock hour, and uncovered servers."""

    values: dict[str, int]
    cost: float
    shortfall: float


@dataclass(frozen=True)
class SkillSetNeed:
    """What one skill set K needs by hour of the week, in servers of its own speed, before any staffing:
    its work averaged over each queue's SLA span, plus square-root safety on its labelling load."""

    skills: frozenset[str]
    mean_only: bool  # checked on mean loads (span: the week), not hour by hour
    holders: list[str]  # pools holding a skill of K
    queues: list[str]  # K's labelling queues with an SLA
    span: int  # hours capacity is averaged over (the shortest SLA target of K's queues)
    need: np.ndarray
    label: dict[str, np.ndarray]  # every queue's labelling load by hour of the week
    speeds: dict[str, float]  # holder -> its fastest speed on a skill of K (servers of K's work per head)
    risk: list[tuple[np.ndarray, float]]  # what an uncovered hour of K spends: (items by hour, budget a week)
    work: float  # K's mean work in servers over the week, before safety: the least cover it needs


def skill_set_needs(scenario: Scenario, weekly: bool = False,
                    extra: dict[str, np.ndarray] | None = None) -> list[SkillSetNeed]:
    """Every skill set's need (see `staff`); `extra` adds servers by queue and hour of the week to each
    set holding the queue's skill (iterative staffing)."""
    work, label = weekly_work(scenario)
    safety = safety_factors(scenario)
    skills = sorted({s for (_, s), w in work.items() if w.sum() > 0})
    out = []
    for skills_k, mean_only in _sets(scenario, skills):
        holders = [p for p, pool in scenario.pools.items() if skills_k & set(pool.skills)]
        queues = [q for q, queue in scenario.queues.items() if queue.skill in skills_k and q in safety]
        whole = weekly or mean_only
        span = WEEK if whole else math.ceil(min((scenario.queues[q].sla.target for q in queues), default=24.0))
        need = sum((_window_mean(w, WEEK if whole else math.ceil(scenario.queues[q].sla.target))
                    for (q, s), w in work.items() if s in skills_k), np.zeros(WEEK))
        if queues:
            load = _window_mean(sum((label[q] for q in queues), np.zeros(WEEK)), span)
            beta = sum(safety[q][0] * safety[q][1] for q in queues) / sum(safety[q][0] for q in queues)
            beta = min(beta, _pooled_beta(scenario, queues))
            need = need + beta * np.sqrt(load)
        for q in (extra or {}):
            if scenario.queues[q].skill in skills_k:
                need = need + extra[q]
        speeds = {p: max(scenario.pools[p].skills[s].speed for s in skills_k if s in scenario.pools[p].skills)
                  for p in holders}
        risk = _items_at_risk(scenario, skills_k, queues, label, work, safety)
        mean_work = float(sum((w for (_, s), w in work.items() if s in skills_k), np.zeros(WEEK)).mean())
        out.append(SkillSetNeed(skills_k, mean_only, holders, queues, span, need, label, speeds, risk, mean_work))
    return out


def _items_at_risk(scenario: Scenario, skills: frozenset[str], queues: list[str], label: dict[str, np.ndarray],
                   work: dict[tuple[str, str], np.ndarray],
                   safety: dict[str, tuple[float, float]]) -> list[tuple[np.ndarray, float]]:
    """Budgets an uncovered hour of K spends from: (items it puts at risk by hour of the week, the week's
    budget of them, WAIVER_SHARE of the allowed misses). One for K's labelling queues together. A set with
    no labelling queue of its own (review, adjudication or escalation skills) has one per queue it serves:
    an hour off shift delays only the items that reach its stage (stage_reach), and they spend their own
    queue's allowed misses (a policy team off at the weekend makes only the escalated items late)."""
    def arrivals(q: str) -> np.ndarray:
        return label[q] / scenario.queues[q].handling_time.mean

    def budget(q: str) -> float:
        return WAIVER_SHARE * (1 - scenario.queues[q].sla.attainment) * float(arrivals(q).sum())

    if queues:
        return [(sum((arrivals(q) for q in queues), np.zeros(WEEK)), sum(budget(q) for q in queues))]
    origin = sorted({q for (q, s), w in work.items() if s in skills and q in safety and w.sum() > 0})
    return [(min(1.0, sum(p for s, p in stage_reach(scenario, q).items() if s in skills)) * arrivals(q), budget(q))
            for q in origin]


@dataclass(frozen=True)
class Requirements:
    """The covering rows of the staffing program: rows @ k >= lower (k: the columns' steps above low),
    each waivable row (row, {budget: SLA items at risk}) spending from its skill set's budgets when waived."""

    rows: list[np.ndarray]
    lower: list[float]
    waivable: list[tuple[int, dict[int, float]]]
    budgets: list[float]


def requirements(scenario: Scenario, cols: list[Column], weekly: bool = False,
                 extra: dict[str, np.ndarray] | None = None,
                 share: Callable[[str, frozenset[str]], float] | None = None,
                 strict_stages: bool = False) -> Requirements:
    """The rows `staff` covers (see there): per skill set and hour of the week, the servers still needed
    after what the columns do not vary, against each column's servers per step. `extra` adds servers
    by queue and hour of the week to every skill set holding the queue's skill (iterative staffing);
    `share(pool, skill set)` counts a pool for a set with only that share of its capacity (what its more
    urgent work left it in a simulation: rosters.routed_share); `strict_stages`: sets with no labelling
    queue of their own (review, adjudication, escalation skills) cover every hour, none waived."""
    varied = {c.path for c in cols}
    fixed: dict[str, np.ndarray] = {}
    per_unit: list[np.ndarray] = []
    for pid, pool in scenario.pools.items():
        fixed[pid] = sum((heads * weekly_capacity(scenario, pid, 0.0, pattern)
                          for pattern, heads in _fixed_heads(scenario, pid, varied) if heads), np.zeros(WEEK))
        for i, hire in enumerate(pool.hires):
            if f"pools.{pid}.hires.{i}.count" not in varied and hire.count:
                fixed[pid] = fixed[pid] + hire.count * weekly_capacity(scenario, pid, (hire.week - 1) * 168.0)
    for c in cols:
        parts = c.path.split(".")
        pattern = pattern_of(c.path)
        if pattern is not None:
            per_unit.append(weekly_capacity(scenario, c.pool, 0.0, pattern[1]))
            continue
        joined = 0.0 if parts[2] == "headcount" else (scenario.pools[c.pool].hires[int(parts[3])].week - 1) * 168.0
        per_unit.append(weekly_capacity(scenario, c.pool, joined))
    rows, lower, waivable = [], [], []  # waivable: (row, {budget's index: the SLA items it puts at risk})
    budgets: list[float] = []
    for skill_set in skill_set_needs(scenario, weekly, extra):
        holders, span = skill_set.holders, skill_set.span
        speed = {p: v * (share(p, skill_set.skills) if share else 1.0) for p, v in skill_set.speeds.items()}
        need = skill_set.need - sum(_window_mean(fixed[p], span) * speed[p] for p in holders)
        mean_need = skill_set.work - sum(float(fixed[p].mean()) * speed[p] for p in holders)
        block, mean_block = np.zeros((WEEK, len(cols))), np.zeros(len(cols))
        for j, c in enumerate(cols):
            if c.pool in holders:
                unit = _window_mean(per_unit[j], span) * speed[c.pool]
                block[:, j] = c.step * unit
                need = need - c.low * unit
                mean_unit = float(per_unit[j].mean()) * speed[c.pool]
                mean_block[j] = c.step * mean_unit
                mean_need -= c.low * mean_unit
        hourly = not (weekly or skill_set.mean_only)
        first = len(budgets)
        waives = hourly and not (strict_stages and not skill_set.queues)
        spends = [(items, budget) for items, budget in skill_set.risk if budget > 0] if waives else []
        budgets.extend(budget for _, budget in spends)
        hours = np.nonzero(need > 1e-9)[0]
        if skill_set.mean_only:
            hours = hours[:1]  # mean loads: every hour's row is the same
        before = len(waivable)
        for hour in hours:
            spend = {first + i: float(items[hour]) for i, (items, _) in enumerate(spends) if items[hour] > 0}
            if spend:
                waivable.append((len(rows), spend))
            rows.append(block[hour])
            lower.append(need[hour])
        if len(waivable) > before and mean_need > 1e-9:
            rows.append(mean_block)  # waived hours still leave the week's work to do: the mean load must fit
            lower.append(mean_need)
    return Requirements(rows, lower, waivable, budgets)


def required_heads(scenario: Scenario) -> dict[str, np.ndarray]:
    """Pool -> heads it needs on shift by hour of the week: every skill set's need (`skill_set_needs`)
    shared among the pools holding it at least cost, an LP per hour (the multi-skill requirement of
    iterative staffing), over each pool's available share (1 - shrinkage)(1 - absence). For the report's
    roster chart: what the load asks of each pool, next to what the roster puts on shift."""
    from scipy.optimize import linprog

    pools = list(scenario.pools)
    needs = [n for n in skill_set_needs(scenario) if n.holders]
    cost = np.array([scenario.pools[p].cost_per_hour for p in pools]) + 1e-9
    matrix = np.array([[-n.speeds.get(p, 0.0) for p in pools] for n in needs])
    out = np.zeros((len(pools), WEEK))
    for hour in range(WEEK):
        lower = np.array([max(0.0, float(n.need[hour])) for n in needs])
        if not lower.any():
            continue
        answer = linprog(cost, A_ub=matrix, b_ub=-lower, bounds=(0, None), method="highs")
        if answer.status == 0:
            out[:, hour] = answer.x
    return {p: out[i] / max(1e-9, (1 - scenario.pools[p].shrinkage) * (1 - scenario.pools[p].absence))
            for i, p in enumerate(pools)}


def staff(scenario: Scenario, cols: list[Column], weekly: bool = False,
          extra: dict[str, np.ndarray] | None = None,
          share: Callable[[str, frozenset[str]], float] | None = None, strict_stages: bool = False) -> Staffing:
    """The cheapest integer columns such that, for every skill set K and hour of the week h, the pools
    holding a skill of K supply the servers K needs when pooled: each queue's work for K averaged over
    [h, h + T) with T its SLA target (work may wait that long), plus square-root safety beta_K sqrt(a_K)
    over the shortest such span, beta_K the load-weighted Erlang-C beta of K's labelling queues;
    capacity averaged over that shortest span. Hall's condition with Erlang C and the clock in it.
    A target of 95% lets 5% of items miss, so K may leave hours uncovered whose arrivals add up to at
    most WAIVER_SHARE of its queues' allowed misses (a binary per hour and a budget row per K; for a set
    with no labelling queue, the items reaching its stage against each served queue's: _items_at_risk),
    while its mean work still fits: thin night or weekend hours need not each hold their own Erlang cover.
    What the ranges cannot cover is a penalised shortfall, so an answer always exists (scipy milp, HiGHS).
    With `weekly`, every span is the whole week: the same program on mean loads, blind to the clock.
    `share`, `strict_stages`: see `requirements`."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    req = requirements(scenario, cols, weekly, extra, share, strict_stages)
    rows, lower, waivable, budgets = req.rows, req.lower, req.waivable, req.budgets

    limits = scenario.optimize.rosters if scenario.optimize is not None else {}
    groups = [(r.max_patterns, [j for j, c in enumerate(cols) if pattern_of(c.path) is not None and c.pool == pid])
              for pid, r in limits.items() if r.max_patterns is not None]
    used = [j for _, members in groups for j in members]  # a binary per pattern: is anyone on it
    n, m, w, b = len(cols), len(rows), len(waivable), len(used)
    unit_cost = np.array([c.step * c.paid * c.cost_per_hour for c in cols])
    penalty = SHORTFALL_PENALTY * max(1.0, float(unit_cost.max(initial=1.0)))
    cost = np.concatenate([unit_cost + 1e-9, np.full(m, penalty), np.zeros(w + b)])
    steps = np.array([(c.high - c.low) // c.step for c in cols], dtype=float)
    top = np.concatenate([steps, np.full(m, np.inf), np.ones(w + b)])
    integrality = np.concatenate([np.ones(n), np.zeros(m), np.ones(w + b)])
    constraints = []
    width = n + m + w + b
    if m:
        waive = np.zeros((m, w))  # a waived hour needs no cover...
        spend = np.zeros((len(budgets), w))  # ...and spends its SLA items from the skill set's miss budget
        for j, (row, items) in enumerate(waivable):
            waive[row, j] = lower[row]
            for k, n_items in items.items():
                spend[k, j] = n_items
        matrix = np.hstack([np.array(rows), np.eye(m), waive, np.zeros((m, b))])  # a row may fall short by its slack
        constraints = [LinearConstraint(matrix, np.array(lower), np.inf)]
        if w:
            constraints.append(LinearConstraint(np.hstack([np.zeros((len(budgets), n + m)), spend, np.zeros((len(budgets), b))]),
                                                -np.inf, np.array(budgets)))
    if b:
        link = np.zeros((b, width))  # heads on a pattern only if its binary is on...
        for i, j in enumerate(used):
            link[i, j], link[i, n + m + w + i] = 1.0, -steps[j]
        count = np.zeros((len(groups), width))  # ...and at most max_patterns binaries on per pool
        offset = 0
        for g, (_, members) in enumerate(groups):
            count[g, n + m + w + offset: n + m + w + offset + len(members)] = 1.0
            offset += len(members)
        constraints += [LinearConstraint(link, -np.inf, 0.0),
                        LinearConstraint(count, -np.inf, np.array([limit for limit, _ in groups], dtype=float))]
    result = milp(cost, constraints=constraints, bounds=Bounds(0, top), integrality=integrality,
                  options={"node_limit": MILP_NODES, "time_limit": MILP_GUARD_S})
    ks = result.x[:n] if result.x is not None else steps
    values = {c.path: c.low + c.step * int(round(k)) for c, k in zip(cols, ks)}
    shortfall = float(result.x[n:n + m].sum()) if result.x is not None and m else 0.0
    return Staffing(values, float(unit_cost @ np.round(ks)), shortfall)


@dataclass(frozen=True)
class Cover:
    """A solution of the covering program: each column's value and the plan's cost over the window."""

    values: dict[str, float]
    cost: float


def cover(scenario: Scenario, cols: list[Column], requirement: dict[str, float], integral: bool) -> Cover | None:
    """The cheapest column values whose capacity covers `requirement` (servers by skill), or None.

    A transportation LP: x[s, p] >= 0 hours of pool p on skill s; sum_p speed[p, s] x[s, p] >= need[s];
    sum_s x[s, p] <= fixed capacity of p + productive hours of p's columns. Columns are integers on their
    step grid when `integral` (scipy's milp, HiGHS), else continuous (the LP relaxation).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    window = scenario.horizon.duration - scenario.horizon.warmup
    pools = list(scenario.pools)
    fixed_cap, fixed_cost = fixed_capacity(scenario, {c.path for c in cols})
    links = [(s, p) for s in requirement for p in pools if s in scenario.pools[p].skills]
    if any(requirement[s] > 0 and not any(ls == s for ls, _ in links) for s in requirement):
        return None
    n_cols, n_links = len(cols), len(links)
    # columns are k in [0, (high - low) / step]: value = low + step * k
    cost = np.concatenate([[c.step * c.paid * c.cost_per_hour for c in cols], np.zeros(n_links)])
    rows, lower, upper = [], [], []
    for s, need in requirement.items():
        row = np.zeros(n_cols + n_links)
        for j, (ls, p) in enumerate(links):
            if ls == s:
                row[n_cols + j] = scenario.pools[p].skills[s].speed
        rows.append(row)
        lower.append(need)
        upper.append(np.inf)
    for p in pools:
        row = np.zeros(n_cols + n_links)
        base = fixed_cap[p]
        for i, c in enumerate(cols):
            if c.pool == p:
                row[i] = -c.step * c.productive
                base += c.low * c.productive
        for j, (_, lp) in enumerate(links):
            if lp == p:
                row[n_cols + j] = 1.0
        rows.append(row)
        lower.append(-np.inf)
        upper.append(base)
    top = np.concatenate([[(c.high - c.low) // c.step for c in cols], np.full(n_links, np.inf)])
    integrality = np.concatenate([np.full(n_cols, 1 if integral else 0), np.zeros(n_links)])
    result = milp(cost, constraints=LinearConstraint(np.array(rows), lower, upper), bounds=Bounds(0, top),
                  integrality=integrality)
    if result.x is None:
        return None
    values = {c.path: c.low + c.step * float(k) for c, k in zip(cols, result.x[:n_cols])}
    if integral:
        values = {k: int(round(v)) for k, v in values.items()}
    paid = sum(fixed_cost.values()) + sum(values[c.path] * c.paid * c.cost_per_hour for c in cols)
    return Cover(values, paid * window)
