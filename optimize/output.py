"""What `optimize --out DIR` writes, and the lines that tell a planner how the search went."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.outputs.files import resolved_yaml, to_json, write_all
from simulator.scenario import validate_data

from .certificate import FAILS_FRESH
from .plan import plan_table
from .rosters import pattern_label, roster_rows, staffed_only
from .runner import OptimizeResult
from .search_space import with_values
from .workbook import write_workbook


def write_optimization(result: OptimizeResult, out_dir: Path, source: str, version: str) -> list[Path]:
    """summary.json, trials.parquet, plan.csv, plan.xlsx, (list objective) pareto.parquet, (verified plan)
    pools_by_hour.parquet, and the plan as scenario.resolved.yaml, which loads again as it is."""
    summary = result.summary()
    reps = int(result.scenario_raw.get("optimize", {}).get("replications", 3))
    plan = plan_table(result.scenario_raw, result.params, reps)
    chosen_raw = with_values(result.scenario_raw, result.params)
    chosen = validate_data(staffed_only(chosen_raw, validate_data(chosen_raw, {}, source)), {}, source)
    files = {
        "summary.json": lambda p: p.write_text(to_json(summary) + "\n", encoding="utf-8"),
        "trials.parquet": lambda p: result.trials.to_parquet(p, index=False),
        "plan.csv": lambda p: plan.to_csv(p, index=False),
        "plan.xlsx": lambda p: write_workbook(p, plan, summary, result.scenario_raw, roster_rows(chosen)),
    }
    if result.pareto is not None:
        pareto = result.pareto
        files["pareto.parquet"] = lambda p: pareto.to_parquet(p, index=False)
    if result.by_hour is not None:
        hours = result.by_hour
        files["pools_by_hour.parquet"] = lambda p: hours.to_parquet(p, index=False)
    files["scenario.resolved.yaml"] = lambda p: p.write_text(resolved_yaml(chosen, version), encoding="utf-8")
    return write_all(out_dir, files)


def plan_lines(result: OptimizeResult) -> list[str]:
    """The plan and its objective, for stdout above the KPI tables."""
    state = "feasible plan" if result.feasible else "NO feasible plan"
    scenario = validate_data(result.scenario_raw, {}, "plan")
    shown = []
    for path, value in result.params.items():
        label = pattern_label(scenario, path)
        if label is None:
            shown.append(f"{path} = {value}")
        elif value:  # a roster pattern: only the staffed ones, with their times
            shown.append(f"{path} = {value} ({label})")
    return [f"{state}: " + ", ".join(shown),
            "objective: " + ", ".join(f"{k} {v:,.2f}" for k, v in result.objective.items())]


def search_lines(result: OptimizeResult) -> list[str]:
    """How the search went: trials, what the screen and early stop saved, the verification."""
    info = result.search
    lines = [f"{info['trials']} trials, {info['simulations_run']} replications run; the analytic screen ruled "
             f"out {info['screened']} trials ({info['simulations_saved_by_screen']} replications saved), the "
             f"sequential rule stopped {info['pruned']} early ({info['simulations_saved_by_pruning']} saved)"]
    if result.pareto is not None:
        lines.append(f"Pareto front: {len(result.pareto)} feasible plans that no other beats on every objective")
    if info.get("lower_bound") is not None and info.get("gap") is not None:
        lines.append(f"lower bound on cost {info['lower_bound']:,.0f} (capacity = offered work, no queueing slack): "
                     f"the plan costs {info['gap']:.1%} more")
    cert = info.get("certificate")
    if cert is not None:
        held = "holds" if cert["local_optimum"] else "does NOT hold"
        lines.append(f"local optimality {held}; one step down of each variable:")
        lines += [f"  {path} {e['value']} -> {e.get('step_down', '-')}: {_evidence(e)}"
                  for path, e in cert["variables"].items()]
    if result.verification is not None:
        v = result.verification
        lines.append(f"verified on {v['replications']} fresh replications ({v['candidates_checked']} candidate(s) "
                     f"checked): confidence {v['confidence']:.1%} that every target is met"
                     + (f"; {len(v['controlled'])} congestion KPI(s) with the offered work as a control variate"
                        if v.get("controlled") else ""))
        if v.get("corrected_after_verification"):
            lines.append(f"every search candidate failed verification: the plan is the cheapest the search saw that "
                         f"still meets every target once its margins carry the fresh replications' bias "
                         f"(round {v['corrected_after_verification']})")
        if v.get("raised_after_verification"):
            lines.append(f"the search's candidates failed verification: the plan is one of them raised "
                         f"{v['raised_after_verification']} time(s) by the moves that cover what it missed at least cost, "
                         f"so it is dearer than the search's optimum")
        if v.get("polish_checked"):
            later = v.get("polish_unconfirmed_steps", 0)
            lines.append(f"polish: {v['polish_checked']} one-step decrease(s) verified on the same fresh replications; "
                         + (f"{v['polished_steps']} passed, and the plan they reach passed again on "
                            f"{v['replications']} further fresh replications" if v.get("polished_steps") else
                            "the plan stands as first verified")
                         + (f" ({later} cheaper step(s) found failed on a second fresh set)" if later else ""))
            lines += [f"  {t['variable']} {t['from']} -> {t['to']}{_exchanged(t)}: {_polish_outcome(t)}"
                      for t in v.get("polish_tried", [])]
            lines += _undecided_lines(v.get("undecided", []))
        if v.get("polish_out_of_time"):
            lines.append("polish: stopped at the time limit (--time) with steps down left untried; "
                         "without --time, or with more of it, it goes on")
    return lines


def _undecided_lines(edge: list[dict[str, Any]]) -> list[str]:
    """The steps down left on the edge (polish.undecided), with what each would save and the fresh
    replications that would decide it."""
    if not edge:
        return []
    return [f"undecided: {len(edge)} step(s) down failed only on the edge: every mean met its target, but "
            "the fresh replications could not show it at 95%"] + [
            f"  {t['variable']} {t['from']} -> {t['to']} would save {t.get('saving', 0):,.0f}; about "
            f"{t['replications_needed']} fresh replications would decide it "
            f"(--set optimize.verify_max={t['replications_needed']}, slower)" for t in edge]


def _exchanged(step: dict[str, Any]) -> str:
    """The raises that an exchange (polish._exchanges) paired with its step down, in words."""
    moves = step.get("exchange", {})
    return "".join(f", {path} {before} -> {after}" for path, (before, after) in moves.items()) + \
        (" (an exchange)" if moves else "")


def _polish_outcome(step: dict[str, Any]) -> str:
    """One polish step in a few words: how the first fresh set judged it, and the second if asked."""
    first = f"{'kept' if step['kept'] else 'not kept'} ({step['confidence']:.1%} on the first fresh set)"
    if "confirmed" not in step:
        return first
    return first + (", confirmed on the second" if step["confirmed"] else ", failed on the second")


def _evidence(entry: dict[str, Any]) -> str:
    """One variable's certificate entry in a few words."""
    if entry["status"] == "misses":
        return f"misses {entry['constraint']} ({entry['confidence']:.0%} confidence)"
    if entry["status"] == FAILS_FRESH:
        edge = (f"; every mean met its target, about {entry['replications_needed']} fresh replications would decide it"
                if entry.get("replications_needed") else "")
        return f"{FAILS_FRESH}: {entry['constraint']} by {-entry['margin']:.4g}{edge}"
    return entry["status"]


def miss_line(result: OptimizeResult) -> str:
    """For an infeasible search: the constraint the closest plan missed by the most, and by how much."""
    name, margin = result.closest  # type: ignore[misc]
    how = " with 95% confidence" if result.verification is not None else ""
    return f"no plan met every constraint{how}; the closest missed {name} by {-margin:.4g}"
