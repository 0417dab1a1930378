"""Heartbeats: how a dead worker (SIGKILL, OOM, a lost host) is told apart from a slow one.

A worker records a heartbeat for its trial every ``interval_s`` seconds from a background thread
(Optuna's ``RDBStorage.record_heartbeat``, stamped with the database server's clock, so hosts need
no synchronised clocks). A write that fails (a busy storage) is logged and retried after a short
backoff (0.5 s, doubling, at most ``interval_s``), not only at the next interval.

A ``RUNNING`` trial is *stale*, and any process may switch it to ``FAIL``, only on evidence that
its worker is gone:

- **Same host** (the trial records its worker's host, pid and start token, see
  :mod:`hpstudy.study._liveness`): stale when its last heartbeat is older than ``grace_s`` *and*
  that process no longer runs. A live worker is never failed, however late its heartbeat: a
  heartbeat writer blocked by a busy storage (SQLite's write lock under load) is not a dead one.
- **Another host** (or a process that cannot be checked): stale when its last heartbeat is older
  than a grace period that grows with what the storage and hosts manage: ``grace_s + 2 x L``, where
  ``L`` is the larger of the worst heartbeat delay that trial's worker saw (stored on the trial as
  ``heartbeat_lag_s`` when a beat came more than a second late) and the slowest storage call this
  process saw in the last 10 minutes (its own heartbeat writes and stale checks). A loaded host
  shows in both: its heartbeats come late and its storage calls take long.

The switch to ``FAIL`` is atomic (row lock, or ``BEGIN IMMEDIATE`` on SQLite), so exactly one
process wins and re-enqueues the grid point. The settings are stored on the study when it is
created, so every worker on every host judges staleness the same way. Overdue heartbeats are read
through Optuna's private ``RDBStorage._get_stale_trial_ids`` (see :mod:`hpstudy.study._optuna`).
"""

from __future__ import annotations

import collections
import logging
import math
import random
import threading
import time
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hpstudy.study._liveness import is_alive
from hpstudy.study._optuna import heartbeat_stale_trial_ids, rdb_url, storage_of, study_id_of
from hpstudy.study._storage import describe_error

if TYPE_CHECKING:
    import optuna

__all__ = [
    "ATTR_HEARTBEAT",
    "ATTR_LAG",
    "ATTR_PROC",
    "Heartbeat",
    "HeartbeatSettings",
    "heartbeat_of",
    "overdue_trial_ids",
    "stale_trial_ids",
]

ATTR_HEARTBEAT = "heartbeat"
#: Trial user attribute: the start token of the worker process (see :mod:`hpstudy.study._liveness`).
ATTR_PROC = "proc"
#: Trial user attribute: the longest delay (s) beyond ``interval_s`` between two of its heartbeats.
ATTR_LAG = "heartbeat_lag_s"
_RETRY_S = 0.5
_LATENCY_WINDOW_S = 600.0
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeartbeatSettings:
    """How often a worker beats and how long a silent trial stays ``RUNNING``.

    Attributes:
        interval_s: Seconds between two heartbeats of a running trial (a positive integer).
        grace_s: Seconds without a heartbeat after which a trial whose worker is gone is stale;
            at least twice ``interval_s``. For a worker on another host it is lengthened by the
            storage latency seen (see the module doc).
    """

    interval_s: int = 10
    grace_s: int = 60

    def __post_init__(self) -> None:
        if self.interval_s < 1:
            raise ValueError(f"heartbeat interval_s must be >= 1 (got {self.interval_s})")
        if self.grace_s < 2 * self.interval_s:
            raise ValueError(
                f"heartbeat grace_s ({self.grace_s}) must be at least twice interval_s "
                f"({self.interval_s})"
            )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def heartbeat_of(study: optuna.Study) -> HeartbeatSettings:
    """The heartbeat settings stored on ``study`` (the defaults for a study that has none)."""
    from hpstudy.study._records import study_attrs

    stored = study_attrs(study).get(ATTR_HEARTBEAT)
    return HeartbeatSettings(**stored) if stored else HeartbeatSettings()


class _Latency:
    """The slowest storage call this process saw in the last ``_LATENCY_WINDOW_S`` seconds."""

    def __init__(self) -> None:
        self._seen: collections.deque[tuple[float, float]] = collections.deque()
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._seen.append((now, seconds))
            while self._seen[0][0] < now - _LATENCY_WINDOW_S:
                self._seen.popleft()

    def slowest(self) -> float:
        now = time.monotonic()
        with self._lock:
            return max((s for t, s in self._seen if t >= now - _LATENCY_WINDOW_S), default=0.0)


_latency = _Latency()


def overdue_trial_ids(study: optuna.Study, interval_s: int, grace_s: float) -> list[int]:
    """IDs of the study's ``RUNNING`` trials whose last heartbeat is older than ``grace_s``.

    Heartbeats alone: whether the worker still runs is not looked at (see :func:`stale_trial_ids`).
    """
    started = time.monotonic()
    try:
        return heartbeat_stale_trial_ids(storage_of(study), study_id_of(study), interval_s, grace_s)
    finally:
        _latency.observe(time.monotonic() - started)


def stale_trial_ids(study: optuna.Study, settings: HeartbeatSettings) -> list[int]:
    """IDs of the study's ``RUNNING`` trials whose worker is gone (the rule in the module doc)."""
    overdue = overdue_trial_ids(study, settings.interval_s, settings.grace_s)
    stale: list[int] = []
    by_grace: dict[int, list[int]] = {}
    for tid in overdue:
        attrs = storage_of(study).get_trial(tid).user_attrs
        alive = is_alive(attrs.get("host"), attrs.get("pid"), attrs.get(ATTR_PROC))
        if alive is False:
            stale.append(tid)
        elif alive is None:
            lag = max(float(attrs.get(ATTR_LAG, 0.0)), _latency.slowest())
            by_grace.setdefault(math.ceil(settings.grace_s + 2 * lag), []).append(tid)
    for grace, tids in by_grace.items():
        if grace > settings.grace_s:
            late = set(overdue_trial_ids(study, settings.interval_s, grace))
            tids = [tid for tid in tids if tid in late]
        stale += tids
    return sorted(stale)


class Heartbeat:
    """A context manager that beats for one trial from a daemon thread until it exits.

    The first beat is recorded by the caller (see ``claim_next``) before the trial is claimed, so a
    ``RUNNING`` trial always has one; this thread keeps it fresh. A failed write is logged as one
    line and retried after a short backoff (0.5 s, doubling, at most ``interval_s``). A beat that
    comes more than a second late is stored on the trial (``heartbeat_lag_s``, when it is the worst
    yet by half), so that other hosts give this trial a longer grace period.
    """

    def __init__(
        self, storage: Any, trial_id: int, settings: HeartbeatSettings, number: int | None = None
    ) -> None:
        self._storage = storage
        self._label = trial_id if number is None else number  # the trial number users see
        self._url = rdb_url(storage) or ""
        self._trial_id = trial_id
        self._settings = settings
        self._lag_stored = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"hpstudy-heartbeat-{trial_id}", daemon=True
        )

    def _beat(self) -> bool:
        started = time.monotonic()
        try:
            self._storage.record_heartbeat(self._trial_id)
            return True
        except Exception as exc:  # noqa: BLE001 - a missed beat must not kill the trial
            _log.warning("heartbeat write of trial %d failed (retrying): %s", self._label,
                         describe_error(exc, self._url))
            return False
        finally:
            _latency.observe(time.monotonic() - started)

    def _store_lag(self, lag: float) -> None:
        if lag < 1.0 or lag < 1.5 * self._lag_stored:
            return
        try:
            self._storage.set_trial_user_attr(self._trial_id, ATTR_LAG, round(lag, 1))
            self._lag_stored = lag
        except Exception as exc:  # noqa: BLE001 - e.g. the trial finished meanwhile
            _log.debug("storing the heartbeat lag of trial %d failed: %s", self._label, exc)

    def _run(self) -> None:
        interval = self._settings.interval_s
        last = time.monotonic()
        failures = 0
        wait: float = interval
        while not self._stop.wait(wait):
            if not self._beat():
                failures += 1
                wait = min(interval, _RETRY_S * 2 ** (failures - 1)) * random.uniform(0.8, 1.0)
                continue
            now = time.monotonic()
            if failures:
                _log.warning("heartbeat of trial %d written again after %d failed attempt(s)",
                             self._label, failures)
            self._store_lag(now - last - interval)
            last, failures, wait = now, 0, interval

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, 2.0 * self._settings.interval_s))
