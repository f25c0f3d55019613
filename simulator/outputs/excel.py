"""Planner-ready Excel workbooks: kpis.xlsx for simulate and compare, and the pieces plan.xlsx shares.

Every sheet has a bold, frozen header row, number formats by kind (percent, hours, currency, counts)
and columns fitted to their contents. The `assumptions` sheet lists the resolved scenario's key
inputs, so a workbook passed around on its own still says what it assumed.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any, Sequence

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from simulator.scenario.schema import Scenario

FORMATS = {"hours": "#,##0.00", "money": "#,##0", "count": "#,##0", "share": "0.0%", "number": "0.000"}
SHARE_KPIS = ("sla_attainment", "quality", "audited_quality", "audited_quality_low", "audited_quality_high",
              "utilization", "waited_share", "rework_rate", "escalation_rate")


_FIXED = dt.datetime(2000, 1, 1)


def save(wb: Workbook, path: Path) -> None:
    """Save with fixed document and zip-entry times, so the same results give the same bytes
    (openpyxl stamps the save time into docProps/core.xml and every zip entry)."""
    wb.properties.created = _FIXED
    buffer = io.BytesIO()
    wb.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, data)


def kpi_format(kpi: str) -> str:
    """The number format of a KPI by its kind."""
    if kpi in SHARE_KPIS:
        return FORMATS["share"]
    if kpi == "cost":
        return FORMATS["money"]
    if kpi.endswith("_h") or kpi.endswith("_hours") or kpi == "exposure_h_max":
        return FORMATS["hours"]
    return FORMATS["count"]


def add_sheet(wb: Workbook, title: str, header: list[str], rows: Sequence[Sequence[Any]],
              formats: Sequence[str | None] = ()) -> Any:
    """A sheet with a bold frozen header, `formats` per column (None: as is) and fitted widths."""
    ws = wb.create_sheet(title)
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
    ws.freeze_panes = "A2"
    for col in range(1, len(header) + 1):
        texts = [str(header[col - 1])] + [f"{r[col - 1]:,.2f}" if isinstance(r[col - 1], float) else str(r[col - 1])
                                          for r in rows]
        ws.column_dimensions[get_column_letter(col)].width = min(60, max(len(t) for t in texts) + 3)
        fmt = formats[col - 1] if col - 1 < len(formats) else None
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                cell.number_format = fmt
    return ws


def format_kpi_rows(ws: Any, kpi_column: int, first_value_column: int) -> None:
    """Give each row's value cells (from `first_value_column`, 1-based) the format of the row's KPI."""
    for row in ws.iter_rows(min_row=2):
        fmt = kpi_format(row[kpi_column - 1].value)
        for cell in row[first_value_column - 1:]:
            if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                cell.number_format = fmt


def assumptions(scenario: Scenario) -> list[list[Any]]:
    """(section, input, value) rows: horizon, every queue's volume and targets, every pool's staffing."""
    rows: list[list[Any]] = [["scenario", "name", scenario.name], ["scenario", "seed", scenario.seed],
                             ["horizon", "start", str(scenario.horizon.start)],
                             ["horizon", "duration (h)", scenario.horizon.duration],
                             ["horizon", "warm-up (h)", scenario.horizon.warmup]]
    for qid, q in scenario.queues.items():
        volume = (f"replay of {q.volume.replay}" if q.volume.replay is not None else
                  f"{q.volume.mean:g} per {q.volume.per}" if q.volume.file is None else f"file {q.volume.file}")
        rows += [[f"queue {qid}", "volume", volume], [f"queue {qid}", "handling mean (h)", q.handling_time.mean],
                 [f"queue {qid}", "SLA target (h)", q.sla.target], [f"queue {qid}", "SLA attainment", q.sla.attainment],
                 [f"queue {qid}", "quality target", q.quality_target if q.quality_target is not None else "-"],
                 [f"queue {qid}", "workflow", q.workflow]]
    for pid, p in scenario.pools.items():
        shifts = p.shifts if isinstance(p.shifts, str) else "; ".join(
            f"{s.start} {s.length:g}h {s.days} " + (f"{s.headcount} heads" if s.headcount is not None
                                                    else f"x{1.0 if s.share is None else s.share:g}")
            for s in p.shifts)
        rows += [[f"pool {pid}", "head-count", p.headcount], [f"pool {pid}", "cost per hour", p.cost_per_hour],
                 [f"pool {pid}", "shrinkage", p.shrinkage], [f"pool {pid}", "absence", p.absence],
                 [f"pool {pid}", "accuracy", p.accuracy],
                 [f"pool {pid}", "time zone", p.timezone], [f"pool {pid}", "shifts", shifts],
                 [f"pool {pid}", "attrition per month", p.attrition_monthly],
                 [f"pool {pid}", "hires", ", ".join(f"week {h.week}: {h.count}" for h in p.hires) or "-"]]
    return rows


def kpi_rows(summary: dict[str, Any]) -> list[list[Any]]:
    """(entity type, entity, kpi, mean, low, high) for every KPI of a simulate-shaped summary."""
    rows = []
    for group, entity_type in (("queues", "queue"), ("pools", "pool")):
        for entity, kpis in summary[group].items():
            rows += [[entity_type, entity, kpi, c["mean"], c["low"], c["high"]] for kpi, c in kpis.items()]
    rows += [["total", "total", kpi, c["mean"], c["low"], c["high"]] for kpi, c in summary["totals"].items()]
    return rows


def _targets(scenario: Scenario) -> dict[tuple[str, str], float]:
    out = {}
    for qid, q in scenario.queues.items():
        out[(qid, "sla_attainment")] = q.sla.attainment
        if q.quality_target is not None:
            out[(qid, "quality")] = q.quality_target
    return out


def write_kpis_workbook(path: Path, scenarios: Sequence[Scenario], labels: Sequence[str],
                        summaries: Sequence[dict[str, Any]], differences: Any = None) -> None:
    """kpis.xlsx: `kpis` (mean and 95% interval per scenario, and the target where there is one),
    `differences` (compare: paired difference against the first scenario), `assumptions`."""
    wb = Workbook()
    wb.remove(wb.active)
    targets = _targets(scenarios[0])
    header = ["entity type", "entity", "kpi", "target"]
    for label in labels:
        header += ([f"{label} mean", f"{label} 95% low", f"{label} 95% high"] if len(labels) > 1
                   else ["mean", "95% low", "95% high"])
    per_scenario = [{tuple(r[:3]): r[3:] for r in kpi_rows(s)} for s in summaries]
    rows = []
    for key in per_scenario[0]:
        row = [*key, targets.get((key[1], key[2]), None)]
        for values in per_scenario:
            row += list(values.get(key, [None, None, None]))
        rows.append(row)
    format_kpi_rows(add_sheet(wb, "kpis", header, rows), 3, 4)
    if differences is not None:
        table = differences[["scenario", "entity_type", "entity", "kpi", "mean", "low", "high", "significant"]]
        diff_rows = [[*r[:7], "yes" if r[7] else "no"] for r in table.itertuples(index=False)]
        format_kpi_rows(add_sheet(wb, "differences", ["scenario", "entity type", "entity", "kpi",
                                                      "difference vs " + labels[0], "95% low", "95% high",
                                                      "significant"], diff_rows), 4, 5)
    inputs = [assumptions(s) for s in scenarios]
    if len(scenarios) == 1:
        add_sheet(wb, "assumptions", ["section", "input", "value"], inputs[0])
    else:
        keyed = [{(r[0], r[1]): r[2] for r in rows_} for rows_ in inputs]
        order = list(dict.fromkeys(k for rows_ in keyed for k in rows_))
        add_sheet(wb, "assumptions", ["section", "input", *labels],
                  [[*k, *[values.get(k, "-") for values in keyed]] for k in order])
    save(wb, path)
