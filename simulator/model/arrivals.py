"""Where arrivals are made: the expected count per clock hour, and Poisson arrival times from it.

Arrivals are a non-homogeneous Poisson process, piecewise constant per clock hour (docs/scenario.md):
expected arrivals in an hour = daily mean x weekly weight (mean 1) x hourly weight (sum 1) x growth
x surge x that day's forecast-error factor; profiles are read in the queue's time zone.
"""

from __future__ import annotations

import datetime as dt
import math
from array import array
from itertools import chain
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from simulator.scenario.calendar import horizon_origin, local_hour_and_day, to_hours, zone
from simulator.scenario.forecast import forecast_hours, read_forecast
from simulator.scenario.task_log import replay_hours
from simulator.scenario.schema import Queue, Surge


def _profile_weights(queue: Queue, local_hour: np.ndarray, local_weekday: np.ndarray) -> np.ndarray:
    hourly = np.asarray(queue.hourly_profile or [1.0] * 24, dtype=float)
    weekly = np.asarray(queue.weekly_profile or [1.0] * 7, dtype=float)
    return (hourly / hourly.sum())[local_hour] * (weekly / weekly.mean())[local_weekday]


def surge_hours(surge: Surge, tz_name: str, origin: dt.datetime) -> tuple[float, float]:
    """Clock hours [start, end) of a surge; a bare date means 00:00 in the queue's time zone."""
    start = surge.start
    if not isinstance(start, dt.datetime):
        start = dt.datetime(start.year, start.month, start.day)
    if start.tzinfo is None:
        start = start.replace(tzinfo=zone(tz_name))
    begin = to_hours(origin, start)
    return begin, begin + surge.duration


def expected_per_hour(queue: Queue, start: dt.date, n_hours: int) -> np.ndarray:
    """Expected arrivals in each clock hour before the day-level forecast error (deterministic)."""
    origin = horizon_origin(start)
    clock = np.arange(n_hours, dtype=float)
    if queue.volume.replay is not None:
        times = replayed(queue, start)
        return np.bincount(times[(times >= 0) & (times < n_hours)].astype(int), minlength=n_hours).astype(float)
    if queue.volume.file is None:
        local_hour, local_weekday, _ = local_hour_and_day(origin, n_hours, queue.timezone)
        weights = _profile_weights(queue, local_hour, local_weekday)
        rate = queue.volume.daily_mean() * weights * (1.0 + queue.growth_weekly) ** (clock // 168)
    else:
        rate = _spread_forecast(queue, origin, n_hours)
    for surge in queue.surges:
        begin, end = surge_hours(surge, queue.timezone, origin)
        rate = np.where((clock >= begin) & (clock < end), rate * surge.factor, rate)
    return rate


def expected_in_window(queue: Queue, start: dt.date, window_start: float, window_end: float) -> float:
    """Expected arrivals with times in [window_start, window_end): the hourly rates integrated over the
    window (arrivals are uniform within their hour; day factors have mean 1), a replayed log's count, and
    the initial backlog, which arrives at 0. Exact, so a KPI can be regressed on the realised count."""
    backlog = queue.initial_backlog if window_start <= 0.0 < window_end else 0
    if queue.volume.replay is not None:
        times = replayed(queue, start)
        return float(((times >= window_start) & (times < window_end)).sum() + backlog)
    n_hours = math.ceil(window_end)
    hours = np.arange(n_hours, dtype=float)
    overlap = np.clip(np.minimum(hours + 1, window_end) - np.maximum(hours, window_start), 0.0, 1.0)
    return float(expected_per_hour(queue, start, n_hours) @ overlap) + backlog


def replayed(queue: Queue, start: dt.date) -> np.ndarray:
    """A replayed queue's arrival times (clock hours, sorted) from its task log."""
    assert queue.volume.replay is not None and queue.volume.queue is not None
    return replay_hours(queue.volume.replay, queue.volume.queue, horizon_origin(start))


def replay_chunks(times: np.ndarray, n_hours: int, chunk_hours: int = 168) -> Iterator[np.ndarray]:
    """The replayed times in [0, n_hours) cut into the same weekly chunks as `arrival_chunks`."""
    for h0 in range(0, n_hours, chunk_hours):
        yield times[(times >= h0) & (times < min(h0 + chunk_hours, n_hours))]


def _spread_forecast(queue: Queue, origin: dt.datetime, n_hours: int) -> np.ndarray:
    """Each forecast row's volume spread over its hours in proportion to the profile weights.

    Weights are computed over every hour the rows span, so a row cut by the horizon keeps only its share.
    """
    assert queue.volume.file is not None
    frame = read_forecast(Path(queue.volume.file))
    starts, ends = forecast_hours(frame, pd.Timestamp(origin))
    first = min(0, math.floor(starts.min()))
    last = max(n_hours, math.ceil(ends.max()))
    local_hour, local_weekday, _ = local_hour_and_day(origin + dt.timedelta(hours=first), last - first,
                                                      queue.timezone)
    weights = _profile_weights(queue, local_hour, local_weekday)
    rate = np.zeros(n_hours)
    for begin, end, volume in zip(starts, ends, frame["volume"].to_numpy()):
        hours = np.arange(math.floor(begin), math.ceil(end))
        overlap = np.minimum(hours + 1, end) - np.maximum(hours, begin)
        share = weights[hours - first] * overlap
        if share.sum() <= 0:
            continue
        spread = volume * share / share.sum()
        inside = (hours >= 0) & (hours < n_hours)
        rate[hours[inside]] += spread[inside]
    return rate


def day_factors(volume_cv: float, n_days: int, rng: np.random.Generator) -> np.ndarray:
    """Mean-1 lognormal day-to-day forecast-error factors (all 1 when volume_cv is 0)."""
    if volume_cv == 0:
        return np.ones(n_days)
    sigma2 = math.log1p(volume_cv * volume_cv)
    return rng.lognormal(-sigma2 / 2.0, math.sqrt(sigma2), n_days)


def hourly_rates(queue: Queue, start: dt.date, n_hours: int, rng: np.random.Generator) -> np.ndarray:
    """Expected arrivals per clock hour for one replication, with that replication's day factors."""
    rate = expected_per_hour(queue, start, n_hours)
    if queue.volume_cv == 0 or queue.volume.replay is not None:
        return rate
    _, _, local_day = local_hour_and_day(horizon_origin(start), n_hours, queue.timezone)
    return rate * day_factors(queue.volume_cv, int(local_day[-1]) + 1, rng)[local_day]


def arrival_chunks(rates: np.ndarray, rng: np.random.Generator, chunk_hours: int = 168) -> Iterator[np.ndarray]:
    """Poisson arrival times (clock hours, sorted), one array per `chunk_hours` (a week), so memory
    stays flat; a chunk with no arrivals is an empty array, so every queue has the same chunks."""
    for h0 in range(0, len(rates), chunk_hours):
        counts = rng.poisson(rates[h0:h0 + chunk_hours])
        total = int(counts.sum())
        if total == 0:
            yield np.empty(0)
            continue
        times = np.repeat(np.arange(h0, h0 + len(counts), dtype=float), counts) + rng.random(total)
        times.sort()
        yield times


def merged_arrivals(chunks: Sequence[Iterator[np.ndarray]], end: float) -> Iterator[tuple[float, int]]:
    """Every queue's arrivals before `end` in one time-ordered stream of (time, queue's index in `chunks`).

    Each queue's chunks come from its own random stream, so merging changes no draw. Equal times keep
    the queues' order. The stream is a C-level chain over one week at a time: per arrival no Python
    frame and no heap operation. A week's times and owners are arrays, not lists, so the ~90,000
    arrivals of a Trust & Safety week are not float objects and list slots that the garbage collector
    walks (simulated 2 MB cache: 7.7 -> 3.5 misses per item); owners are small cached ints.
    """
    def week(parts: tuple[np.ndarray, ...]) -> Iterator[tuple[float, int]]:
        times = np.concatenate(parts)
        owner = np.repeat(np.arange(len(parts), dtype=np.int64), [len(p) for p in parts])
        order = np.argsort(times, kind="stable")
        times, owner = times[order], owner[order]
        inside = times < end
        return zip(array("d", times[inside].tobytes()), array("q", owner[inside].tobytes()))

    return chain.from_iterable(map(week, zip(*chunks)))
