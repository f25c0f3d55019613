"""Task logs (README, "Task logs"): one row per task, as production systems export them and as
`simulate --events` writes them. Read and checked here, at the edge: a defect that makes the log
unusable exits 2 naming the file, row and column; tolerable defects are counted and reported.

Required columns: item_id, queue, created_at, stage, pool, started_at, finished_at. Optional:
worker_id, correct (true/false where an audit or gold check knows the decision), qa_result
(pass/fail on review rows), replication (simulated logs). Timestamps are ISO 8601; no offset is UTC.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AnnoplanError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

REQUIRED = ("item_id", "queue", "created_at", "stage", "pool", "started_at", "finished_at")
OPTIONAL = ("worker_id", "correct", "qa_result")
STAGES = ("label", "review", "rework", "adjudication", "escalation")
DECISIONS = ("label", "rework", "adjudication", "escalation")  # stages whose task makes a decision
TIMES = ("created_at", "started_at", "finished_at")
TRUE, FALSE = ("true", "1", "yes", "t", "y"), ("false", "0", "no", "f", "n")


def arrow_schema() -> pa.Schema:
    """events.parquet's schema: replication first, timestamps in UTC microseconds, names dictionary-encoded."""
    import pyarrow as pa

    text = pa.dictionary(pa.int32(), pa.string())
    moment = pa.timestamp("us", tz="UTC")
    return pa.schema([("replication", pa.int32()), ("item_id", pa.int64()), ("queue", text), ("created_at", moment),
                      ("stage", text), ("pool", text), ("started_at", moment), ("finished_at", moment),
                      ("worker_id", text), ("correct", pa.bool_()), ("qa_result", text)])


@dataclass
class TaskLog:
    """A checked log: tasks sorted by item and start (times as UTC timestamps), and the tolerated defects."""

    tasks: pd.DataFrame
    path: str
    defects: dict[str, tuple[int, str]] = field(default_factory=dict)  # what -> (rows, the first such row)

    def history(self) -> pd.DataFrame:
        """The tasks of one history: a simulated log's first replication, a production log whole."""
        if "replication" not in self.tasks:
            return self.tasks
        return self.tasks[self.tasks["replication"] == self.tasks["replication"].min()]

    def defect_lines(self) -> list[str]:
        """One line per tolerated defect, for the terminal."""
        return [f"{self.path}: {n:,} row(s) {what} (first: {first})" for what, (n, first) in self.defects.items()]


def _row_label(path: Path, index: int) -> str:
    """Where a data row is: a CSV file's line (header is line 1), a Parquet file's row (1-based)."""
    return f"line {index + 2}" if path.suffix.lower() == ".csv" else f"row {index + 1}"


def _fail(path: Path, index: int | None, column: str, problem: str, fix: str) -> AnnoplanError:
    where = f"{path}" if index is None else f"{path}, {_row_label(path, index)}"
    return AnnoplanError(f"{where}, column {column}: {problem}; {fix}")


def _read_table(path: Path) -> Any:
    """The file as a pyarrow Table (CSV cells as text, so that every check below reads the raw values)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise AnnoplanError(f"{path}: no such task log; give a CSV or Parquet file (README, \"Task logs\")")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(path)
        if path.suffix.lower() != ".csv":
            raise AnnoplanError(f"{path}: a task log is a .csv or .parquet file; rename or convert it")
        with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
            names = next(csv.reader(handle), [])
        types = {name.strip(): pa.string() for name in names}
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True))
    except AnnoplanError:
        raise
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise AnnoplanError(f"{path}: cannot read it as a task log ({exc}); check that it is CSV with a header "
                            "row, or Parquet") from None


def _times(path: Path, table: Any, column: str) -> pd.Series:
    """A time column as UTC timestamps; a value that is not ISO 8601 exits 2 naming its row."""
    import pandas as pd
    import pyarrow as pa

    raw = table.column(column)
    if pa.types.is_timestamp(raw.type):
        values = raw.to_pandas()
        return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    text = raw.to_pandas()
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna()
    if bad.any():
        index = int(bad.to_numpy().nonzero()[0][0])
        raise _fail(path, index, column, f"{text.iloc[index]!r} is not an ISO 8601 time",
                    "write times like 2027-01-04T09:30:00 (UTC) or 2027-01-04T09:30:00+01:00")
    return parsed.astype("datetime64[us, UTC]")


def _names(values: pd.Series, lower: bool = False) -> pd.Series:
    """Names as a categorical, stripped (and lower-cased), "" read as missing; worked on the distinct
    values only, so 10M rows of a few names cost one pass over integer codes."""
    import numpy as np
    import pandas as pd

    category = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    names = pd.Index(category.cat.categories.astype(str)).str.strip()
    if lower:
        names = names.str.lower()
    unique, inverse = np.unique(np.asarray(names, dtype=object), return_inverse=True)
    codes = category.cat.codes.to_numpy()
    if not len(unique):  # every value missing
        return pd.Series(pd.Categorical.from_codes(codes, []), index=values.index)
    mapped = np.where(codes >= 0, inverse[np.maximum(codes, 0)], -1)
    keep = unique != ""
    renumber = np.cumsum(keep) - 1
    mapped = np.where((mapped >= 0) & keep[np.maximum(mapped, 0)], renumber[np.maximum(mapped, 0)], -1)
    return pd.Series(pd.Categorical.from_codes(mapped, unique[keep]), index=values.index)


def _identities(values: pd.Series) -> pd.Series:
    """Item ids as int64: integers as they are, anything else numbered in order of first appearance
    (ids are only compared, never shown); an empty id stays missing."""
    import pandas as pd

    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("int64")
    text = values.astype("string").str.strip()
    codes, _ = pd.factorize(text.where(text != ""))
    return pd.Series(codes, index=values.index).where(codes >= 0).astype("Int64")


def _booleans(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(true/false/NA as a nullable boolean, the mask of values that were neither)."""
    import pandas as pd

    if values.dtype == bool or str(values.dtype) == "boolean":
        return values.astype("boolean"), pd.Series(False, index=values.index)
    names = _names(values, lower=True)
    truth = {name: True for name in TRUE} | {name: False for name in FALSE}
    out = names.map(truth)
    return out.astype("boolean"), names.notna() & ~names.isin(list(truth))


@functools.lru_cache(maxsize=4)
def read_cached(path: str) -> TaskLog:
    """read_task_log, once per path and process (replayed logs are read by every replication)."""
    return read_task_log(Path(path))


@functools.lru_cache(maxsize=16)
def replay_hours(path: str, queue: str, origin: dt.datetime) -> np.ndarray:
    """Clock hours (from `origin`) at which the log's items of `queue` were created, sorted; the first
    replication of a simulated log."""
    import numpy as np

    tasks = read_cached(path).history()
    mine = tasks.loc[tasks["queue"] == queue].drop_duplicates("item_id")["created_at"]
    micros = mine.to_numpy(dtype="datetime64[us]").astype(np.int64)
    origin_us = int(origin.timestamp()) * 1_000_000
    return np.sort((micros - origin_us) / 3_600_000_000)


def read_task_log(path: Path) -> TaskLog:
    """Read and check a task log; see the module docstring for the format and what exits 2."""
    import numpy as np
    import pandas as pd

    path = Path(path)
    table = _read_table(path)
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise _fail(path, None, missing[0], "this required column is missing",
                    f"a task log has columns {', '.join(REQUIRED)} (README, \"Task logs\")")
    if table.num_rows == 0:
        raise AnnoplanError(f"{path}: the task log has no rows")
    frame = pd.DataFrame({c: _times(path, table, c) for c in TIMES})
    for column in ("queue", "stage", "pool", "worker_id", "qa_result"):
        if column in table.column_names:
            frame[column] = _names(table.column(column).to_pandas(), lower=column in ("stage", "qa_result"))
    frame["item_id"] = _identities(table.column("item_id").to_pandas())
    for column in ("item_id", "queue", "stage", "pool"):
        empty = frame[column].isna().to_numpy()
        if empty.any():
            index = int(empty.nonzero()[0][0])
            raise _fail(path, index, column, "empty", "every task names its item, queue, stage and pool")
    unknown = ~frame["stage"].isin(STAGES).to_numpy()
    if unknown.any():
        index = int(unknown.nonzero()[0][0])
        raise _fail(path, index, "stage", f"unknown stage {frame['stage'].iloc[index]!r}",
                    f"use one of {', '.join(STAGES)}")
    frame["stage"] = frame["stage"].cat.set_categories(STAGES)
    backwards = (frame["finished_at"] < frame["started_at"]).to_numpy()
    if backwards.any():
        index = int(backwards.nonzero()[0][0])
        raise _fail(path, index, "finished_at", f"the task finished ({frame['finished_at'].iloc[index]}) before it "
                    f"started ({frame['started_at'].iloc[index]})", "check the export's time zones and columns")
    if "replication" in table.column_names:
        frame["replication"] = table.column("replication").to_pandas()
    defects: dict[str, tuple[int, str]] = {}

    def count(what: str, mask: Any) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            defects[what] = (int(mask.sum()), _row_label(path, int(mask.nonzero()[0][0])))

    count("started before their item was created (kept)", (frame["started_at"] < frame["created_at"]).to_numpy())
    if "correct" in table.column_names:
        frame["correct"], bad = _booleans(table.column("correct").to_pandas())
        count("with a correct value that is not true/false (read as unknown)", bad)
    if "qa_result" in frame:
        bad = (frame["qa_result"].notna() & ~frame["qa_result"].isin(("pass", "fail"))).to_numpy()
        count("with a qa_result that is not pass/fail (read as unknown)", bad)
        frame["qa_result"] = frame["qa_result"].cat.set_categories(["pass", "fail"])
    duplicated = frame.duplicated(subset=[c for c in ("replication", "item_id", "stage", "started_at", "worker_id")
                                          if c in frame]).to_numpy()
    count("repeating an earlier row (dropped)", duplicated)
    frame = frame[~duplicated]
    frame = frame.sort_values([c for c in ("replication", "item_id", "started_at") if c in frame], kind="stable")
    return TaskLog(frame.reset_index(drop=True), str(path), defects)
