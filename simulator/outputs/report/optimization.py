"""Report sections of `annoplan optimize`: the chosen plan, trial history, feasibility, Pareto front."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from simulator.scenario.loader import load_scenario
from .charts import Chart, color, figure, render
from .page import Section, table
from .simulation import cost_chart, kpi_tables, num, tat_chart


def history_chart(trials: pd.DataFrame, objective: str) -> Chart:
    """Every trial's first objective in trial order: feasible, infeasible, screened; best feasible so far."""
    column = f"objective.{objective}"
    data = trials[trials["state"] == "COMPLETE"].sort_values("number")
    fig, axes = figure(height=3.6)
    ax = axes[0][0]
    screened = data["screened"] != ""
    pruned = data.get("pruned", pd.Series("", index=data.index)) != ""
    feasible = data["feasible"]
    ax.scatter(data.loc[feasible, "number"], data.loc[feasible, column], color=color(2), s=18, label="feasible")
    shown = ~feasible & ~screened
    ax.scatter(data.loc[shown, "number"], data.loc[shown, column], facecolors="none", edgecolors=color(3), s=18,
               label="infeasible (simulated)")
    ax.scatter(data.loc[screened, "number"], data.loc[screened, column], marker="x", color="#7f7f7f", s=18,
               label="ruled out by the analytic screen")
    ax.scatter(data.loc[pruned, "number"], data.loc[pruned, column], marker="+", color=color(1), s=40,
               label="stopped early")
    best = data[column].where(feasible).cummin().ffill()  # flat through the infeasible trials between
    ax.step(data["number"], best, where="post", color=color(2), lw=1, label="cheapest feasible so far")
    ax.set_xlabel("trial number")
    ax.set_ylabel(objective + (" (currency)" if objective in ("cost", "budget") else ""))
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.legend(fontsize=7, ncols=2)
    return render(fig, "Trial history", "Each dot is one trial; the step line is the best feasible plan found so "
                                        "far. A flat line at the end means more trials would likely not help.")


def feasibility_chart(trials: pd.DataFrame, objective: str) -> Chart:
    """Objective against the worst constraint violation (> 0: missed), per simulated trial."""
    constraints = [c for c in trials.columns if c.startswith("constraint.")]
    data = trials[(trials["state"] == "COMPLETE") & (trials["screened"] == "")]
    worst = data[constraints].max(axis=1)
    fig, axes = figure(height=3.6)
    ax = axes[0][0]
    ok = worst <= 0
    ax.scatter(data.loc[ok, f"objective.{objective}"], worst[ok], color=color(2), s=18, label="feasible")
    ax.scatter(data.loc[~ok, f"objective.{objective}"], worst[~ok], color=color(3), s=18, label="infeasible")
    ax.axhline(0, color="#333", lw=0.8)
    ax.set_xlabel(objective + (" (currency)" if objective in ("cost", "budget") else ""))
    ax.set_ylabel("largest violation (constraint units)")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.legend(fontsize=8)
    return render(fig, "Feasible and infeasible trials",
                  "Below the zero line a trial meets every constraint; the cheapest such point is where the "
                  "search converges. Infeasible points show how far each spend level misses.")


def pareto_chart(trials: pd.DataFrame, pareto: pd.DataFrame, objectives: list[str]) -> Chart:
    """Feasible trials on the first two objectives, the Pareto front drawn through them."""
    a, b = (f"objective.{o}" for o in objectives[:2])
    fig, axes = figure(height=3.6)
    ax = axes[0][0]
    feasible = trials[trials["feasible"]]
    ax.scatter(feasible[a], feasible[b], color="#9aa3ad", s=16, label="feasible trials")
    front = pareto.sort_values(a)
    ax.plot(front[a], front[b], "o-", color=color(0), ms=5, label="Pareto front")
    ax.set_xlabel(objectives[0])
    ax.set_ylabel(objectives[1])
    ax.legend(fontsize=8)
    return render(fig, f"Pareto front: {objectives[0]} against {objectives[1]}",
                  "Every point on the line is a plan no other feasible plan beats on both objectives: moving "
                  "along it trades one for the other.")


def roster_chart(hours: pd.DataFrame, scenario: Any) -> Chart:
    """Per pool, by hour of the week: the heads the load requires on shift, the heads the plan puts on
    shift, and the heads busy (simulated)."""
    from simulator.scenario.calendar import horizon_origin

    pools = list(dict.fromkeys(hours["pool"]))
    fig, axes = figure(rows=len(pools), height=2.0 + 1.6 * len(pools), sharex=True)
    origin = pd.Timestamp(horizon_origin(scenario.horizon.start))
    for ax, pid in zip(axes[:, 0], pools):
        data = hours[hours["pool"] == pid].sort_values("hour_of_week")
        x = data["hour_of_week"].to_numpy()
        ax.step(x, data["required"], where="post", color=color(3), lw=1, ls="--", label="required on shift")
        ax.step(x, data["on_shift"], where="post", color=color(0), lw=1.2, label="on shift (plan)")
        ax.plot(x + 0.5, data["busy"], color=color(2), lw=1, label="busy (simulated)")
        ax.set_title(pid, fontsize=9, loc="left")
        ax.set_ylabel("heads")
    ticks = list(range(0, 168, 24))
    axes[-1][0].set_xticks(ticks, [(origin + pd.Timedelta(hours=t)).strftime("%a %H:%M") for t in ticks])
    axes[-1][0].set_xlabel("hour of the week (UTC, from the horizon's start)")
    axes[0][0].legend(fontsize=8)
    return render(fig, "Heads by hour of the week",
                  "Where the solid line sits under the dashed one the roster leaves the load short; far above "
                  "it, heads sit idle. Busy is what the simulated plan actually used.")


def _bound_text(search: dict[str, Any]) -> str:
    """The analytic lower bound and the plan's gap to it, in a sentence."""
    if search.get("lower_bound") is None or search.get("gap") is None:
        return ""
    return (f"Analytic lower bound on cost: {num(search['lower_bound'])} (capacity equal to the mean offered work, "
            f"no queueing slack); the plan costs {search['gap']:.1%} more. The table shows, for each variable, "
            f"what one step down does: the evidence that the plan is a local optimum.")


def certificate_table(certificate: dict[str, Any]) -> str:
    """One row per variable: value, one step down, what that plan did, and the confidence it misses."""
    rows, classes = [], []
    for path, entry in certificate["variables"].items():
        confidence = entry.get("confidence")
        rows.append([path, entry["value"], entry.get("step_down", ""), entry["status"], entry.get("constraint", ""),
                     "" if confidence is None else f"{confidence:.1%}", entry.get("trial", "")])
        held = entry["status"] in ("misses", "screened", "at its lower bound",
                                   "too close to a target to pass verification")
        classes.append(["", "", "", "met" if held else "miss", "", "", ""])
    return table(["variable", "plan", "one step down", "that plan", "target it misses", "confidence", "trial"],
                 rows, classes)


def optimization_sections(summary: dict[str, Any], folder: Path) -> tuple[list[Section], str, str]:
    """Everything the report shows for an optimisation, with the page title and subtitle."""
    trials = pd.read_parquet(folder / "trials.parquet")
    plan = pd.read_csv(folder / "plan.csv")
    scenario = load_scenario(folder / "scenario.resolved.yaml")
    objectives = list(summary["objective"])
    verification = summary.get("verification") or {}
    search = summary.get("search") or {}
    verdict = "Feasible plan" if summary["feasible"] else "NO feasible plan"
    intro = (f"{verdict}: " + ", ".join(f"{k} = {v}" for k, v in summary["params"].items())
             + ". " + "; ".join(f"{k} {num(v)}" for k, v in summary["objective"].items()) + ". ")
    if verification:
        intro += (f"Checked on {verification['replications']} fresh replications: confidence "
                  f"{verification['confidence']:.1%} that every target is met ({verification['rule']}). ")
    if search:
        intro += (f"{search.get('trials', 0)} trials, {search.get('simulations_run', 0)} replications run; the "
                  f"analytic screen ruled out {search.get('screened', 0)} and early stopping "
                  f"{search.get('pruned', 0)}, saving {search.get('simulations_saved', 0)} replications.")
    plan_rows = [[int(r.week), r.pool, num(float(r.headcount), 1), int(r.hires), num(float(r.paid_hours)),
                  num(float(r.cost))] for r in plan.itertuples()]
    plan_table = table(["week", "pool", "head-count", "hires", "paid hours", "cost"], plan_rows)
    margins = verification.get("margins", {})
    margin_table = table(["constraint", "margin of the 95% bound (+ inside, - outside)"],
                         [[k, f"{v:+.4g}"] for k, v in margins.items()],
                         [["", "met" if v >= 0 else "miss"] for v in margins.values()])
    kpis = summary["kpis"]
    sections = [Section("The chosen plan", intro, tables=[margin_table, plan_table])]
    if kpis:  # none when the analytic screen ruled out every trial
        sections.append(Section("The plan's service", charts=[tat_chart(kpis, scenario), cost_chart({"plan": kpis})],
                                tables=kpi_tables(kpis, scenario)))
    search_charts = [history_chart(trials, objectives[0]), feasibility_chart(trials, objectives[0])]
    if (folder / "pareto.parquet").exists() and len(objectives) > 1:
        search_charts.append(pareto_chart(trials, pd.read_parquet(folder / "pareto.parquet"), objectives))
    if (folder / "pools_by_hour.parquet").exists():
        sections.append(Section("The roster against the load", charts=[
            roster_chart(pd.read_parquet(folder / "pools_by_hour.parquet"), scenario)]))
    sections.append(Section("The search", intro=_bound_text(search), charts=search_charts,
                            tables=[certificate_table(search["certificate"])] if search.get("certificate") else []))
    return sections, f"annoplan: optimised plan for {scenario.name}", "cheapest plan meeting every target"



