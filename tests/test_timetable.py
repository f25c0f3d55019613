"""The timetable runs calendar routines exactly as SimPy processes would: same times, same order of ties."""

from __future__ import annotations

import numpy as np
import simpy

from simulator.model.dispatch import Dispatcher
from simulator.model.timetable import Timetable


def _delays(seed: int) -> list[list[float]]:
    """Ten routines of whole-hour and half-hour delays, so many steps fall at equal times."""
    rng = np.random.default_rng(seed)
    return [rng.choice([0.0, 0.5, 1.0, 2.0], size=int(rng.integers(1, 30))).tolist() for _ in range(10)]


def _routine(env: simpy.Environment, name: int, delays: list[float], log: list, simpy_style: bool):
    for delay in delays:
        log.append((env.now, name))
        yield env.timeout(delay) if simpy_style else delay
    log.append((env.now, name))


def _run(delays: list[list[float]], simpy_style: bool, until: float) -> list[tuple[float, int]]:
    env, log = simpy.Environment(), []
    if simpy_style:
        for name, d in enumerate(delays):
            env.process(_routine(env, name, d, log, True))
    else:
        timetable = Timetable(env, Dispatcher(env, 0.0, until, int(until)).at)
        for name, d in enumerate(delays):
            timetable.add(_routine(env, name, d, log, False))
        timetable.start()
    env.run(until=until)
    return log


def test_timetable_matches_simpy_processes_step_for_step():
    for seed in range(20):
        delays = _delays(seed)
        assert _run(delays, False, until=12.0) == _run(delays, True, until=12.0)


def test_nothing_runs_at_or_after_the_horizon():
    log = _run([[5.0, 5.0, 5.0]], False, until=10.0)
    assert log == [(0.0, 0), (5.0, 0)]
