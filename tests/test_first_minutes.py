"""A new user's first minutes: the CLI starts without loading the heavy libraries, short runs stay in
one process, and the terminal puts each target beside its figure and names every miss."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from cli import main
from simulator import load_scenario
from simulator.replications import IN_PROCESS_ITEMS, auto_jobs, expected_items

ROOT = Path(__file__).resolve().parent.parent
QUICK = str(ROOT / "scenarios" / "quickstart.yaml")
TRUST_SAFETY = str(ROOT / "scenarios" / "trust_safety_q1.yaml")
HEAVY = ("numpy", "pandas", "matplotlib", "scipy", "optuna", "simpy", "openpyxl", "pyarrow")


def loaded_after(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The `heavy` top-level modules loaded by running `code` in a fresh interpreter."""
    probe = f"{code}\nimport sys, json; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    return sorted(modules & set(heavy))


def test_help_validate_and_schema_load_no_heavy_library():
    """`--help` loads not even the scenario code (pydantic, yaml); validate and schema load no numpy."""
    assert loaded_after("import cli", HEAVY + ("pydantic", "yaml", "simulator", "optimize", "rich")) == []
    assert loaded_after("from click.testing import CliRunner; import cli\n"
                        "CliRunner().invoke(cli.main, ['--help'])", HEAVY + ("pydantic", "yaml")) == []
    for file in (QUICK, TRUST_SAFETY):
        assert loaded_after("from click.testing import CliRunner; import cli\n"
                            f"r = CliRunner().invoke(cli.main, ['validate', {file!r}]); assert r.exit_code == 0") == []
    assert loaded_after("from click.testing import CliRunner; import cli\n"
                        "CliRunner().invoke(cli.main, ['schema'])") == []


def test_a_short_run_stays_in_process_and_a_long_one_uses_every_core():
    quick = load_scenario(QUICK)
    assert 3 * expected_items(quick) < IN_PROCESS_ITEMS
    assert auto_jobs([(quick, k) for k in range(3)]) == 1
    ts = load_scenario(ROOT / "scenarios" / "trust_safety_q1.yaml")
    assert expected_items(ts) > IN_PROCESS_ITEMS
    assert auto_jobs([(ts, 0)]) >= 1  # every core this process may use


def test_the_terminal_shows_each_target_and_names_every_miss():
    result = CliRunner().invoke(main, ["simulate", QUICK, "-r", "2", "--set", "horizon.duration=10d",
                                       "--set", "horizon.warmup=2d", "--set", "queues.spam_en.quality_target=0.99"])
    assert result.exit_code == 0, result.output
    assert "(≥95%)" in result.stdout and "(≥99%) ✗" in result.stdout
    assert "1 of 2 targets missed: spam_en quality" in result.stdout and "< 99%" in result.stdout
    met = CliRunner().invoke(main, ["simulate", QUICK, "-r", "2", "--set", "horizon.duration=10d",
                                    "--set", "horizon.warmup=2d", "--set", "queues.spam_en.quality_target=0.9"])
    assert "✗" not in met.stdout and "all 2 targets met" in met.stdout
