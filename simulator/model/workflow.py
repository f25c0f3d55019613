"""The item's path through its workflow's stages (docs/scenario.md), and where each decision is drawn.

label (k passes by k different workers, majority wins) -> adjudication when the k labels tie
-> escalation with `probability` (the expert's decision is final and delivered)
-> review of a `sample` share: a wrong decision is caught with `detection`; a caught item is
   reworked (a new label, handling x `handling_factor`) and always reviewed again, until it passes
   or `max_loops` reworks are spent, then it is delivered as it stands
-> delivery, and an `audit.sample` of delivered items measured off the turnaround path.

Each stage is a TaskList whose `done(item, worker, now)` callback, set here, decides what follows;
every random decision has its own stream per queue, so changing one stage leaves the others' draws
(common random numbers).
"""

from __future__ import annotations

from typing import Any, Callable

from .handling import handling_times
from .items import Item, StagedItem
from .random_streams import NEVER, bernoulli, uniforms
from simulator.scenario.schema import Workflow
from .tasks import TaskList

Offer = Callable[[TaskList, Item, float], None]
Streams = Callable[[str], Any]


class QueueFlow:
    """The stages of one queue's workflow, wired to the dispatcher's `offer`."""

    def __init__(self, queue: Any, wf: Workflow, stream: Streams, offer: Offer):
        self.queue = queue
        self.stats = queue.stats
        self.offer = offer
        self.passes = wf.label.passes
        self.label = self._stage("label", queue.skill, ordered=True, distinct=self.passes > 1)
        self.u_label = uniforms(stream("quality/label")).next
        self.stages = [self.label]
        self.adjudication = self.escalation = self.review = self.rework = None
        self.escalates = self.sampled = NEVER
        if self.passes % 2 == 0 and wf.adjudication is not None:
            self.adjudication = self._stage("adjudication", wf.adjudication.skill, ordered=False)
            self.adjudication_work = handling_times(wf.adjudication.handling_time, stream("handling/adjudication"))
            self.u_adjudication = uniforms(stream("quality/adjudication")).next
            self.adjudication.done = self._adjudication_done
        if wf.escalation is not None and wf.escalation.probability > 0:
            self.escalation = self._stage("escalation", wf.escalation.skill, ordered=False)
            self.escalation_work = handling_times(wf.escalation.handling_time, stream("handling/escalation"))
            self.escalates = bernoulli(stream("route/escalation"), wf.escalation.probability)
            self.u_expert = uniforms(stream("quality/escalation")).next
            self.escalation.done = self._escalation_done
        if wf.review is not None and wf.review.sample > 0:
            self.review = self._stage("review", wf.review.skill, ordered=False)
            self.review_work = handling_times(wf.review.handling_time, stream("handling/review"))
            self.sampled = bernoulli(stream("route/review"), wf.review.sample)
            self.detected = bernoulli(stream("quality/detection"), wf.review.detection)
            self.review.done = self._review_done
            self.max_loops = wf.rework.max_loops
            if self.max_loops > 0:
                self.rework = self._stage("rework", queue.skill, ordered=False)
                self.rework_work = handling_times(queue.spec.handling_time, stream("handling/rework"),
                                                  factor=wf.rework.handling_factor)
                self.u_rework = uniforms(stream("quality/rework")).next
                self.rework.done = self._rework_done
        audit_sample = wf.audit.sample if wf.audit is not None else 0.0
        self.plain = self.passes == 1 and self.escalation is None and self.review is None and not audit_sample
        self.stats.staged = not self.plain
        if audit_sample > 0:  # audits are measurement: the queue's counters draw and count them
            self.stats.audits = bernoulli(stream("audit"), audit_sample)
        self.label.done = self._label_deliver if self.plain else self._decide if self.passes == 1 else self._label_done
        self.item_class = Item if self.plain else StagedItem
        if not self.plain:  # per-visit waits after an item's first visit (passes, rework; review): where it queues
            self.label.wait = queue.stats.label_wait
            if self.rework is not None:
                self.rework.wait = queue.stats.label_wait
            if self.review is not None:
                self.review.wait = queue.stats.review_wait

    def _stage(self, name: str, skill: str, *, ordered: bool, distinct: bool = False) -> TaskList:
        stage = TaskList(f"{self.queue.id}/{name}", self.queue, skill, ordered=ordered, distinct=distinct)
        if name != "label":
            self.stages.append(stage)
        return stage

    def enter(self, item: Item, now: float) -> None:
        """A new item with k > 1 passes: all are offered at once (k different workers may take them).

        The consensus fields are set here, not by a subclass: one item class at every attribute load
        keeps CPython's specialised (monomorphic) fast paths in the dispatcher."""
        item.votes = 0
        item.passes_done = 0
        item.labellers = []
        for _ in range(self.passes):
            self.offer(self.label, item, now)

    # -- stage ends -------------------------------------------------------------------------------------

    def _label_deliver(self, item: Item, worker: Any, now: float) -> None:
        """Single pass, no later stage: the label is the decision."""
        pool = worker.pool
        error = pool.error[self.label] if now >= worker.ramp_end else pool.error_of(worker, self.label, now)
        item.correct = right = self.u_label() >= error
        if self.stats.window_start <= item.arrival < self.stats.window_end:
            pool.stats.labels += 1
            pool.stats.labels_right += right
        self.stats.delivered(item, now)

    def _label_done(self, item: Item, worker: Any, now: float) -> None:
        pool = worker.pool
        error = pool.error[self.label] if now >= worker.ramp_end else pool.error_of(worker, self.label, now)
        right = self.u_label() >= error
        if right:
            item.votes += 1
        if self.stats.window_start <= item.arrival < self.stats.window_end:
            pool.stats.labels += 1
            pool.stats.labels_right += right
        item.passes_done += 1
        if item.passes_done < self.passes:
            return
        if 2 * item.votes == self.passes:
            self._send(self.adjudication, self.adjudication_work, item, now)
            return
        self._decide(item, worker, now, 2 * item.votes > self.passes)

    def _adjudication_done(self, item: Item, worker: Any, now: float) -> None:
        self._decide(item, worker, now, self.u_adjudication() >= worker.pool.error_of(worker, self.adjudication, now))

    def _decide(self, item: Item, worker: Any, now: float, correct: bool | None = None) -> None:
        """The item's decision is made: by its single label (`correct` None: drawn here, the path most
        items of a multi-stage flow take, so it is one call), by majority or by adjudication. Then it is
        escalated, sampled for review, or delivered."""
        if correct is None:
            pool = worker.pool
            error = pool.error[self.label] if now >= worker.ramp_end else pool.error_of(worker, self.label, now)
            correct = self.u_label() >= error
            if self.stats.window_start <= item.arrival < self.stats.window_end:
                pool.stats.labels += 1
                pool.stats.labels_right += correct
        item.correct = correct
        if self.escalates():
            item.escalated = True
            self._send(self.escalation, self.escalation_work, item, now)
        elif self.sampled():
            self._send(self.review, self.review_work, item, now)
        else:
            self.stats.delivered(item, now)

    def _escalation_done(self, item: Item, worker: Any, now: float) -> None:
        item.correct = self.u_expert() >= worker.pool.error_of(worker, self.escalation, now)
        self.stats.delivered(item, now)

    def _review_done(self, item: Item, worker: Any, now: float) -> None:
        if not item.correct and self.detected() and item.loops < self.max_loops:
            item.loops += 1
            self._send(self.rework, self.rework_work, item, now)
        else:
            self.stats.delivered(item, now)

    def _rework_done(self, item: Item, worker: Any, now: float) -> None:
        item.correct = right = self.u_rework() >= worker.pool.error_of(worker, self.rework, now)
        if self.stats.window_start <= item.arrival < self.stats.window_end:
            worker.pool.stats.labels += 1
            worker.pool.stats.labels_right += right
        self._send(self.review, self.review_work, item, now)

    def _send(self, stage: TaskList, work: Any, item: Item, now: float) -> None:
        """Queue the item at a later stage, with that stage's work content drawn from `work`."""
        item.work = work.next()
        item.ready = now
        self.offer(stage, item, now)
