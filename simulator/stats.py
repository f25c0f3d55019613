"""Statistics over replications: mean with a Student-t 95% confidence interval."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Iterable

import numpy as np


def mean_ci(values: Iterable[float], level: float = 0.95) -> dict[str, float | None]:
    """{"mean", "low", "high"} over the non-NaN values; the interval needs two or more (else None)."""
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if data.size == 0:
        return {"mean": None, "low": None, "high": None}
    mean = float(data.mean())
    if data.size < 2:
        return {"mean": mean, "low": None, "high": None}
    from scipy import stats  # imported here: ~50 MB that replication worker processes never need

    half = float(stats.t.ppf(0.5 + level / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    return {"mean": mean, "low": mean - half, "high": mean + half}


def wilson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good near 0 and 1, unlike the normal one)."""
    if n == 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half
