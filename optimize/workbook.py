"""plan.xlsx: the chosen plan as a planner-ready workbook (frozen headers, number formats, widths).

Sheets: `plan` (week x pool: head-count, hires, paid hours, cost), `kpis` (every KPI of the plan with
its 95% interval), `assumptions` (the key inputs of the resolved scenario, and the plan's values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from simulator.loader import validate_data

from .search_space import with_values

FORMATS = {"hours": "#,##0.0", "money": "#,##0", "count": "#,##0", "share": "0.0%", "number": "0.000"}
_SHARE_KPIS = ("sla_attainment", "quality", "audited_quality", "audited_quality_low", "audited_quality_high",
               "utilization", "waited_share", "rework_rate", "escalation_rate")


def _kpi_format(kpi: str) -> str:
    if kpi in _SHARE_KPIS:
        return FORMATS["share"]
    if kpi == "cost":
        return FORMATS["money"]
    if kpi.endswith("_h") or kpi.endswith("_hours") or kpi == "exposure_h_max":
        return FORMATS["hours"]
    return FORMATS["count"]


def _sheet(wb: Workbook, title: str, header: list[str], rows: list[list[Any]], formats: list[str | None]) -> None:
    ws = wb.create_sheet(title)
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
    ws.freeze_panes = "A2"
    for col, fmt in enumerate(formats, start=1):
        width = max(len(str(header[col - 1])), *(len(f"{r[col - 1]:,.1f}" if isinstance(r[col - 1], float)
                                                     else str(r[col - 1])) for r in rows)) if rows else 10
        ws.column_dimensions[get_column_letter(col)].width = min(60, width + 3)
        if fmt:
            for cell in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                cell[0].number_format = fmt


def _assumptions(raw: dict[str, Any], params: dict[str, Any]) -> list[list[Any]]:
    scenario = validate_data(with_values(raw, params), {}, "plan")
    rows: list[list[Any]] = [["scenario", "name", scenario.name], ["scenario", "seed", scenario.seed],
                             ["horizon", "start", str(scenario.horizon.start)],
                             ["horizon", "duration (h)", scenario.horizon.duration],
                             ["horizon", "warm-up (h)", scenario.horizon.warmup]]
    rows += [["plan", path, value] for path, value in params.items()]
    for qid, q in scenario.queues.items():
        volume = f"{q.volume.mean:g} per {q.volume.per}" if q.volume.file is None else f"file {q.volume.file}"
        rows += [[f"queue {qid}", "volume", volume], [f"queue {qid}", "handling mean (h)", q.handling_time.mean],
                 [f"queue {qid}", "SLA target (h)", q.sla.target], [f"queue {qid}", "SLA attainment", q.sla.attainment],
                 [f"queue {qid}", "quality target", q.quality_target if q.quality_target is not None else "-"],
                 [f"queue {qid}", "workflow", q.workflow]]
    for pid, p in scenario.pools.items():
        shifts = p.shifts if isinstance(p.shifts, str) else "; ".join(
            f"{s.start} {s.length:g}h {s.days} x{s.share:g}" for s in p.shifts)
        rows += [[f"pool {pid}", "head-count", p.headcount], [f"pool {pid}", "cost per hour", p.cost_per_hour],
                 [f"pool {pid}", "shrinkage", p.shrinkage], [f"pool {pid}", "accuracy", p.accuracy],
                 [f"pool {pid}", "time zone", p.timezone], [f"pool {pid}", "shifts", shifts],
                 [f"pool {pid}", "attrition per month", p.attrition_monthly],
                 [f"pool {pid}", "hires", ", ".join(f"week {h.week}: {h.count}" for h in p.hires) or "-"]]
    return rows


def write_workbook(path: Path, plan: pd.DataFrame, summary: dict[str, Any], raw: dict[str, Any]) -> None:
    """Write the three sheets to `path` (the caller makes the write atomic)."""
    wb = Workbook()
    wb.remove(wb.active)
    _sheet(wb, "plan", ["week", "pool", "head-count", "hires", "paid hours", "cost"],
           plan[["week", "pool", "headcount", "hires", "paid_hours", "cost"]].values.tolist(),
           [FORMATS["count"], None, FORMATS["hours"], FORMATS["count"], FORMATS["hours"], FORMATS["money"]])
    rows, formats = [], []
    for group, entity_type in (("queues", "queue"), ("pools", "pool")):
        for entity, kpis in summary["kpis"][group].items():
            rows += [[entity_type, entity, kpi, cell["mean"], cell["low"], cell["high"]] for kpi, cell in kpis.items()]
    rows += [["total", "total", kpi, cell["mean"], cell["low"], cell["high"]]
             for kpi, cell in summary["kpis"]["totals"].items()]
    _sheet(wb, "kpis", ["entity type", "entity", "kpi", "mean", "95% low", "95% high"], rows,
           [None, None, None, None, None, None])
    ws = wb["kpis"]
    for row in ws.iter_rows(min_row=2):
        fmt = _kpi_format(row[2].value)
        for cell in row[3:6]:
            cell.number_format = fmt
    _sheet(wb, "assumptions", ["section", "input", "value"], _assumptions(raw, summary["params"]), [None, None, None])
    wb.save(path)
