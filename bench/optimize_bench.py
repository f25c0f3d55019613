"""Optimisation benchmark: the Trust & Safety quarter from several seeds, structured search against TPE.

    python bench/optimize_bench.py                      # seeds 2027, 7, 11; TPE baseline on the first
    python bench/optimize_bench.py --seeds 1 2 --no-baseline

Each run is `annoplan optimize scenarios/trust_safety_q1.yaml --jobs 2 --set seed=S` in a child process,
interleaved with the baseline (`optimize.strategy=tpe`, the sampler the structured search replaced) so
that both see the same machine load. Prints per run: wall time to a verified plan (search and
verification), trials, replications run, the verified plan's cost, the analytic lower bound and the
gap to it, and whether the certificate of local optimality holds; then, over the structured runs, the
median and spread of wall time and cost, the spread between seeds ((max - min) / min) and each run's
gap to the cheapest plan any run found.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "trust_safety_q1.yaml"


def run(label: str, seed: int, extra: list[str], jobs: int) -> dict:
    """One optimisation in a child process; its wall time and the figures from summary.json."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "cli.py"), "optimize", str(SCENARIO), "--jobs", str(jobs), "--out", out,
                   "-q", "--json", "--set", f"seed={seed}", *extra]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - started
        if done.returncode not in (0, 1):
            sys.exit(f"{label}: exit {done.returncode}\n{done.stderr}")
        summary = json.loads(done.stdout)
    search = summary["search"]
    certificate = search.get("certificate") or {}
    return {"run": label, "seed": seed, "wall_s": round(wall, 1), "feasible": summary["feasible"],
            "cost": round(summary["objective"]["cost"]), "trials": search["trials"],
            "replications_run": search["simulations_run"], "lower_bound": round(search.get("lower_bound") or 0),
            "gap_to_bound_pct": round(100 * (search.get("gap") or 0), 1),
            "local_optimum": certificate.get("local_optimum"), "params": summary["params"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2027, 7, 11])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true", help="skip the TPE baseline run")
    args = parser.parse_args()
    rows, baseline = [], None
    for i, seed in enumerate(args.seeds):
        row = run("structured", seed, [], args.jobs)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if i == 0 and not args.no_baseline:  # interleaved: between the first and second structured runs
            baseline = run("tpe", seed, ["--set", "optimize.strategy=tpe"], args.jobs)
            print(json.dumps(baseline), flush=True)
    feasible = [r for r in rows if r["feasible"]]
    walls = [r["wall_s"] for r in rows]
    print(f"wall time: median {statistics.median(walls):.0f} s, range {min(walls):.0f}-{max(walls):.0f} s")
    if feasible:
        costs = [r["cost"] for r in feasible]
        best = min(costs)
        print(f"cost: median {statistics.median(costs):,.0f}, spread between seeds {100 * (max(costs) - best) / best:.2f}%")
        for r in feasible:
            print(f"  seed {r['seed']}: {r['cost']:,} = best + {100 * (r['cost'] - best) / best:.2f}%, "
                  f"lower bound {r['lower_bound']:,} (gap {r['gap_to_bound_pct']}%), certificate {r['local_optimum']}")
    if baseline is not None and rows:
        first = rows[0]
        print(f"TPE baseline, seed {baseline['seed']}: cost {baseline['cost']:,} "
              f"({100 * (baseline['cost'] - first['cost']) / first['cost']:+.1f}% against structured), "
              f"wall time ratio structured / TPE {first['wall_s'] / baseline['wall_s']:.2f}")


if __name__ == "__main__":
    main()
