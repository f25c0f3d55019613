"""Readable terminal views of results: rich tables of KPIs with 95% intervals, comparisons and sweeps."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from simulator.scenario import Scenario


def _fmt(cell: dict[str, Any], kind: str) -> str:
    mean = cell["mean"]
    if mean is None:
        return "-"
    text = {"pct": f"{mean:.1%}", "h": f"{mean:.2f}", "n": f"{mean:,.0f}", "money": f"{mean:,.0f}"}[kind]
    if cell["low"] is not None and kind in ("pct", "h"):
        half = (cell["high"] - cell["low"]) / 2
        text += f" ±{half:.1%}" if kind == "pct" else f" ±{half:.2f}"
    return text


QUEUE_COLUMNS = [("arrivals", "arrivals", "n"), ("done", "completed", "n"), ("backlog", "backlog_end", "n"),
                 ("wait h", "wait_mean_h", "h"), ("TAT h", "tat_mean_h", "h"), ("p95 h", "tat_p95_h", "h"),
                 ("SLA", "sla_attainment", "pct"), ("quality", "quality", "pct")]
POOL_COLUMNS = [("heads", "headcount_end", "n"), ("paid h", "paid_hours", "n"),
                ("productive h", "productive_hours", "n"), ("busy h", "busy_hours", "n"),
                ("util.", "utilization", "pct"), ("cost", "cost", "money"), ("exposure h/day", "exposure_h_max", "h"),
                ("label quality", "quality", "pct")]


Targets = dict[str, dict[str, float]]  # queue -> KPI -> the least acceptable mean


def queue_targets(scenario: Scenario) -> Targets:
    """Each queue's SLA attainment target and, where set, its quality target."""
    out: Targets = {}
    for qid, queue in scenario.queues.items():
        out[qid] = {"sla_attainment": queue.sla.attainment}
        if queue.quality_target is not None:
            out[qid]["quality"] = queue.quality_target
    return out


def misses(summary: dict[str, Any], targets: Targets) -> list[str]:
    """Every target the means miss, as 'queue KPI mean < target'."""
    out = []
    for qid, wanted in targets.items():
        for kpi, target in wanted.items():
            mean = summary["queues"].get(qid, {}).get(kpi, {}).get("mean")
            if mean is not None and mean < target:
                out.append(f"{qid} {'SLA' if kpi == 'sla_attainment' else kpi} {mean:.1%} < {target:.0%}")
    return out


def _cell(kpis: dict[str, Any], kpi: str, kind: str, target: float | None) -> str:
    """A KPI with its interval; with a target, the target beside it, red with a cross where missed."""
    text = _fmt(kpis[kpi], kind)
    if target is None:
        return text
    mean = kpis[kpi]["mean"]
    missed = mean is not None and mean < target
    shown = f"{text} (≥{target:.0%})"
    return f"[red]{shown} ✗[/red]" if missed else shown


def _table(title: str, entity: str, rows: dict[str, Any], columns: list[tuple[str, str, str]],
           targets: Targets | None = None) -> Table:
    table = Table(title=title)
    table.add_column(entity, no_wrap=True)
    for label, _, _ in columns:
        table.add_column(label, justify="right")
    for name, kpis in rows.items():
        wanted = (targets or {}).get(name, {})
        table.add_row(name, *[_cell(kpis, k, kind, wanted.get(k)) for _, k, kind in columns])
    return table


def print_tables(summary: dict[str, Any], targets: Targets | None = None) -> None:
    """The readable view of a simulation summary (queues, pools, totals), each target beside its figure
    and a line naming every target missed."""
    console = Console(width=None if sys.stdout.isatty() else 200)
    title = f"{summary['scenario']}: queues (mean ± 95% CI half-width over {summary['replications']} replications)"
    console.print(_table(title, "queue", summary["queues"], QUEUE_COLUMNS, targets))
    console.print(_table("pools", "pool", summary["pools"], POOL_COLUMNS))
    if targets is not None:
        missed = misses(summary, targets)
        total = sum(len(v) for v in targets.values())
        if missed:
            console.print(f"[red]{len(missed)} of {total} targets missed: {'; '.join(missed)}[/red]")
        else:
            console.print(f"all {total} targets met (means over replications)")
    open_at_limit = {qid: q["undelivered"]["mean"] for qid, q in summary["queues"].items()
                     if q.get("undelivered", {}).get("mean")}
    if open_at_limit:
        console.print("[yellow]measured items still open at the drain limit (misses if past target): "
                      + ", ".join(f"{qid} {n:,.1f}" for qid, n in open_at_limit.items()) + "[/yellow]")
    t = summary["totals"]
    console.print(f"totals: {_fmt(t['arrivals'], 'n')} arrivals, {_fmt(t['completed'], 'n')} completed, "
                  f"cost {_fmt(t['cost'], 'money')}, SLA {_fmt(t['sla_attainment'], 'pct')}, "
                  f"quality {_fmt(t['quality'], 'pct')}")


COMPARE_ROWS = [("totals", "total", "cost", "money"), ("totals", "total", "sla_attainment", "pct"),
                ("totals", "total", "quality", "pct")]
COMPARE_QUEUE_KPIS = [("sla_attainment", "pct"), ("tat_p95_h", "h"), ("quality", "pct"), ("backlog_end", "n")]
COMPARE_POOL_KPIS = [("utilization", "pct"), ("cost", "money")]


def _delta(cell: dict[str, Any] | None, kind: str) -> str:
    """A paired difference: sign, size and a * when its 95% interval excludes 0."""
    if cell is None or cell["mean"] is None:
        return "-"
    mean = cell["mean"]
    text = {"pct": f"{mean * 100:+.1f} pt", "h": f"{mean:+.2f}", "n": f"{mean:+,.0f}", "money": f"{mean:+,.0f}"}[kind]
    return text + (" *" if cell["significant"] else "")


def print_comparison(summary: dict[str, Any]) -> None:
    """KPIs side by side (mean ± 95% half-width) and each scenario's paired difference against the first."""
    console = Console(width=None if sys.stdout.isatty() else 200)
    labels = list(summary["scenarios"])
    base = labels[0]
    table = Table(title=f"compare on common random numbers: seed {summary['seed']}, {summary['replications']} "
                        f"replications; Δ vs {base!r}, * = 95% interval of the paired difference excludes 0")
    table.add_column("kpi", no_wrap=True)
    table.add_column(base, justify="right")
    for label in labels[1:]:
        table.add_column(label, justify="right")
        table.add_column("Δ", justify="right")
    rows = list(COMPARE_ROWS)
    for qid in summary["scenarios"][base]["queues"]:
        rows += [("queues", qid, kpi, kind) for kpi, kind in COMPARE_QUEUE_KPIS]
    for pid in summary["scenarios"][base]["pools"]:
        rows += [("pools", pid, kpi, kind) for kpi, kind in COMPARE_POOL_KPIS]
    for group, entity, kpi, kind in rows:
        def cell(label: str) -> dict[str, Any] | None:
            data = summary["scenarios"][label]
            return data["totals"].get(kpi) if group == "totals" else data[group].get(entity, {}).get(kpi)

        def diff(label: str) -> dict[str, Any] | None:
            data = summary["differences"][label]
            return data["totals"].get(kpi) if group == "totals" else data[group].get(entity, {}).get(kpi)

        name = kpi if group == "totals" else f"{entity} {kpi}"
        values = [_fmt(cell(base), kind) if cell(base) else "-"]
        for label in labels[1:]:
            values += [_fmt(cell(label), kind) if cell(label) else "-", _delta(diff(label), kind)]
        table.add_row(name, *values)
    console.print(table)


def print_sweep(summary: dict[str, Any]) -> None:
    """One row per grid point: the varied values, cost, SLA and quality, whether every target is met."""
    console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=f"{summary['scenario']}: sweep of {len(summary['points'])} points x "
                        f"{summary['replications']} replications (mean ± 95% CI half-width)")
    for path in summary["vary"]:
        table.add_column(path, justify="right")
    for label in ("cost", "SLA", "worst queue SLA", "quality", "meets targets"):
        table.add_column(label, justify="right")
    for i, point in enumerate(summary["points"]):
        totals = point["totals"]
        worst = min(point["queues"].items(), key=lambda kv: kv[1]["sla_attainment"]["mean"]
                    if kv[1]["sla_attainment"]["mean"] is not None else -1.0)
        mark = "yes" if point["meets_targets"] else "no"
        if i == summary["best"]:
            mark = "yes  <- cheapest"
        table.add_row(*[f"{v:g}" for v in point["params"].values()], _fmt(totals["cost"], "money"),
                      _fmt(totals["sla_attainment"], "pct"), f"{worst[0]} {_fmt(worst[1]['sla_attainment'], 'pct')}",
                      _fmt(totals["quality"], "pct"), mark)
    console.print(table)
    if summary["best"] is None:
        console.print("no point meets every queue's SLA and quality target")
