"""Files a run writes (`--out DIR`), each to a temporary name first and renamed, so a killed run never
leaves a half-written file; and the folder's manifest, which makes a run's files all-or-nothing.

`manifest.json` is removed before a run writes anything and written last, listing every file with
its size and SHA-256. A folder whose manifest is missing (a run died while writing) or does not
match its files (two runs wrote into it, or a file was damaged) is refused by `annoplan report`.
While a run writes, it holds an exclusive lock on the folder (`.annoplan.lock`), so a second run
into the same folder is refused at once instead of mixing its files with the first one's.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import yaml

from simulator.compare import Comparison
from simulator.results import SimulationResult
from simulator.scenario import AnnoplanError, Scenario
from simulator.sweep import SweepResult

from .excel import write_kpis_workbook


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write `path` through `write(tmp)` to a temporary name in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(obj: Any) -> str:
    """JSON text with NaN written as null (JSON has no NaN)."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value
    return json.dumps(clean(obj), indent=2, allow_nan=False)


def resolved_yaml(scenario: Scenario, version: str) -> str:
    """The fully merged scenario (defaults filled in, durations in hours), loadable again as it is."""
    header = f"# written by annoplan {version}; seed {scenario.seed}\n# durations are in hours\n"
    body = yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    return header + body


MANIFEST = "manifest.json"
LOCK = ".annoplan.lock"
_held: list[tuple[Path, Any]] = []  # (lock file, open handle) until release_folders (or this process's end)


def claim_folder(out_dir: Path) -> None:
    """Lock `out_dir` for this process, or AnnoplanError if another run holds it (POSIX; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    handle = open(out_dir / LOCK, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AnnoplanError(f"--out {out_dir}: another annoplan run is writing there; wait for it to finish or "
                            "choose another folder (optimize runs can share a study with --storage)") from None
    _held.append((out_dir / LOCK, handle))


def release_folders() -> None:
    """Unlock and remove the lock files this process holds (the command is done)."""
    while _held:
        path, handle = _held.pop()
        path.unlink(missing_ok=True)
        handle.close()


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_all(out_dir: Path, files: dict[str, Callable[[Path], None]]) -> list[Path]:
    """Write each named file atomically, in order, then the manifest listing them; return their paths."""
    (out_dir / MANIFEST).unlink(missing_ok=True)
    written = []
    for name, write in files.items():
        atomic_write(out_dir / name, write)
        written.append(out_dir / name)
    listing = {"written_by": "annoplan",
               "files": {p.name: {"bytes": p.stat().st_size, "sha256": _digest(p)} for p in written}}
    atomic_write(out_dir / MANIFEST, lambda p: p.write_text(json.dumps(listing, indent=2) + "\n", encoding="utf-8"))
    return written


def check_folder(folder: Path) -> None:
    """AnnoplanError unless `folder` holds one complete run: its manifest, and every file it lists unchanged."""
    try:
        listing = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = listing["files"]
        assert isinstance(files, dict) and files
    except FileNotFoundError:
        raise AnnoplanError(f"{folder}: no {MANIFEST}: the run that wrote this folder did not finish (or no annoplan "
                            "run wrote it); run it again with --out") from None
    except (ValueError, KeyError, TypeError, AssertionError, OSError):
        raise AnnoplanError(f"{folder}/{MANIFEST} is damaged; run again with --out") from None
    for name, entry in files.items():
        path = folder / str(name)
        try:
            same = (isinstance(entry, dict) and path.is_file() and path.stat().st_size == entry.get("bytes")
                    and _digest(path) == entry.get("sha256"))
        except OSError:
            same = False
        if not same:
            raise AnnoplanError(f"{path}: missing, damaged or written by another run (it does not match {MANIFEST}); "
                                "run again with --out into an empty folder")


def merge_task_logs(parts: list[Path], path: Path) -> None:
    """Concatenate per-replication task logs (simulate --events) into one Parquet file, a row group at a
    time, in replication order: memory stays flat and the bytes do not depend on --jobs."""
    import pyarrow.parquet as pq

    from simulator.scenario.task_log import arrow_schema

    with pq.ParquetWriter(path, arrow_schema()) as writer:
        for part in parts:
            source = pq.ParquetFile(part)
            for group in range(source.num_row_groups):
                writer.write_table(source.read_row_group(group))


def write_simulation(result: SimulationResult, out_dir: Path, version: str,
                     events: list[Path] | None = None) -> list[Path]:
    """summary.json, kpis.parquet, timeseries.parquet, weekly.parquet, kpis.xlsx, scenario.resolved.yaml
    and, given the replications' task logs, events.parquet."""
    summary = result.summary()
    extra = {"events.parquet": lambda p: merge_task_logs(events, p)} if events else {}
    return write_all(out_dir, {**extra,
        "summary.json": lambda p: p.write_text(to_json(summary) + "\n", encoding="utf-8"),
        "kpis.parquet": lambda p: result.kpis.to_parquet(p, index=False),
        "timeseries.parquet": lambda p: result.timeseries.to_parquet(p, index=False),
        "weekly.parquet": lambda p: result.weekly.to_parquet(p, index=False),
        "kpis.xlsx": lambda p: write_kpis_workbook(p, [result.scenario], [result.scenario.name], [summary]),
        "scenario.resolved.yaml": lambda p: p.write_text(resolved_yaml(result.scenario, version), encoding="utf-8"),
    })


def write_comparison(comparison: Comparison, out_dir: Path, version: str) -> list[Path]:
    """summary.json, kpis.parquet, differences.parquet, weekly.parquet, kpis.xlsx, scenarios.resolved.yaml."""
    summary = comparison.summary()
    scenarios = [r.scenario for r in comparison.results]
    documents = "---\n".join(f"# scenario {label!r}\n" + resolved_yaml(s, version)
                              for label, s in zip(comparison.labels, scenarios))
    differences = comparison.differences
    return write_all(out_dir, {
        "summary.json": lambda p: p.write_text(to_json(summary) + "\n", encoding="utf-8"),
        "kpis.parquet": lambda p: comparison.kpis.to_parquet(p, index=False),
        "differences.parquet": lambda p: differences.to_parquet(p, index=False),
        "weekly.parquet": lambda p: comparison.weekly.to_parquet(p, index=False),
        "kpis.xlsx": lambda p: write_kpis_workbook(p, scenarios, comparison.labels,
                                                   [summary["scenarios"][label] for label in comparison.labels],
                                                   differences),
        "scenarios.resolved.yaml": lambda p: p.write_text(documents, encoding="utf-8"),
    })


def write_sweep(result: SweepResult, out_dir: Path, version: str) -> list[Path]:
    """summary.json, sweep.parquet and sweep.csv (the tidy table), scenario.resolved.yaml (the base)."""
    table = result.table
    summary = result.summary()
    return write_all(out_dir, {
        "summary.json": lambda p: p.write_text(to_json(summary) + "\n", encoding="utf-8"),
        "sweep.parquet": lambda p: table.to_parquet(p, index=False),
        "sweep.csv": lambda p: table.to_csv(p, index=False),
        "scenario.resolved.yaml": lambda p: p.write_text(resolved_yaml(result.scenario, version), encoding="utf-8"),
    })
