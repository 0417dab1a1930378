"""One trial of the study protocol: frozen one-cycle, then unfrozen one-cycle with discriminative lrs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpstudy.datasets import Task
from hpstudy.errors import HpstudyError
from hpstudy.training._data import DecodedSplit
from hpstudy.training._learner import Hyperparams, TrainSettings, build_learner

__all__ = ["EpochRecord", "TrainResult", "TrainingDiverged", "train_trial"]


class TrainingDiverged(HpstudyError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's losses and validation metrics; ``stage`` is ``frozen`` or ``unfrozen``.

    ``metric`` is the dataset's primary metric; ``extra`` its other metrics by name.
    """

    epoch: int
    stage: str
    train_loss: float
    valid_loss: float
    metric: float
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What a trial produced: the final metric, per-epoch history and throughput.

    ``probs`` and ``targets`` are the last validation pass's per-image outputs (softmax or sigmoid
    probabilities, ``N x C``, and the targets), the data the metric was computed from.
    """

    metric: float
    epochs: list[EpochRecord] = field(default_factory=list)
    wall_s: float = 0.0
    images_per_s: float = 0.0
    probs: np.ndarray | None = None
    targets: np.ndarray | None = None


def _reporter(on_epoch: Callable[[EpochRecord], None] | None, records: list[EpochRecord]):  # noqa: ANN202
    from fastai.callback.core import Callback

    class _EpochReporter(Callback):
        order = 60  # after Recorder (50) has written the epoch's values
        stage = "frozen"

        def after_epoch(self) -> None:
            values = [float(v) for v in self.recorder.values[-1]]
            train_loss, valid_loss, metric = values[:3]
            names = [m.name for m in self.learn.metrics][1:]
            extra = dict(zip(names, values[3:], strict=False))
            if not math.isfinite(train_loss):
                raise TrainingDiverged(
                    f"training loss is {train_loss} in epoch {len(records) + 1} ({self.stage}); "
                    "the learning rate is likely too high"
                )
            rec = EpochRecord(len(records), self.stage, train_loss, valid_loss, metric, extra)
            records.append(rec)
            if on_epoch is not None:
                on_epoch(rec)

    return _EpochReporter()


def _outputs_recorder(task: Task):  # noqa: ANN202 - a fastai Callback
    """Keeps the activated predictions and targets of the latest validation pass."""
    import torch
    from fastai.callback.core import Callback

    class _ValidOutputs(Callback):
        order = 55  # after the metrics have seen the batch

        def before_validate(self) -> None:
            self.probs: list[torch.Tensor] = []
            self.targets: list[torch.Tensor] = []

        def after_batch(self) -> None:
            if self.training:
                return
            pred = self.pred.detach().float()
            act = torch.softmax(pred, dim=-1) if task is Task.SINGLE_LABEL else torch.sigmoid(pred)
            self.probs.append(act.cpu())
            self.targets.append(self.y.detach().cpu())

        def arrays(self) -> tuple[np.ndarray | None, np.ndarray | None]:
            if not getattr(self, "probs", None):
                return None, None
            return torch.cat(self.probs).numpy(), torch.cat(self.targets).numpy()

    return _ValidOutputs()


def train_trial(
    train: DecodedSplit,
    valid: DecodedSplit,
    hp: Hyperparams,
    settings: TrainSettings,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train one variant: ``fit_one_cycle(frozen_epochs, lr)`` on the frozen body, then
    ``fit_one_cycle(unfrozen_epochs, slice(top / divisor**2, top))`` on the whole network, where
    ``top`` is ``hp.unfrozen_lr`` when set, else ``lr`` (:attr:`Hyperparams.unfrozen_slice`).

    A resnet has three layer groups, so the unfrozen learning rates are ``top/divisor**2``,
    ``top/divisor`` and ``top``: the divisor is the ratio between consecutive groups.

    Args:
        train: The (possibly subset) training split.
        valid: The whole validation split.
        hp: The trial's hyperparameters.
        settings: What all trials share.
        on_epoch: Called after every epoch, e.g. to report to Optuna.
        callbacks: Extra fastai callbacks for both stages (inspection, logging).

    Raises:
        TrainingDiverged: If the training loss stops being finite.
    """
    learn = build_learner(train, valid, hp, settings)
    records: list[EpochRecord] = []
    reporter = _reporter(on_epoch, records)
    outputs = _outputs_recorder(settings.task)
    cbs = [reporter, outputs, *callbacks]
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.freeze()
        if settings.frozen_epochs:
            reporter.stage = "frozen"
            learn.fit_one_cycle(settings.frozen_epochs, hp.lr, cbs=cbs)
        learn.unfreeze()
        if settings.unfrozen_epochs:
            reporter.stage = "unfrozen"
            learn.fit_one_cycle(settings.unfrozen_epochs, hp.unfrozen_slice, cbs=cbs)
    wall = time.perf_counter() - start
    seen = len(train) * len(records)  # every training image once per epoch
    probs, targets = outputs.arrays()
    return TrainResult(
        metric=records[-1].metric,
        epochs=records,
        wall_s=wall,
        images_per_s=seen / wall if wall > 0 else 0.0,
        probs=probs,
        targets=targets,
    )
