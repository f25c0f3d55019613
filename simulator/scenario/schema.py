"""The scenario file's schema: typed, frozen pydantic models with bounds (the public contract, docs/scenario.md)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .calendar import parse_days, zone
from .durations import Duration

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Probability = Annotated[float, Field(gt=0.0, le=1.0)]


class Model(BaseModel):
    """Base of every scenario model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_zone(value: str) -> str:
    zone(value)
    return value


EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(2200, 12, 31)  # dates beyond are typos, and overflow calendars


def _plausible_date(value: dt.date) -> dt.date:
    day = value.date() if isinstance(value, dt.datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"{day.isoformat()} is outside {EARLIEST.year}-{LATEST.year}; check the year")
    return value


class Horizon(Model):
    start: dt.date = Field(description="ISO date; the clock starts at 00:00 UTC that day")

    @field_validator("start")
    @classmethod
    def _start_plausible(cls, value: dt.date) -> dt.date:
        return _plausible_date(value)
    duration: Annotated[Duration, Field(gt=0, le=24 * 7 * 520)]
    warmup: Annotated[Duration, Field(ge=0)] = 0.0
    drain: Annotated[Duration, Field(ge=0, le=24 * 7 * 52)] | None = Field(
        default=None, description="after the end, follow measured items until delivered, for at most this long "
                                  "(default: 4 x the longest SLA target; 0: stop at the end)")

    @model_validator(mode="after")
    def _warmup_inside(self) -> Horizon:
        if self.warmup >= self.duration:
            raise ValueError(f"warmup ({self.warmup:g} h) must be shorter than duration ({self.duration:g} h)")
        return self


class Volume(Model):
    """A mean rate (`mean` + `per`), a forecast file (`file`), or a task log whose arrivals are replayed
    as they happened (`replay`, with the queue's name in the log in `queue`: backtests)."""

    mean: Annotated[float, Field(ge=0)] | None = None
    per: Literal["hour", "day", "week"] = "day"
    file: str | None = Field(default=None, description="CSV or Parquet with columns start, volume")
    replay: str | None = Field(default=None, description="task log (CSV or Parquet) whose items' created_at "
                                                         "are this queue's arrivals")
    queue: str | None = Field(default=None, description="with replay: the queue's name in the log "
                                                        "(default: this queue's)")

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        if sum(x is not None for x in (self.mean, self.file, self.replay)) != 1:
            raise ValueError("give one of mean (with per), file or replay")
        return self

    def daily_mean(self) -> float:
        """Items per day for a mean-rate volume."""
        assert self.mean is not None
        return self.mean * {"hour": 24.0, "day": 1.0, "week": 1.0 / 7.0}[self.per]


class Surge(Model):
    start: dt.datetime | dt.date = Field(description="a date means 00:00 in the queue's time zone")
    duration: Annotated[Duration, Field(gt=0, le=24 * 7 * 520)]
    factor: Annotated[float, Field(ge=0, le=1000)]

    @field_validator("start")
    @classmethod
    def _start_plausible(cls, value: dt.date) -> dt.date:
        return _plausible_date(value)


class HandlingTime(Model):
    mean: Annotated[Duration, Field(gt=0, le=24 * 7)]
    cv: Annotated[float, Field(ge=0, le=10)] = 1.0
    dist: Literal["lognormal", "gamma", "exponential", "constant"] = "lognormal"

    @model_validator(mode="after")
    def _cv_fits_dist(self) -> HandlingTime:
        if self.dist == "exponential" and abs(self.cv - 1.0) > 1e-12:
            raise ValueError(f"an exponential handling time has cv 1, got cv {self.cv:g}; drop cv or pick gamma")
        if self.dist in ("gamma", "lognormal") and self.cv == 0:
            raise ValueError(f"cv 0 with {self.dist} is a constant; write dist: constant")
        return self


class Sla(Model):
    target: Annotated[Duration, Field(gt=0)]
    attainment: Probability = 0.8


def _profile(length: int):
    def check(values: list[float] | None) -> list[float] | None:
        if values is None:
            return values
        if len(values) != length:
            raise ValueError(f"needs exactly {length} weights, got {len(values)}")
        if sum(values) <= 0:
            raise ValueError("weights must not all be zero")
        return values
    return check


class Queue(Model):
    volume: Volume
    hourly_profile: Annotated[list[Annotated[float, Field(ge=0)]] | None,
                              Field(description="24 weights by local hour; default flat")] = None
    weekly_profile: Annotated[list[Annotated[float, Field(ge=0)]] | None,
                              Field(description="7 weights Mon..Sun; default flat")] = None
    timezone: str = "UTC"
    growth_weekly: Annotated[float, Field(gt=-1, le=10)] = 0.0
    volume_cv: Annotated[float, Field(ge=0, le=5)] = 0.0
    surges: list[Surge] = []
    initial_backlog: Annotated[int, Field(ge=0)] = 0
    handling_time: HandlingTime
    skill: str
    priority: Annotated[int, Field(ge=1, le=100)] = 1
    sla: Sla
    quality_target: Probability | None = None
    difficulty: Annotated[float, Field(ge=0, le=100)] = 1.0
    sensitive: bool = False
    workflow: str = "standard"

    _hourly = field_validator("hourly_profile")(_profile(24))
    _weekly = field_validator("weekly_profile")(_profile(7))
    _tz = field_validator("timezone")(_check_zone)

    @model_validator(mode="after")
    def _growth_with_file(self) -> Queue:
        if self.volume.replay is not None and (self.growth_weekly != 0 or self.volume_cv != 0 or self.surges):
            raise ValueError("a replayed log's arrivals are played as they happened: remove growth_weekly, "
                             "volume_cv and surges from this queue")
        if self.volume.file is not None and self.growth_weekly != 0:
            raise ValueError("growth_weekly does not apply to a forecast file (the forecast carries its own "
                             "trend); remove growth_weekly or use volume: {mean: ...}")
        return self


class StageWork(Model):
    """A later stage done by a pool with `skill`, taking `handling_time`."""

    skill: str
    handling_time: HandlingTime


class Label(Model):
    passes: Annotated[int, Field(ge=1, le=9)] = 1


class Review(StageWork):
    sample: Fraction = 0.1
    detection: Fraction = 0.9


class Rework(Model):
    handling_factor: Annotated[float, Field(gt=0, le=10)] = 1.0
    max_loops: Annotated[int, Field(ge=0, le=20)] = 2


class Escalation(StageWork):
    probability: Fraction = 0.0


class Audit(Model):
    sample: Fraction = 0.0


class Workflow(Model):
    label: Label = Label()
    adjudication: StageWork | None = None
    review: Review | None = None
    rework: Rework = Rework()
    escalation: Escalation | None = None
    audit: Audit | None = None


DEFAULT_WORKFLOW = Workflow()


class SkillSpec(Model):
    speed: Annotated[float, Field(gt=0, le=10)] = 1.0
    accuracy: Probability | None = Field(default=None, description="default: the pool's accuracy")


def _skills_as_map(value: Any) -> Any:
    if isinstance(value, list):
        return {name: {} for name in value} if all(isinstance(n, str) for n in value) else value
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


class Shift(Model):
    start: Annotated[str, Field(description="local wall time HH:MM")]
    length: Annotated[Duration, Field(gt=0, le=24)]
    days: str | list[str] = "Mon-Fri"
    share: Probability | None = Field(default=None, description="share of the pool's head-count on this shift "
                                      "(1 if the pool has one shift)")
    headcount: Annotated[int, Field(ge=0, le=100_000)] | None = Field(
        default=None, description="absolute head-count on this shift, instead of share; the pool's is the sum")

    @field_validator("start")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
            raise ValueError(f"expected a local time HH:MM from 00:00 to 23:59, got {value!r}")
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: str | list[str]) -> str | list[str]:
        parse_days(value)
        return value


class Hire(Model):
    week: Annotated[int, Field(ge=1)]
    count: Annotated[int, Field(ge=0, le=100_000)]


class Ramp(Model):
    duration: Annotated[Duration, Field(gt=0)]
    speed: Probability = 0.6
    accuracy: Probability = 0.9


class Pool(Model):
    headcount: Annotated[int, Field(ge=0, le=100_000)]
    skills: Annotated[dict[str, SkillSpec], BeforeValidator(_skills_as_map), Field(min_length=1)]
    accuracy: Probability = 0.95
    timezone: str = "UTC"
    shifts: Literal["24x7"] | Annotated[list[Shift], Field(min_length=1)] = "24x7"
    shrinkage: Annotated[float, Field(ge=0, lt=1, description="planned share of each shift off work (breaks, "
                                  "meetings, training), staggered: N (1 - shrinkage) available at every moment")] = 0.0
    absence: Annotated[float, Field(ge=0, lt=1, description="unplanned: the probability each worker-shift is "
                                "missed whole (sickness, no-shows)")] = 0.0
    absence_paid: bool = Field(default=True, description="whether missed worker-shifts are paid")
    cost_per_hour: Annotated[float, Field(ge=0)] = 0.0
    exposure_cap: Annotated[Duration, Field(gt=0, le=24)] | None = None
    routing: Literal["priority", "oldest", "deadline"] = "priority"
    attrition_monthly: Annotated[float, Field(ge=0, lt=1)] = 0.0
    hires: list[Hire] = []
    ramp: Ramp | None = None

    _tz = field_validator("timezone")(_check_zone)

    def available_share(self) -> float:
        """Expected share of paid shift time a head works: (1 - shrinkage) (1 - absence) when absence is paid."""
        return (1 - self.shrinkage) * (1 - self.absence) / self.paid_share()

    def paid_share(self) -> float:
        """Share of rostered shift time that is paid: 1, or 1 - absence when missed shifts are unpaid."""
        return 1.0 if self.absence_paid else 1 - self.absence

    @model_validator(mode="before")
    @classmethod
    def _headcount_from_shifts(cls, data: Any) -> Any:
        """Shifts with absolute head-counts make the pool's head-count their sum (a different one is an error)."""
        shifts = data.get("shifts") if isinstance(data, dict) else None
        if not isinstance(shifts, list) or not all(isinstance(x, dict) for x in shifts):
            return data
        counted = [x.get("headcount") is not None for x in shifts]
        if not any(counted):
            return data
        if not all(counted) or any(x.get("share") is not None for x in shifts):
            raise ValueError("give every shift a headcount or every shift a share, not a mix")
        if not all(isinstance(x["headcount"], int) and not isinstance(x["headcount"], bool) for x in shifts):
            return data  # the shift's own validation names the bad value
        total = sum(x["headcount"] for x in shifts)
        if data.get("headcount") is not None and data["headcount"] != total:
            raise ValueError(f"headcount {data['headcount']!r} differs from the shifts' head-counts, which sum to "
                             f"{total}; drop the pool's headcount (it is their sum)")
        return dict(data, headcount=total)

    @field_validator("shifts")
    @classmethod
    def _shares_sum_to_one(cls, shifts: Any) -> Any:
        if isinstance(shifts, list) and all(s.headcount is None for s in shifts):
            total = sum(1.0 if s.share is None else s.share for s in shifts)
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"shift shares must sum to 1, they sum to {total:g}")
        return shifts

    def shift_shares(self) -> list[float]:
        """Each shift pattern's share of the head-count: `share`, or head-count / the pool's ([1.0] for 24x7).
        Hires join the pattern furthest below its share, so absolute rosters keep their proportions."""
        if self.shifts == "24x7":
            return [1.0]
        if self.shifts[0].headcount is not None:
            total = sum(s.headcount or 0 for s in self.shifts)
            return [(s.headcount or 0) / total if total else 1.0 / len(self.shifts) for s in self.shifts]
        return [1.0 if s.share is None else s.share for s in self.shifts]

    def skill_accuracy(self, skill: str) -> float:
        """Accuracy of one label with `skill`: the skill's override or the pool's default."""
        spec = self.skills[skill]
        return self.accuracy if spec.accuracy is None else spec.accuracy


class Variable(Model):
    """A decision variable: ints when low, high (and step) are written as integers, else floats."""

    low: int | float | None = None
    high: int | float | None = None
    step: Annotated[int | float, Field(gt=0)] | None = None
    choices: list[Any] | None = None


class Roster(Model):
    """Candidate shift patterns of one pool for the optimiser: start x length x days, in the pool's zone."""

    starts: list[str] | None = Field(default=None, description="local start times HH:MM")
    every: Annotated[Duration, Field(gt=0, le=24)] | None = Field(default=None,
                                                                  description="starts every so long from 00:00")
    lengths: Annotated[list[Annotated[Duration, Field(gt=0, le=24)]], Field(min_length=1)]
    days: Annotated[list[str], Field(min_length=1)] = ["daily"]
    max_patterns: Annotated[int, Field(ge=1)] | None = None
    max_heads: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        default=None, description="most heads on one pattern (default: 2 x the pool's head-count, at least 10)")

    @model_validator(mode="after")
    def _one_way_to_start(self) -> Roster:
        if (self.starts is None) == (self.every is None):
            raise ValueError("give starts (a list of HH:MM) or every (e.g. 2h), not both and not neither")
        for start in self.starts or []:
            Shift(start=start, length=1.0)
        for days in self.days:
            parse_days(days)
        return self

    def patterns(self) -> list[tuple[str, float, str]]:
        """Every (start, length, days) the roster may staff, in a stable order."""
        if self.starts is not None:
            starts = list(self.starts)
        else:
            step = round(self.every * 60)  # type: ignore[operator]
            starts = [f"{m // 60:02d}:{m % 60:02d}" for m in range(0, 24 * 60, max(1, step))]
        return [(start, length, days) for start in starts for length in self.lengths for days in self.days]


class Optimize(Model):
    objective: str | Annotated[list[str], Field(min_length=1, max_length=4)] = "cost"
    trials: Annotated[int, Field(ge=1, le=100_000)] = 100
    replications: Annotated[int, Field(ge=1, le=1000)] = 3
    variables: Annotated[dict[str, Variable], Field(max_length=200)] = {}
    constraints: Annotated[list[str], Field(max_length=500)] = []
    screen: bool = True  # analytic screen and square-root warm start (false: to measure what they save)
    prune: bool = True  # stop a trial's replications early when it is clearly infeasible or costlier
    strategy: Literal["auto", "structured", "tpe", "grid"] = "auto"  # see optimize/runner.py
    rosters: Annotated[dict[str, Roster], Field(max_length=50)] = {}  # pool -> candidate shift patterns
    polish: Annotated[int, Field(ge=0, le=1000)] = 10  # step-downs of the verified plan tried on fresh replications
    # exchanges (a failed step down with the cheapest raise elsewhere that covers it) tried after the steps
    polish_exchanges: Annotated[int, Field(ge=0, le=1000)] = 4
    # most fresh replications one verification runs: a plan missing only on its bounds gets a second look
    # (optimize/verify.py); None: 4 x the first look's; at or below the first look's: one look at 95%
    verify_max: Annotated[int | None, Field(ge=2, le=10_000)] = None
    # from 10 fresh replications, estimate turnaround, backlog and exposure KPIs with the offered work
    # as a control variate (optimize/controls.py); false: plain t bounds
    control_variates: bool = True


class Scenario(Model):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    horizon: Horizon
    queues: Annotated[dict[str, Queue], Field(min_length=1)]
    workflows: dict[str, Workflow] = {}
    pools: Annotated[dict[str, Pool], Field(min_length=1)]
    optimize: Optimize | None = None

    def workflow_of(self, queue_id: str) -> Workflow:
        """The workflow a queue runs; 'standard' defaults to one label pass when not defined."""
        name = self.queues[queue_id].workflow
        return self.workflows.get(name, DEFAULT_WORKFLOW)

    def skills_of(self, queue_id: str) -> set[str]:
        """The skills a queue's items need: labelling and every stage of its workflow."""
        wf = self.workflow_of(queue_id)
        stages = (wf.adjudication, wf.review, wf.escalation)
        return {self.queues[queue_id].skill} | {stage.skill for stage in stages if stage is not None}

    def drain_hours(self) -> float:
        """How long after the end measured items are followed: `horizon.drain`, else 4 x the longest SLA target."""
        if self.horizon.drain is not None:
            return self.horizon.drain
        return 4.0 * max(q.sla.target for q in self.queues.values())
