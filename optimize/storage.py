"""Optuna storage for the search, safe to share between machines.

- `open_storage` gives heartbeats to RDB storages (PostgreSQL, SQLite): a trial whose worker stops
  beating for `grace` seconds is failed by any other worker and its parameters are run again.
- `StudyLock` serialises "count the trials, then ask for one" across machines with a PostgreSQL
  advisory lock, so several workers together run exactly the trial budget; on other storages only
  this process asks, so it is a no-op.
- `Heartbeat` beats for the trials this process is running, from a background thread.
"""

from __future__ import annotations

import threading
import warnings
import zlib
from contextlib import AbstractContextManager
from typing import Any

import optuna
import sqlalchemy

from simulator.scenario.errors import AnnoplanError


def open_storage(url: str | None, heartbeat: float) -> optuna.storages.BaseStorage | None:
    """An RDB storage with heartbeats for a URL; None (in memory) without one."""
    if url is None:
        return None
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5; they are what makes sharing safe
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=max(1, int(heartbeat)), grace_period=max(2, int(2 * heartbeat)),
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
        except Exception as exc:  # SQLAlchemy raises many kinds: bad URL, no driver, server down, no rights
            raise unreachable(url, exc) from None


def unreachable(url: str, exc: Exception) -> AnnoplanError:
    """The error a user sees for a storage URL that cannot be opened (exit 2)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return AnnoplanError(f"--storage {url}: cannot open it ({reason}); give sqlite:///FILE.db or "
                         "postgresql://USER:PASSWORD@HOST:PORT/DB of a running server")


class StudyLock(AbstractContextManager):
    """A cross-machine mutex for one study (PostgreSQL advisory lock); a no-op elsewhere."""

    def __init__(self, url: str | None, study_name: str):
        self._url = url
        try:
            self._engine = sqlalchemy.create_engine(url) if url and url.startswith("postgresql") else None
        except Exception as exc:
            raise unreachable(str(url), exc) from None
        self._key = zlib.crc32(f"annoplan:{study_name}".encode())
        self._conn: Any = None

    def __enter__(self) -> StudyLock:
        if self._engine is not None:
            try:
                self._conn = self._engine.connect()
            except Exception as exc:
                raise unreachable(str(self._url), exc) from None
            self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


class Heartbeat:
    """Records a heartbeat for each trial this process runs: at once when it starts (Optuna never
    counts a trial without any heartbeat as stale), then every `interval` seconds from a thread."""

    def __init__(self, storage: optuna.storages.BaseStorage | None, interval: float):
        self.running: set[int] = set()
        self._storage = storage if isinstance(storage, optuna.storages.RDBStorage) else None  # not study._storage:
        # Optuna wraps an RDBStorage in a cache layer that is not an RDBStorage
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            for trial_id in list(self.running):
                self._storage.record_heartbeat(trial_id)  # type: ignore[union-attr]

    def start(self, trial_id: int) -> None:
        """A trial begins: beat now, then with the others."""
        if self._storage is not None:
            self._storage.record_heartbeat(trial_id)
        self.running.add(trial_id)

    def __enter__(self) -> Heartbeat:
        if self._storage is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
