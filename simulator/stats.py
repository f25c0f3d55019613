"""Statistics over replications: mean with a Student-t 95% confidence interval."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
from scipy import stats as _scipy_stats


def mean_ci(values: Iterable[float], level: float = 0.95) -> dict[str, float | None]:
    """{"mean", "low", "high"} over the non-NaN values; the interval needs two or more (else None)."""
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if data.size == 0:
        return {"mean": None, "low": None, "high": None}
    mean = float(data.mean())
    if data.size < 2:
        return {"mean": mean, "low": None, "high": None}
    half = float(_scipy_stats.t.ppf(0.5 + level / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    return {"mean": mean, "low": mean - half, "high": mean + half}
