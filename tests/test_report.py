"""`annoplan report`: one offline page per command's output folder, checked in a real headless browser
(screenshot not blank, no console errors, no network request) and in its HTML (every chart titled,
labelled and explained; no http(s) resource URL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from tests.browser import blank, open_page, overflowing

ROOT = Path(__file__).resolve().parent.parent
QUICK = str(ROOT / "scenarios" / "quickstart.yaml")
SHORT = ["--set", "horizon.duration=3w", "--set", "horizon.warmup=2d"]

EXPECTED = {
    "simulate": ["Backlog per queue over time", "Turnaround percentiles per queue against the SLA target",
                 "SLA attainment and quality by week", "Pool utilisation by hour of the week",
                 "On-shift head-count per site over a typical week", "Cost by pool"],
    "compare": ["SLA attainment per queue, scenario by scenario", "What changes: paired differences",
                "SLA attainment and quality by week", "Cost by pool"],
    "sweep": ["SLA attainment per queue against pools.dublin.headcount",
              "Quality per queue against pools.dublin.headcount", "Total cost against pools.dublin.headcount"],
    "optimize": ["The chosen plan", "Trial history", "Feasible and infeasible trials",
                 "Pareto front: cost against tat_p95_h"],
}


def _run(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """The --out folder of each command, on small runs."""
    base = tmp_path_factory.mktemp("runs")
    folders = {kind: base / kind for kind in EXPECTED}
    _run(["simulate", QUICK, "-r", "2", "-j", "2", "-q", *SHORT, "--out", str(folders["simulate"])])
    _run(["compare", QUICK, "--variant", "pools.dublin.headcount=10", "-r", "2", "-j", "2", "-q", *SHORT,
          "--out", str(folders["compare"])])
    _run(["sweep", QUICK, "--vary", "pools.dublin.headcount=9:11:1", "-r", "2", "-j", "2", "-q", *SHORT,
          "--out", str(folders["sweep"])])
    plan = yaml.safe_load((ROOT / "scenarios" / "quickstart_optimize.yaml").read_text())
    plan["extends"] = QUICK
    plan["optimize"]["objective"] = ["cost", "tat_p95_h"]
    scenario = base / "pareto.yaml"
    scenario.write_text(yaml.safe_dump(plan))
    _run(["optimize", str(scenario), "-j", "2", "-q", "--out", str(folders["optimize"])])
    return folders


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_report_is_complete_and_self_contained(outputs, kind):
    result = CliRunner().invoke(main, ["report", str(outputs[kind])])
    assert result.exit_code == 0, result.stderr
    page = outputs[kind] / "report.html"
    assert result.stdout.strip() == str(page)
    html = page.read_text(encoding="utf-8")
    for title in EXPECTED[kind]:
        assert title in html, title
    figures = re.findall(r'<figure role="img" aria-label="([^"]+)" data-axes="([^"]*)">(.*?)</figure>', html,
                         flags=re.S)
    assert len(figures) >= len([t for t in EXPECTED[kind] if t != "The chosen plan"])
    for title, axes, body in figures:
        xlabel, ylabel = axes.split(" | ")
        assert title and xlabel and ylabel, (title, axes)
        assert "<svg" in body and "How to read it:" in body
        assert len(re.findall(r'<g id="text_\d+"', body)) >= 3  # title and axis labels are drawn as text
    resource = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""",
                          re.I)
    assert not resource.search(html)
    assert "<script" not in html
    probe = outputs[kind].parent / f"probe-{kind}"
    probe.mkdir(exist_ok=True)
    assert overflowing(page, probe) == []  # tables fit or scroll in their own box; nothing sticks out


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_report_renders_in_a_headless_browser(outputs, kind, tmp_path):
    page = outputs[kind] / "report.html"
    if not page.exists():
        CliRunner().invoke(main, ["report", str(outputs[kind])])
    run = open_page(page, tmp_path)
    assert run.console == [], run.console
    assert run.requests == [], run.requests
    assert not blank(run.screenshot)


def test_the_browser_check_sees_console_errors_requests_and_blank_pages(tmp_path):
    """The checks above can fail: a page with a console error, an uncaught exception and a remote
    image is caught on all three counts, and an empty page is blank."""
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><h1>x</h1><img src="https://example.invalid/a.png">'
                   '<script>console.error("boom"); missing();</script></body></html>')
    run = open_page(bad, tmp_path)
    assert any("boom" in line for line in run.console)
    assert any("Uncaught ReferenceError" in line for line in run.console)
    assert run.requests == ["https://example.invalid/a.png"]
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body></body></html>")
    assert blank(open_page(empty, tmp_path).screenshot)


def test_report_of_a_folder_without_output_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "no annoplan output here" in result.stderr and "Traceback" not in result.stderr
    missing = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such folder" in missing.stderr


def test_a_wide_report_fits_its_page(tmp_path):
    """Seven queues and five pools: every table fits or scrolls in its own box, no chart or caption sticks
    out, and the page never scrolls sideways. The probe itself catches a planted 3000-px element."""
    out = tmp_path / "ts"
    _run(["simulate", str(ROOT / "scenarios" / "trust_safety_q1.yaml"), "-r", "1", "-q", "--set",
          "horizon.duration=7w", "--set", "horizon.warmup=2d", "--out", str(out)])
    _run(["report", str(out)])
    assert overflowing(out / "report.html", tmp_path) == []
    planted = tmp_path / "planted.html"
    planted.write_text((out / "report.html").read_text().replace(
        "<main>", '<main><p style="width:3000px;white-space:nowrap">wide</p>', 1))
    assert overflowing(planted, tmp_path)
