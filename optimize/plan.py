"""The plan a planner pastes into the quarterly plan: week x pool head-count, hires, paid hours, cost."""

from __future__ import annotations

from typing import Any

import pandas as pd

from simulator.scenario.loader import validate_data
from simulator.replications import run_replications

from .search_space import with_values


def plan_table(raw: dict[str, Any], params: dict[str, Any], replications: int) -> pd.DataFrame:
    """Week x pool for the chosen plan, means over replications: head-count at the week's end (after
    hires and attrition), hires that week, paid hours and cost in the week."""
    scenario = validate_data(with_values(raw, params), {}, "plan")
    runs = run_replications(scenario, replications, jobs=1)
    rows = []
    for pid, pool in scenario.pools.items():
        hires = {h.week: h.count for h in pool.hires}
        heads = sum(r.pool_series[pid]["headcount"] for r in runs) / len(runs)
        on_shift = sum(r.pool_series[pid]["on_shift"] for r in runs) / len(runs)
        weeks = -(-len(heads) // 168)
        for week in range(weeks):
            span = slice(168 * week, min(168 * (week + 1), len(heads)))
            paid = float(on_shift[span].sum())  # on-shift workers at each hour's start, summed: hours on shift
            rows.append({"week": week + 1, "pool": pid, "headcount": float(heads[span][-1]),
                         "hires": hires.get(week + 1, 0), "paid_hours": paid, "cost": paid * pool.cost_per_hour})
    return pd.DataFrame(rows)
