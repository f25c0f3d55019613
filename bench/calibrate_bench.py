"""Calibration benchmark: `annoplan calibrate` on a 10M-row task log (Parquet) on 2 cores.

    python bench/calibrate_bench.py                 # 10M rows, 3 interleaved repeats
    python bench/calibrate_bench.py --rows 2000000 --repeat 1

The log is synthetic but shaped like production: 7 queues over 13 weeks with hourly and weekly
profiles, 5 pools of 40 workers, label passes, 15% reviews with pass/fail, reworks and 2%
escalations, `correct` on decisions. Each repeat runs calibrate in a child process (wall time,
peak RSS) interleaved with a baseline child that only reads the same file into pandas, so both see
the same machine load; prints medians, ranges and the ratio calibrate / read.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
QUEUES = ["child_safety", "violent", "hate_en", "harassment", "hate_es", "misinfo", "spam"]
POOLS = ["sg", "dublin", "austin", "manila", "policy"]
READ = "import pandas as pd, sys; pd.read_parquet(sys.argv[1])"


def synthetic_log(path: Path, rows: int, seed: int = 1) -> None:
    """Write a task log of about `rows` rows (vectorised; a few seconds per million rows)."""
    rng = np.random.default_rng(seed)
    items = int(rows / 1.2)
    start = pd.Timestamp("2027-01-04", tz="UTC").value // 1000  # microseconds
    hour_weight = np.array([2, 2, 2, 2, 2, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 3, 3], dtype=float)
    day = rng.integers(0, 91, items)
    hour = rng.choice(24, items, p=hour_weight / hour_weight.sum())
    created = start + ((day * 24 + hour) * 3600 + rng.random(items) * 3600) * 1_000_000
    created = np.sort(created.astype(np.int64))
    queue = rng.choice(len(QUEUES), items, p=[0.03, 0.1, 0.3, 0.2, 0.12, 0.05, 0.2])
    extra = rng.random(items)
    stage = np.zeros(items, dtype=np.int8)  # 0 label; later stages copy their item's row
    review = np.flatnonzero(extra < 0.15)
    rework = review[extra[review] < 0.02]
    escalation = np.flatnonzero(extra > 0.98)
    index = np.concatenate([np.arange(items), review, rework, escalation])
    stage = np.concatenate([stage, np.full(len(review), 1), np.full(len(rework), 2), np.full(len(escalation), 4)])
    n = len(index)
    pool = np.where(stage == 4, 4, rng.integers(0, 4, n))
    seconds = rng.lognormal(np.log(45) - 0.3, 0.77, n) / np.where(pool == 3, 1.1, 1.0)
    started = created[index] + (rng.exponential(3600, n) + 600 * stage) * 1_000_000
    finished = started + (seconds * 1_000_000).astype(np.int64)
    correct = np.where(stage == 1, None, rng.random(n) < 0.95).astype(object)
    qa = np.where(stage == 1, np.where(rng.random(n) < 0.9, "pass", "fail"), None)
    frame = pd.DataFrame({
        "item_id": index.astype(np.int64), "queue": pd.Categorical.from_codes(queue[index], QUEUES),
        "created_at": pd.to_datetime(created[index], unit="us", utc=True),
        "stage": pd.Categorical.from_codes(stage, ["label", "review", "rework", "adjudication", "escalation"]),
        "pool": pd.Categorical.from_codes(pool, POOLS),
        "started_at": pd.to_datetime(started, unit="us", utc=True),
        "finished_at": pd.to_datetime(finished, unit="us", utc=True),
        "worker_id": pd.Categorical.from_codes(pool * 40 + rng.integers(0, 40, n),
                                               [f"{p}-{w}" for p in POOLS for w in range(40)]),
        "correct": pd.array(correct, dtype="boolean"), "qa_result": pd.Categorical(qa)})
    frame.to_parquet(path, index=False, row_group_size=1_000_000)


def child(command: list[str]) -> tuple[float, float]:
    """Wall seconds and the peak RSS (MiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)}: exit {done.returncode}\n{done.stderr}")
    return wall, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "tasks.parquet"
        started = time.perf_counter()
        synthetic_log(log, args.rows)
        rows = pd.read_parquet(log, columns=["stage"]).shape[0]
        print(f"log: {rows:,} rows, {log.stat().st_size / 2**20:,.0f} MiB, made in {time.perf_counter() - started:.0f} s")
        calibrate, read = [], []
        for _ in range(args.repeat):  # interleaved: both see the same load
            calibrate.append(child([sys.executable, str(ROOT / "cli.py"), "calibrate", str(log), "-o",
                                    str(Path(folder) / "calibrated.yaml")]))
            read.append(child([sys.executable, "-c", READ, str(log)]))
        walls = [w for w, _ in calibrate]
        ratios = [c / r for (c, _), (r, _) in zip(calibrate, read)]
        print(json.dumps({"rows": rows, "calibrate_s": [round(w, 1) for w in walls],
                          "read_s": [round(w, 1) for w, _ in read],
                          "calibrate_peak_rss_mib": round(max(m for _, m in calibrate))}))
        print(f"calibrate: median {statistics.median(walls):.1f} s (range {min(walls):.1f}-{max(walls):.1f}; "
              f"target < 60 s); calibrate / read: median {statistics.median(ratios):.1f}x "
              f"(range {min(ratios):.1f}-{max(ratios):.1f})")


if __name__ == "__main__":
    main()
