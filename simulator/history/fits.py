"""The estimates `calibrate` makes from a task log, each with its evidence (n and a 95% interval).

Volume (per queue, in its time zone): the base daily level, weekly growth (log-linear fit on whole
weeks), weekly and hourly profiles, and the day-to-day cv beyond Poisson noise. Handling (per queue):
each pool's durations rescaled to the reference pool's speed, then lognormal, gamma or exponential by
AIC. Speed and accuracy per pool x skill; review sample rate and detection, escalation probability
and label passes per queue. All vectorised on the log's columns (pandas), so 10M rows take seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

FIT_SAMPLE = 50_000  # durations the distribution's shape is fitted on (all of them give the mean and cv)
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """One fitted value and the evidence the calibrated scenario prints beside it."""

    value: Any
    evidence: str


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / (1 + Z95 ** 2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(successes: int, n: int, what: str) -> Estimate:
    """A share with its Wilson interval."""
    lo, hi = wilson(successes, n)
    return Estimate(round(successes / n, 4) if n else 0.0, f"{successes:,} of {n:,} {what}; 95% CI {lo:.4f}-{hi:.4f}")


@dataclass(frozen=True)
class VolumeFit:
    """One queue's arrivals, as the scenario's volume fields."""

    daily_mean: Estimate
    growth_weekly: Estimate
    weekly_profile: Estimate
    hourly_profile: Estimate
    volume_cv: Estimate
    first_day: pd.Timestamp  # the first whole local day the fit used
    days: int
    observed_week: np.ndarray  # mean items per local hour of the week (Mon 00-01 first), whole weeks only
    fitted_week: np.ndarray  # the same from the fitted profiles: mean per day x weekly x hourly


def whole_days(created: pd.Series, tz: str) -> tuple[pd.Series, pd.Timestamp, int]:
    """Local creation times (naive) of the items inside whole local days of the log, the first such
    day and how many. The log's span is rounded out to whole hours, so a log that starts at 00:03 with
    the first item still counts its first day."""
    local = created.dt.tz_convert(tz).dt.tz_localize(None)
    lo, hi = local.min().floor("h"), local.max().ceil("h")
    first = lo.normalize() + (pd.Timedelta(0) if lo == lo.normalize() else pd.Timedelta(days=1))
    last = hi.normalize()  # exclusive
    days = max(0, (last - first).days)
    inside = local[(local >= first) & (local < last)]
    return inside, first, days


def fit_volume(created: pd.Series, tz: str) -> VolumeFit | None:
    """The volume fields of one queue from its items' creation times; None under two whole days."""
    local, first, n_days = whole_days(created, tz)
    if n_days < 2:
        return None
    day = ((local - first).dt.days).to_numpy()
    counts = np.bincount(day, minlength=n_days).astype(float)
    weekday = (first.weekday() + np.arange(n_days)) % 7
    week = np.arange(n_days) // 7
    n_weeks = n_days // 7
    if n_weeks >= 2:
        totals = np.array([counts[7 * w:7 * w + 7].sum() for w in range(n_weeks)])
        fit = stats.linregress(np.arange(n_weeks), np.log(np.maximum(totals, 0.5)))
        growth, level = math.expm1(fit.slope), math.exp(fit.intercept) / 7
        if n_weeks > 2:
            half = _slope_half(fit, n_weeks)
            growth_note = (f"log-linear fit on {n_weeks} whole weeks; 95% CI {math.expm1(fit.slope - half):+.4f} "
                           f"to {math.expm1(fit.slope + half):+.4f}")
        else:
            growth_note = "log-linear fit on 2 whole weeks (no interval from 2 points)"
    else:
        growth, level = 0.0, float(counts.mean())
        growth_note = "under 2 whole weeks: no growth fitted"
    trend = (1 + growth) ** week
    detrended = counts / trend
    by_weekday = np.array([detrended[weekday == d].mean() if (weekday == d).any() else np.nan for d in range(7)])
    by_weekday = np.where(np.isnan(by_weekday), np.nanmean(by_weekday), by_weekday)
    weekly = by_weekday / by_weekday.mean()
    hours = np.bincount(local.dt.hour.to_numpy(), minlength=24).astype(float)
    hourly = hours / hours.mean() if hours.sum() else np.ones(24)
    expected = level * trend * weekly[weekday]
    excess = (counts - expected) ** 2 - expected
    cv = _cv(excess, expected, np.arange(n_days))
    resampled = np.random.default_rng(0).integers(0, n_days, (200, n_days))  # bootstrap over days
    cv_lo, cv_hi = np.quantile([_cv(excess, expected, days) for days in resampled], [0.025, 0.975])
    weekday_half = max(float(Z95 * detrended[weekday == d].std(ddof=1) / math.sqrt((weekday == d).sum()))
                       for d in range(7) if (weekday == d).sum() > 1) / by_weekday.mean() if n_days >= 14 else float("nan")
    hour_half = float(Z95 * np.sqrt(hours.max()) / hours.mean()) if hours.sum() else float("nan")
    sd = float(counts.std(ddof=1)) if n_days > 1 else 0.0
    half_mean = stats.t.ppf(0.975, n_days - 1) * sd / math.sqrt(n_days)
    mean_note = (f"{int(counts.sum()):,} items over {n_days} whole days from {first.date()}; level at the first day"
                 f"{' (trend removed)' if n_weeks >= 2 else ''}; mean per day {counts.mean():,.1f} +- {half_mean:,.1f} (95%)")
    span = 7 * n_weeks if n_weeks else n_days  # whole weeks where there are: every hour of the week alike
    seen = local[(local - first).dt.days < span]
    observed_week = np.bincount((seen.dt.day_of_week * 24 + seen.dt.hour).to_numpy(), minlength=168) / (span / 7)
    fitted_week = counts[:span].mean() * np.repeat(weekly, 24) * np.tile(hourly / hourly.sum(), 7)
    return VolumeFit(
        daily_mean=Estimate(round(level, 2), mean_note),
        growth_weekly=Estimate(round(growth, 5), growth_note),
        weekly_profile=Estimate([round(float(x), 3) for x in weekly],
                                f"{n_days} days, Mon..Sun, mean 1; 95% CI of each weight +- {weekday_half:.3f} or less"),
        hourly_profile=Estimate([round(float(x), 3) for x in hourly],
                                f"{len(local):,} items by local hour, mean 1; 95% CI of each weight +- {hour_half:.3f} "
                                "or less (Poisson)"),
        volume_cv=Estimate(round(cv, 3), f"{n_days} days; day-to-day variance beyond Poisson around the fitted "
                                         f"level, trend and weekly profile; 95% CI {cv_lo:.3f}-{cv_hi:.3f} "
                                         "(bootstrap over days)"),
        first_day=first, days=n_days, observed_week=observed_week, fitted_week=fitted_week)


def _cv(excess: np.ndarray, expected: np.ndarray, days: np.ndarray) -> float:
    """Day-to-day cv beyond Poisson over the chosen days: sqrt(sum((c - E)^2 - E) / sum(E^2)), 0 if negative."""
    return math.sqrt(max(0.0, float(excess[days].sum() / max(1e-9, (expected[days] ** 2).sum()))))


def _slope_half(fit: Any, n_weeks: int) -> float:
    """Half-width of the 95% interval of a linregress slope."""
    return float(stats.t.ppf(0.975, n_weeks - 2) * fit.stderr)


@dataclass(frozen=True)
class HandlingFit:
    """One queue's handling time at speed 1, and the speed of each pool that labelled it."""

    mean_seconds: Estimate
    cv: float
    dist: str
    speeds: dict[str, tuple[float, int, float]]  # pool -> (speed, label tasks, relative 95% half-width)
    qq: tuple[np.ndarray, np.ndarray]  # (empirical, fitted) quantiles of the work at 1..99%, seconds


def family(dist: str, mean: float, cv: float) -> Any:
    """The frozen scipy distribution of a handling time given as family, mean and cv (as the model draws it)."""
    if dist == "exponential" or cv <= 0:
        return stats.expon(scale=mean)
    if dist == "gamma":
        return stats.gamma(1 / cv ** 2, scale=mean * cv ** 2)
    sigma2 = math.log1p(cv * cv)
    return stats.lognorm(math.sqrt(sigma2), scale=mean * math.exp(-sigma2 / 2))


def choose_distribution(work: np.ndarray) -> tuple[str, str]:
    """(lognormal | gamma | exponential, the AIC of each) on positive durations, by the lowest AIC."""
    sample = work[work > 0]
    if len(sample) > FIT_SAMPLE:
        sample = np.random.default_rng(0).choice(sample, FIT_SAMPLE, replace=False)
    scale = float(sample.mean())
    x = sample / scale  # unit mean: the fits are then well conditioned
    aic = {}
    shape, _, s = stats.lognorm.fit(x, floc=0)
    aic["lognormal"] = 4 - 2 * float(stats.lognorm.logpdf(x, shape, 0, s).sum())
    a, _, s = stats.gamma.fit(x, floc=0)
    aic["gamma"] = 4 - 2 * float(stats.gamma.logpdf(x, a, 0, s).sum())
    aic["exponential"] = 2 - 2 * float(stats.expon.logpdf(x, 0, 1.0).sum())
    best = min(aic, key=aic.get)  # type: ignore[arg-type]
    base = aic[best]
    return best, ", ".join(f"{k} {v - base:+.0f}" for k, v in sorted(aic.items(), key=lambda kv: kv[1]))


def fit_handling(labels: pd.DataFrame, reference_speed: dict[str, float]) -> HandlingFit:
    """From one queue's label tasks (pool, seconds): each pool's speed is the reference pool's mean
    duration over its own, the reference (most tasks) keeping its speed from --base (else 1); the
    distribution is fitted to the durations rescaled to speed 1."""
    labels = labels.assign(pool=labels["pool"].astype("category").cat.rename_categories(str))
    by_pool = labels.groupby("pool", observed=True)["seconds"].agg(["mean", "size"])
    by_pool = by_pool[by_pool["size"] > 0]
    reference = str(by_pool["size"].idxmax())
    mean_work = float(by_pool.loc[reference, "mean"]) * reference_speed.get(reference, 1.0)
    spread = labels.groupby("pool", observed=True)["seconds"].agg(["std"])["std"].fillna(0.0)
    relative = {str(p): float(spread[p] / row["mean"] / math.sqrt(row["size"])) if row["mean"] else 0.0
                for p, row in by_pool.iterrows()}  # relative standard error of each pool's mean
    speeds = {str(p): (mean_work / float(row["mean"]), int(row["size"]),
                       Z95 * math.sqrt(relative[str(p)] ** 2 + (relative[reference] ** 2 if str(p) != reference else 0)))
              for p, row in by_pool.iterrows()}
    factor = labels["pool"].map({p: s for p, (s, _, _) in speeds.items()}).to_numpy(dtype=float)
    work = labels["seconds"].to_numpy(dtype=float) * factor
    n = len(work)
    cv = float(work.std(ddof=1) / work.mean()) if n > 1 and work.mean() > 0 else 0.0
    half = Z95 * float(work.std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
    dist, aic = choose_distribution(work)
    note = (f"{n:,} label tasks at speed 1 (reference pool {reference}); mean 95% CI {work.mean() - half:.1f}-"
            f"{work.mean() + half:.1f} s; AIC against the best: {aic}")
    probabilities = np.arange(1, 100) / 100
    qq = (np.quantile(work, probabilities), family(dist, float(work.mean()), cv).ppf(probabilities))
    return HandlingFit(Estimate(round(float(work.mean()), 2), note), round(cv, 3), dist, speeds, qq)


def fit_duration(seconds: pd.Series, what: str) -> tuple[Estimate, float]:
    """Mean (with its 95% interval) and cv of a later stage's task durations."""
    x = seconds.to_numpy(dtype=float)
    n = len(x)
    sd = float(x.std(ddof=1)) if n > 1 else 0.0
    half = Z95 * sd / math.sqrt(n) if n > 1 else float("nan")
    return (Estimate(round(float(x.mean()), 2), f"{n:,} {what} tasks; mean 95% CI {x.mean() - half:.1f}-"
                                                f"{x.mean() + half:.1f} s"), round(float(sd / x.mean()), 3) if x.mean() else 0.0)
