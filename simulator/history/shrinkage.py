"""Shrinkage from a schedule (`calibrate --schedule FILE`): the share of rostered time a pool's workers
were not working although work was waiting for them.

A log shows when workers were busy, never when they were free, so shrinkage is read where free time
cannot hide: in the hours during which an item of a queue the pool labels waited unstarted from the
hour's start to its end, every available worker would have been busy. Over those saturated hours,
unavailable = 1 - busy worker-hours / rostered worker-hours. It counts breaks, meetings and absence
together (the scenario's shrinkage and absence as one); without saturated hours it cannot be told.

The schedule is CSV or Parquet with columns worker_id, pool, start, end: one row per rostered shift.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.scenario.errors import AnnoplanError

from .fits import Estimate, Z95

COLUMNS = ("worker_id", "pool", "start", "end")


def read_schedule(path: Path) -> pd.DataFrame:
    """The schedule's shifts (pool, start, end as UTC timestamps); a bad file exits 2 naming row and column."""
    if not path.is_file():
        raise AnnoplanError(f"{path}: no such schedule; give a CSV or Parquet file with columns {', '.join(COLUMNS)}")
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path, dtype=str)
    except Exception as exc:  # pandas and pyarrow raise many types for unreadable files
        raise AnnoplanError(f"{path}: cannot read the schedule ({exc})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise AnnoplanError(f"{path}, column {missing[0]}: this required column is missing; a schedule has "
                            f"columns {', '.join(COLUMNS)}")
    out = pd.DataFrame({"pool": frame["pool"].astype(str).str.strip()})
    for column in ("start", "end"):
        parsed = pd.to_datetime(frame[column], utc=True, format="ISO8601", errors="coerce")
        if parsed.isna().any():
            row = int(parsed.isna().to_numpy().nonzero()[0][0])
            raise AnnoplanError(f"{path}, row {row + 1}, column {column}: {frame[column].iloc[row]!r} is not an "
                                "ISO 8601 time; write times like 2027-01-04T08:00:00")
        out[column] = parsed
    backwards = (out["end"] <= out["start"]).to_numpy()
    if backwards.any():
        row = int(backwards.nonzero()[0][0])
        raise AnnoplanError(f"{path}, row {row + 1}, column end: the shift ends before it starts")
    return out


def _hours(times: pd.Series, origin: pd.Timestamp) -> np.ndarray:
    return (times - origin).dt.total_seconds().to_numpy() / 3600.0


def _per_hour(begin: np.ndarray, end: np.ndarray, n: int) -> np.ndarray:
    """Time inside each clock hour [h, h + 1) covered by the intervals [begin, end), summed: F(h + 1) - F(h)
    with F(x) = sum over intervals of the covered time before x, from sorted ends and prefix sums."""
    a, b = np.sort(begin), np.sort(end)
    pa, pb = np.concatenate([[0.0], np.cumsum(a)]), np.concatenate([[0.0], np.cumsum(b)])
    x = np.arange(n + 1, dtype=float)
    ca, cb = np.searchsorted(a, x), np.searchsorted(b, x)
    covered = (x * ca - pa[ca]) - (x * cb - pb[cb])
    return np.diff(covered)


def fit_shrinkage(tasks: pd.DataFrame, schedule: pd.DataFrame) -> dict[str, Estimate]:
    """Pool -> unavailable share of rostered time over its saturated hours, with a 95% interval from the
    spread of the hourly ratios."""
    origin = tasks["created_at"].min().floor("h")
    n = int(math.ceil((tasks["finished_at"].max() - origin).total_seconds() / 3600)) + 1
    first = tasks[tasks["stage"] == "label"].drop_duplicates("item_id")
    waiting: dict[str, np.ndarray] = {}  # queue -> hours an item waited unstarted throughout
    edges = np.arange(n + 1, dtype=float)
    for queue, rows in first.groupby("queue", observed=True):
        created = np.sort(_hours(rows["created_at"], origin))
        started = np.sort(_hours(rows["started_at"], origin))
        at = np.searchsorted(created, edges, side="right") - np.searchsorted(started, edges, side="right")
        # an item created by the hour's start and started after its end: the oldest waiting one's span
        oldest = np.searchsorted(created, edges[:-1], side="right") - np.searchsorted(started, edges[1:], side="right")
        waiting[str(queue)] = (oldest > 0) & (at[:-1] > 0)
    out = {}
    for pool, rows in tasks.groupby("pool", observed=True):
        mine = schedule[schedule["pool"] == str(pool)]
        if mine.empty:
            continue
        served = rows.loc[rows["stage"] == "label", "queue"].astype(str).unique()
        saturated = np.zeros(n, dtype=bool)
        for queue in served:
            saturated |= waiting.get(queue, np.zeros(n, dtype=bool))
        rostered = _per_hour(_hours(mine["start"], origin), _hours(mine["end"], origin), n)
        busy = _per_hour(_hours(rows["started_at"], origin), _hours(rows["finished_at"], origin), n)
        use = saturated & (rostered > 0)
        if use.sum() < 2:
            continue
        share = 1 - busy[use].sum() / rostered[use].sum()
        ratios = 1 - busy[use] / rostered[use]
        half = Z95 * float(ratios.std(ddof=1)) / math.sqrt(use.sum())
        out[str(pool)] = Estimate(round(float(min(max(share, 0.0), 0.95)), 4),
                                  f"unavailable share of rostered time in {int(use.sum()):,} hours with work waiting "
                                  f"({rostered[use].sum():,.0f} worker-hours); 95% CI {share - half:.4f}-"
                                  f"{share + half:.4f}; breaks and absence together")
    return out
