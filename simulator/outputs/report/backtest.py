"""Report sections of `annoplan backtest`: actual against simulated history, week by week, per queue and pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .charts import Chart, color, figure, render
from .page import Section, table

PANELS = (("delivered", "items delivered"), ("tat_p90_h", "TAT p90 (h)"), ("sla_attainment", "SLA attainment"),
          ("backlog", "open at week end"))


def history_chart(weekly: pd.DataFrame, title: str, panels: list[tuple[str, str, str]]) -> Chart:
    """One panel per (entity, metric, label), four to a row: the actual history, and the simulated mean
    with the replications' range."""
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = figure(rows=rows, cols=cols, height=2.8 * rows, width=11.0)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (entity, metric, label) in zip(axes.flat, panels):
        data = weekly[(weekly.entity == entity) & (weekly.metric == metric)]
        actual = data[data.source == "actual"].sort_values("week")
        simulated = data[data.source != "actual"].groupby("week")["value"].agg(["mean", "min", "max"])
        ax.fill_between(simulated.index + 1, simulated["min"], simulated["max"], color=color(0), alpha=0.2, lw=0)
        ax.plot(simulated.index + 1, simulated["mean"], color=color(0), marker="o", ms=3, label="simulated (range)")
        ax.plot(actual["week"] + 1, actual["value"], color="#222", marker="s", ms=3, lw=1.2, label="actual")
        ax.set_xlabel("week")
        ax.set_ylabel(label)
        if metric == "utilisation":
            ax.set_title(entity, fontsize=9, loc="left")
    axes[0][0].legend(fontsize=8)
    return render(fig, title, "Where the black line leaves the blue band, history differs from the model by more "
                               "than chance: check the handling times, staffing or routing behind that week.")


def backtest_sections(summary: dict[str, Any], folder: Path) -> tuple[list[Section], str, str]:
    """The error table, then one chart per queue and one for the pools' utilisation."""
    weekly = pd.read_parquet(folder / "backtest.parquet")
    rows = summary["errors"]
    flagged = summary["flagged"]
    intro = (f"The log's arrivals replayed through the scenario in {summary['replications']} replications. "
             "Error: how far the actual history is from each simulated one (relative for counts and hours, "
             "absolute for shares); noise: how far two simulated histories are from each other. "
             + (f"Flagged, the model does not reproduce: {', '.join(flagged)}." if flagged
                else "Every figure is within the noise."))
    errors = table(["entity", "metric", "actual (week mean)", "simulated", "error", "noise", ""],
                   [[r["entity"], r["metric"], f"{r['actual']:,.3f}", f"{r['simulated']:,.3f}",
                     f"{r['error']:.3f}" if r["error"] is not None else "", f"{r['noise']:.3f}",
                     "FLAGGED" if r["flagged"] else "ok"] for r in rows],
                   [["", "", "", "", "", "", "miss" if r["flagged"] else "met"] for r in rows])
    queues = [e for e in dict.fromkeys(weekly.loc[weekly.metric == "delivered", "entity"])]
    pools = [e for e in dict.fromkeys(weekly.loc[weekly.metric == "utilisation", "entity"])]
    charts = [history_chart(weekly, q, [(q, metric, label) for metric, label in PANELS]) for q in queues]
    if pools:
        charts.append(history_chart(weekly, "Utilisation by pool", [(p, "utilisation", "busy / on shift") for p in pools]))
    sections = [Section("How well the model reproduces history", intro, tables=[errors]),
                Section("Week by week", charts=charts)]
    return sections, "annoplan: backtest", "simulated against actual history"
