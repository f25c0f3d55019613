"""Files a run writes (`--out DIR`), each to a temporary name first and renamed, so a killed run never
leaves a half-written file."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import yaml

from simulator.compare import Comparison
from simulator.results import SimulationResult
from simulator.scenario import Scenario
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


def write_all(out_dir: Path, files: dict[str, Callable[[Path], None]]) -> list[Path]:
    """Write each named file atomically, in order; return their paths."""
    written = []
    for name, write in files.items():
        atomic_write(out_dir / name, write)
        written.append(out_dir / name)
    return written


def write_simulation(result: SimulationResult, out_dir: Path, version: str) -> list[Path]:
    """summary.json, kpis.parquet, timeseries.parquet, weekly.parquet, kpis.xlsx and scenario.resolved.yaml."""
    summary = result.summary()
    return write_all(out_dir, {
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
