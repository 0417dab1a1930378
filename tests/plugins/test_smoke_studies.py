"""Real (tiny) studies on plugin fixtures: a single-label and a multi-label dataset end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_amazon import make_amazon
from test_pets import make_pets
from test_xray import make_xray

from hpstudy.study import parse_spec, run_study

TINY = {
    "arch": "resnet18",
    "pretrained": False,
    "batch_size": 8,
    "image_size": 32,
    "frozen_epochs": 1,
    "unfrozen_epochs": 0,
    "fractions": [1.0],
    "seed": 0,
    "baseline": {"lr_mult": 1.0, "divisor": 10, "wd": 0.1, "beta2": 0.99, "ps": 0.5},
    "factors": {"wd": [0.0]},
    "lr_find": {"start_lr": 1e-5, "end_lr": 1.0, "num_it": 5},
}


#: A few images a class: the validation loss of the pets fixture never falls over a sweep, so the
#: finder refuses it (tests/training/test_lr_find.py); the study takes a fixed lr instead.
FIXED_LR = {**TINY["lr_find"], "lr": 1e-3}


@pytest.mark.parametrize(
    ("dataset", "make", "metric", "lr_find"),
    [
        pytest.param("pets", lambda root: make_pets(root, per_split=(8, 3)), "accuracy", FIXED_LR),
        pytest.param("amazon", lambda root: make_amazon(root, n=30), "f2_samples", TINY["lr_find"],
                     marks=pytest.mark.slow),  # ~20 s on a shared 2-core machine
        ("xray", lambda root: make_xray(root, patients=12), "mean_auroc_findings",
         TINY["lr_find"]),
    ],
)
def test_smoke_study_completes(tmp_path: Path, dataset: str, make, metric: str,  # noqa: ANN001
                               lr_find: dict) -> None:
    data_root = tmp_path / "data"
    make(data_root / dataset)
    result = run_study(
        dataset,
        parse_spec({**TINY, "lr_find": lr_find}, name="tiny"),
        workers=1,
        storage=f"sqlite:///{tmp_path / 's.db'}",
        data_root=data_root,
        device="cpu",
    )
    assert result.metric == metric
    assert result.status.complete == result.status.grid_size == 2
    assert all(row.metric is not None for row in result.summary)
    if "lr" in lr_find:  # the spec's fixed lr, stored as such; no finder ran
        assert set(result.lr_find.values()) == {lr_find["lr"]}
