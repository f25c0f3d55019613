"""`simulate --events`: every finished task of one replication as a task-log row (scenario/task_log.py),
streamed to a Parquet part file in batches so memory stays flat however long the run.

Recording wraps the dispatcher's `start` (to note when a worker began) and each stage's `done` (to
write the row once the task's outcome is known), so a run without --events pays nothing. Only items
created inside the horizon are logged, as a production export of that period would hold them; the
drain finishes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simulator.scenario.task_log import arrow_schema

BATCH = 200_000  # rows held before a row group is written


class TaskRecorder:
    """Collects rows column by column and writes a row group every BATCH rows."""

    def __init__(self, path: Path, replication: int, origin_us: int, horizon: float):
        import pyarrow.parquet as pq

        self.schema = arrow_schema()
        self.writer = pq.ParquetWriter(path, self.schema)
        self.replication = replication
        self.origin_us = origin_us
        self.horizon = horizon
        self.started: dict[int, float] = {}  # id(worker) -> when the task in hand began
        self.names: dict[int, str] = {}  # id(worker) -> worker_id
        self.rows: dict[str, list[Any]] = {name: [] for name in self.schema.names if name != "replication"}

    def wire(self, dispatch: Any, stages: list[Any]) -> None:
        """Record every task the dispatcher starts and every stage finishes."""
        plain_start = dispatch.start
        started = self.started

        def start(worker: Any, task: Any, item: Any, now: float) -> None:
            started[id(worker)] = now
            plain_start(worker, task, item, now)

        dispatch.start = start
        for stage in stages:
            stage.done = self._recording(stage, stage.done, stage.name.rsplit("/", 1)[1])

    def _recording(self, stage: Any, done: Any, kind: str) -> Any:
        """`done` that also writes the task's row: its decision's correctness, or a review's pass/fail."""
        rows, horizon = self.rows, self.horizon

        def recorded(item: Any, worker: Any, now: float) -> None:
            votes = getattr(item, "votes", None) if kind == "label" and stage.distinct else None
            loops = getattr(item, "loops", 0)
            done(item, worker, now)
            if item.arrival >= horizon:
                return
            if kind == "review":
                correct, qa = None, "fail" if item.loops > loops else "pass"
            else:
                correct = item.votes > votes if votes is not None else bool(item.correct)
                qa = None
            rows["item_id"].append(item.seq)
            rows["queue"].append(item.queue.id)
            rows["created_at"].append(item.arrival)
            rows["stage"].append(kind)
            rows["pool"].append(worker.pool.id)
            rows["started_at"].append(self.started.pop(id(worker)))
            rows["finished_at"].append(now)
            rows["worker_id"].append(self._name(worker))
            rows["correct"].append(correct)
            rows["qa_result"].append(qa)
            if len(rows["item_id"]) >= BATCH:
                self.flush()

        return recorded

    def _name(self, worker: Any) -> str:
        name = self.names.get(id(worker))
        if name is None:
            name = self.names[id(worker)] = f"{worker.pool.id}-{worker.index}"
        return name

    def flush(self) -> None:
        """Write the rows held as one row group."""
        import pyarrow as pa

        rows = self.rows
        n = len(rows["item_id"])
        if not n:
            return
        columns: dict[str, Any] = {"replication": pa.array(np.full(n, self.replication, dtype=np.int32))}
        for name in self.schema.names[1:]:
            kind = self.schema.field(name).type
            if name in ("created_at", "started_at", "finished_at"):
                micros = self.origin_us + np.rint(np.asarray(rows[name]) * 3_600_000_000).astype(np.int64)
                columns[name] = pa.array(micros, type=kind)
            elif pa.types.is_dictionary(kind):
                columns[name] = pa.array(rows[name], type=pa.string()).dictionary_encode()
            else:
                columns[name] = pa.array(rows[name], type=kind)
        self.writer.write_table(pa.table(columns, schema=self.schema))
        for values in rows.values():
            values.clear()  # in place: the recording closures hold these lists

    def close(self) -> None:
        self.flush()
        self.writer.close()
