"""The README's notebook example runs as written and returns what it says."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_notebook_example_runs_as_written():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From a notebook", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(code, "README.md (From a notebook)", "exec"), namespace)
    finally:
        os.chdir(cwd)
    result, what_if, plan = namespace["result"], namespace["what_if"], namespace["plan"]
    for frame in (result.kpis, result.timeseries, result.weekly, what_if.differences, plan.trials):
        assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    assert set(result.summary()["queues"]["spam_en"]["sla_attainment"]) == {"mean", "low", "high"}
    assert plan.summary()["params"] == {"pools.dublin.headcount": 10}  # the value the README's comment gives
    cost = what_if.differences.query("entity_type == 'total' and kpi == 'cost'").iloc[0]
    assert cost["mean"] < 0 and cost["significant"]  # 10 heads cost less than 14
