"""plan.xlsx: the chosen plan as a planner-ready workbook (frozen headers, number formats, widths).

Sheets: `plan` (week x pool: head-count, hires, paid hours, cost), `kpis` (every KPI of the plan with
its 95% interval), `assumptions` (the key inputs of the resolved scenario, and the plan's values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook

from simulator.outputs.excel import FORMATS, add_sheet, assumptions, format_kpi_rows, kpi_rows, save
from simulator.scenario.loader import validate_data

from .search_space import with_values


def write_workbook(path: Path, plan: pd.DataFrame, summary: dict[str, Any], raw: dict[str, Any],
                   roster: list[list[Any]] | None = None) -> None:
    """Write the sheets to `path` (the caller makes the write atomic): plan, kpis, assumptions, and with
    rosters a `roster` sheet (pool, start, length, days, head-count, paid hours per week)."""
    wb = Workbook()
    wb.remove(wb.active)
    add_sheet(wb, "plan", ["week", "pool", "head-count", "hires", "paid hours", "cost"],
              plan[["week", "pool", "headcount", "hires", "paid_hours", "cost"]].values.tolist(),
              [FORMATS["count"], None, FORMATS["hours"], FORMATS["count"], FORMATS["hours"], FORMATS["money"]])
    ws = add_sheet(wb, "kpis", ["entity type", "entity", "kpi", "mean", "95% low", "95% high"],
                   kpi_rows(summary["kpis"]) if summary["kpis"] else [])  # none when every trial was screened out
    format_kpi_rows(ws, 3, 4)
    scenario = validate_data(with_values(raw, summary["params"]), {}, "plan")
    rows = assumptions(scenario)
    rows[2:2] = [["plan", p, value] for p, value in summary["params"].items()]
    add_sheet(wb, "assumptions", ["section", "input", "value"], rows)
    if roster:
        add_sheet(wb, "roster", ["pool", "start", "length h", "days", "head-count", "paid hours per week"], roster,
                  [None, None, FORMATS["hours"], None, FORMATS["count"], FORMATS["hours"]])
    save(wb, path)
