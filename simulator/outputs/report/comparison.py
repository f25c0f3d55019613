"""Report sections of `annoplan compare`: KPIs side by side, paired differences, weeks, cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from simulator.scenario.loader import validate_data
from simulator.scenario.schema import Scenario
from .charts import Chart, color, figure, render
from .page import Section, table
from .simulation import cost_chart, error_bars, num, pct, weekly_chart


def _scenarios(folder: Path) -> list[Scenario]:
    documents = yaml.safe_load_all((folder / "scenarios.resolved.yaml").read_text(encoding="utf-8"))
    return [validate_data(doc, {}, str(folder / "scenarios.resolved.yaml")) for doc in documents]


def sla_chart(summary: dict[str, Any], base: Scenario) -> Chart:
    """SLA attainment per queue, one bar per scenario (mean and 95% interval), with each queue's goal."""
    labels = list(summary["scenarios"])
    queues = list(summary["scenarios"][labels[0]]["queues"])
    fig, axes = figure(height=3.8)
    ax = axes[0][0]
    width = 0.8 / len(labels)
    for j, label in enumerate(labels):
        means, errors = error_bars([summary["scenarios"][label]["queues"].get(q, {}).get("sla_attainment")
                                    for q in queues], 100.0)
        x = np.arange(len(queues)) + (j - (len(labels) - 1) / 2) * width
        ax.bar(x, means, width, yerr=errors, color=color(j), label=label, capsize=2)
    goals = [100 * base.queues[q].sla.attainment if q in base.queues else np.nan for q in queues]
    ax.scatter(np.arange(len(queues)), goals, marker="_", s=900, color="#b3261e", zorder=5, label="goal")
    ax.set_xticks(np.arange(len(queues)), queues, rotation=20, ha="right")
    ax.set_ylim(max(0, np.nanmin([ax.get_ylim()[0], *goals]) - 5), 101)
    ax.set_ylabel("items within SLA target (%)")
    ax.set_xlabel("queue")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.3), ncols=2)
    return render(fig, "SLA attainment per queue, scenario by scenario",
                  "Bars below the red goal miss it; whiskers are 95% intervals over replications (the paired "
                  "differences below are tighter, because the scenarios share their random numbers).")


def difference_chart(summary: dict[str, Any]) -> Chart:
    """Paired differences against the baseline with 95% intervals: total cost (%) and each queue's SLA (pt)."""
    labels = list(summary["differences"])
    base = summary["baseline"]
    base_cost = summary["scenarios"][base]["totals"]["cost"]["mean"] or 1.0
    rows: list[tuple[str, str, dict[str, Any], float]] = []
    for label in labels:
        diff = summary["differences"][label]
        rows.append((label, "total cost (%)", diff["totals"]["cost"], 100 / base_cost))
        rows.append((label, "total SLA attainment (pt)", diff["totals"]["sla_attainment"], 100))
        rows.append((label, "total quality (pt)", diff["totals"]["quality"], 100))
        for qid, cells in diff["queues"].items():
            rows.append((label, f"{qid} SLA (pt)", cells["sla_attainment"], 100))
    fig, axes = figure(height=0.28 * len(rows) + 1.4)
    ax = axes[0][0]
    for i, (label, name, cell, scale) in enumerate(rows):
        if cell["mean"] is None:
            continue
        mean = cell["mean"] * scale
        low = (cell["low"] if cell["low"] is not None else cell["mean"]) * scale
        high = (cell["high"] if cell["high"] is not None else cell["mean"]) * scale
        shade = color(labels.index(label)) if cell["significant"] else "#9aa3ad"
        ax.plot([low, high], [i, i], color=shade, lw=2)
        ax.plot([mean], [i], "o", color=shade, ms=5)
    ax.axvline(0, color="#333", lw=0.8)
    ax.set_yticks(range(len(rows)), [f"{name}  [{label}]" if len(labels) > 1 else name
                                     for label, name, _, _ in rows])
    ax.invert_yaxis()
    ax.set_ylabel("KPI" + (" [scenario]" if len(labels) > 1 else ""))
    ax.set_xlabel(f"difference against {base!r} (percent of its cost, or percentage points)")
    return render(fig, "What changes: paired differences with 95% intervals",
                  "Coloured lines clear zero (statistically significant at 95%); grey ones could be noise. "
                  "Right of zero means more cost, or a higher attainment or quality.")


def _aliases(labels: list[str]) -> dict[str, str]:
    """Short names for charts and tables when a label (e.g. a --variant's overrides) is long."""
    if max(len(label) for label in labels) <= 24:
        return {label: label for label in labels}
    return {label: ("A (baseline)" if i == 0 else chr(ord("A") + i)) for i, label in enumerate(labels)}


def comparison_sections(summary: dict[str, Any], folder: Path) -> tuple[list[Section], str, str]:
    """Everything the report shows for a comparison, with the page title and subtitle."""
    scenarios = _scenarios(folder)
    full_labels = list(summary["scenarios"])
    alias = _aliases(full_labels)
    summary = dict(summary, baseline=alias[summary["baseline"]],
                   scenarios={alias[k]: v for k, v in summary["scenarios"].items()},
                   differences={alias[k]: v for k, v in summary["differences"].items()})
    labels = list(summary["scenarios"])
    base = summary["baseline"]
    weekly = pd.read_parquet(folder / "weekly.parquet")
    weekly["scenario"] = weekly["scenario"].map(alias)
    differences = pd.read_parquet(folder / "differences.parquet")
    differences["scenario"] = differences["scenario"].map(alias)
    key = [("total", "total", "cost"), ("total", "total", "sla_attainment"), ("total", "total", "quality")]
    key += [("queue", q, k) for q in summary["scenarios"][base]["queues"] for k in ("sla_attainment", "quality",
                                                                                  "tat_p95_h")]
    rows = []
    for entity_type, entity, kpi in key:
        group = "totals" if entity_type == "total" else "queues"
        row = [kpi if entity_type == "total" else f"{entity} {kpi}"]
        for label in labels:
            data = summary["scenarios"][label][group]
            cell = data.get(kpi) if entity_type == "total" else data.get(entity, {}).get(kpi)
            text = "-" if cell is None else (num(cell) if kpi == "cost" else num(cell, 2) if kpi.endswith("_h")
                                             else pct(cell))
            row.append(text)
        rows.append(row)
    side = table(["kpi", *labels], rows)
    sig = differences[differences["significant"]]
    diff_rows = [[r.scenario, r.entity if r.entity_type != "total" else "total", r.kpi,
                  f"{r.mean:+.4g}", f"{r.low:+.4g}", f"{r.high:+.4g}"] for r in sig.itertuples()]
    diff_table = table(["scenario", "entity", "kpi", "difference", "95% low", "95% high"], diff_rows)
    intro = (f"{len(labels)} scenarios on common random numbers (seed {summary['seed']}, the same "
             f"{summary['replications']} replications each); differences are paired against {base!r}.")
    if any(k != v for k, v in alias.items()):
        intro += " Scenarios: " + "; ".join(f"{v} = {k}" for k, v in alias.items()) + "."
    sections = [
        Section("Side by side", intro, charts=[sla_chart(summary, scenarios[0])], tables=[side]),
        Section("Differences against the baseline", charts=[difference_chart(summary)],
                tables=["<p class=\"note\">Every difference whose 95% interval excludes zero:</p>", diff_table]),
        Section("Week by week", charts=[weekly_chart(weekly, scenarios[0], by="scenario")]),
        Section("Cost", charts=[cost_chart(summary["scenarios"])]),
    ]
    return sections, f"annoplan: compare {len(labels)} scenarios", "what-if comparison on common random numbers: " \
        + " vs ".join(full_labels)
