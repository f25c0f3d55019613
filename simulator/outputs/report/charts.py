"""Static charts for the HTML report: matplotlib figures rendered to inline SVG (no script, no network).

Every chart has a title, axis labels with units and a one-line reading hint shown under it. SVG ids
are salted with a fixed string and metadata is dropped, so the same data gives the same page bytes.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

plt.rcParams.update({"svg.hashsalt": "annoplan", "svg.fonttype": "path", "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
                     "grid.alpha": 0.3, "axes.titleweight": "bold", "figure.dpi": 96,
                     "text.parse_math": False})  # ids from files are data: "$a$" is a name, not mathtext
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


@dataclass
class Chart:
    """One chart of the page: its SVG markup and the sentence that tells the reader what to look for."""

    title: str
    svg: str
    hint: str
    axes: str = ""  # "x label | y label" of the first labelled axes, for the page's markup and its tests


def figure(rows: int = 1, cols: int = 1, width: float = 9.0, height: float = 3.6,
           **kwargs: Any) -> tuple[Any, Any]:
    """A figure with `rows` x `cols` axes, sized in inches."""
    return plt.subplots(rows, cols, figsize=(width, height), squeeze=False, **kwargs)


def _legends_outside(fig: Any) -> None:
    """Move every legend off the plotted data: one legend under the figure holding each panel's entries
    once (panels that share an entry, such as "open items", share its line)."""
    handles: dict[str, Any] = {}
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
        legend.remove()
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncols=min(3, len(handles)), fontsize=8, frameon=False)


def render(fig: Any, title: str, hint: str) -> Chart:
    """Close the figure and return it as a Chart of inline SVG (title set on the figure). Legends are
    moved off the data, and the saved area grows to hold them and every tick label whole."""
    fig.suptitle(title, fontweight="bold", fontsize=11)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_ylabel() and ax.get_label() != "<colorbar>"]
    xlabel = next((ax.get_xlabel() for ax in fig.axes if ax.get_visible() and ax.get_xlabel()), "")
    fig.tight_layout()
    _legends_outside(fig)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = re.sub(r"<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->\s*", "", text, flags=re.S)
    return Chart(title, text, hint, f"{xlabel} | {axes[0].get_ylabel() if axes else ''}")


def color(i: int) -> str:
    """The i-th series colour (cycling)."""
    return PALETTE[i % len(PALETTE)]
