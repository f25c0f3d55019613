"""Report sections of one simulated scenario: backlog, turnaround, weekly SLA and quality, utilisation,
follow-the-sun coverage and cost (also reused for an optimised plan and for comparisons)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from simulator.scenario.schema import Scenario
from .charts import Chart, color, figure, render
from .page import Section, table

UTC_NOTE = "hours of the week in UTC"


def pct(cell: dict[str, Any] | float | None) -> str:
    """A share (or a KPI cell's mean) as a percentage; '-' when undefined."""
    value = cell["mean"] if isinstance(cell, dict) else cell
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def num(cell: dict[str, Any] | float | None, digits: int = 0) -> str:
    """A number (or a KPI cell's mean) with thousands separators; '-' when undefined."""
    value = cell["mean"] if isinstance(cell, dict) else cell
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def _hour_of_week(times: pd.Series) -> pd.Series:
    return times.dt.day_of_week * 24 + times.dt.hour


def _week_axis(ax: Any) -> None:
    """An x axis of the 168 hours of a week, ticked at each day's 00:00 UTC."""
    ax.set_xticks(range(0, 168, 24), ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
    ax.set_xlabel("hour of the week (UTC, ticks at 00:00)")


def error_bars(cells: list[dict[str, Any] | None], scale: float = 1.0) -> tuple[list[float], list[list[float]]]:
    """Means and (below, above) whisker lengths of {"mean", "low", "high"} cells; a missing cell is NaN."""
    means, errors = [], [[], []]
    for cell in cells:
        mean = cell["mean"] if cell and cell["mean"] is not None else np.nan
        means.append(mean * scale)
        errors[0].append((mean - cell["low"]) * scale if cell and cell["low"] is not None else 0.0)
        errors[1].append((cell["high"] - mean) * scale if cell and cell["high"] is not None else 0.0)
    return means, errors


def backlog_chart(timeseries: pd.DataFrame, scenario: Scenario) -> Chart:
    """Backlog per queue over the horizon, against the arrivals of the last SLA-target hours."""
    queues = timeseries[timeseries["entity_type"] == "queue"]
    mean = queues.groupby(["entity", "metric", "time"], sort=False)["value"].mean()
    ids = list(scenario.queues)
    cols = 2 if len(ids) > 1 else 1
    rows = math.ceil(len(ids) / cols)
    fig, axes = figure(rows, cols, height=2.3 * rows + 0.6, sharex=True)
    for i, qid in enumerate(ids):
        ax = axes[i // cols][i % cols]
        backlog = mean.loc[(qid, "backlog")]
        target = scenario.queues[qid].sla.target
        window = max(1, int(round(target)))
        overlay = mean.loc[(qid, "arrivals")].rolling(window, min_periods=1).sum()
        ax.plot(backlog.index, backlog.values, color=color(i), lw=1.2, label="open items")
        ax.plot(overlay.index, overlay.values, color="#444", lw=0.9, ls="--",
                label=f"arrived in the last {target:g} h (SLA target)")
        ax.set_title(qid, fontsize=9)
        ax.set_ylabel("items")
        ax.legend(fontsize=7, loc="upper left")
    for j in range(len(ids), rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("date (UTC)")
        ax.tick_params(axis="x", labelrotation=30)
    return render(fig, "Backlog per queue over time (mean over replications)",
                  "Where the solid line rises above the dashed one, the queue holds more than its SLA window of "
                  "arrivals, so (first in, first out) its oldest items are already past target.")


def tat_chart(summary: dict[str, Any], scenario: Scenario) -> Chart:
    """Turnaround p50/p90/p95 per queue (mean and 95% interval) against each queue's SLA target."""
    ids = [q for q in scenario.queues if q in summary["queues"]]
    fig, axes = figure(width=9, height=3.8)
    ax = axes[0][0]
    width = 0.26
    for j, (kpi, label) in enumerate((("tat_p50_h", "p50"), ("tat_p90_h", "p90"), ("tat_p95_h", "p95"))):
        means, errors = error_bars([summary["queues"][qid][kpi] for qid in ids])
        x = np.arange(len(ids)) + (j - 1) * width
        ax.bar(x, means, width, yerr=errors, color=color(j), alpha=0.85, label=label, capsize=2)
    targets = [scenario.queues[q].sla.target for q in ids]
    ax.scatter(np.arange(len(ids)), targets, marker="_", s=900, color="#b3261e", zorder=5, label="SLA target")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(ids)), ids, rotation=20, ha="right")
    ax.set_ylabel("turnaround (hours, log scale)")
    ax.set_xlabel("queue")
    ax.legend(fontsize=8, ncols=4)
    return render(fig, "Turnaround percentiles per queue against the SLA target",
                  "A bar above the red target line means more than that share of items is late: p95 above it "
                  "means fewer than 95% meet the SLA. Whiskers are 95% intervals over replications.")


def weekly_chart(weekly: pd.DataFrame, scenario: Scenario, by: str = "queue") -> Chart:
    """SLA attainment and quality per week of delivery, one line per queue (or per scenario), with targets."""
    fig, axes = figure(1, 2, height=3.6)
    data = weekly.dropna(subset=["sla_attainment"])
    data = data.assign(within=data["sla_attainment"] * data["delivered"], correct=data["quality"] * data["delivered"])
    for k, (metric, ylabel) in enumerate((("sla_attainment", "items within SLA target (%)"),
                                          ("quality", "items delivered correct (%)"))):
        ax = axes[0][k]
        numerator = "within" if metric == "sla_attainment" else "correct"
        for i, (name, group) in enumerate(data.groupby(by, sort=False)):
            sums = group.groupby("week")[[numerator, "delivered"]].sum()
            ax.plot(sums.index, 100 * sums[numerator] / sums["delivered"], marker="o", ms=3, color=color(i),
                    label=str(name))
            if by == "queue":
                target = (scenario.queues[name].sla.attainment if metric == "sla_attainment"
                          else scenario.queues[name].quality_target)
                if target is not None:
                    ax.axhline(100 * target, color=color(i), ls=":", lw=0.9)
        ax.set_xlabel("week of delivery (week 1 starts the horizon)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.set_title("SLA attainment" if metric == "sla_attainment" else "quality", fontsize=9)
    axes[0][1].legend(fontsize=7, loc="lower left")
    hint = ("Dotted lines are each queue's target in the same colour; a week below its line is a week the team "
            "missed." if by == "queue" else "Each line pools all queues of one scenario, weighted by volume.")
    return render(fig, "SLA attainment and quality by week", hint)


def utilisation_heatmap(timeseries: pd.DataFrame) -> Chart:
    """Busy share of available staff, pool x hour of the week (UTC), averaged over weeks and replications."""
    pools = timeseries[(timeseries["entity_type"] == "pool") & timeseries["metric"].isin(["busy", "available"])]
    pools = pools.assign(how=_hour_of_week(pools["time"]))
    sums = pools.groupby(["entity", "metric", "how"], sort=False)["value"].sum().unstack("how")
    ids = list(dict.fromkeys(pools["entity"]))
    grid = np.full((len(ids), 168), np.nan)
    for i, pid in enumerate(ids):
        busy = sums.loc[(pid, "busy")].reindex(range(168)).to_numpy()
        available = sums.loc[(pid, "available")].reindex(range(168)).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            grid[i] = np.where(available > 0, np.minimum(busy / available, 1.0), np.nan)
    fig, axes = figure(height=0.45 * len(ids) + 1.6)
    ax = axes[0][0]
    image = ax.imshow(100 * grid, aspect="auto", cmap="viridis", vmin=0, vmax=100, interpolation="nearest")
    ax.set_yticks(range(len(ids)), ids)
    _week_axis(ax)
    ax.set_ylabel("pool")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="busy / available (%)")
    return render(fig, "Pool utilisation by hour of the week",
                  "Bright cells are hours when the staff present were busy nearly all the time (work waits); "
                  "blank cells are hours with nobody available.")


def onshift_chart(timeseries: pd.DataFrame) -> Chart:
    """Mean head-count on shift per pool over a typical week (UTC): the follow-the-sun picture."""
    pools = timeseries[(timeseries["entity_type"] == "pool") & (timeseries["metric"] == "on_shift")]
    pools = pools.assign(how=_hour_of_week(pools["time"]))
    mean = pools.groupby(["entity", "how"], sort=False)["value"].mean()
    fig, axes = figure(height=3.6)
    ax = axes[0][0]
    for i, pid in enumerate(dict.fromkeys(pools["entity"])):
        series = mean.loc[pid].reindex(range(168), fill_value=0.0)
        ax.step(series.index, series.values, where="post", color=color(i), label=pid, lw=1.2)
    _week_axis(ax)
    ax.set_ylabel("people on shift (mean)")
    ax.legend(fontsize=8, ncols=3)
    return render(fig, "On-shift head-count per site over a typical week",
                  "Follow-the-sun: sites hand the clock over to each other; an hour where every line is at zero "
                  "is an hour nobody works.")


def cost_chart(summaries: dict[str, dict[str, Any]]) -> Chart:
    """Cost per pool (mean and 95% interval), one bar per scenario."""
    labels = list(summaries)
    pools = list(dict.fromkeys(p for s in summaries.values() for p in s["pools"]))
    fig, axes = figure(height=0.5 * len(pools) * max(1, len(labels)) ** 0.5 + 1.6)
    ax = axes[0][0]
    height = 0.8 / len(labels)
    for j, label in enumerate(labels):
        means, errors = error_bars([summaries[label]["pools"].get(pid, {}).get("cost") for pid in pools])
        y = np.arange(len(pools)) + (j - (len(labels) - 1) / 2) * height
        ax.barh(y, means, height, xerr=errors, color=color(j), label=label, capsize=2)
    ax.set_yticks(np.arange(len(pools)), pools)
    ax.invert_yaxis()
    ax.set_xlabel("cost in the measured window (currency of cost_per_hour)")
    ax.set_ylabel("pool")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    if len(labels) > 1:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.25), ncols=2)
    return render(fig, "Cost by pool", "Paid hours times the hourly rate; the longest bars are where a head-count "
                                       "change moves the budget most.")


def kpi_tables(summary: dict[str, Any], scenario: Scenario) -> list[str]:
    """Queue and pool KPI tables, targets beside the figures, misses marked."""
    rows, classes = [], []
    for qid, k in summary["queues"].items():
        queue = scenario.queues.get(qid)
        sla_miss = queue is not None and k["sla_attainment"]["mean"] is not None and \
            k["sla_attainment"]["mean"] < queue.sla.attainment
        q_target = queue.quality_target if queue is not None else None
        q_miss = q_target is not None and k["quality"]["mean"] is not None and k["quality"]["mean"] < q_target
        rows.append([qid, num(k["arrivals"]), num(k["completed"]), num(k["backlog_end"]), num(k["tat_mean_h"], 2),
                     num(k["tat_p95_h"], 2), f"{queue.sla.target:g} h" if queue else "-", pct(k["sla_attainment"]),
                     pct(queue.sla.attainment) if queue else "-", pct(k["quality"]),
                     pct(q_target) if q_target is not None else "-"])
        classes.append(["", "", "", "", "", "", "", "miss" if sla_miss else "met", "", "miss" if q_miss else "met",
                        ""])
    queues = table(["queue", "arrivals", "completed", "backlog at end", "TAT mean (h)", "TAT p95 (h)", "SLA target",
                    "SLA attainment", "SLA goal", "quality", "quality target"], rows, classes)
    pools = table(["pool", "head-count at end", "paid hours", "busy hours", "utilisation", "cost",
                   "max daily exposure (h)", "label quality"],
                  [[pid, num(k["headcount_end"], 1), num(k["paid_hours"]), num(k["busy_hours"]), pct(k["utilization"]),
                    num(k["cost"]), num(k["exposure_h_max"], 2), pct(k.get("quality", {"mean": None}))]
                   for pid, k in summary["pools"].items()])
    return [queues, pools]


def simulation_sections(summary: dict[str, Any], timeseries: pd.DataFrame, weekly: pd.DataFrame,
                        scenario: Scenario) -> list[Section]:
    """Everything the report shows for one simulated scenario."""
    t = summary["totals"]
    intro = (f"{summary['replications']} replications, seed {summary['seed']}. Totals: {num(t['arrivals'])} arrivals, "
             f"{num(t['completed'])} completed, cost {num(t['cost'])}, SLA attainment {pct(t['sla_attainment'])}, "
             f"quality {pct(t['quality'])}. Figures in red miss their target.")
    return [
        Section("Key figures", intro, tables=kpi_tables(summary, scenario)),
        Section("Backlog and turnaround", charts=[backlog_chart(timeseries, scenario), tat_chart(summary, scenario)]),
        Section("Service and quality week by week", charts=[weekly_chart(weekly, scenario)]),
        Section("Staffing", charts=[onshift_chart(timeseries), utilisation_heatmap(timeseries),
                                    cost_chart({summary["scenario"]: summary})]),
    ]
