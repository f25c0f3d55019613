"""The structured search: repair and descent on common random numbers, from the analytic start.

- Bracket: between the first feasible plan (a start, or the repaired start) and a cheaper infeasible
  start, plans at the thirds of the segment narrow down where feasibility begins; the descent starts
  from the cheapest feasible one.
- Repair (infeasible plan): every variable that can serve a violated constraint's work is raised one
  move (a categorical is switched), all evaluated as one batch; the move that removes the most
  violation per unit of cost is taken. A variable serves a queue's constraint when it belongs to a pool
  holding a skill of that queue's workflow, or to that workflow; a pool's constraint, to that pool.
  Of a roster's pattern moves only REPAIR_PATTERNS go in a batch (a roster has dozens of patterns;
  one batch of all of them would spend the budget): each roster pool's pattern putting the most heads
  on the hours whose items missed per unit of cost, then the next best of any pool. One per pool,
  because that ranking cannot see routing: a pool that serves a missed queue only after its other
  queues gains it little, and only the simulation measures that.
- Descent (feasible plan): variables are lowered one move at a time, the largest saving first, in
  batches of `WIDTH`; the cheapest feasible result is taken. A variable's move doubles after a success
  and falls back to one step after a failure (a roster pattern's first move is one head); the search
  ends when one step down of every variable misses a target at the current plan (a local optimum on
  the search's replications). A roster head may also move to a cheaper pattern of its pool: one whose
  hours lie within its own (daily to weekdays or weekends, a shorter shift from the same start), so the
  cover stays where the other pattern is on, or a staffed one with NEAR of its hours inside its own
  (daily to a weekday pattern starting 2 h later), so the cover shifts onto hours the pool already
  covers. All the pattern's heads move when the pool is at its max_patterns; transfers rank by the
  saving per head moved. Single decreases cannot get there when the head is needed on some of its
  hours but not on others.
- QC re-aim (first feasible plan): its review sample rates lowered to what the quality it delivered
  asks (start.measured_qc_rates). The start prices review for the least accurate pool holding a skill,
  and descent lowers a cost-free rate only once every step down that saves money is blocked, which a
  40-trial search on dozens of head-counts never reaches; with less review work, heads come off.
- Kicks: from the local optimum, each other choice of each categorical, one step up of each variable
  (with a one-for-one substitution for a flexible pool), then the consolidation of dedicated pools
  into one holding all their skills, each repaired and descended; a cheaper optimum replaces the
  incumbent.

Plans are judged on the means of the search's replications, which every plan shares (common random
numbers), so the comparisons between neighbours are paired and the path is the same on every run.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from simulator.scenario import Scenario, validate_data

from .analytic import pattern_of, weekly_capacity
from .constraints import Constraint
from .rosters import pattern_limits
from .screen import paid_cost
from .search_space import Decision, with_values
from .start import measured_qc_rates
from .trials import Outcome, effort, plan_key

WIDTH = 2  # plans per descent batch: fixed, so that the path does not depend on --jobs
BRACKET_ROUNDS = 2  # rounds of bracketing between a feasible and an infeasible start (two plans each)
REPAIR_PATTERNS = 4  # roster pattern moves per repair batch: those covering the most missed items per cost
NEAR = 0.75  # a transfer's target pattern has at least this share of its hours inside the source's (a start 2 h off)


def _doubled(moves: int, d: Decision) -> int:
    """A move of `d` twice as long, at most its whole range: a move that worked, or a plateau to cross."""
    return min(moves * 2, max(1, d.steps))


def _fewer_heads(d: Decision) -> bool:
    """A step down of `d` takes people off (a roster pattern, a head-count or a hire count), so it never helps
    a target that a move from the plan before missed."""
    return pattern_of(d.path) is not None or d.path.endswith((".headcount", ".count"))


class StructuredSearch:
    """Repair, descent and categorical restarts over `decisions`, through `evaluate` (a batch of plans
    -> their outcomes, None where the budget ran out)."""

    def __init__(self, raw: dict[str, Any], decisions: list[Decision], constraints: list[Constraint],
                 evaluate: Callable[[list[dict[str, Any]], Outcome | None], list[Outcome | None]]):
        self.raw, self.decisions, self.constraints, self._evaluate = raw, decisions, constraints, evaluate
        self._exhausted = False
        self.base: Scenario = validate_data(raw, {}, "search")
        self.scale = {c.name: max(abs(c.bound), 1e-9) for c in constraints}
        self.best: Outcome | None = None
        self.optima: list[Outcome] = []  # every local optimum the descent reached
        self._cost_cache: dict[str, float] = {}
        self._capacity: dict[str, np.ndarray] = {}  # "pool.pattern" -> servers by hour of the week
        self._near: dict[Decision, list[tuple[Decision, bool]]] | None = None  # see _targets

    # --- helpers ----------------------------------------------------------------------------------
    def evaluate(self, plans: list[dict[str, Any]], near: Outcome | None = None) -> list[Outcome | None]:
        """Outcomes of a batch of neighbours of `near` (their paired look's reference, if given); notes
        when the budget or time ran out (a None among them)."""
        results = self._evaluate(plans, near)
        self._exhausted = self._exhausted or any(r is None for r in results)
        return results

    def estimated_cost(self, plan: dict[str, Any]) -> float:
        """Paid cost of a plan from its shifts and head-counts (no simulation): orders the moves."""
        key = plan_key(plan)
        if key not in self._cost_cache:
            self._cost_cache[key] = paid_cost(validate_data(with_values(self.raw, plan), {}, "search"))
        return self._cost_cache[key]

    def _violation(self, out: Outcome) -> float:
        """Total violation, each constraint relative to its bound."""
        return sum(max(0.0, v) / self.scale.get(name, 1.0) for name, v in out.violations.items())

    def _key(self, out: Outcome) -> tuple[float, float, int]:
        return out.cost, effort(out.params, self.decisions), out.number

    def _keep(self, out: Outcome | None) -> None:
        if out is not None and out.feasible and (self.best is None or self._key(out) < self._key(self.best)):
            self.best = out

    def _moves_needed(self, before: Outcome, after: Outcome) -> float:
        """How many times a move must be repeated to remove the violation of the constraint it helped most
        (relative to its bound): that violation / the part the move removed; between 1 and 8."""
        helped = [((before.violations[c] - v) / self.scale.get(c, 1.0), c) for c, v in after.violations.items()
                  if before.violations.get(c, 0.0) > 0 and before.violations[c] - v > 0]
        if not helped:
            return 1.0
        _, c = max(helped)
        return min(8.0, max(1.0, before.violations[c] / (before.violations[c] - after.violations[c])))

    def moved(self, plan: dict[str, Any], d: Decision, units: int) -> dict[str, Any] | None:
        """The plan with `d` moved by `units` grid steps (clamped), or None if it cannot move that way."""
        k = d.index(plan[d.path])
        target = min(max(k + units, 0), d.steps)
        if target == k:
            return None
        return dict(plan, **{d.path: d.at(target)})

    def serves(self, violated: list[str]) -> list[Decision]:
        """The variables that can serve the violated constraints: for a queue's turnaround, wait or backlog,
        those of the pools holding a skill of its workflow; for its quality, those of its workflow (QC
        rates, passes), or its pools' if the workflow has none; for a pool's KPI, that pool's; for a total,
        every variable."""
        prefixes: set[str] = set()
        general = False
        for name in violated:
            metric = next((c.metric for c in self.constraints if c.name == name), name)
            parts = metric.split(".")
            if parts[0] == "queues" and len(parts) == 3 and parts[1] in self.base.queues:
                qid = parts[1]
                skills = self.base.skills_of(qid)
                pools = {f"pools.{pid}." for pid, p in self.base.pools.items() if skills & set(p.skills)}
                process = {f"workflows.{self.base.queues[qid].workflow}.", f"queues.{qid}."}
                if "quality" in parts[2] and any(d.path.startswith(tuple(process)) for d in self.decisions):
                    prefixes |= process
                else:
                    prefixes |= pools | ({f"queues.{qid}."} if "quality" not in parts[2] else process)
            elif parts[0] == "pools" and len(parts) == 3:
                prefixes.add(f"pools.{parts[1]}.")
            else:
                general = True
        chosen = [d for d in self.decisions if d.path.startswith(tuple(prefixes))]
        return self.decisions if general or not chosen else chosen

    def _pattern_capacity(self, pool: str, pattern: int) -> np.ndarray:
        key = f"{pool}.{pattern}"
        if key not in self._capacity:
            self._capacity[key] = weekly_capacity(self.base, pool, pattern=pattern)
        return self._capacity[key]

    def narrowed(self, plan: dict[str, Any], out: Outcome,
                  candidates: list[tuple[Decision, dict[str, Any]]]) -> list[tuple[Decision, dict[str, Any]]]:
        """Repair's moves with the roster pattern moves cut to each pool's best and then the next best up to
        REPAIR_PATTERNS. A move ranks by the missed items its heads sit on per unit of cost: the pattern's
        servers by hour of the week against the late share of each queue missing its SLA whose skills the
        pool holds (ties: the cheaper move). Each pool with a move on missed hours keeps its best, because
        this ranking cannot see routing (a pool serving a missed queue after its others gains it little)."""
        patterns = [c for c in candidates if pattern_of(c[0].path) is not None]
        if len(patterns) <= REPAIR_PATTERNS:
            return candidates
        late = [(self.base.skills_of(qid), np.asarray(share)) for qid, share in (out.late_share or {}).items()
                if out.violations.get(f"queues.{qid}.sla_attainment", 0.0) > 0]
        missed = {pid: sum((share for skills, share in late if skills & set(pool.skills)), np.zeros(168))
                  for pid, pool in self.base.pools.items()}  # per pool: late share of the missed queues it serves

        def rank(c: tuple[Decision, dict[str, Any]]) -> tuple[float, float]:
            pool, i = pattern_of(c[0].path)  # type: ignore[misc]
            extra = max(self.estimated_cost(c[1]) - self.estimated_cost(plan), 1e-9)
            return -float(self._pattern_capacity(pool, i) @ missed[pool]) / extra, extra

        ranked = sorted(patterns, key=rank)
        firsts: dict[str, tuple[Decision, dict[str, Any]]] = {}
        for c in ranked:
            if rank(c)[0] < 0:
                firsts.setdefault(pattern_of(c[0].path)[0], c)  # type: ignore[index]
        kept = list(firsts.values())
        kept += [c for c in ranked if c not in kept][:max(0, REPAIR_PATTERNS - len(kept))]
        return [c for c in candidates if pattern_of(c[0].path) is None or c in kept]

    # --- phases -----------------------------------------------------------------------------------
    def repair(self, plan: dict[str, Any], out: Outcome) -> tuple[dict[str, Any], Outcome] | None:
        """Raise capacity where the violated constraints' work is served until the plan is feasible."""
        moves = {d.path: max(1, d.steps // 8) for d in self.decisions if d.choices is None}
        while not out.feasible:
            if self.best is not None and out.cost >= self.best.cost:
                return None  # repair only adds cost: this branch cannot beat the incumbent
            violated = [name for name, v in out.violations.items() if v > 0]
            candidates: list[tuple[Decision, dict[str, Any]]] = []
            for d in self.serves(violated):
                if d.choices is not None:
                    candidates += [(d, dict(plan, **{d.path: c})) for c in d.choices if c != plan[d.path]]
                else:
                    moved = self.moved(plan, d, moves[d.path])
                    if moved is not None:
                        candidates.append((d, moved))
            candidates = self.narrowed(plan, out, candidates)
            if not candidates:
                return None
            results = self.evaluate([p for _, p in candidates], out)
            for r in results:
                self._keep(r)
            done = [(self._key(r), p, r) for (_, p), r in zip(candidates, results) if r is not None and r.feasible]
            if done:
                _, plan, out = min(done, key=lambda x: x[0])
                return plan, out
            before, cost = self._violation(out), out.cost
            scored = []
            for (d, p), r in zip(candidates, results):
                if r is None:
                    continue
                gain = before - self._violation(r)
                if gain > 0:
                    scored.append((gain / max(r.cost - cost, 1e-9 * max(cost, 1.0)), -r.number, d, p, r))
            if not scored:
                if any(r is None for r in results):
                    return None  # budget or time ran out
                grown = dict(plan)  # no single move helps: raise every serving variable at once
                for d, _ in candidates:
                    if d.choices is None:
                        grown = self.moved(grown, d, moves[d.path]) or grown
                if grown == plan:
                    return None
                [r] = self.evaluate([grown], out)
                if r is None:
                    return None
                self._keep(r)
                if self._violation(r) < before:
                    plan, out = grown, r
                    continue
                # a plateau: capacity that comes in lumps (a 70:30 split of 6 to 8 heads puts 2 on the
                # weekend, of 9 puts 3) changes nothing for a step or two: twice the steps, to the range's end
                numeric = [d for d, _ in candidates if d.choices is None]
                longer = {d.path: _doubled(moves[d.path], d) for d in numeric}
                if all(longer[d.path] == moves[d.path] for d in numeric):
                    return None
                moves.update(longer)
                continue
            _, _, d, best_plan, best_out = max(scored, key=lambda x: (x[0], x[1]))
            helpful = {m.path: p[m.path] for _, _, m, p, _ in scored if m.choices is None}
            for _, _, m, _, r in scored:  # a secant step: as many moves as the measured gain says are needed
                if m.choices is None:
                    units = math.ceil(moves[m.path] * self._moves_needed(out, r))
                    helpful[m.path] = (self.moved(plan, m, units) or plan)[m.path]
            if len(helpful) > 1 or any(helpful[m.path] != p[m.path] for _, _, m, p, _ in scored if m.choices is None):
                combined = dict(plan, **helpful)  # moves serving different targets usually add up
                [r] = self.evaluate([combined], out)
                self._keep(r)
                if r is not None and self._violation(r) < self._violation(best_out):
                    best_plan, best_out = combined, r
            if d.choices is None:
                moves[d.path] = _doubled(moves[d.path], d)
            plan, out = best_plan, best_out
        return plan, out

    def descend(self, plan: dict[str, Any], out: Outcome, tabu: str | None = None) -> tuple[dict[str, Any], Outcome]:
        """Lower variables while the plan stays feasible; end at a plan whose every one-step decrease misses.
        A `tabu` variable is not lowered (it was just raised by a kick), and then descent runs again with all."""
        if tabu is not None:
            plan, out = self._descend(plan, out, tabu)
        return self._descend(plan, out, None)

    def _descend(self, plan: dict[str, Any], out: Outcome, tabu: str | None) -> tuple[dict[str, Any], Outcome]:
        numeric = [d for d in self.decisions if d.choices is None and d.path != tabu]
        # a roster pattern's first move is one head: it holds a few of its pool's heads, so an eighth of its
        # range takes most of them, and the other patterns back up only the hours they share
        moves = {d.path: 1 if pattern_of(d.path) is not None else max(1, d.steps // 8) for d in numeric}
        blocked: set[str] = set()  # one step down misses at the current plan
        failed_before: set[str] = set()
        while True:
            candidates = []
            for d in numeric:
                if d.path in blocked:
                    continue
                moved = self.moved(plan, d, -moves[d.path])
                if moved is None:
                    blocked.add(d.path)
                    continue
                saving = self.estimated_cost(plan) - self.estimated_cost(moved)
                effort = (d.index(plan[d.path]) - d.index(moved[d.path])) / max(1, d.steps)
                # money first (a cost-free move only lowers QC work), then what has not failed yet, then size
                candidates.append(((saving <= 0, d.path in failed_before, -saving, -effort, self.decisions.index(d)),
                                   d, moved, d.path))
            for key, d, heads, moved in self.transfers(plan, tabu):
                if key in blocked:
                    continue
                # ranked by the saving per head moved: a whole pattern moving takes cover off many hours at once
                saving = (self.estimated_cost(plan) - self.estimated_cost(moved)) / heads
                candidates.append(((saving <= 0, key in failed_before, -saving, 0.0, self.decisions.index(d)),
                                   d, moved, key))
            if not candidates:
                return plan, out
            candidates.sort(key=lambda c: c[0])
            batch = candidates[:WIDTH]
            results = self.evaluate([p for _, _, p, _ in batch], out)
            if all(r is None for r in results):
                return plan, out  # budget or time ran out
            for r in results:
                self._keep(r)
            better = [(self._key(r), d, p, r, key) for (_, d, p, key), r in zip(batch, results)
                      if r is not None and r.feasible]
            if not better:
                better = self._compensate(plan, out, [(d, p, r) for (_, d, p, _), r in zip(batch, results)])
            for (_, d, _, key), r in zip(batch, results):
                if r is None or r.feasible:
                    continue
                if key == d.path and moves[d.path] > 1:
                    moves[d.path] = 1  # a long move overshot: try one step next
                else:
                    blocked.add(key)
                    failed_before.add(key)
            if better:
                _, d, plan, out, key = min(better, key=lambda x: x[0])
                if key == d.path:
                    moves[d.path] = _doubled(moves[d.path], d)
                failed_before.discard(key)
                # the plan changed: every one-step decrease is open again, the failed ones last; after heads came
                # off, a transfer that missed stays blocked (it moves the same head with fewer heads around it)
                blocked = {k for k in blocked if ">" in k} if key == d.path and _fewer_heads(d) else set()

    def transfers(self, plan: dict[str, Any],
                  tabu: str | None = None) -> list[tuple[str, Decision, int, dict[str, Any]]]:
        """(key, source, heads moved, plan) for each move of one head from a staffed roster pattern to a cheaper
        pattern of its pool (_targets): one whose hours lie within the source's (no hour gains cover), or a
        staffed one with most of its hours inside the source's (the cover shifts by a start, onto hours the
        pool already covers). All the source's heads when one would staff more patterns than the pool's
        max_patterns. Not from or to `tabu`."""
        limits = pattern_limits(self.base)
        out = []
        for a, targets in self._targets().items():
            if a.path == tabu or plan[a.path] <= a.low:
                continue
            pool = pattern_of(a.path)[0]  # type: ignore[index]
            used = sum(1 for d in self.decisions if pattern_of(d.path) is not None
                       and pattern_of(d.path)[0] == pool and plan[d.path] > 0)  # type: ignore[index]
            for b, inside in targets:
                if b.path == tabu or plan[b.path] >= b.high or (not inside and plan[b.path] == 0):
                    continue
                heads = 1
                if pool in limits and used + (plan[b.path] == 0) - (plan[a.path] - 1 == 0) > limits[pool]:
                    if a.low > 0:
                        continue
                    heads = plan[a.path]  # the pool is at its max_patterns: the whole pattern moves, or none of it
                if plan[b.path] + heads > b.high:
                    continue
                moved = dict(plan, **{a.path: plan[a.path] - heads, b.path: plan[b.path] + heads})
                out.append((f"{a.path}>{b.path}", a, heads, moved))
        return out

    def _targets(self) -> dict[Decision, list[tuple[Decision, bool]]]:
        """Each roster pattern variable (one head a step) -> the patterns of its pool with fewer hours that
        have at least NEAR of their hours inside its own, each with whether all of them are."""
        if self._near is None:
            patterns = [d for d in self.decisions if pattern_of(d.path) is not None and d.unit == 1]
            self._near = {}
            for a in patterns:
                pool, i = pattern_of(a.path)  # type: ignore[misc]
                own = self._pattern_capacity(pool, i)
                for b in patterns:
                    other = pattern_of(b.path)
                    if b is a or other[0] != pool:  # type: ignore[index]
                        continue
                    theirs = self._pattern_capacity(*other)  # type: ignore[misc]
                    if theirs.sum() < own.sum() - 1e-9 and np.minimum(theirs, own).sum() >= NEAR * theirs.sum():
                        self._near.setdefault(a, []).append((b, bool(np.all(theirs <= own + 1e-9))))
        return self._near

    def _compensate(self, plan: dict[str, Any], out: Outcome,
                    failed: list[tuple[Decision, dict[str, Any], Outcome | None]]) -> list[Any]:
        """A saving that misses only by a little can often be kept by raising what costs nothing (a QC
        rate when fewer in-house heads push work to a less accurate vendor): each failed decrease with a
        cost saving is retried with the cost-free variables serving its violated constraints raised by a
        25th of their range (at least one step). Returns the feasible ones, as descend() ranks moves."""
        tries = []
        for d, moved, r in failed:
            if r is None or self.estimated_cost(moved) >= self.estimated_cost(plan):
                continue
            free = [v for v in self.serves([c for c, x in r.violations.items() if x > 0])
                    if v.choices is None and v.path != d.path
                    and self.estimated_cost(self.moved(moved, v, 1) or moved) <= self.estimated_cost(moved)]
            raised = dict(moved)
            for v in free:
                raised = self.moved(raised, v, max(1, v.steps // 25)) or raised
            if raised != moved:
                tries.append((d, raised))
        if not tries:
            return []
        results = self.evaluate([p for _, p in tries], out)
        for r in results:
            self._keep(r)
        return [(self._key(r), d, p, r, d.path) for (d, p), r in zip(tries, results) if r is not None and r.feasible]

    def local_search(self, plan: dict[str, Any], tabu: str | None = None,
                     near: Outcome | None = None) -> tuple[dict[str, Any], Outcome] | None:
        """Evaluate (paired with `near`, the plan it was kicked from), repair if needed, descend (not
        lowering `tabu` at first): a local optimum, or None."""
        [out] = self.evaluate([plan], near)
        if out is None:
            return None
        self._keep(out)
        if not out.feasible:
            repaired = self.repair(plan, out)
            if repaired is None:
                return None
            plan, out = repaired
        plan, out = self.descend(plan, out, tabu)
        self.optima.append(out)
        return plan, out

    def _pool_of(self, d: Decision) -> str | None:
        parts = d.path.split(".")
        return parts[1] if parts[0] == "pools" and len(parts) > 2 and parts[1] in self.base.pools else None

    def _kicks(self, plan: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
        """Perturbations of a local optimum: each other choice of each categorical; then, for each numeric
        variable, one step up, and for a pool's head-count also one step down of every head-count whose
        pool holds only skills this pool holds (a substitution: the flexible pool takes their work).
        The most flexible pools come first; then the consolidations (_consolidated). Each comes with the
        variable its descent first leaves alone (None: none)."""
        out = []
        for d in self.decisions:
            if d.choices is not None:
                out += [(d.path, dict(plan, **{d.path: c})) for c in d.choices if c != plan[d.path]]

        def flexibility(d: Decision) -> tuple[int, int]:
            pool = self._pool_of(d)
            return (-(len(self.base.pools[pool].skills) if pool else 0), self.decisions.index(d))

        for d in sorted((d for d in self.decisions if d.choices is None), key=flexibility):
            up = self.moved(plan, d, 1)
            if up is None:
                continue
            pool = self._pool_of(d)
            if pool is not None and d.path.endswith(".headcount"):
                swapped = self._substituted(up, d, pool)
                if swapped != up:
                    out.append((d.path, swapped))
            out.append((d.path, up))
        return out + [(None, merged) for merged in self._consolidated(plan)]

    def re_aimed(self, plan: dict[str, Any], out: Outcome) -> tuple[dict[str, Any], Outcome]:
        """The feasible `plan` with each review sample rate lowered to the smallest grid value whose quality,
        under the labelling error its simulation measured, meets the targets with QUALITY_MARGIN to spare
        (start.measured_qc_rates; a rate is never raised: the plan meets its targets as it is), if that
        plan meets them too; else `plan`."""
        rates = measured_qc_rates(self.raw, self.decisions, plan, out.violations)
        lowered = dict(plan, **{p: r for p, r in rates.items() if r < plan[p]})
        if lowered == plan:
            return plan, out
        [r] = self.evaluate([lowered], out)
        self._keep(r)
        return (lowered, r) if r is not None and r.feasible else (plan, out)

    def _consolidated(self, plan: dict[str, Any]) -> list[dict[str, Any]]:
        """For each pool head-count, the plan with every other pool whose skills that pool holds at its
        lowest head-count and their heads moved into it (one for one, up to its range): a pooled team
        needs fewer heads than dedicated ones (4 shared servers for loads of 2 and 1 Erlangs that need
        3 and 2 apart), but single steps never get there, since each swap alone costs more. Last among
        the kicks, and descended without a tabu, so that the pooled team sheds the heads it can spare."""
        counts = {self._pool_of(d): d for d in self.decisions
                  if d.choices is None and d.path == f"pools.{self._pool_of(d)}.headcount"}
        out = []
        for pool, d in counts.items():
            skills = set(self.base.pools[pool].skills)
            moved = {q: o for q, o in counts.items() if q != pool and set(self.base.pools[q].skills) <= skills
                     and o.index(plan[o.path]) > 0}
            if not moved:
                continue
            heads = plan[d.path] + sum(plan[o.path] - o.at(0) for o in moved.values())
            merged = dict(plan, **{o.path: o.at(0) for o in moved.values()})
            merged[d.path] = d.at(math.ceil((heads - d.at(0)) / d.unit))
            out.append(merged)
        return out

    def _substituted(self, plan: dict[str, Any], d: Decision, pool: str) -> dict[str, Any]:
        """`plan` with one step fewer in every other pool whose skills `pool` holds: its head-count or, for a
        roster pool, the one staffed pattern whose hours overlap `d`'s the most (one head for one head)."""
        skills = set(self.base.pools[pool].skills)
        own = pattern_of(d.path)
        hours = self._pattern_capacity(*own) if own else weekly_capacity(self.base, pool)
        lowered: dict[str, list[Decision]] = {}
        for other in self.decisions:
            q = self._pool_of(other)
            if (other.choices is None and other.path.endswith(".headcount") and q not in (None, pool)
                    and set(self.base.pools[q].skills) <= skills  # type: ignore[index]
                    and other.index(plan[other.path]) > 0):
                lowered.setdefault(q, []).append(other)  # type: ignore[arg-type]

        def overlap(o: Decision) -> tuple[float, int]:
            theirs = pattern_of(o.path)
            return float(hours @ self._pattern_capacity(*theirs)) if theirs else 0.0, -self.decisions.index(o)

        out = dict(plan)
        for options in lowered.values():
            out = self.moved(out, max(options, key=overlap), -1) or out
        return out

    def between(self, low: dict[str, Any], high: dict[str, Any], share: float) -> dict[str, Any]:
        """The plan `share` of the way from `low` to `high`: each numeric variable on its grid (rounded),
        each categorical as in `high`; a roster pool kept within its max_patterns (within_pattern_limits),
        since the two ends may staff different patterns and their mix would be screened out unsimulated."""
        plan = dict(high)
        for d in self.decisions:
            if d.choices is None:
                k0, k1 = d.index(low[d.path]), d.index(high[d.path])
                plan[d.path] = d.at(int(round(k0 + share * (k1 - k0))))
        return self.within_pattern_limits(plan)

    def within_pattern_limits(self, plan: dict[str, Any]) -> dict[str, Any]:
        """The plan with every roster pool cut to its max_patterns: the patterns with the most heads stay
        (ties: the earlier pattern), and each dropped pattern's heads join the kept ones whose hours of the
        week overlap its own the most, up to each one's max_heads, so that the pool keeps its head-count
        and, as near as the kept patterns allow, the hours it covers."""
        out = dict(plan)
        order = {d.path: i for i, d in enumerate(self.decisions)}
        high = {d.path: int(d.high) for d in self.decisions if pattern_of(d.path) is not None}  # type: ignore[arg-type]
        for pool, limit in pattern_limits(self.base).items():
            staffed = sorted((p for p in high if pattern_of(p)[0] == pool and out[p] > 0),  # type: ignore[index]
                             key=lambda p: (-out[p], order[p]))
            hours = {p: self._pattern_capacity(pool, pattern_of(p)[1]) for p in staffed}  # type: ignore[index]
            kept = staffed[:limit]
            for p in staffed[limit:]:
                for k in sorted(kept, key=lambda k: (-float(hours[p] @ hours[k]), order[k])):
                    add = min(out[p], high[k] - out[k])
                    out[k] += add
                    out[p] -= add  # what no kept pattern has room for stays (then screened, as before)
        return out

    def bracket(self, starts: list[dict[str, Any]], results: list[Outcome | None]) -> dict[str, Any] | None:
        """Between the cheapest feasible plan and the cheapest infeasible one among `starts`, the cheapest
        feasible plan on the segment: BRACKET_ROUNDS rounds of two plans at the thirds of the interval
        still bracketing the edge, each round one batch. The analytic starts fall on either side of the
        cheapest plan (hour-by-hour cover above it, mean-load cover below), so the descent starts far
        closer. None: nothing cheaper found, or no bracket."""
        feasible = [(r.cost, s) for s, r in zip(starts, results) if r is not None and r.feasible]
        short = [(r.cost, s) for s, r in zip(starts, results) if r is not None and not r.feasible]
        if not feasible or not short:
            return None
        (top, high), (bottom, low) = min(feasible, key=lambda x: x[0]), min(short, key=lambda x: x[0])
        if bottom >= top:
            return None  # the infeasible start is no cheaper: nothing to find between them
        a, b, found = 0.0, 1.0, []
        for _ in range(BRACKET_ROUNDS):
            shares = [a + (b - a) / 3, a + 2 * (b - a) / 3]
            plans = [self.between(low, high, x) for x in shares]
            outs = self.evaluate(plans)
            for r in outs:
                self._keep(r)
            if any(r is None for r in outs):
                break
            ok = [x for x, r in zip(shares, outs) if r is not None and r.feasible]
            b = ok[0] if ok else b
            a = max([a] + [x for x, r in zip(shares, outs) if r is not None and not r.feasible and x < b])
            found += [(r.cost, x, p) for x, p, r in zip(shares, plans, outs) if r is not None and r.feasible]
        cheaper = [(cost, x, p) for cost, x, p in found if cost < top]
        return min(cheaper, key=lambda c: c[:2])[2] if cheaper else None

    def run(self, starts: list[dict[str, Any]]) -> None:
        """From the best of `starts` (the cheapest feasible, else the least violation, all evaluated as
        one batch): repair if needed, bracket between that feasible plan and a cheaper infeasible start
        (bracket()), lower its QC rates to what its quality asks (re_aimed()), descend; then iterated local
        search: kick the optimum (kicks()), descend without undoing the kick, keep a cheaper optimum and
        kick again, until no kick improves."""
        results = self.evaluate(starts)
        scored = [(not r.feasible, self._violation(r), self._key(r), s, r) for s, r in zip(starts, results) if r]
        if not scored:
            return
        *_, plan, out = min(scored, key=lambda x: x[:3])
        self._keep(out)
        if not out.feasible:
            repaired = self.repair(plan, out)
            if repaired is None:
                return
            plan, out = repaired
        bracketed = self.bracket([plan, *starts], [out, *results])
        if bracketed is not None:
            plan, [out] = bracketed, self.evaluate([bracketed])  # read back: the bracket evaluated it
        plan, out = self.re_aimed(plan, out)  # type: ignore[arg-type]
        plan, out = self.descend(plan, out)
        self.optima.append(out)
        tried: set[str] = set()
        improved = True
        while improved:
            improved = False
            for path, kicked in self._kicks(plan):
                if plan_key(kicked) in tried:
                    continue
                tried.add(plan_key(kicked))
                other = self.local_search(kicked, tabu=path, near=out)
                if other is None and not self.exhausted():
                    continue
                if other is None:
                    return
                if self._key(other[1])[:2] < self._key(out)[:2]:
                    plan, out = other
                    improved = True
                    break

    def exhausted(self) -> bool:
        """The last batch found the budget or the time spent."""
        return self._exhausted

    def restart(self, plan: dict[str, Any]) -> None:
        """Descend from a plan another strategy found (a diversification restart)."""
        self.local_search(plan)
