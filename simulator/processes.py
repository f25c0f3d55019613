"""Worker processes that never outlive the run: a pool whose workers ignore Ctrl-C (the main process
answers it) and exit within half a second once the process that started them is gone, whether it
ended, was killed with SIGKILL or SIGTERM, or stopped at Ctrl-C."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterator

WATCH_SECONDS = 0.5


def _gone(pid: int) -> bool:
    """True once `pid` has exited: no such process, or a zombie its own parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except FileNotFoundError:
        return True
    except OSError:  # no /proc (not Linux): ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # the pid was reused by another user's process
            return True
        return False


def _watch(parent: int) -> None:
    """Exit this worker at once when `parent` has exited."""
    while not _gone(parent):
        time.sleep(WATCH_SECONDS)
    os._exit(1)


def _bind_to_parent(parent: int) -> None:
    """Worker initializer: leave SIGINT to the main process, and watch that process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()


QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    """A process pool of `jobs` workers bound to this process (forkserver where available: workers start
    without this process's memory and imports).

    A run stopped at Ctrl-C exits at once and leaves the pool's semaphores to multiprocessing's resource
    tracker, which removes them and would warn about each on stderr; the tracker is started with the
    interpreter's -W options, so one more in sys.warnoptions keeps the interrupted run's output to a line.
    """
    if QUIET_TRACKER not in sys.warnoptions:
        sys.warnoptions.append(QUIET_TRACKER)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_bind_to_parent,
                               initargs=(os.getpid(),))


_kept: dict[int, ProcessPoolExecutor] = {}  # jobs -> the pool a `kept_workers` block holds open


@contextmanager
def kept_workers(jobs: int) -> Iterator[None]:
    """Inside this block, every `pool_of(jobs)` is one pool kept open, not a new one each time: starting
    workers costs 2-4 s of imports on 2 cores, and verification starts a run for every look and wave.
    Workers start at the first task, so a block that never needs them costs nothing."""
    if jobs <= 1 or jobs in _kept:
        yield
        return
    _kept[jobs] = worker_pool(jobs)
    try:
        yield
    finally:
        _kept.pop(jobs).shutdown(cancel_futures=True)


@contextmanager
def pool_of(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `jobs` workers: the one a `kept_workers` block holds, else a new one closed on leaving."""
    if jobs in _kept:
        yield _kept[jobs]
        return
    with worker_pool(jobs) as pool:
        yield pool
