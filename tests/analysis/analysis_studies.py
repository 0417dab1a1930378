"""The tiny spec and the filled-storage record shared by the analysis tests and their fixtures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpstudy.analysis import StudyResult
from hpstudy.evidence import Comparison
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
    # On shapes the frozen random-init network's validation loss never falls over a sweep (the
    # finder refuses it); its training loss does.
    "lr_find": {"start_lr": 1e-5, "end_lr": 1.0, "num_it": 10, "loss": "train"},
}



@dataclass(frozen=True)
class Filled:
    url: str
    spec: StudySpec
    threshold: float
    proximity: dict[str, float]
    config: FeatureConfig


BASE = {"lr_mult": 1.0, "divisor": 10.0, "wd": 0.1, "beta2": 0.99, "ps": 0.5}
SETTINGS = {"baseline": (None, None), "wd=0": ("wd", 0.0), "wd=0.01": ("wd", 0.01),
            "ps=0.25": ("ps", 0.25), "lr_mult=0.1": ("lr_mult", 0.1),
            "lr_mult=10": ("lr_mult", 10.0), "divisor=5": ("divisor", 5.0),
            "divisor=3": ("divisor", 3.0)}


def synthetic_cell(mean: float, sd: float, seed: int) -> Comparison:
    draws = np.random.default_rng(seed).normal(mean, sd, 2000)
    low, high = np.quantile(draws, [0.025, 0.975])
    return Comparison(mean, float(low), float(high), 3, 360, "images+replicates", draws)


def synthetic_study(name: str, dataset: str, cells: dict[str, tuple[float, float]], seed: int,
                    proximity: float | None = 0.9,
                    fractions: tuple[float, ...] = (1.0,)) -> StudyResult:
    """A finished study whose cells have bootstrap draws ~ Normal(mean, sd) at every fraction."""
    comparisons = {(v, f): synthetic_cell(m, sd, seed + 10 * i + j)
                   for i, (v, (m, sd)) in enumerate(cells.items()) for j, f in enumerate(fractions)}
    changes = {k: c.mean_pct for k, c in comparisons.items()} | {("baseline", f): 0.0
                                                                  for f in fractions}
    return StudyResult(
        name=name, dataset=dataset, spec="s", metric="accuracy", fractions=fractions,
        variants=tuple(SETTINGS), settings=SETTINGS, baseline=BASE, changes=changes,
        comparisons=comparisons, values={k: 0.9 for k in changes}, curves={}, lr_find={1.0: 1e-3},
        complete=15, grid_size=15,
        proximity=None if proximity is None else {"value": proximity}, replicates=3,
    )
