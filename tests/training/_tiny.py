"""The training settings the training tests share: resnet18 from scratch on digits, 1 + 1 epochs."""

from __future__ import annotations

from typing import Any

from hpstudy.datasets import Task
from hpstudy.training import TrainSettings


def digits_settings(**overrides: Any) -> TrainSettings:  # noqa: ANN401 - any TrainSettings field
    base: dict[str, Any] = dict(arch="resnet18", pretrained=False, batch_size=32, frozen_epochs=1,
                                unfrozen_epochs=1, n_classes=10, task=Task.SINGLE_LABEL,
                                metric="accuracy")
    return TrainSettings(**{**base, **overrides})
