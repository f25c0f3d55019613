"""Optimisation benchmark: the Trust & Safety quarter from several seeds, structured search against TPE.

    python bench/optimize_bench.py                      # seeds 2027, 7, 11; TPE baseline on the first
    python bench/optimize_bench.py --seeds 1 2 --no-baseline
    python bench/optimize_bench.py --rosters --seeds 2027      # rosters for the review sites and policy team
    python bench/optimize_bench.py --rosters --no-headcount --trials 80   # the roster search alone, 80 trials
    python bench/optimize_bench.py --time 4m --no-baseline     # what a 4-minute search budget buys
    python bench/optimize_bench.py --rosters --no-headcount --trials 80 --polish 20 --seeds 11  # and 20 polish steps
    python bench/optimize_bench.py --verify-max 24 --no-baseline  # a short second look (at most 24 fresh replications)

Each run is `annoplan optimize scenarios/trust_safety_q1.yaml --jobs 2 --set seed=S` in a child process,
interleaved with the baseline (`optimize.strategy=tpe`, the sampler the structured search replaced) so
that both see the same machine load. Prints per run: wall time to a verified plan (search and
verification), trials, replications run, the verified plan's cost, the analytic lower bound and the
gap to it, whether the certificate of local optimality holds and how verification ended (candidates
checked, rounds of bias correction or raising) and the undecided steps down (verify.settle: every mean
inside its target, the bound not, with the replications that would decide them); then, over the structured runs, the
median and spread of wall time and cost, the spread between seeds ((max - min) / min) and each run's
gap to the cheapest plan any run found.

With --rosters, each seed runs twice, interleaved: the shipped head-count-only search, then the same
quarter with `optimize.rosters` for the four review sites and the policy team (ROSTERS below: their
head-count and shift variables give way to candidate patterns). Prints the roster plan's cost against the
head-count-only plan's, and both wall times.
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


# Candidate patterns in each site's time zone: in-house 9-hour shifts starting every 2 h from 06:00,
# weekdays, weekends or daily, at most 6 patterns a site; the vendor 8-hour daily shifts every 4 h; the
# policy team 9-hour shifts from 08:00, 10:00 or 12:00, at most 3 patterns (its head-count variable had it on
# a fixed 70:30 weekday:weekend split, so its weekend cover, and with it the exposure cap, came in steps).
IN_HOUSE = {"starts": ["06:00", "08:00", "10:00", "12:00", "14:00", "16:00"], "lengths": ["9h"],
            "days": ["Mon-Fri", "Sat-Sun", "daily"], "max_patterns": 6}
POLICY = {"starts": ["08:00", "10:00", "12:00"], "lengths": ["9h"], "days": ["Mon-Fri", "Sat-Sun", "daily"],
          "max_patterns": 3}
ROSTERS = {"sg_inhouse": IN_HOUSE, "dublin_inhouse": IN_HOUSE, "austin_inhouse": IN_HOUSE,
           "manila_vendor": {"every": "4h", "lengths": ["8h"], "days": ["daily"]}, "policy_dublin": POLICY}


def roster_scenario(folder: Path) -> Path:
    """The shipped quarter with ROSTERS in place of the review sites' head-count and shift variables."""
    import yaml

    data = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    variables = data["optimize"]["variables"]
    for path in [p for p in variables if p.split(".")[1] in ROSTERS and p.split(".")[2] in ("headcount", "shifts")]:
        del variables[path]
    data["optimize"]["rosters"] = ROSTERS
    path = folder / "trust_safety_q1_rosters.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


KEEP: Path | None = None  # --keep: each run's output folder (study, summary) stays here for inspection


def run(label: str, seed: int, extra: list[str], jobs: int, scenario: Path = SCENARIO) -> dict:
    """One optimisation in a child process; its wall time and the figures from summary.json."""
    with tempfile.TemporaryDirectory() as scratch:
        out = str(KEEP / f"{label}-{seed}") if KEEP else scratch
        command = [sys.executable, str(ROOT / "cli.py"), "optimize", str(scenario), "--jobs", str(jobs), "--out", out,
                   "-q", "--json", "--set", f"seed={seed}", *extra]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - started
        if done.returncode not in (0, 1):
            sys.exit(f"{label}: exit {done.returncode}\n{done.stderr}")
        summary = json.loads(done.stdout)
    search = summary["search"]
    certificate = search.get("certificate") or {}
    verification = summary.get("verification") or {}
    return {"run": label, "seed": seed, "wall_s": round(wall, 1), "feasible": summary["feasible"],
            "cost": round(summary["objective"]["cost"]), "trials": search["trials"],
            "replications_run": search["simulations_run"], "lower_bound": round(search.get("lower_bound") or 0),
            "gap_to_bound_pct": round(100 * (search.get("gap") or 0), 1),
            "local_optimum": certificate.get("local_optimum"),
            "verification": {k: verification.get(k) for k in ("candidates_checked", "corrected_after_verification",
                                                              "raised_after_verification", "polish_checked",
                                                              "polished_steps", "confidence", "replications")},
            "undecided": [{k: t.get(k) for k in ("variable", "from", "to", "saving", "replications_needed")}
                          for t in verification.get("undecided", [])],
            "params": summary["params"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2027, 7, 11])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true", help="skip the TPE baseline run")
    parser.add_argument("--time", help="a time budget for each search (optimize --time), e.g. 4m")
    parser.add_argument("--rosters", action="store_true", help="compare rosters against head-count-only plans")
    parser.add_argument("--no-headcount", action="store_true",
                        help="with --rosters: run only the roster searches (compare against earlier figures)")
    parser.add_argument("--trials", type=int, help="the search's trial budget (default: the scenario's 40)")
    parser.add_argument("--verify-max", type=int,
                        help="most fresh replications of verification's last look (optimize.verify_max; default 96)")
    parser.add_argument("--polish", type=int,
                        help="polish's budget of verified steps down (optimize.polish; default 10)")
    parser.add_argument("--keep", type=Path, help="keep each run's output folder (study.db, summary) under this folder")
    args = parser.parse_args()
    global KEEP
    KEEP = args.keep
    budget = ["--time", args.time] if args.time else []
    budget += ["--set", f"optimize.trials={args.trials}"] if args.trials is not None else []
    budget += ["--set", f"optimize.verify_max={args.verify_max}"] if args.verify_max is not None else []
    budget += ["--set", f"optimize.polish={args.polish}"] if args.polish is not None else []
    if args.rosters:
        return compare_rosters(args.seeds, args.jobs, not args.no_headcount, budget)
    rows, baseline = [], None
    for i, seed in enumerate(args.seeds):
        row = run("structured", seed, budget, args.jobs)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if i == 0 and not args.no_baseline:  # interleaved: between the first and second structured runs
            baseline = run("tpe", seed, ["--set", "optimize.strategy=tpe", *budget], args.jobs)
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
            for t in r["undecided"]:
                print(f"    undecided: {t['variable']} {t['from']} -> {t['to']} would save {t['saving']:,.0f}; "
                      f"about {t['replications_needed']} fresh replications would decide it")
    if baseline is not None and rows:
        first = rows[0]
        print(f"TPE baseline, seed {baseline['seed']}: cost {baseline['cost']:,} "
              f"({100 * (baseline['cost'] - first['cost']) / first['cost']:+.1f}% against structured), "
              f"wall time ratio structured / TPE {first['wall_s'] / baseline['wall_s']:.2f}")


def compare_rosters(seeds: list[int], jobs: int, headcount: bool, budget: list[str]) -> None:
    """Per seed, the head-count-only search and the roster search, interleaved; cost and wall time of each."""
    with tempfile.TemporaryDirectory() as folder:
        scenario = roster_scenario(Path(folder))
        for seed in seeds:
            plain = run("headcount", seed, budget, jobs) if headcount else None
            if plain is not None:
                print(json.dumps(plain), flush=True)
            roster = run("rosters", seed, budget, jobs, scenario)
            print(json.dumps(roster), flush=True)
            if plain is not None and plain["feasible"] and roster["feasible"]:
                print(f"seed {seed}: rosters {roster['cost']:,} against head-count-only {plain['cost']:,}: "
                      f"{100 * (plain['cost'] - roster['cost']) / plain['cost']:.1f}% cheaper; wall time "
                      f"{roster['wall_s']:.0f} s against {plain['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
