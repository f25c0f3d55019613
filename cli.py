"""annoplan's command line: parse, call the library, format. No model logic lives here."""

from __future__ import annotations

import functools
import json
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from optimize import optimize as run_optimize
from optimize.plan import plan_table
from optimize.workbook import write_workbook
from simulator import AnnoplanError, ScenarioError, load_scenario
from simulator.output import atomic_write, to_json, write_simulation
from simulator.replications import default_jobs
from simulator.scenario import Scenario
from simulator.simulate import simulate as run_simulation

try:
    VERSION = version("annoplan")
except PackageNotFoundError:  # running from a source tree that is not installed
    VERSION = "0+unknown"

_err = Console(stderr=True, highlight=False)


def clean_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn AnnoplanError into a message on stderr and exit code 2: a user never sees a traceback."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ScenarioError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            raise SystemExit(2) from None
        except AnnoplanError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
    return wrapper


def scenario_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--set and --seed, shared by every command that takes a scenario."""
    command = click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
                           help="Override a field, e.g. --set pools.dublin.headcount=40 (repeatable).")(command)
    return click.option("--seed", type=click.IntRange(min=0), default=None,
                        help="Use this seed instead of the scenario's.")(command)


def output_options(files: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--json, --out DIR (writing `files`) and --quiet, shared by every command that produces results."""
    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option("--quiet", "-q", is_flag=True, help="No progress display.")(command)
        command = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                               help=f"Write {files} here.")(command)
        return click.option("--json", "as_json", is_flag=True,
                            help="Print one JSON object on stdout and nothing else.")(command)
    return apply


def with_seed(overrides: tuple[str, ...], seed: int | None) -> tuple[str, ...]:
    """The overrides with --seed added as one more (so it is validated like any field)."""
    return overrides + ((f"seed={seed}",) if seed is not None else ())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="annoplan")
def main() -> None:
    """Capacity planning for annotation, content-review and rating teams.

    \b
    Start with:  annoplan simulate scenarios/quickstart.yaml
    """


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a field before checking.")
def validate(files: tuple[Path, ...], overrides: tuple[str, ...]) -> None:
    """Check scenario files; every problem is reported with file, line and field.

    \b
    Example:  annoplan validate scenarios/*.yaml
    """
    bad = 0
    for file in files:
        try:
            scenario = load_scenario(file, overrides)
        except ScenarioError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            continue
        click.echo(f"ok: {file} ({scenario.name}: {len(scenario.queues)} queues, {len(scenario.pools)} pools)")
    if bad:
        raise SystemExit(2)


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor autocompletion).

    \b
    Example:  annoplan schema > annoplan.schema.json
    """
    click.echo(json.dumps(Scenario.model_json_schema(), indent=2))


def _progress(total: int, quiet: bool) -> tuple[Callable[[int], None], Callable[[], None]]:
    """A replication progress bar on stderr, shown only on a terminal and after 2 s, off with --quiet."""
    if quiet or not sys.stderr.isatty():
        return (lambda done: None), (lambda: None)
    started = time.monotonic()
    bar: dict[str, Any] = {}

    def update(done: int) -> None:
        if "progress" not in bar and time.monotonic() - started > 2.0 and done < total:
            bar["progress"] = Progress(TextColumn("replications"), BarColumn(), MofNCompleteColumn(),
                                       TimeElapsedColumn(), console=_err, transient=True)
            bar["progress"].start()
            bar["task"] = bar["progress"].add_task("run", total=total)
        if "progress" in bar:
            bar["progress"].update(bar["task"], completed=done)

    def stop() -> None:
        if "progress" in bar:
            bar["progress"].stop()
    return update, stop


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
                ("util.", "utilization", "pct"), ("cost", "cost", "money"), ("exposure h/day", "exposure_h_max", "h")]


def _table(title: str, entity: str, rows: dict[str, Any], columns: list[tuple[str, str, str]]) -> Table:
    table = Table(title=title)
    table.add_column(entity, no_wrap=True)
    for label, _, _ in columns:
        table.add_column(label, justify="right")
    for name, kpis in rows.items():
        table.add_row(name, *[_fmt(kpis[k], kind) for _, k, kind in columns])
    return table


def print_tables(summary: dict[str, Any]) -> None:
    """The readable view of a simulation summary (queues, pools, totals)."""
    console = Console(width=None if sys.stdout.isatty() else 200)
    title = f"{summary['scenario']}: queues (mean ± 95% CI half-width over {summary['replications']} replications)"
    console.print(_table(title, "queue", summary["queues"], QUEUE_COLUMNS))
    console.print(_table("pools", "pool", summary["pools"], POOL_COLUMNS))
    t = summary["totals"]
    console.print(f"totals: {_fmt(t['arrivals'], 'n')} arrivals, {_fmt(t['completed'], 'n')} completed, "
                  f"cost {_fmt(t['cost'], 'money')}, SLA {_fmt(t['sla_attainment'], 'pct')}, "
                  f"quality {_fmt(t['quality'], 'pct')}")


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-r", "--replications", type=click.IntRange(1, 10_000), default=3, show_default=True,
              help="Independent replications (for the 95% intervals).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: all cores]. Results do not depend on it.")
@scenario_options
@output_options("summary.json, kpis.parquet, timeseries.parquet and scenario.resolved.yaml")
@clean_errors
def simulate(file: Path, replications: int, jobs: int | None, seed: int | None, overrides: tuple[str, ...],
             as_json: bool, out: Path | None, quiet: bool) -> None:
    """Simulate a scenario: KPIs per queue and pool with 95% intervals over replications.

    \b
    Example:  annoplan simulate scenarios/quickstart.yaml -r 5 --set pools.dublin.headcount=14
    """
    scenario = load_scenario(file, with_seed(overrides, seed))
    update, stop = _progress(replications, quiet)
    try:
        result = run_simulation(scenario, replications, jobs or default_jobs(), progress=update)
    finally:
        stop()
    summary = result.summary()
    if out is not None:
        write_simulation(result, out, VERSION)
    if as_json:
        click.echo(to_json(summary))
    else:
        print_tables(summary)
        if out is not None:
            _err.print(f"wrote {out}/ (summary.json, kpis.parquet, timeseries.parquet, scenario.resolved.yaml)")


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--trials", type=click.IntRange(min=1), default=None, help="Trial budget [default: the scenario's].")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Trials evaluated at once, in processes [default: all cores].")
@click.option("--storage", default=None, metavar="URL",
              help="Optuna storage URL [default: sqlite in --out, so a rerun resumes; in memory without --out].")
@click.option("--study", "study_name", default=None, help="Study name [default: the scenario's name].")
@click.option("--heartbeat", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds between a worker's heartbeats; a trial silent for twice this is rerun.")
@scenario_options
@output_options("summary.json, trials.parquet, plan.csv, plan.xlsx, study.db and (list objective) pareto.parquet")
@clean_errors
def optimize(file: Path, trials: int | None, jobs: int | None, storage: str | None, study_name: str | None,
             heartbeat: float, seed: int | None, overrides: tuple[str, ...], as_json: bool, out: Path | None, quiet: bool) -> None:
    """Find the cheapest plan that meets every SLA and quality target (exit 1 if none does).

    \b
    Example:  annoplan optimize scenarios/quickstart_optimize.yaml --out runs/q1
    """
    own_storage = storage is None
    if own_storage and out is not None:
        out.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{(out / 'study.db').resolve()}"
    show = not quiet and sys.stderr.isatty()
    started, first = time.monotonic(), [None]

    def progress(done: int, total: int, best: float | None) -> None:
        if not show:
            return
        if first[0] is None:
            first[0] = done - 1  # trials finished before this run (a resumed study) do not count for speed
        pace = (time.monotonic() - started) / max(1, done - first[0])
        left = max(0, total - done) * pace
        best_text = f"{best:,.0f}" if best is not None else "none yet"
        _err.print(f"trials {done}/{total}, cheapest feasible {best_text}, about {left / 60:.1f} min left   ",
                   end="\r")

    result = run_optimize(file, with_seed(overrides, seed), trials=trials, jobs=jobs, storage=storage,
                          study_name=study_name, progress=progress, reclaim_running=own_storage,
                          heartbeat=heartbeat)
    summary = result.summary()
    if out is not None:
        reps = int(result.scenario_raw.get("optimize", {}).get("replications", 3))
        plan = plan_table(result.scenario_raw, result.params, reps)
        atomic_write(out / "summary.json", lambda p: p.write_text(to_json(summary) + "\n", encoding="utf-8"))
        atomic_write(out / "trials.parquet", lambda p: result.trials.to_parquet(p, index=False))
        atomic_write(out / "plan.csv", lambda p: plan.to_csv(p, index=False))
        atomic_write(out / "plan.xlsx", lambda p: write_workbook(p, plan, summary, result.scenario_raw))
        if result.pareto is not None:
            atomic_write(out / "pareto.parquet", lambda p: result.pareto.to_parquet(p, index=False))
    if as_json:
        click.echo(to_json(summary))
    else:
        state = "feasible plan" if result.feasible else "NO feasible plan"
        click.echo(f"{state}: " + ", ".join(f"{k} = {v}" for k, v in result.params.items()))
        click.echo("objective: " + ", ".join(f"{k} {v:,.2f}" for k, v in result.objective.items()))
        print_tables(summary["kpis"])
    info = result.search
    _err.print(f"{info['trials']} trials, {info['simulations_run']} replications run; the analytic screen ruled "
               f"out {info['screened']} trials ({info['simulations_saved_by_screen']} replications saved), the "
               f"sequential rule stopped {info['pruned']} early ({info['simulations_saved_by_pruning']} saved)")
    if result.pareto is not None:
        _err.print(f"Pareto front: {len(result.pareto)} feasible plans that no other beats on every objective")
    if result.verification is not None:
        v = result.verification
        _err.print(f"verified on {v['replications']} fresh replications ({v['candidates_checked']} candidate(s) "
                   f"checked): confidence {v['confidence']:.1%} that every target is met")
    if not result.feasible:
        name, margin = result.closest  # type: ignore[misc]
        how = " with 95% confidence" if result.verification is not None else ""
        click.echo(f"no plan met every constraint{how}; the closest missed {name} by {-margin:.4g}", err=True)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
