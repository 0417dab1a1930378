"""A worker process: claims grid points of one study and trains them until none is left."""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from hpstudy.study._grid import GridPoint
from hpstudy.study._study import (
    ATTR_ATTEMPT,
    DEFAULT_MAX_ATTEMPTS,
    StudyRef,
    claim_next,
    load_study,
    lr_find_key,
    point_of,
    requeue,
)

if TYPE_CHECKING:
    import optuna

    from hpstudy.study._data import StudyData

__all__ = ["WorkerConfig", "run_worker", "train_point"]


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker process needs; plain data so it crosses process boundaries."""

    storage_url: str
    study_name: str
    data_root: str | None = None
    device: str = "cpu"
    threads: int | None = None
    worker_id: str = "w0"
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


def train_point(
    ref: StudyRef, data: StudyData, trial: optuna.Trial, point: GridPoint, device: str
) -> float:
    """Train one claimed grid point and record everything about it on the trial."""
    from hpstudy.training import Hyperparams, train_trial

    fraction_attr = ref.study.user_attrs.get(lr_find_key(point.fraction))
    if fraction_attr is None:
        raise RuntimeError(f"no stored lr-finder value for fraction {point.fraction:g}")
    base_lr = float(fraction_attr["lr"])
    hp_values = dict(point.variant.hparams)
    hp = Hyperparams(
        lr=base_lr * hp_values["lr_mult"],
        divisor=hp_values["divisor"],
        wd=hp_values["wd"],
        beta2=hp_values["beta2"],
        ps=hp_values["ps"],
    )
    settings = data.settings(ref.spec, device)
    trial.set_user_attr("hparams", {**asdict(hp), "lr_mult": hp_values["lr_mult"]})
    trial.set_user_attr("lr_find", base_lr)
    trial.set_user_attr("metric", settings.metric)
    trial.set_user_attr("device", device)
    trial.set_user_attr("pid", os.getpid())
    train, valid = data.train(point.fraction), data.valid()
    trial.set_user_attr("n_train", len(train))

    epochs: list[dict[str, float | int | str]] = []

    def on_epoch(rec) -> None:  # noqa: ANN001 - EpochRecord
        epochs.append(asdict(rec))
        trial.report(rec.metric, rec.epoch)
        trial.set_user_attr("epochs", epochs)

    result = train_trial(train, valid, hp, settings, on_epoch=on_epoch)
    trial.set_user_attr("wall_s", round(result.wall_s, 3))
    trial.set_user_attr("images_per_s", round(result.images_per_s, 1))
    return result.metric


def run_worker(config: WorkerConfig) -> int:
    """Claim and train grid points until the queue is empty. Returns the number of trials run.

    A trial that raises is told ``FAIL`` with the error text and re-enqueued until
    ``max_attempts``; an interrupted one (Ctrl-C) is told ``FAIL`` as interrupted and re-enqueued
    without counting as an attempt, so the next run continues where this one stopped.
    """
    import torch
    from optuna.trial import TrialState

    from hpstudy.study._data import StudyData
    from hpstudy.study._storage import open_storage

    if config.threads:
        torch.set_num_threads(config.threads)
    storage = open_storage(config.storage_url, create=False)
    ref = load_study(storage, config.study_name)
    data = StudyData.open(ref.dataset, config.data_root, ref.spec)
    done = 0
    while True:
        trial = claim_next(ref)
        if trial is None:
            return done
        variant = trial.suggest_categorical("variant", [p.variant.name for p in ref.points])
        fraction = trial.suggest_categorical("fraction", sorted(ref.spec.fractions))
        point = point_of(ref, variant, fraction)
        attempt = int(trial.user_attrs.get(ATTR_ATTEMPT, 1))
        trial.set_user_attr("worker", config.worker_id)
        started = time.time()
        try:
            value = train_point(ref, data, trial, point, config.device)
        except KeyboardInterrupt:
            trial.set_user_attr("error", "interrupted")
            ref.study.tell(trial, state=TrialState.FAIL)
            requeue(ref, point, attempt=attempt)
            raise
        except Exception as exc:  # a failed trial must not stop the study
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:2000])
            trial.set_user_attr("traceback", traceback.format_exc()[-4000:])
            ref.study.tell(trial, state=TrialState.FAIL)
            if attempt < config.max_attempts:
                requeue(ref, point, attempt=attempt + 1)
            continue
        trial.set_user_attr("trial_wall_s", round(time.time() - started, 3))
        ref.study.tell(trial, value)
        done += 1


def worker_main(config: WorkerConfig) -> None:
    """Process entry point (``multiprocessing`` target)."""
    try:
        run_worker(config)
    except KeyboardInterrupt:
        pass
