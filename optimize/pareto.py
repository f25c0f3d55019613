"""The Pareto front of a multi-objective search: feasible trials that no other feasible trial beats.

Trial A dominates B when A is no worse on every objective and better on at least one (all objectives
are minimised). The front is read from the search's own estimates; only the chosen plan is verified
on fresh replications.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def pareto_front(trials: pd.DataFrame, objectives: list[str]) -> pd.DataFrame:
    """Rows of `trials` (runner.trials_table) that are feasible and non-dominated, by the first objective.

    Trials with identical objective values are all kept (neither dominates the other).
    """
    columns = [f"objective.{name}" for name in objectives]
    feasible = trials[trials["feasible"]]
    values = feasible[columns].to_numpy(dtype=float)
    keep = np.ones(len(values), dtype=bool)
    for i, row in enumerate(values):
        no_worse = (values <= row).all(axis=1)
        better = (values < row).any(axis=1)
        keep[i] = not (no_worse & better).any()
    return feasible[keep].sort_values(columns + ["number"]).reset_index(drop=True)
