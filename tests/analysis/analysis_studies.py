"""The tiny spec and the filled-storage record shared by the analysis tests and their fixtures."""

from __future__ import annotations

from dataclasses import dataclass

from hpstudy.proximity import FeatureConfig
from hpstudy.study import StudySpec

TINY = {
    "arch": "resnet18",
    "pretrained": False,
    "batch_size": 64,
    "image_size": 16,
    "frozen_epochs": 1,
    "unfrozen_epochs": 1,
    "fractions": [1.0],
    "seed": 0,
    "baseline": {"lr_mult": 1.0, "divisor": 10, "wd": 0.1, "beta2": 0.99, "ps": 0.5},
    "factors": {"lr_mult": [0.1], "divisor": [5], "wd": [0.01]},
    "lr_find": {"start_lr": 1e-5, "end_lr": 1.0, "num_it": 10},
}



@dataclass(frozen=True)
class Filled:
    url: str
    spec: StudySpec
    threshold: float
    proximity: dict[str, float]
    config: FeatureConfig


