"""The report page: one self-contained HTML file (inline CSS and SVG; no script, font or image fetched)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Sequence

from .charts import Chart

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d232a;
background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}main{max-width:1100px;margin:0 auto;padding:8px 24px 48px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 20px;margin:18px 0}
h2{font-size:17px;margin:0 0 10px}figure{margin:14px 0}figure svg{width:100%;max-width:100%;height:auto}
figcaption{font-size:13px;color:#4a5561;margin-top:2px}figcaption b{color:#1d232a}
table{border-collapse:collapse;font-size:12px;margin:8px 0;width:100%}
th,td{padding:4px 6px;border-bottom:1px solid #e3e6ea;text-align:right;white-space:nowrap}
th{background:#eef1f5;white-space:normal;vertical-align:bottom}
td:first-child,th:first-child{text-align:left;position:sticky;left:0;z-index:1}
td:first-child{background:#fff}th:first-child{background:#eef1f5}
.miss{color:#b3261e;font-weight:600}.met{color:#1b7f3b}.note{font-size:13px;color:#4a5561}
.wrap{overflow-x:auto;max-width:100%}
"""


@dataclass
class Section:
    """A titled block of the page: an introduction, charts and tables (tables are HTML strings)."""

    title: str
    intro: str = ""
    charts: list[Chart] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[Sequence[str]] | None = None) -> str:
    """An HTML table; cell values are escaped, `classes[i][j]` styles a cell (e.g. 'miss')."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, value in enumerate(row):
            css = classes[i][j] if classes and classes[i][j] else ""
            attr = f' class="{css}"' if css else ""
            cells.append(f"<td{attr}>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def render_page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole page as one string."""
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
             f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><main>"]
    for section in sections:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        if section.intro:
            parts.append(f'<p class="note">{html.escape(section.intro)}</p>')
        for chart in section.charts:
            parts.append(f'<figure role="img" aria-label="{html.escape(chart.title)}" '
                         f'data-axes="{html.escape(chart.axes)}">{chart.svg}<figcaption><b>How to read it:</b> '
                         f"{html.escape(chart.hint)}</figcaption></figure>")
        parts.extend(section.tables)
        parts.append("</section>")
    parts.append("</main></body></html>\n")
    return "".join(parts)
