"""`annoplan forecast LOG --horizon 13w -o forecasts/`: each queue's daily volume forecast with trend and
weekly seasonality (ETS, Hyndman et al.'s exponential smoothing state-space models, from statsmodels),
with 80% and 95% intervals, written as files `volume: {file: ...}` reads, and the forecast's error on
held-out final weeks (WAPE) so a planner knows how far to trust it.

Among the ETS forms with additive or multiplicative error, no, additive or damped additive trend and
additive or multiplicative weekly seasonality, the lowest AIC is chosen per queue. ETS intervals leave
out the uncertainty of the fitted parameters and of the form, so they run narrow: the final weeks are
held out, forecast from the weeks before, and the intervals are widened (never narrowed) by the root
mean square of the held-out errors over the model's own standard deviation.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd

from simulator.scenario.errors import AnnoplanError

from .fits import whole_days

MIN_DAYS = 28  # four weekly cycles before a seasonal model means anything
Z95 = 1.959963984540054


@dataclass
class QueueForecast:
    """One queue's forecast (daily rows: start, volume, lo80, hi80, lo95, hi95) and its backtest."""

    queue: str
    model: str
    table: pd.DataFrame
    wape: float | None  # on the held-out final weeks, fitted on the weeks before
    held_out_days: int
    widen: float  # how much the held-out errors widened the intervals


def daily_counts(created: pd.Series, tz: str) -> pd.Series:
    """Items per whole local day, indexed by the day's local midnight (tz-aware)."""
    local, first, days = whole_days(created, tz)
    counts = np.bincount(((local - first).dt.days).to_numpy(), minlength=days).astype(float)
    index = pd.date_range(first, periods=days, freq="D").tz_localize(tz, nonexistent="shift_forward",
                                                                      ambiguous=False)
    return pd.Series(counts, index=index)


def _fit(series: pd.Series):  # -> (statsmodels ETSResults, its label)
    """The ETS form with the lowest AIC on `series` (positive forms only when every value is)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    values = pd.Series(series.to_numpy(), index=pd.RangeIndex(len(series)))
    positive = bool((values > 0).all())
    best = None
    for error, (trend, damped), seasonal in product(("add", "mul"), ((None, False), ("add", False), ("add", True)),
                                                    ("add", "mul")):
        if not positive and "mul" in (error, seasonal):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on short series: the AIC judges the fit
            try:
                result = ETSModel(values, error=error, trend=trend, seasonal=seasonal, seasonal_periods=7,
                                  damped_trend=damped).fit(disp=False)
            except (ValueError, np.linalg.LinAlgError):
                continue
        if not math.isfinite(result.aic):
            continue
        label = f"ETS({error[0].upper()},{'Ad' if damped else 'A' if trend else 'N'},{seasonal[0].upper()}) weekly"
        if best is None or result.aic < best[0].aic:
            best = (result, label)
    if best is None:
        raise AnnoplanError("no exponential-smoothing model fits the series")
    return best


def _predict(result, start: int, days: int) -> pd.DataFrame:
    """Point forecast and 80% / 95% intervals for `days` steps from `start` (deterministic simulation)."""
    prediction = result.get_prediction(start=start, end=start + days - 1, rng=np.random.default_rng(0))
    frames = {alpha: prediction.summary_frame(alpha=alpha) for alpha in (0.2, 0.05)}
    return pd.DataFrame({"volume": frames[0.05]["mean"].to_numpy(),
                         "lo80": frames[0.2]["pi_lower"].to_numpy(), "hi80": frames[0.2]["pi_upper"].to_numpy(),
                         "lo95": frames[0.05]["pi_lower"].to_numpy(), "hi95": frames[0.05]["pi_upper"].to_numpy()})


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |actual - forecast| / sum actual."""
    return float(np.abs(actual - forecast).sum() / max(1e-9, actual.sum()))


def forecast_queue(queue: str, counts: pd.Series, days: int) -> QueueForecast:
    """Backtest on the final weeks (a quarter of the history, 1 to 4 weeks), then refit on all of it and
    forecast `days` days after the last."""
    if len(counts) < MIN_DAYS:
        raise AnnoplanError(f"queue {queue}: {len(counts)} whole days in the log; a weekly forecast needs at least "
                            f"{MIN_DAYS} (NICE CXone asks for 3 months)")
    held = 7 * min(4, max(1, len(counts) // 28))
    train = counts.iloc[:-held]
    score, widen = None, 1.0
    if len(train) >= MIN_DAYS:
        early, _ = _fit(train)
        back = _predict(early, len(train), held)
        actual = counts.iloc[-held:].to_numpy()
        score = wape(actual, back["volume"].to_numpy())
        sd = ((back["hi95"] - back["lo95"]) / (2 * Z95)).to_numpy()
        widen = max(1.0, float(np.sqrt(np.mean(((actual - back["volume"].to_numpy()) / np.maximum(sd, 1e-9)) ** 2))))
    result, label = _fit(counts)
    table = _predict(result, len(counts), days)
    for low, high in (("lo80", "hi80"), ("lo95", "hi95")):  # widened by what the held-out weeks showed
        table[low] = table["volume"] - widen * (table["volume"] - table[low])
        table[high] = table["volume"] + widen * (table[high] - table["volume"])
    table = table.clip(lower=0.0)
    starts = pd.date_range(counts.index[-1] + pd.DateOffset(days=1), periods=days, freq="D")
    table.insert(0, "start", [t.isoformat() for t in starts])
    return QueueForecast(queue, label, table.round(2), score, held if score is not None else 0, round(widen, 3))
