"""Report sections of `annoplan sweep`: KPI curves against the varied field, with intervals and targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.scenario.loader import load_scenario
from .charts import Chart, color, figure, render
from .page import Section, table
from .simulation import num, pct


def _curves(summary: dict[str, Any]) -> tuple[str, list[tuple[str, list[int]]]]:
    """The x field (the first varied) and the points of each line (one per value of the other fields)."""
    paths = list(summary["vary"])
    x = paths[0]
    lines: dict[str, list[int]] = {}
    for i, point in enumerate(summary["points"]):
        rest = ", ".join(f"{p}={point['params'][p]:g}" for p in paths[1:])
        lines.setdefault(rest, []).append(i)
    return x, list(lines.items())


def _band(ax: Any, xs: list[float], cells: list[dict[str, Any]], scale: float, shade: str, label: str) -> None:
    means = np.array([c["mean"] if c["mean"] is not None else np.nan for c in cells], dtype=float) * scale
    lows = np.array([c["low"] if c["low"] is not None else np.nan for c in cells], dtype=float) * scale
    highs = np.array([c["high"] if c["high"] is not None else np.nan for c in cells], dtype=float) * scale
    ax.plot(xs, means, marker="o", ms=3, color=shade, label=label)
    ax.fill_between(xs, lows, highs, color=shade, alpha=0.18, lw=0)


def cost_curve(summary: dict[str, Any]) -> Chart:
    """Mean total cost against the first varied field, one line per value of the others, 95% bands."""
    x, lines = _curves(summary)
    fig, axes = figure(height=3.4)
    ax = axes[0][0]
    for j, (label, points) in enumerate(lines):
        xs = [summary["points"][i]["params"][x] for i in points]
        _band(ax, xs, [summary["points"][i]["totals"]["cost"] for i in points], 1.0, color(j), label or "cost")
    if summary["best"] is not None:
        ax.axvline(summary["points"][summary["best"]]["params"][x], color="#1b7f3b", ls="--", lw=1,
                   label="cheapest point meeting every target")
    ax.set_xlabel(x)
    ax.set_ylabel("total cost (currency of cost_per_hour)")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.legend(fontsize=8)
    return render(fig, f"Total cost against {x}", "Shaded bands are 95% intervals over replications; the green "
                                                   "line marks the cheapest point that meets every target.")


def queue_curves(summary: dict[str, Any], kpi: str, targets: dict[str, float | None], ylabel: str) -> Chart:
    """One line per queue (first line of the other fields only) with its target dotted."""
    x, lines = _curves(summary)
    points = lines[0][1]
    xs = [summary["points"][i]["params"][x] for i in points]
    fig, axes = figure(height=3.6)
    ax = axes[0][0]
    for j, qid in enumerate(summary["points"][0]["queues"]):
        _band(ax, xs, [summary["points"][i]["queues"][qid][kpi] for i in points], 100.0, color(j), qid)
        if targets.get(qid) is not None:
            ax.axhline(100 * targets[qid], color=color(j), ls=":", lw=0.9)
    if summary["best"] is not None:
        ax.axvline(summary["points"][summary["best"]]["params"][x], color="#1b7f3b", ls="--", lw=1)
    ax.set_xlabel(x + (f" ({lines[0][0]})" if lines[0][0] else ""))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, ncols=2)
    name = "SLA attainment" if kpi == "sla_attainment" else "Quality"
    return render(fig, f"{name} per queue against {x}",
                  "Dotted lines are each queue's target in its colour: the point where a curve crosses its "
                  "line is where that queue's target starts to be met (or breaks).")


def sweep_sections(summary: dict[str, Any], folder: Path) -> tuple[list[Section], str, str]:
    """Everything the report shows for a sweep, with the page title and subtitle."""
    scenario = load_scenario(folder / "scenario.resolved.yaml")
    table_data = pd.read_parquet(folder / "sweep.parquet")
    sla_targets = {q: s.sla.attainment for q, s in scenario.queues.items()}
    quality_targets = {q: s.quality_target for q, s in scenario.queues.items()}
    rows, classes = [], []
    for i, point in enumerate(summary["points"]):
        mark = "cheapest meeting every target" if i == summary["best"] else ("yes" if point["meets_targets"]
                                                                             else "no")
        rows.append([*[f"{v:g}" for v in point["params"].values()], num(point["totals"]["cost"]),
                     pct(point["totals"]["sla_attainment"]), pct(point["totals"]["quality"]), mark])
        classes.append([""] * len(point["params"]) + ["", "", "", "met" if point["meets_targets"] else "miss"])
    points = table([*summary["vary"], "cost", "SLA attainment", "quality", "meets every target"], rows, classes)
    best = summary["best"]
    intro = (f"{len(summary['points'])} points x {summary['replications']} replications ({len(table_data):,} rows "
             "in sweep.parquet). " + ("Cheapest point meeting every queue's SLA and quality target: "
                                      + ", ".join(f"{k} = {v:g}" for k, v in summary["points"][best]["params"].items())
                                      if best is not None else "No point meets every target."))
    sections = [
        Section("Where the targets are met", intro, charts=[
            queue_curves(summary, "sla_attainment", sla_targets, "items within SLA target (%)"),
            queue_curves(summary, "quality", quality_targets, "items delivered correct (%)"),
            cost_curve(summary)], tables=[points]),
    ]
    return sections, f"annoplan: sweep of {summary['scenario']}", "vary: " + ", ".join(summary["vary"])
