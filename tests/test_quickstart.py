"""The README's quickstart: its first command runs as written in a fresh copy of the repository (a new
venv, a real install, the shipped scenario), and CI runs its second command verbatim."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def quickstart_commands() -> list[str]:
    """The command lines of the README's quickstart block, comments dropped."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_quickstart_has_two_commands_and_ci_runs_the_second_verbatim():
    commands = quickstart_commands()
    assert len(commands) == 2
    assert commands[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_the_first_quickstart_command_installs_and_runs_in_a_fresh_venv(tmp_path):
    """Copy the tracked files (no .venv, no build output), run the README's first line with bash and an
    environment that has no venv active, and check the run printed its queue table."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    copy = tmp_path / "annoplan"
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                  if not os.environ.get("VIRTUAL_ENV") or not p.startswith(os.environ["VIRTUAL_ENV"]))
    run = subprocess.run(["bash", "-c", quickstart_commands()[0]], cwd=copy, env=env, capture_output=True, text=True,
                         timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (copy / ".venv" / "bin" / "annoplan").is_file()
    assert "spam_en" in run.stdout and "targets met" in run.stdout, run.stdout[-2000:]
