"""The item's path through its workflow's stages: which task list it enters next, or delivery.

Each stage is a TaskList whose `done(item, worker, now)` callback, set here, decides what follows;
the engine only starts and finishes tasks, so new stages plug in without touching it.
"""

from __future__ import annotations

from typing import Any

from .errors import AnnoplanError
from .random_streams import BlockDraws
from .scenario import Workflow
from .tasks import TaskList


def check_supported(workflow_id: str, wf: Workflow) -> None:
    """Refuse stages this version does not simulate rather than silently ignoring them."""
    later = [name for name in ("adjudication", "review", "escalation", "audit") if getattr(wf, name) is not None]
    if wf.label.passes != 1:
        later.insert(0, f"label.passes={wf.label.passes}")
    if later:
        raise AnnoplanError(f"workflow {workflow_id!r}: {', '.join(later)} not simulated yet "
                            "(this version runs single-pass labelling); remove them to run")


def build_label_stage(queue: Any, quality_draws: BlockDraws) -> TaskList:
    """The first stage of a queue: one label by a worker with the queue's skill, then delivery."""
    stage = TaskList(f"{queue.id}/label", queue, queue.skill, ordered=True)
    draw = quality_draws.next
    delivered = queue.stats.delivered

    def label_done(item: Any, worker: Any, now: float) -> None:
        item.correct = correct = draw() >= worker.pool.error[stage]
        delivered(item.arrival, now, correct)

    stage.done = label_done
    return stage
