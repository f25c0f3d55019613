"""`annoplan calibrate LOG [--base SCENARIO]`: a scenario fitted to a task log. Every value the log can
tell is fitted (fits.py) and written with its evidence as a YAML comment; the rest comes from --base,
or from defaults marked "not in the log" without one.

A log with a replication column (simulate --events) holds one history per replication: the first is
used. Items are counted once (their first row); decisions are label, rework, adjudication and
escalation rows; a review's verdict is its qa_result.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from simulator.scenario.task_log import TaskLog

from .fits import Estimate, fit_duration, fit_handling, fit_volume, proportion, wilson
from .shrinkage import fit_shrinkage

Path_ = tuple[str, ...]
LATER = ("review", "escalation", "adjudication")


@dataclass
class Calibration:
    """The calibrated scenario data, the evidence per field path, and lines for the terminal."""

    data: dict[str, Any]
    evidence: dict[Path_, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    view: list[tuple[str, str, float, float]] = field(default_factory=list)  # (what, queue, x, y): the report's

    def view_table(self) -> pd.DataFrame:
        """The calibration view as a table: kind (`qq`: x empirical and y fitted handling quantile at 1..99%,
        seconds at speed 1; `observed` / `fitted`: x hour of the week, y items in that hour), queue, x, y."""
        return pd.DataFrame(self.view, columns=["kind", "queue", "x", "y"])

    def set(self, path: Path_, estimate: Estimate | Any, evidence: str | None = None) -> None:
        """Write a fitted value at `path` (creating mappings on the way) with its evidence comment."""
        node = self.data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if isinstance(estimate, Estimate):
            node[path[-1]], evidence = estimate.value, estimate.evidence
        else:
            node[path[-1]] = estimate
        if evidence:
            self.evidence[path] = evidence

    def yaml(self, header: str) -> str:
        """The scenario as YAML, each fitted field followed by its evidence comment."""
        text = yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=120)
        out, stack = [], []  # stack: (indent, key) of the mappings the line sits in
        for line in text.splitlines():
            stripped = line.lstrip(" ")
            indent = len(line) - len(stripped)
            if ":" in stripped and not stripped.startswith(("- ", "#")):
                key = stripped.split(":", 1)[0].strip().strip("'\"")
                while stack and stack[-1][0] >= indent:
                    stack.pop()
                stack.append((indent, key))
                note = self.evidence.get(tuple(k for _, k in stack))
                if note:
                    out.append(f"{' ' * indent}# {note}")
            out.append(line)
        return header + "\n".join(out) + "\n"


def _seconds(frame: pd.DataFrame) -> pd.Series:
    return (frame["finished_at"] - frame["started_at"]).dt.total_seconds()


def calibrate(log: TaskLog, base: dict[str, Any] | None, schedule: pd.DataFrame | None = None) -> Calibration:
    """Fit the scenario to `log`, starting from the `base` scenario data (None: a scenario of defaults);
    with a `schedule` (shrinkage.read_schedule), also each pool's shrinkage."""
    tasks = log.history()
    data = copy.deepcopy(base) if base is not None else {"name": "calibrated", "seed": 1}
    cal = Calibration(data)
    if base is None:
        cal.notes.append("no --base: SLA targets, shifts, shrinkage and costs are defaults marked 'not in the log'")
    if "replication" in log.tasks:
        cal.notes.append(f"the log holds {log.tasks['replication'].nunique()} replications; calibrated on the first")
    items = tasks.drop_duplicates("item_id")[["item_id", "queue", "created_at"]]
    queues = data.setdefault("queues", {})
    pools = data.setdefault("pools", {})
    workflows = data.setdefault("workflows", {})
    skill_of = {q: str((queues.get(q) or {}).get("skill", q)) for q in items["queue"].astype(str).unique()}
    _horizon(cal, items, base)
    decisions = tasks[tasks["stage"].isin(("label", "rework", "adjudication", "escalation"))]
    by_queue = tasks.groupby("queue", observed=True)
    for qid, created in items.groupby("queue", observed=True)["created_at"]:
        qid = str(qid)
        node = queues.setdefault(qid, {})
        tz = str(node.get("timezone", "UTC"))
        if "timezone" not in node:
            cal.set(("queues", qid, "timezone"), "UTC", "not in the log: UTC")
        fit = fit_volume(created, tz)
        if fit is not None:
            cal.set(("queues", qid, "volume"), {"mean": fit.daily_mean.value, "per": "day"}, fit.daily_mean.evidence)
            cal.set(("queues", qid, "hourly_profile"), fit.hourly_profile)
            cal.set(("queues", qid, "weekly_profile"), fit.weekly_profile)
            cal.set(("queues", qid, "growth_weekly"), fit.growth_weekly)
            cal.set(("queues", qid, "volume_cv"), fit.volume_cv)
            cal.view += [("observed", qid, float(h), float(v)) for h, v in enumerate(fit.observed_week)]
            cal.view += [("fitted", qid, float(h), float(v)) for h, v in enumerate(fit.fitted_week)]
        node.setdefault("skill", skill_of[qid])
        if "sla" not in node:
            cal.set(("queues", qid, "sla"), {"target": "24h", "attainment": 0.95}, "not in the log: set your SLA")
        mine = by_queue.get_group(qid)
        _handling(cal, qid, mine, pools, skill_of[qid])
        _workflow(cal, qid, mine, node, workflows, pools)
    _accuracy(cal, decisions, skill_of, queues)
    _pools(cal, tasks, pools)
    if schedule is not None:
        fitted = fit_shrinkage(tasks, schedule)
        for pid, estimate in fitted.items():
            cal.set(("pools", pid, "shrinkage"), estimate)
            if "absence" in pools[pid]:
                pools[pid]["absence"] = 0.0  # the fitted share holds absence too
        cal.notes += [f"schedule: no hour with work waiting for pool {p}; its shrinkage is not fitted"
                      for p in pools if p not in fitted]
    if not workflows:
        data.pop("workflows")
    return cal


def _horizon(cal: Calibration, items: pd.DataFrame, base: dict[str, Any] | None) -> None:
    """Without --base: the log's span in whole weeks from its first day (a scenario that replays history)."""
    if base is not None and "horizon" in base:
        return
    first = items["created_at"].min().tz_convert("UTC").normalize()
    weeks = max(1, math.floor((items["created_at"].max().ceil("h") - first).total_seconds() / (7 * 86400)))
    cal.set(("horizon",), {"start": str(first.date()), "duration": f"{weeks}w", "warmup": "1d"},
            f"the log's span: {weeks} whole week(s) from its first day")


def _handling(cal: Calibration, qid: str, tasks: pd.DataFrame, pools: dict[str, Any], skill: str) -> None:
    """The queue's handling time at speed 1 and each labelling pool's speed on its skill."""
    labels = tasks[tasks["stage"] == "label"]
    if labels.empty:
        return
    frame = pd.DataFrame({"pool": labels["pool"].cat.remove_unused_categories(), "seconds": _seconds(labels)})
    fit = fit_handling(frame, {str(p): _base_speed(pools, str(p), skill) for p in frame["pool"].cat.categories})
    shape = {"dist": fit.dist} if fit.dist == "exponential" else {"cv": fit.cv, "dist": fit.dist}  # exponential: cv 1
    cal.set(("queues", qid, "handling_time"), {"mean": f"{fit.mean_seconds.value}s", **shape},
            fit.mean_seconds.evidence + f"; cv {fit.cv}")
    cal.view += [("qq", qid, float(e), float(f)) for e, f in zip(*fit.qq)]
    for pid, (speed, n, half) in fit.speeds.items():
        _skill_node(pools, pid, skill)["speed"] = round(float(speed), 3)
        cal.evidence.setdefault(("pools", pid, "skills", skill), "")
        cal.evidence[("pools", pid, "skills", skill)] += (f"speed from {n:,} label tasks of {qid} (95% CI "
                                                          f"{speed * (1 - half):.3f}-{speed * (1 + half):.3f}); ")


def _base_speed(pools: dict[str, Any], pid: str, skill: str) -> float:
    """The pool's speed on the skill in the base scenario (1 if it gives none)."""
    skills = (pools.get(pid) or {}).get("skills")
    node = skills.get(skill) if isinstance(skills, dict) else None
    return float(node.get("speed", 1.0)) if isinstance(node, dict) else 1.0


def _skill_node(pools: dict[str, Any], pid: str, skill: str) -> dict[str, Any]:
    """pools.P.skills.S as a mapping (a list of names in the base becomes a mapping)."""
    pool = pools.setdefault(pid, {})
    skills = pool.get("skills") or {}
    if isinstance(skills, list):
        skills = {name: {} for name in skills}
    pool["skills"] = skills
    if not isinstance(skills.get(skill), dict):
        skills[skill] = {}
    return skills[skill]


def _accuracy(cal: Calibration, decisions: pd.DataFrame, skill_of: dict[str, str], queues: dict[str, Any]) -> None:
    """Per pool and skill: the share of decisions known right. Label and rework decisions count for the
    queue's skill, over its difficulty (error = (1 - accuracy) x difficulty); adjudication and
    escalation decisions for their stage's skill."""
    known = decisions.dropna(subset=["correct"]) if "correct" in decisions else decisions.iloc[0:0]
    if known.empty:
        return
    workflows = cal.data.get("workflows", {})
    counts = (known.assign(right=known["correct"].astype(bool))
              .groupby(["pool", "queue", "stage"], observed=True)["right"].agg(["size", "sum"]).reset_index())

    def skill(queue: str, stage: str) -> str:
        if stage in ("label", "rework"):
            return skill_of[queue]
        flow = workflows.get(str((queues.get(queue) or {}).get("workflow", queue)), {})
        return str((flow.get(stage) or {}).get("skill", f"{stage}_{queue}"))

    counts["skill"] = [skill(str(q), str(st)) for q, st in zip(counts["queue"], counts["stage"])]
    counts["difficulty"] = [float((queues.get(str(q)) or {}).get("difficulty", 1.0)) if st in ("label", "rework")
                            else 1.0 for q, st in zip(counts["queue"], counts["stage"])]
    counts["pool"] = counts["pool"].astype(str)
    for (pid, name), group in counts.groupby(["pool", "skill"]):
        n, right = int(group["size"].sum()), int(group["sum"].sum())
        difficulty = float((group["difficulty"] * group["size"]).sum() / n)
        accuracy = 1 - (1 - right / n) / difficulty
        lo, hi = wilson(right, n)
        _skill_node(cal.data["pools"], pid, name)["accuracy"] = round(float(min(1.0, max(0.0, accuracy))), 4)
        key = ("pools", pid, "skills", name)
        cal.evidence[key] = cal.evidence.get(key, "") + (
            f"accuracy from {n:,} decisions known right or wrong ({right:,} right; 95% CI {lo:.4f}-{hi:.4f}"
            f"{f', difficulty {difficulty:g}' if difficulty != 1 else ''})")


def _workflow(cal: Calibration, qid: str, tasks: pd.DataFrame, queue: dict[str, Any],
              workflows: dict[str, Any], pools: dict[str, Any]) -> None:
    """Label passes, review sample and detection, escalation probability and later stages' handling."""
    stages = {str(x) for x in tasks["stage"].unique()}
    label_rows = tasks[tasks["stage"] == "label"].groupby("item_id", observed=True).size()
    passes = int(label_rows.mode().iloc[0]) if len(label_rows) else 1
    if passes == 1 and not stages & set(LATER):
        return
    wid = str(queue.get("workflow", qid))
    queue["workflow"] = wid
    flow = workflows.setdefault(wid, {})
    if passes > 1:
        cal.set(("workflows", wid, "label", "passes"), passes, f"the usual label rows per item ({len(label_rows):,} items)")
    n_items = int(tasks["item_id"].nunique())
    escalated = set(tasks.loc[tasks["stage"] == "escalation", "item_id"])
    for stage in LATER:
        rows = tasks[tasks["stage"] == stage]
        if rows.empty:
            continue
        node = flow.setdefault(stage, {})
        if "skill" not in node:
            node["skill"] = f"{stage}_{qid}"
        for pid in rows["pool"].unique():
            _skill_node(pools, str(pid), node["skill"])
        mean, cv = fit_duration(_seconds(rows), stage)
        cal.set(("workflows", wid, stage, "handling_time"), {"mean": f"{mean.value}s", "cv": cv}, mean.evidence)
    if "escalation" in stages:
        cal.set(("workflows", wid, "escalation", "probability"),
                proportion(len(escalated), n_items, "items escalated"))
    reviews = tasks[tasks["stage"] == "review"]
    if not reviews.empty:
        not_escalated = n_items - len(escalated)
        cal.set(("workflows", wid, "review", "sample"),
                proportion(int(reviews["item_id"].nunique()), not_escalated, "items not escalated were reviewed"))
        _detection(cal, wid, tasks)


def _detection(cal: Calibration, wid: str, tasks: pd.DataFrame) -> None:
    """Share of reviews of a wrong decision that failed it: each review against the decision row just
    before it on the same item (the log is sorted by item and start)."""
    if "correct" not in tasks or "qa_result" not in tasks:
        return
    previous_correct = tasks["correct"].shift(1)
    previous_stage = tasks["stage"].shift(1)
    same_item = tasks["item_id"].eq(tasks["item_id"].shift(1))
    mask = ((tasks["stage"] == "review") & same_item & previous_stage.isin(("label", "rework", "adjudication"))
            & previous_correct.eq(False)).fillna(False).to_numpy(dtype=bool)
    verdicts = tasks.loc[mask, "qa_result"].astype("string")
    verdicts = verdicts[verdicts.isin(("pass", "fail"))]
    if len(verdicts):
        cal.set(("workflows", wid, "review", "detection"),
                proportion(int((verdicts == "fail").sum()), len(verdicts), "reviews of a wrong decision failed it"))


def _pools(cal: Calibration, tasks: pd.DataFrame, pools: dict[str, Any]) -> None:
    """Pools the log names but the base lacks: head-count from distinct workers, the rest defaults."""
    workers = tasks.groupby("pool", observed=True)["worker_id"].nunique() if "worker_id" in tasks else None
    for pid, pool in pools.items():
        shifts = pool.get("shifts")
        by_shift = isinstance(shifts, list) and all(isinstance(s, dict) and "headcount" in s for s in shifts)
        if "headcount" in pool or by_shift:
            continue
        heads = int(workers.get(pid, 1)) if workers is not None else 1
        cal.set(("pools", pid, "headcount"), max(1, heads),
                f"distinct worker_id in the log ({heads}); shifts, shrinkage and cost are not in the log"
                if workers is not None else "not in the log (no worker_id): 1")

