"""Heartbeats: how a dead worker (SIGKILL, OOM, a lost host) is told apart from a slow one.

A worker records a heartbeat for its trial every ``interval_s`` seconds from a background thread
(Optuna's ``RDBStorage.record_heartbeat``, stamped with the database server's clock, so hosts need
no synchronised clocks). A ``RUNNING`` trial whose last heartbeat is older than ``grace_s`` is
stale: any process may switch it to ``FAIL``; the switch is atomic (row lock, or
``BEGIN IMMEDIATE`` on SQLite), so exactly one process wins and re-enqueues the grid point. The
settings are stored on the study when it is created, so every worker on every host
judges staleness the same way.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hpstudy.study._storage import rdb_of

if TYPE_CHECKING:
    import optuna

__all__ = ["ATTR_HEARTBEAT", "Heartbeat", "HeartbeatSettings", "heartbeat_of", "stale_trial_ids"]

ATTR_HEARTBEAT = "heartbeat"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeartbeatSettings:
    """How often a worker beats and how long a silent trial stays ``RUNNING``.

    Attributes:
        interval_s: Seconds between two heartbeats of a running trial (a positive integer).
        grace_s: Seconds without a heartbeat after which a trial is stale; at least twice
            ``interval_s`` so one slow database write never fails a live trial.
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
    stored = study.user_attrs.get(ATTR_HEARTBEAT)
    return HeartbeatSettings(**stored) if stored else HeartbeatSettings()


def stale_trial_ids(study: optuna.Study, settings: HeartbeatSettings) -> list[int]:
    """IDs of the study's ``RUNNING`` trials whose last heartbeat is older than ``grace_s``."""
    rdb = rdb_of(study)
    # Optuna reads the interval and grace period from the storage object; set ours for this call.
    rdb.heartbeat_interval = settings.interval_s
    rdb.grace_period = settings.grace_s
    try:
        return list(rdb._get_stale_trial_ids(study._study_id))
    finally:
        rdb.heartbeat_interval = None  # keep Study.ask free of "heartbeat needs optimize" warnings
        rdb.grace_period = None


class Heartbeat:
    """A context manager that beats for one trial from a daemon thread until it exits.

    The first beat is recorded by the caller (see ``claim_next``) before the trial is claimed, so a
    ``RUNNING`` trial always has one; this thread keeps it fresh. A failed write is logged and
    retried at the next interval: the grace period absorbs a few.
    """

    def __init__(self, storage: Any, trial_id: int, settings: HeartbeatSettings) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"hpstudy-heartbeat-{trial_id}", daemon=True
        )

    def _run(self) -> None:
        while not self._stop.wait(self._settings.interval_s):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception as exc:  # noqa: BLE001 - a missed beat must not kill the trial
                _log.warning("heartbeat of trial %d failed: %s", self._trial_id, exc)

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
