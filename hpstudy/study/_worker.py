"""A worker process: claims grid points of one study and trains them until none is left.

The training step is a plain function (``TrainFn``); the default,
:func:`~hpstudy.study._train_step.train_point`, trains with fastai. Tests and benchmarks pass a
stand-in (see :mod:`hpstudy.testing`) and so exercise
the real claim, heartbeat, retry and queue code without training a network.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpstudy.errors import HostError
from hpstudy.study._data import HostSettings
from hpstudy.study._grid import GridPoint
from hpstudy.study._heartbeat import Heartbeat, HeartbeatSettings, heartbeat_of
from hpstudy.study._optuna import enqueued_params, storage_of, study_id_of, trial_id_of
from hpstudy.study._signals import install_interrupt_handlers, interruptible
from hpstudy.study._study import (
    ATTR_ATTEMPT,
    ATTR_ERROR,
    ATTR_INTERRUPTED,
    ATTR_POINT,
    DEFAULT_MAX_ATTEMPTS,
    ClaimingFn,
    StudyRef,
    claim_next,
    ensure_queued,
    fail_stale,
    finish,
    load_study,
    point_of,
)
from hpstudy.study._train_step import torch_threads, train_point
from hpstudy.study._trial_record import TrialWriter

if TYPE_CHECKING:
    import optuna

__all__ = ["TrainFn", "WorkerConfig", "pending", "run_worker", "worker_main"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker process needs; plain data so it crosses process boundaries.

    Attributes:
        storage_url: The study storage (may hold a password: never print it, use ``redact``).
        study_name: ``<spec>:<dataset>``.
        data_root: Folder holding the dataset (default ``$HPSTUDY_DATA``).
        cache_dir: Cache root (see :class:`~hpstudy.study.HostSettings`).
        gpu_share: Share of free GPU memory a split may take (see
            :class:`~hpstudy.study.HostSettings`).
        device: ``cpu`` or ``cuda`` (inside the worker, after ``CUDA_VISIBLE_DEVICES``).
        gpu: The physical GPU id this worker was given (``CUDA_VISIBLE_DEVICES``), if any.
        threads: Torch CPU threads of every trial (see :func:`resolve_threads`); ``None`` leaves
            torch's default.
        worker_id: A label shown in progress and status.
        max_attempts: Attempts a grid point gets before it is left failed (default limit of points
            enqueued without one).
        poll_s: Seconds between checks for stale trials while the queue is empty but trials run.
        compile_mode: ``torch.compile`` mode for training on CUDA (``None``: eager).
    """

    storage_url: str
    study_name: str
    data_root: str | None = None
    device: str = "cpu"
    gpu: str | None = None
    threads: int | None = None
    worker_id: str = "w0"
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    poll_s: float = 2.0
    compile_mode: str | None = None
    cache_dir: str | None = None
    gpu_share: float | None = None

    @property
    def host(self) -> HostSettings:
        """This worker's host settings."""
        return HostSettings(self.data_root, self.cache_dir, self.gpu_share)


#: ``train_fn(ref, trial, point, config) -> metric``: trains one claimed grid point.
TrainFn = Callable[[StudyRef, "optuna.Trial", GridPoint, WorkerConfig], float]


def _device_label(config: WorkerConfig) -> str:
    if config.device.startswith("cuda") and config.gpu is not None:
        return f"cuda:{config.gpu}"
    return config.device


def _owner(config: WorkerConfig) -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "worker": config.worker_id,
        "device": _device_label(config),
        "claimed_at": time.time(),
    }


def _record_failure(ref: StudyRef, trial: optuna.Trial, exc: BaseException) -> None:
    _record_end(ref, trial, {ATTR_ERROR: f"{type(exc).__name__}: {exc}"[:2000],
                             "traceback": traceback.format_exc()[-4000:]})


def _record_interrupt(ref: StudyRef, trial: optuna.Trial) -> None:
    _record_end(ref, trial, {ATTR_INTERRUPTED: True, ATTR_ERROR: "interrupted"})


def _record_end(ref: StudyRef, trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    """Store ``attrs``, fail the trial and re-enqueue its point, unless it is already finished.

    A trial failed as stale by another process while this worker still ran it is finished: its
    failure is already recorded, and its point re-enqueued, by that process.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
    except UpdateFinishedTrialError:
        return
    if finish(ref, trial_id_of(trial), TrialState.FAIL):
        ensure_queued(ref, keys={trial.user_attrs[ATTR_POINT]})


def _taken_away(ref: StudyRef, trial: optuna.Trial, exc: BaseException) -> bool:
    """Whether ``exc`` only says that the trial was finished by another process (failed as stale)."""
    from optuna.exceptions import UpdateFinishedTrialError

    if isinstance(exc, UpdateFinishedTrialError):
        return True
    try:  # a training loop may wrap the error of its callback
        return storage_of(ref.study).get_trial(trial_id_of(trial)).state.is_finished()
    except Exception:  # noqa: BLE001 - the storage is unreachable: record the failure as usual
        return False


def _dropped(trial: optuna.Trial, point: GridPoint) -> bool:
    _log.warning("trial %d (%s) was failed as stale by another process while it ran; its result "
                 "is dropped and the point runs again", trial.number, point.key)
    return False


def _suggest_point(ref: StudyRef, trial: optuna.Trial) -> GridPoint:
    """The grid point of a claimed trial, from the parameters it was enqueued with.

    The replicate's range comes from the trial itself, so a worker opened before another host raised
    the study's ``replicates`` still runs the new points; a trial enqueued before replicates existed
    is replicate 0. The five factors become float parameters beside ``variant``
    (:func:`~hpstudy.study._grid.factor_distributions`).
    """
    from hpstudy.study._grid import factor_distributions, variants

    fixed = enqueued_params(storage_of(ref.study), trial_id_of(trial))
    variant = trial.suggest_categorical("variant", [v.name for v in variants(ref.spec)])
    fraction = trial.suggest_categorical("fraction", sorted(ref.spec.fractions))
    replicate = 0
    if "replicate" in fixed:
        # an integer parameter: its range may grow with the study (a categorical's may not)
        high = max(ref.spec.replicates, int(fixed["replicate"]) + 1) - 1
        replicate = trial.suggest_int("replicate", 0, high)
    for name, d in factor_distributions(ref.spec).items():
        if name in fixed:  # trials enqueued before the factors were parameters have none
            trial.suggest_float(name, d.low, d.high, log=d.log)
    return point_of(ref, variant, fraction, replicate)


def _run_one(
    ref: StudyRef, trial: optuna.Trial, config: WorkerConfig, train_fn: TrainFn,
    heartbeat: HeartbeatSettings,
) -> bool:
    """Train one claimed trial and record its outcome. Returns whether it completed.

    A trial failed as stale by another process while it trains (its heartbeat looked overdue from
    another host) is noticed at its next write, e.g. the per-epoch report: the worker stops it with
    one log line and goes on; that process has already recorded the failure and re-enqueued it.
    """
    from optuna.trial import TrialState

    point = _suggest_point(ref, trial)
    started = time.time()
    _log.info("trial %d (%s, attempt %s) started", trial.number, point.key,
              trial.user_attrs.get(ATTR_ATTEMPT, 1))
    with Heartbeat(storage_of(ref.study), trial_id_of(trial), heartbeat, trial.number):
        try:
            with interruptible():
                value = float(train_fn(ref, trial, point, config))
            if not math.isfinite(value):
                raise FloatingPointError(f"the metric is {value} (the loss diverged)")
            TrialWriter.attempt_wall(trial, time.time() - started)
        except KeyboardInterrupt:
            _record_interrupt(ref, trial)
            raise
        except HostError:  # a full disk: every trial here would fail alike, so stop, use no attempt
            with contextlib.suppress(Exception):  # the storage itself may be what is full
                _record_interrupt(ref, trial)
            raise
        except Exception as exc:  # a failed trial must not stop the study
            if _taken_away(ref, trial, exc):
                return _dropped(trial, point)
            _log.warning("trial %d (%s, attempt %s) failed: %s", trial.number, point.key,
                         trial.user_attrs.get(ATTR_ATTEMPT, 1), exc)
            _record_failure(ref, trial, exc)
            return False
        if not finish(ref, trial_id_of(trial), TrialState.COMPLETE, value):
            return _dropped(trial, point)
    _log.info("trial %d (%s) complete: %.4g in %.0f s", trial.number, point.key, value,
              time.time() - started)
    return True


def pending(ref: StudyRef) -> bool:
    """Whether any trial of the study is still RUNNING or WAITING."""
    from optuna.trial import TrialState

    return bool(storage_of(ref.study).get_all_trials(
        study_id_of(ref.study), deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)
    ))


def run_worker(config: WorkerConfig, train_fn: TrainFn = train_point, *,
               claiming: ClaimingFn | None = None) -> int:
    """Claim and train grid points until no trial of the study is waiting or running.

    A trial that raises is recorded ``FAIL`` with the error text and its point re-enqueued until its
    attempt limit; an interrupted one (Ctrl-C, SIGTERM) is recorded ``FAIL`` as interrupted and
    re-enqueued without using an attempt, so the next run continues where this one stopped. While
    the queue is empty but other workers' trials run, the worker waits and fails those whose
    heartbeat stopped, then trains their re-enqueued points.

    Args:
        config: Where the study is and how to train.
        train_fn: The training step (default: fastai, :func:`train_point`).
        claiming: Told the id of each trial while it is being claimed (see
            :data:`~hpstudy.study._study.ClaimingFn`); a local pool uses it to release a trial
            whose worker it had to kill mid-claim.

    Returns:
        The number of trials this worker completed.
    """
    with torch_threads(config.threads):
        return _work(config, train_fn, claiming)


def _work(config: WorkerConfig, train_fn: TrainFn, claiming: ClaimingFn | None) -> int:
    from hpstudy.study._storage import open_storage

    storage = open_storage(config.storage_url, create=False)
    ref = load_study(storage, config.study_name)
    heartbeat = heartbeat_of(ref.study)
    rng = random.Random(f"{socket.gethostname()}:{os.getpid()}:{time.time()}")
    done = 0
    while True:
        trial = claim_next(ref, owner=_owner(config), rng=rng, claiming=claiming)
        if trial is not None:
            done += _run_one(ref, trial, config, train_fn, heartbeat)
            continue
        if fail_stale(ref, heartbeat):
            continue
        if not pending(ref):
            return done
        with interruptible():
            time.sleep(config.poll_s)


def worker_main(config: WorkerConfig, train_fn: TrainFn = train_point, *,
                claiming: ClaimingFn | None = None) -> None:
    """Process entry point (``multiprocessing`` target); ``claiming`` as for :func:`run_worker`."""
    install_interrupt_handlers()
    if config.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = config.gpu
    with contextlib.suppress(KeyboardInterrupt):
        run_worker(config, train_fn, claiming=claiming)
