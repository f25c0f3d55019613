"""Wall-clock helpers: the horizon's UTC hours, local hours and weekdays in a time zone, day lists."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import numpy as np

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def parse_days(spec: str | list[str]) -> tuple[int, ...]:
    """Weekday numbers (Mon=0) from "Mon-Fri", "Mon,Wed,Fri", "Sat-Sun", "daily" or a list of names."""
    parts: list[str] = spec if isinstance(spec, list) else [p for p in spec.replace(" ", "").split(",") if p]
    if parts in (["daily"], ["Mon-Sun"]):
        return tuple(range(7))
    days: list[int] = []
    for part in parts:
        first, _, last = part.partition("-")
        try:
            a = WEEKDAYS.index(first.capitalize())
            b = WEEKDAYS.index(last.capitalize()) if last else a
        except ValueError:
            raise ValueError(f"unknown day in {spec!r}; use Mon, Tue, Wed, Thu, Fri, Sat, Sun, "
                             "ranges like Mon-Fri, or 'daily'") from None
        days.extend((a + i) % 7 for i in range(((b - a) % 7) + 1))
    if not days:
        raise ValueError("no days given; use e.g. Mon-Fri")
    return tuple(sorted(set(days)))


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError with a hint when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tzdata folder such as "America"
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as UTC, Europe/Dublin, "
                         "Asia/Singapore or America/New_York") from None


def horizon_origin(start: dt.date) -> dt.datetime:
    """The instant the clock reads 0: 00:00 UTC on the horizon's start date."""
    return dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc)


def to_hours(origin: dt.datetime, when: dt.datetime) -> float:
    """Clock time (hours from origin) of an aware datetime."""
    return (when - origin).total_seconds() / 3600.0


def local_hour_and_day(origin: dt.datetime, n_hours: int, tz_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each clock hour 0..n-1: local hour of day, local weekday, and local day index from the first day.

    zoneinfo applies DST; one conversion per hour costs about 3 microseconds, negligible next to the run.
    """
    tz = zone(tz_name)
    import numpy as np  # here, not at the top: loading a scenario (validate, --help) never needs numpy

    hours = np.empty(n_hours, dtype=np.int64)
    weekdays = np.empty(n_hours, dtype=np.int64)
    days = np.empty(n_hours, dtype=np.int64)
    first_day = origin.astimezone(tz).date()
    for h in range(n_hours):
        local = (origin + dt.timedelta(hours=h)).astimezone(tz)
        hours[h] = local.hour
        weekdays[h] = local.weekday()
        days[h] = (local.date() - first_day).days
    return hours, weekdays, days


def local_instant(day: dt.date, hhmm: str, tz_name: str) -> dt.datetime:
    """The aware instant of local wall time `hhmm` on `day` in `tz_name` (a time skipped by DST moves forward)."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    tz = zone(tz_name)
    naive = dt.datetime(day.year, day.month, day.day, hour, minute)
    aware = naive.replace(tzinfo=tz)
    # A wall time inside a spring-forward gap does not exist; round-trip through UTC moves it forward.
    return aware.astimezone(dt.timezone.utc).astimezone(tz)
