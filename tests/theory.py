"""Exact queueing results the engine is checked against (independent of the engine's code)."""

from __future__ import annotations

import math

from scipy.optimize import brentq


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability an arrival waits in M/M/c with c servers and offered load a = lambda/mu (< c)."""
    a, c = offered_load, servers
    top = a ** c / math.factorial(c) * c / (c - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean time in queue of M/M/c: C(c, a) / (c mu - lambda)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_sojourn_cdf(t: float, lam: float, mu: float, c: int) -> float:
    """P(T <= t), T = wait + service in M/M/c (FCFS).

    Wait is 0 with prob 1 - C, else Exp(theta) with theta = c mu - lambda; service is Exp(mu):
    P(T > t) = (1 - C) e^{-mu t} + C (theta e^{-mu t} - mu e^{-theta t}) / (theta - mu).
    """
    C, theta = erlang_c(c, lam / mu), c * mu - lam
    if abs(theta - mu) < 1e-12:
        tail_wait = (1 + mu * t) * math.exp(-mu * t)
    else:
        tail_wait = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return 1.0 - ((1 - C) * math.exp(-mu * t) + C * tail_wait)


def mmc_sojourn_quantile(q: float, lam: float, mu: float, c: int) -> float:
    """The q-quantile of M/M/c sojourn time."""
    return brentq(lambda t: mmc_sojourn_cdf(t, lam, mu, c) - q, 1e-9, 1e4)
