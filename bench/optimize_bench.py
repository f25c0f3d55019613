"""Optimisation benchmark: wall time to a verified plan on the shipped Trust & Safety quarter.

    python bench/optimize_bench.py                # the scenario's own budget (40 trials x 3 replications)
    python bench/optimize_bench.py --trials 16    # a shorter run

Runs `annoplan optimize scenarios/trust_safety_q1.yaml --jobs 2` twice on the same trial budget:
once as shipped (analytic screen, square-root warm start, sequential early stop) and once with
`optimize.screen=false` and `optimize.prune=false`. Prints, for each: wall time to the verified plan
(search and verification), replications run, trials the screen ruled out and the replications that
saved, trials stopped early and the replications that saved, and the plan's cost and feasibility; then
the wall-time ratio (with / without). Both runs happen in this invocation, so the ratio is not skewed
by the machine's speed that day.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "trust_safety_q1.yaml"


def run(label: str, extra: list[str], trials: int | None, jobs: int) -> dict:
    """One optimisation in a child process; its wall time and the search figures from summary.json."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "cli.py"), "optimize", str(SCENARIO), "--jobs", str(jobs), "--out", out,
                   "-q", "--json", *extra]
        if trials is not None:
            command += ["--trials", str(trials)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - started
        if done.returncode not in (0, 1):
            sys.exit(f"{label}: exit {done.returncode}\n{done.stderr}")
        summary = json.loads(done.stdout)
    search, verification = summary["search"], summary["verification"] or {}
    return {"run": label, "wall_s": round(wall, 1), "feasible": summary["feasible"],
            "cost": round(summary["objective"]["cost"]), "trials": search["trials"],
            "replications_run": search["simulations_run"],
            "verification_replications": verification.get("replications", 0) * verification.get("candidates_checked", 0),
            "screened": search["screened"], "saved_by_screen": search["simulations_saved_by_screen"],
            "pruned": search["pruned"], "saved_by_pruning": search["simulations_saved_by_pruning"],
            "params": summary["params"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=None, help="trial budget (default: the scenario's)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for label, extra in (("screen + pruning", []),
                         ("neither", ["--set", "optimize.screen=false", "--set", "optimize.prune=false"])):
        row = run(label, extra, args.trials, args.jobs)
        params = row.pop("params")
        print(json.dumps(row), flush=True)
        print("   plan:", json.dumps(params), flush=True)
        rows.append(row)
    with_help, without = rows
    print(f"wall time ratio (screen + pruning / neither): {with_help['wall_s'] / without['wall_s']:.2f}")


if __name__ == "__main__":
    main()
