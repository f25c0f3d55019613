"""Checks that span several parts of a scenario (references between queues, workflows and pools)."""

from __future__ import annotations

import difflib
from typing import Any

from .schema import Scenario

Finding = tuple[tuple[Any, ...], str, str]


def _closest(name: str, options: list[str]) -> str:
    match = difflib.get_close_matches(name, options, n=1)
    if match:
        return f"did you mean `{match[0]}`?"
    return f"known: {', '.join(sorted(options))}" if options else ""


def cross_check(s: Scenario) -> list[Finding]:
    """Return (path, message, hint) for every broken reference; empty when the scenario hangs together."""
    found: list[Finding] = []
    offered = sorted({skill for pool in s.pools.values() for skill in pool.skills})
    workflows = sorted(set(s.workflows) | {"standard"})
    for qid, queue in s.queues.items():
        if queue.skill not in offered:
            found.append((("queues", qid, "skill"), f"no pool has the skill {queue.skill!r}",
                          _closest(queue.skill, offered) or "add it to a pool's skills"))
        if queue.workflow not in workflows:
            found.append((("queues", qid, "workflow"), f"no workflow named {queue.workflow!r}",
                          _closest(queue.workflow, workflows)))
    for wid, wf in s.workflows.items():
        for stage in ("adjudication", "review", "escalation"):
            work = getattr(wf, stage)
            if work is not None and work.skill not in offered:
                found.append((("workflows", wid, stage, "skill"), f"no pool has the skill {work.skill!r}",
                              _closest(work.skill, offered) or "add it to a pool's skills"))
        for qid, queue in s.queues.items():
            if queue.workflow != wid:
                continue
            staff = sum(p.headcount for p in s.pools.values() if queue.skill in p.skills)
            if staff < wf.label.passes:
                found.append((("workflows", wid, "label", "passes"),
                              f"{wf.label.passes} passes need {wf.label.passes} different workers with skill "
                              f"{queue.skill!r} (queue {qid}), the pools have {staff}",
                              "add head-count or lower passes"))
        if wf.label.passes % 2 == 0 and wf.adjudication is None:
            found.append((("workflows", wid, "label", "passes"),
                          f"{wf.label.passes} passes can tie, and there is no adjudication stage",
                          "add adjudication: {skill: ..., handling_time: {mean: 2m}} or use an odd number"))
    weeks = s.horizon.duration / 168.0
    for pid, pool in s.pools.items():
        for i, hire in enumerate(pool.hires):
            if hire.week > weeks + 1e-9:
                found.append((("pools", pid, "hires", i, "week"),
                              f"week {hire.week} is after the horizon ({weeks:g} weeks)",
                              "week 1 is the horizon's first week"))
    for pid in (s.optimize.rosters if s.optimize is not None else {}):
        if pid not in s.pools:
            found.append((("optimize", "rosters", pid), f"no pool named {pid!r}", _closest(pid, sorted(s.pools))))
    return found
