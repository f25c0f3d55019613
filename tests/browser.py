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
