"""Open a page in headless Chromium (Debian's `chromium`): screenshot, console messages, page requests.

Page requests come from Chromium's net log: events whose network isolation key is the page's file://
origin (Chromium's own update and account checks have other keys). Console messages come from
`--enable-logging=stderr`, which prints each one as `INFO:CONSOLE`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


@dataclass
class PageRun:
    console: list[str]  # console messages the page logged (errors, uncaught exceptions, console.* calls)
    requests: list[str]  # http(s)/ws(s) URLs the page itself asked for
    screenshot: Path


def chromium() -> str:
    """The browser's path; under CI=true a missing browser fails the test instead of skipping it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing under CI=true: .ci/run installs Debian's chromium package")
        pytest.skip("chromium not installed (apt-get install chromium); CI installs it")
    return path


def open_page(page: Path, work: Path, width: int = 1200, height: int = 3000) -> PageRun:
    """Load `page` headless, take a screenshot, collect console messages and the page's network requests."""
    shot, netlog = work / f"{page.stem}.png", work / f"{page.stem}.netlog.json"
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--disable-background-networking", "--disable-component-update", "--no-first-run",
               "--enable-logging=stderr", "--v=0", f"--log-net-log={netlog}", f"--window-size={width},{height}",
               f"--user-data-dir={work / 'profile'}", f"--screenshot={shot}", page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shot.exists(), f"chromium wrote no screenshot (exit {done.returncode}):\n{done.stderr[-2000:]}"
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    events = json.loads(netlog.read_text(encoding="utf-8", errors="replace"))["events"]
    requests = sorted({e["params"]["url"] for e in events
                       if re.match(r"(https?|wss?)://", str(e.get("params", {}).get("url", "")))
                       and str(e["params"].get("network_isolation_key", "")).startswith("file://")})
    return PageRun(console, requests, shot)


def blank(screenshot: Path) -> bool:
    """A screenshot is blank when (nearly) every pixel has the same colour."""
    from PIL import Image

    pixels = np.asarray(Image.open(screenshot).convert("RGB")).reshape(-1, 3)
    _, counts = np.unique(pixels, axis=0, return_counts=True)
    return counts.max() / len(pixels) > 0.97 or len(counts) < 50


OVERFLOW_PROBE = """<script>
window.addEventListener('load', () => {
  const bad = [];
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('the page scrolls sideways');
  for (const el of document.querySelectorAll('main *')) {
    if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
    if (!scrolls(el) && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0)
      bad.push(el.tagName + ' content ' + el.scrollWidth + ' > box ' + el.clientWidth);
    const parent = el.parentElement;
    if (parent && !scrolls(parent) && !parent.closest('.wrap')
        && el.getBoundingClientRect().right > parent.getBoundingClientRect().right + 1)
      bad.push(el.tagName + ' sticks out of ' + parent.tagName);
  }
  document.body.setAttribute('data-overflow', JSON.stringify(bad));
});
</script>"""


def overflowing(page: Path, work: Path, width: int = 1200) -> list[str]:
    """Elements of the page whose content is wider than their box, or that stick out of their parent,
    measured by Chromium after layout (boxes that scroll sideways on purpose, `.wrap`, are allowed)."""
    probe = work / f"{page.stem}.probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", OVERFLOW_PROBE + "</body>"),
                     encoding="utf-8")
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},2000",
               f"--user-data-dir={work / 'probe-profile'}", "--dump-dom", probe.resolve().as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'data-overflow="([^"]*)"', dom)
    assert found, f"the probe did not run:\n{dom[-1000:]}"
    return json.loads(found.group(1).replace("&quot;", '"'))
