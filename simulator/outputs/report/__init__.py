"""`annoplan report DIR`: one offline HTML page from the output folder of simulate, compare, sweep,
optimize, backtest or calibrate. The folder's files say which command wrote it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from simulator.scenario.errors import AnnoplanError
from simulator.scenario.loader import load_scenario
from simulator.outputs.files import atomic_write, check_folder
from .page import render_page
from .summary_file import check_summary


def kind_of(folder: Path) -> str:
    """Which command wrote `folder`: optimize, backtest, calibrate, sweep, compare or simulate."""
    for name, kind in (("trials.parquet", "optimize"), ("backtest.parquet", "backtest"),
                       ("calibration.parquet", "calibrate"), ("sweep.parquet", "sweep"),
                       ("differences.parquet", "compare"), ("timeseries.parquet", "simulate")):
        if (folder / name).exists():
            return kind
    raise AnnoplanError(f"{folder}: no annoplan output here (summary.json with timeseries.parquet, "
                        "differences.parquet, sweep.parquet, trials.parquet, backtest.parquet or calibration.parquet); run "
                        f"simulate, compare, sweep, optimize, backtest or calibrate with --out {folder} first")


def build_report(folder: Path) -> str:
    """The page for `folder` as HTML text."""
    if not folder.is_dir():
        raise AnnoplanError(f"{folder}: no such folder; give the --out folder of an annoplan run")
    kind = kind_of(folder)
    check_folder(folder)
    try:
        return _page(folder, kind)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OSError) as exc:  # ArrowInvalid is a ValueError
        raise AnnoplanError(f"{folder}: its files do not have the shape annoplan writes ({type(exc).__name__}: "
                            f"{exc}); run again with --out") from None


def _page(folder: Path, kind: str) -> str:
    """The page of a checked folder of `kind`."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    check_summary(summary, kind, str(folder / "summary.json"))
    if kind == "simulate":
        from .simulation import simulation_sections

        scenario = load_scenario(folder / "scenario.resolved.yaml")
        sections = simulation_sections(summary, pd.read_parquet(folder / "timeseries.parquet"),
                                       pd.read_parquet(folder / "weekly.parquet"), scenario)
        title, subtitle = f"annoplan: {summary['scenario']}", f"simulation of {scenario.name}: {scenario.description}"
    elif kind == "compare":
        from .comparison import comparison_sections

        sections, title, subtitle = comparison_sections(summary, folder)
    elif kind == "sweep":
        from .sweep import sweep_sections

        sections, title, subtitle = sweep_sections(summary, folder)
    elif kind == "backtest":
        from .backtest import backtest_sections

        sections, title, subtitle = backtest_sections(summary, folder)
    elif kind == "calibrate":
        from .calibration import calibration_sections

        sections, title, subtitle = calibration_sections(summary, folder)
    else:
        from .optimization import optimization_sections

        sections, title, subtitle = optimization_sections(summary, folder)
    return render_page(title, subtitle, sections)


def write_report(folder: Path, output: Path | None = None) -> Path:
    """Write the page (default FOLDER/report.html) and return its path."""
    page = build_report(folder)
    path = output or folder / "report.html"
    atomic_write(path, lambda p: p.write_text(page, encoding="utf-8"))
    return path
