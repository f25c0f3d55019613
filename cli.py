"""annoplan's command line: parse, call the library, format. No model logic lives here."""

from __future__ import annotations

import functools
import json
import math
import os
import signal
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click

EXIT_INFEASIBLE, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 130
MAX_REPLICATIONS = 1000  # the 95% intervals stop narrowing long before; more is a typo
MAX_SWEEP_POINTS = 10_000

# The commands import what they run (pandas, SimPy, Optuna, matplotlib) inside their bodies, so that
# --help, validate and schema start without loading any of it.



@functools.cache
def annoplan_version() -> str:
    """The installed package's version, stamped into every output folder (read on demand: it costs 30 ms)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("annoplan")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


@functools.cache
def _err() -> Any:
    """The stderr console (rich loads on first use: --help and validate never print through it)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def clean_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn AnnoplanError into a message on stderr and exit code 2: a user never sees a traceback."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            from simulator.scenario import AnnoplanError, ScenarioError  # not at the top: --help loads no scenario code

            if isinstance(exc, ScenarioError):
                for problem in exc.problems:
                    click.echo(f"error: {problem}", err=True)
            elif isinstance(exc, AnnoplanError):
                click.echo(f"error: {exc}", err=True)
            else:
                raise
            raise SystemExit(EXIT_INPUT) from None
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
        command = click.option("--yes", "-y", is_flag=True,
                               help="Run a long run without asking (scripts; see the size check).")(command)
        command = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                               help=f"Write {files} here.")(command)
        return click.option("--json", "as_json", is_flag=True,
                            help="Print one JSON object on stdout and nothing else.")(command)
    return apply


def with_seed(overrides: tuple[str, ...], seed: int | None) -> tuple[str, ...]:
    """The overrides with --seed added as one more (so it is validated like any field)."""
    return overrides + ((f"seed={seed}",) if seed is not None else ())


def _interrupted(signum: int, frame: Any) -> None:
    """Ctrl-C: one line and exit 130 at once; queued replications are dropped and worker processes,
    which ignore SIGINT, exit when they see this process gone (simulator.processes)."""
    sys.stderr.write("annoplan: interrupted\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


class Guarded(click.Group):
    """The command group with the last line of defence: an error annoplan did not foresee becomes a
    short message with a bug-report hint and exit code 3, never a traceback (ANNOPLAN_DEBUG=1 shows it)."""

    def invoke(self, ctx: click.Context) -> Any:
        signal.signal(signal.SIGINT, _interrupted)
        try:
            return self._invoke(ctx)
        finally:
            if "simulator.outputs.files" in sys.modules:  # a command claimed its --out folder
                sys.modules["simulator.outputs.files"].release_folders()

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            _interrupted(signal.SIGINT, None)
        except MemoryError:
            click.echo("error: the run needs more memory than this machine has; shorten the horizon, lower "
                       "volumes or replications", err=True)
            raise SystemExit(EXIT_INPUT) from None
        except Exception as exc:
            if os.environ.get("ANNOPLAN_DEBUG"):
                raise
            click.echo(f"annoplan: internal error: {type(exc).__name__}: {exc}\n"
                       "This is a bug in annoplan. Please report it with the command, the scenario file and "
                       "the traceback that ANNOPLAN_DEBUG=1 prints.", err=True)
            raise SystemExit(EXIT_INTERNAL) from None


@click.group(cls=Guarded, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="annoplan", prog_name="annoplan")
def main() -> None:
    """Capacity planning for annotation, content-review and rating teams.

    \b
    Start with:  annoplan simulate scenarios/quickstart.yaml
    Exit codes:  0 done, 1 no feasible plan (optimize), 2 bad input, 3 internal error, 130 interrupted
    """


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a field before checking.")
def validate(files: tuple[Path, ...], overrides: tuple[str, ...]) -> None:
    """Check scenario files; every problem is reported with file, line and field.

    \b
    Example:  annoplan validate scenarios/*.yaml
    """
    from simulator.scenario import ScenarioError, load_scenario

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
        raise SystemExit(EXIT_INPUT)


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor autocompletion).

    \b
    Example:  annoplan schema > annoplan.schema.json
    """
    from simulator.scenario import Scenario

    click.echo(json.dumps(Scenario.model_json_schema(), indent=2))


def run_options(default: int, minimum: int, what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """-r/--replications (`what` they are) and --jobs, for the commands that run replications in processes."""
    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
                               help="Worker processes [default: 1 for a short run, else all cores]. Results do not depend on it.")(command)
        return click.option("-r", "--replications", type=click.IntRange(minimum, MAX_REPLICATIONS), default=default,
                            show_default=True, help=what)(command)
    return apply


def with_progress(total: int, quiet: bool, run: Callable[[Callable[[int], None]], Any]) -> Any:
    """`run(update)` with a replication progress bar for `total` runs (see _progress)."""
    update, stop = _progress(total, quiet)
    try:
        return run(update)
    finally:
        stop()


def emit(summary: dict[str, Any], as_json: bool, out: Path | None, show: Callable[[dict[str, Any]], None]) -> None:
    """The JSON object on stdout, or the readable tables and where the files went."""
    from simulator.outputs.files import to_json

    if as_json:
        click.echo(to_json(summary))
        return
    show(summary)
    if out is not None:
        _err().print(f"wrote {out}/; `annoplan report {out}` turns it into a page")


def _progress(total: int, quiet: bool) -> tuple[Callable[[int], None], Callable[[], None]]:
    """A replication progress bar on stderr, shown only on a terminal and after 2 s, off with --quiet."""
    if quiet or not sys.stderr.isatty():
        return (lambda done: None), (lambda: None)
    started = time.monotonic()
    bar: dict[str, Any] = {}

    def update(done: int) -> None:
        if "progress" not in bar and time.monotonic() - started > 2.0 and done < total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bar["progress"] = Progress(TextColumn("replications"), BarColumn(), MofNCompleteColumn(),
                                       TimeElapsedColumn(), console=_err(), transient=True)
            bar["progress"].start()
            bar["task"] = bar["progress"].add_task("run", total=total)
        if "progress" in bar:
            bar["progress"].update(bar["task"], completed=done)

    def stop() -> None:
        if "progress" in bar:
            bar["progress"].stop()
    return update, stop


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@run_options(3, 1, "Independent replications (for the 95% intervals).")
@scenario_options
@output_options("summary.json, kpis.parquet, timeseries.parquet, weekly.parquet, kpis.xlsx and "
                "scenario.resolved.yaml")
@click.option("--events", is_flag=True, help="Also write events.parquet to --out: every task of every replication "
                                             "in the task-log format (README, \"Task logs\").")
@clean_errors
def simulate(file: Path, replications: int, jobs: int | None, seed: int | None, overrides: tuple[str, ...],
             as_json: bool, out: Path | None, quiet: bool, yes: bool, events: bool) -> None:
    """Simulate a scenario: KPIs per queue and pool with 95% intervals over replications.

    \b
    Example:  annoplan simulate scenarios/quickstart.yaml -r 5 --set pools.dublin.headcount=14
    """
    from simulator.outputs.files import write_simulation
    from simulator.outputs.terminal import print_tables, queue_targets
    from simulator.scenario import load_scenario
    from simulator.simulation import simulate as run_simulation

    if events and out is None:
        raise click.UsageError("--events writes events.parquet into --out: give --out DIR too")
    scenario = load_scenario(file, with_seed(overrides, seed))
    preflight(file, [scenario], replications, jobs, yes, out)
    parts = out / ".events-parts" if events and out is not None else None
    try:
        if parts is not None:
            parts.mkdir(exist_ok=True)
        result = with_progress(replications, quiet, lambda update: run_simulation(
            scenario, replications, jobs, progress=update, events=parts))
        if out is not None:
            logs = [parts / f"{k}.parquet" for k in range(replications)] if parts is not None else None
            write_simulation(result, out, annoplan_version(), logs)
    finally:
        if parts is not None:
            shutil.rmtree(parts, ignore_errors=True)
    emit(result.summary(), as_json, out, lambda summary: print_tables(summary, queue_targets(scenario)))


def preflight(file: Path, scenarios: list[Any], runs: int, jobs: int | None, yes: bool, out: Path | None) -> None:
    """Before computing anything: the --out folder is writable, the run fits in memory (else exit 2,
    naming the field), and a run estimated over 10 minutes is announced (on a terminal: confirmed)."""
    from simulator.outputs.files import claim_folder
    from simulator.replications import default_jobs
    from simulator.run_size import LONG_SECONDS, estimate, refuse_if_too_big
    from simulator.scenario import AnnoplanError

    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / f".annoplan-write-check-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise AnnoplanError(f"--out {out}: cannot write there ({exc.strerror or exc}); choose another "
                                "folder") from None
        claim_folder(out)
    sizes = [estimate(scenario, runs, jobs or default_jobs()) for scenario in scenarios]
    for size in sizes:
        refuse_if_too_big(size, str(file))
    seconds = sum(size.seconds for size in sizes)
    if seconds <= LONG_SECONDS or yes:
        return
    items = sum(size.items for size in sizes)
    note = f"this run is about {items:,.0f} items: roughly {seconds / 60:.0f} min on {sizes[0].processes} process(es)"
    if sys.stdin.isatty() and sys.stderr.isatty():
        if not click.confirm(f"{note}. Run it?", default=True, err=True):
            click.echo("not run", err=True)
            raise SystemExit(EXIT_INTERRUPTED)
    else:
        _err().print(f"note: {note} (--yes hides this note)")


def _seconds(value: str | None) -> float | None:
    """--time as seconds: a duration with a unit (90s, 10m, 1h) or bare hours."""
    if value is None:
        return None
    from simulator.scenario.durations import parse_duration

    try:
        hours = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not 0 < hours <= 24 * 365:
        raise click.BadParameter(f"expected a positive duration up to a year, got {value!r}")
    return hours * 3600.0


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--trials", type=click.IntRange(min=1), default=None, help="Trial budget [default: the scenario's].")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Trials evaluated at once, in processes [default: all cores].")
@click.option("--storage", default=None, metavar="URL",
              help="Optuna storage URL [default: sqlite in --out, so a rerun resumes; in memory without --out].")
@click.option("--study", "study_name", default=None, help="Study name [default: the scenario's name].")
@click.option("--time", "time_limit", default=None, metavar="DURATION", callback=lambda ctx, param, value: _seconds(value),
              help="Stop proposing trials and polish steps after this long (e.g. 10m, 1h; a bare number is hours), then verify.")
@click.option("--heartbeat", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds between a worker's heartbeats; a trial silent for twice this is rerun.")
@scenario_options
@output_options("summary.json, trials.parquet, plan.csv, plan.xlsx, scenario.resolved.yaml (the plan), study.db "
                "and (list objective) pareto.parquet")
@clean_errors
def optimize(file: Path, trials: int | None, jobs: int | None, storage: str | None, study_name: str | None,
             time_limit: float | None, heartbeat: float, seed: int | None, overrides: tuple[str, ...], as_json: bool,
             out: Path | None, quiet: bool, yes: bool) -> None:
    """Find the cheapest plan that meets every SLA and quality target (exit 1 if none does).

    \b
    Example:  annoplan optimize scenarios/quickstart_optimize.yaml --out runs/q1
    """
    from optimize import optimize as run_optimize
    from optimize.output import miss_line, plan_lines, search_lines, write_optimization
    from simulator.outputs.files import to_json
    from simulator.outputs.terminal import print_tables, queue_targets
    from simulator.scenario import load_scenario, validate_data

    scenario = load_scenario(file, with_seed(overrides, seed))
    spec = scenario.optimize  # runs: the budget's replications and verification's (about 4 x a trial's)
    runs = (trials or spec.trials) * spec.replications + 4 * spec.replications if spec is not None else 0
    preflight(file, [scenario], runs, jobs, yes, out)
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
        _err().print(f"trials {done}/{total}, cheapest feasible {best_text}, about {left / 60:.1f} min left   ",
                   end="\r")

    result = run_optimize(file, with_seed(overrides, seed), trials=trials, jobs=jobs, storage=storage,
                          study_name=study_name, progress=progress, reclaim_running=own_storage,
                          heartbeat=heartbeat, time_limit=time_limit)
    if out is not None:
        write_optimization(result, out, str(file), annoplan_version())
    if as_json:
        click.echo(to_json(result.summary()))
    else:
        for line in plan_lines(result):
            click.echo(line)
        if result.kpis:  # none when the analytic screen ruled out every trial
            print_tables(result.kpis, queue_targets(validate_data(result.scenario_raw, {}, str(file))))
    for line in search_lines(result):
        _err().print(line)
    if not result.feasible:
        click.echo(miss_line(result), err=True)
        raise SystemExit(EXIT_INFEASIBLE)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--variant", "variants", multiple=True, metavar="PATH=VALUE[;PATH=VALUE...]",
              help="Also run the first file with these overrides (repeatable; ';' separates several).")
@run_options(5, 2, "Replications per scenario (the same ones for every scenario).")
@scenario_options
@output_options("summary.json, kpis.parquet, differences.parquet, weekly.parquet, kpis.xlsx and "
                "scenarios.resolved.yaml")
@clean_errors
def compare(files: tuple[Path, ...], variants: tuple[str, ...], replications: int, jobs: int | None,
            seed: int | None, overrides: tuple[str, ...], as_json: bool, out: Path | None, quiet: bool,
            yes: bool) -> None:
    """What-if: KPIs side by side, and paired differences against the first scenario.

    Every scenario runs on the first one's seed (or --seed) and the same replications, so shared
    randomness cancels in the differences (common random numbers). --set applies to all of them.

    \b
    Examples:  annoplan compare scenarios/quickstart.yaml scenarios/other.yaml
               annoplan compare scenarios/quickstart.yaml --variant pools.dublin.headcount=14
    """
    from simulator.compare import compare as run_compare
    from simulator.compare import load_variants
    from simulator.outputs.files import write_comparison
    from simulator.outputs.terminal import print_comparison

    scenarios, labels = load_variants(files, variants, with_seed(overrides, seed))
    preflight(files[0], scenarios, replications, jobs, yes, out)
    comparison = with_progress(replications * len(scenarios), quiet, lambda update: run_compare(
        scenarios, labels, replications, jobs, progress=update))
    if out is not None:
        write_comparison(comparison, out, annoplan_version())
    emit(comparison.summary(), as_json, out, print_comparison)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--vary", "varies", multiple=True, required=True, metavar="PATH=LOW:HIGH:STEP",
              help="A field and its grid, e.g. pools.dublin.headcount=10:20:2 (repeatable: the grid is the product).")
@run_options(3, 1, "Replications per point (the same ones at every point).")
@scenario_options
@output_options("summary.json, sweep.parquet, sweep.csv and scenario.resolved.yaml")
@clean_errors
def sweep(file: Path, varies: tuple[str, ...], replications: int, jobs: int | None, seed: int | None,
          overrides: tuple[str, ...], as_json: bool, out: Path | None, quiet: bool, yes: bool) -> None:
    """A grid of what-ifs: where does the SLA break, and which point is cheapest meeting every target?

    \b
    Example:  annoplan sweep scenarios/quickstart.yaml --vary pools.dublin.headcount=8:14:1
    """
    from simulator.outputs.files import write_sweep
    from simulator.outputs.terminal import print_sweep
    from simulator.sweep import parse_vary
    from simulator.sweep import sweep as run_sweep

    from simulator.scenario import load_scenario

    parsed = [parse_vary(text) for text in varies]
    points = 1
    for v in parsed:
        points *= len(v.values)
    if points > MAX_SWEEP_POINTS:
        raise click.BadParameter(f"the grid has {points:,} points; at most {MAX_SWEEP_POINTS:,}", param_hint="--vary")
    preflight(file, [load_scenario(file, with_seed(overrides, seed))], points * replications, jobs, yes, out)
    result = with_progress(points * replications, quiet, lambda update: run_sweep(
        file, parsed, with_seed(overrides, seed), replications, jobs, progress=update))
    if out is not None:
        write_sweep(result, out, annoplan_version())
    emit(result.summary(), as_json, out, print_sweep)


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the page [default: FOLDER/report.html].")
@clean_errors
def report(folder: Path, output: Path | None) -> None:
    """Turn the --out folder of simulate, compare, sweep or optimize into one offline HTML page.

    \b
    Example:  annoplan simulate scenarios/quickstart.yaml --out runs/base && annoplan report runs/base
    """
    from simulator.outputs.report import write_report

    path = write_report(folder, output)
    click.echo(str(path))


@main.command()
@click.argument("log", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--base", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Scenario whose fields the log cannot tell (SLAs, shifts, costs) the result keeps.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The calibrated scenario (YAML) to write.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write summary.json and calibration.parquet (fitted against observed) here, for "
                   "`annoplan report`.")
@click.option("--schedule", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Rostered shifts (worker_id, pool, start, end): fit each pool's shrinkage too.")
@clean_errors
def calibrate(log: Path, base: Path | None, output: Path, out: Path | None, schedule: Path | None) -> None:
    """Fit a scenario to a task log: volumes, profiles, growth, handling times, speeds, accuracies,
    review and escalation rates, each with its evidence as a YAML comment.

    \b
    Example:  annoplan calibrate tasks.parquet --base scenarios/quickstart.yaml -o calibrated.yaml
    """
    from simulator.history.calibrate import calibrate as fit
    from simulator.outputs.files import atomic_write
    from simulator.scenario import load_scenario
    from simulator.scenario.loader import load_raw
    from simulator.scenario.task_log import read_task_log

    raw = load_raw(base)[0] if base is not None else None
    if base is not None:
        load_scenario(base)  # a broken base exits 2 here, naming its own lines
    task_log = read_task_log(log)
    if schedule is not None:
        from simulator.history.shrinkage import read_schedule

        result = fit(task_log, raw, read_schedule(schedule))
    else:
        result = fit(task_log, raw)
    header = (f"# calibrated by annoplan {annoplan_version()} from {log}"
              f"{f' on {base}' if base is not None else ''}; evidence (n, 95% CI) above each fitted field\n")
    text = result.yaml(header)
    from simulator.scenario.loader import validate_data

    validate_data(yaml_data(text), {}, str(output))
    atomic_write(output, lambda p: p.write_text(text, encoding="utf-8"))
    if out is not None:
        from simulator.outputs.files import claim_folder, to_json, write_all

        out.mkdir(parents=True, exist_ok=True)
        claim_folder(out)
        summary = {"log": str(log), "base": None if base is None else str(base), "scenario": str(output),
                   "defects": task_log.defect_lines(), "notes": result.notes}
        view = result.view_table()
        write_all(out, {"summary.json": lambda p: p.write_text(to_json(summary) + "\n", encoding="utf-8"),
                        "calibration.parquet": lambda p: view.to_parquet(p, index=False)})
    for line in task_log.defect_lines() + result.notes:
        click.echo(f"note: {line}", err=True)
    click.echo(f"wrote {output}")


@main.command()
@click.argument("log", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--horizon", "length", default="13w", show_default=True,
              help="How far to forecast past the log's last whole day (e.g. 13w, 90d).")
@click.option("--base", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Scenario giving each queue's time zone (days are counted in it) [default: UTC].")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for QUEUE.csv (start, volume, lo80, hi80, lo95, hi95) and summary.json.")
@clean_errors
def forecast(log: Path, length: str, base: Path | None, output: Path) -> None:
    """Forecast each queue's daily volume with trend and weekly seasonality (ETS), with 80% and 95%
    intervals, and its error (WAPE) on the log's held-out final weeks.

    \b
    Example:  annoplan forecast tasks.parquet --horizon 13w -o forecasts/
              then in the scenario:  volume: {file: forecasts/hate_en.csv}
    """
    from simulator.history.forecast import daily_counts, forecast_queue
    from simulator.outputs.files import claim_folder, to_json, write_all
    from simulator.scenario import AnnoplanError, load_scenario
    from simulator.scenario.durations import parse_duration
    from simulator.scenario.task_log import read_task_log

    try:
        days = math.ceil(parse_duration(length) / 24)
    except ValueError as exc:
        raise AnnoplanError(f"--horizon {length}: {exc}") from None
    if not 1 <= days <= 3660:
        raise AnnoplanError(f"--horizon {length}: give 1 day to 10 years")
    zones = {q: spec.timezone for q, spec in load_scenario(base).queues.items()} if base is not None else {}
    tasks = read_task_log(log)
    items = tasks.history().drop_duplicates("item_id")
    results = [forecast_queue(str(q), daily_counts(created, zones.get(str(q), "UTC")), days)
               for q, created in items.groupby("queue", observed=True)["created_at"]]
    output.mkdir(parents=True, exist_ok=True)
    claim_folder(output)
    summary = {"log": str(log), "days": days, "queues": {
        r.queue: {"model": r.model, "wape": r.wape, "held_out_days": r.held_out_days, "interval_widening": r.widen,
                  "file": f"{r.queue}.csv",
                  "total": float(r.table["volume"].sum())} for r in results}}
    files = {f"{r.queue}.csv": (lambda p, t=r.table: t.to_csv(p, index=False)) for r in results}
    files["summary.json"] = lambda p: p.write_text(to_json(summary) + "\n", encoding="utf-8")
    write_all(output, files)
    for line in tasks.defect_lines():
        click.echo(f"note: {line}", err=True)
    for r in results:
        error = (f"WAPE {r.wape:.1%} on the last {r.held_out_days // 7} week(s) held out" if r.wape is not None
                 else "too short to hold weeks out")
        click.echo(f"{r.queue}: {r.model}; {error}; {days} days forecast, {r.table['volume'].sum():,.0f} items "
                   f"-> {output / (r.queue + '.csv')}")


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("log", type=click.Path(dir_okay=False, path_type=Path))
@run_options(3, 2, "Simulated replications of the log's arrivals (two or more measure the noise).")
@scenario_options
@output_options("summary.json, backtest.parquet (weekly figures, actual and simulated) and scenario.resolved.yaml")
@clean_errors
def backtest(file: Path, log: Path, replications: int, jobs: int | None, seed: int | None,
             overrides: tuple[str, ...], as_json: bool, out: Path | None, quiet: bool, yes: bool) -> None:
    """Replay a task log's arrivals through a scenario and compare simulated and actual history week by
    week: items delivered, TAT p50 and p90, SLA attainment, backlog and utilisation (exit 1 if any
    figure is off by more than the noise between replications).

    \b
    Example:  annoplan backtest calibrated.yaml tasks.parquet --out runs/backtest
    """
    from simulator.history.backtest import backtest as run_backtest, replay_scenario
    from simulator.outputs.files import resolved_yaml, to_json, write_all
    from simulator.scenario import load_scenario
    from simulator.scenario.loader import load_raw

    scenario = load_scenario(file, with_seed(overrides, seed))  # a broken scenario exits 2 here, naming its lines
    raw = load_raw(file, with_seed(overrides, seed))[0]
    preflight(file, [scenario], replications, jobs, yes, out)
    result = run_backtest(raw, log, replications, jobs, str(file))
    summary = result.summary()
    if out is not None:
        replayed = replay_scenario(raw, log, sorted({str(e) for e in result.weekly.query("metric == 'delivered'")
                                                     ["entity"]}), str(file))
        write_all(out, {"summary.json": lambda p: p.write_text(to_json(summary) + "\n", encoding="utf-8"),
                        "backtest.parquet": lambda p: result.weekly.to_parquet(p, index=False),
                        "scenario.resolved.yaml": lambda p: p.write_text(resolved_yaml(replayed, annoplan_version()),
                                                                         encoding="utf-8")})
    if as_json:
        click.echo(to_json(summary))
    else:
        click.echo(f"{'entity':<22}{'metric':<16}{'actual':>12}{'simulated':>12}{'error':>9}{'noise':>9}")
        for row in result.errors.itertuples():
            mark = "  FLAGGED" if row.flagged else ""
            click.echo(f"{row.entity:<22}{row.metric:<16}{row.actual:>12,.3f}{row.simulated:>12,.3f}"
                       f"{row.error:>9.3f}{row.noise:>9.3f}{mark}")
    if summary["flagged"]:
        click.echo(f"the model does not reproduce: {', '.join(summary['flagged'])} (error over twice the noise "
                   "between replications plus a floor)", err=True)
        raise SystemExit(EXIT_INFEASIBLE)


def yaml_data(text: str) -> Any:
    """YAML text as data (the calibrated scenario is checked before it is written)."""
    import yaml

    return yaml.safe_load(text)


if __name__ == "__main__":
    main()
