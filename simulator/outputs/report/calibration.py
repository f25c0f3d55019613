"""Report sections of `annoplan calibrate --out`: fitted against observed, per queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .charts import Chart, color, figure, render
from .page import Section

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def queue_chart(view: pd.DataFrame, queue: str) -> Chart:
    """Handling-time QQ plot (fitted against empirical quantiles) beside the hour-of-week profile
    (fitted against observed items per hour)."""
    fig, axes = figure(cols=2, height=3.0, width=11.0, gridspec_kw={"width_ratios": [1, 3]})
    qq = view[(view.kind == "qq") & (view.queue == queue)]
    ax = axes[0][0]
    if len(qq):
        ax.plot(qq.x, qq.y, "o", ms=2.5, color=color(0), label="1st..99th percentile")
        top = float(max(qq.x.max(), qq.y.max()))
        ax.plot([0, top], [0, top], color="#999", lw=0.8, label="equal")
    ax.set_xlabel("empirical handling time (s)")
    ax.set_ylabel("fitted (s)")
    ax = axes[0][1]
    for kind, shade, style in (("observed", "#222", "-"), ("fitted", color(3), "--")):
        data = view[(view.kind == kind) & (view.queue == queue)].sort_values("x")
        ax.step(data.x, data.y, where="post", color=shade, ls=style, lw=1, label=f"{kind} items per hour")
    ax.set_xticks(range(0, 168, 24), DAYS)
    ax.set_xlabel("local hour of the week")
    ax.set_ylabel("items per hour")
    ax.legend(fontsize=8)
    return render(fig, queue, "Points off the diagonal are where the handling family misfits (the tail "
                              "matters most for SLAs); gaps between the lines are hours the profiles miss.")


def calibration_sections(summary: dict[str, Any], folder: Path) -> tuple[list[Section], str, str]:
    """One chart per queue, after a line on what was read."""
    view = pd.read_parquet(folder / "calibration.parquet")
    queues = list(dict.fromkeys(view["queue"]))
    intro = (f"Fitted from {summary['log']}" + (f" on {summary['base']}" if summary["base"] else "") +
             f"; the scenario is {summary['scenario']}.")
    notes = summary["defects"] + summary["notes"]
    if notes:
        intro += " Notes: " + "; ".join(notes) + "."
    return ([Section("Fitted against observed", intro, charts=[queue_chart(view, q) for q in queues])],
            "annoplan: calibration", "fitted against observed, per queue")
