"""Forecast files (CSV or Parquet, columns start and volume): read and checked once, used by arrivals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MAX_FORECAST_BYTES = 200_000_000
MAX_ROW_VOLUME = 1e8  # items in one row: beyond any team's queue, and a run that could not fit in memory


def read_forecast(path: Path) -> pd.DataFrame:
    """Rows sorted by start (UTC, tz-aware) with non-negative volume; ValueError says what is wrong."""
    import pandas as pd  # here: a scenario without forecast files validates without loading pandas

    if not path.is_file():
        raise ValueError(f"forecast file {str(path)!r} does not exist")
    if path.stat().st_size > MAX_FORECAST_BYTES:
        raise ValueError(f"forecast {path.name} is over {MAX_FORECAST_BYTES // 1_000_000} MB; give hourly or "
                         "daily rows for the horizon only")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except Exception as exc:  # pandas and pyarrow raise many types for unreadable files
        raise ValueError(f"cannot read forecast {str(path)!r}: {exc}") from None
    missing = {"start", "volume"} - set(frame.columns)
    if missing:
        raise ValueError(f"forecast {path.name} lacks column(s) {', '.join(sorted(missing))}")
    if frame.empty:
        raise ValueError(f"forecast {path.name} has no rows")
    try:
        start = pd.to_datetime(frame["start"], utc=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"forecast {path.name}: column start is not ISO timestamps ({exc})") from None
    volume = pd.to_numeric(frame["volume"], errors="coerce")
    bad = volume.isna() | (volume < 0) | (volume > MAX_ROW_VOLUME)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise ValueError(f"forecast {path.name}, data row {row + 1}: volume {frame['volume'].iloc[row]!r} must be a "
                         f"number from 0 to {MAX_ROW_VOLUME:,.0f}")
    out = pd.DataFrame({"start": start, "volume": volume.astype(float)}).sort_values("start")
    if out["start"].duplicated().any():
        raise ValueError(f"forecast {path.name}: two rows share a start time")
    return out.reset_index(drop=True)


def forecast_hours(frame: pd.DataFrame, origin: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Row start and end times in clock hours; the last row lasts as long as the one before (1 day if alone)."""
    import numpy as np

    starts = ((frame["start"] - origin).dt.total_seconds() / 3600.0).to_numpy()
    if len(starts) > 1:
        ends = np.append(starts[1:], starts[-1] + (starts[-1] - starts[-2]))
    else:
        ends = starts + 24.0
    return starts, ends
