"""Handling-time distributions parameterised by mean and coefficient of variation (cv)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .random_streams import BlockDraws
from simulator.scenario.schema import HandlingTime


def sampler(spec: HandlingTime, rng: np.random.Generator, factor: float = 1.0) -> Callable[[int], np.ndarray]:
    """A function n -> n handling times in hours with mean `spec.mean * factor` and the spec's cv."""
    mean, cv = spec.mean * factor, spec.cv
    if spec.dist == "constant":
        return lambda n: np.full(n, mean)
    if spec.dist == "exponential":
        return lambda n: rng.exponential(mean, n)
    if spec.dist == "gamma":
        shape = 1.0 / (cv * cv)
        return lambda n: rng.gamma(shape, mean / shape, n)
    sigma2 = math.log1p(cv * cv)
    mu, sigma = math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)
    return lambda n: rng.lognormal(mu, sigma, n)


def handling_times(spec: HandlingTime, rng: np.random.Generator, factor: float = 1.0) -> BlockDraws:
    """A stream of handling times (work content at speed 1), drawn in blocks."""
    return BlockDraws(sampler(spec, rng, factor))
