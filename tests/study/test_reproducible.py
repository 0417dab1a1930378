"""A trial's result depends on its point, spec and seed, not on how many workers run beside it.

Real training (resnet18 at 16 px on half of digits, one frozen and one unfrozen epoch): the same two grid
points trained by ``run`` with one worker, ``run`` with two workers, and a ``worker`` joining a
prepared study give identical metrics, and every trial records what it computed with and keeps its
per-image outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from hpstudy.metrics import accuracy
from hpstudy.study import join_study, parse_spec, run_study, study_attrs
from hpstudy.study._artifacts import artifact_dir, load_outputs

SPEC = {
    "arch": "resnet18", "pretrained": False, "batch_size": 128, "image_size": 16,
    "frozen_epochs": 1, "unfrozen_epochs": 1, "fractions": [0.5], "seed": 3,
    "baseline": {"lr_mult": 1.0, "divisor": 10, "wd": 0.1, "beta2": 0.99, "ps": 0.5},
    "factors": {"wd": [0.0]},
    "lr_find": {"start_lr": 1e-5, "end_lr": 1.0, "num_it": 10, "valid_images": 64},
}


def _values(url: str) -> dict[str, float]:
    study = optuna.load_study(study_name="repro:digits", storage=url)
    return {t.user_attrs["grid_point"]: t.value for t in study.get_trials()}


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("repro")
    spec = parse_spec(SPEC, name="repro")
    urls = {name: f"sqlite:///{tmp / name}.db" for name in ("one", "two", "joined")}
    run_study("digits", spec, workers=1, storage=urls["one"], device="cpu", poll_s=0.2)
    run_study("digits", spec, workers=2, storage=urls["two"], device="cpu", poll_s=0.2)
    run_study("digits", spec, workers=0, storage=urls["joined"], device="cpu")
    join_study("digits", spec, storage=urls["joined"], device="cpu")
    return urls


def test_worker_count_does_not_change_a_result(three_runs: dict[str, str]) -> None:
    one, two, joined = (_values(three_runs[k]) for k in ("one", "two", "joined"))
    assert set(one) == {"baseline@0.5", "wd=0@0.5"}
    assert one == two == joined  # bit for bit
    lr = {k: study_attrs(optuna.load_study(study_name="repro:digits", storage=u))["lr_find@0.5"]["lr"]
          for k, u in three_runs.items()}
    assert len(set(lr.values())) == 1


def test_trials_record_threads_device_and_versions(three_runs: dict[str, str]) -> None:
    for url in three_runs.values():
        for t in optuna.load_study(study_name="repro:digits", storage=url).get_trials():
            runtime = t.user_attrs["runtime"]
            assert runtime["threads"] == 1  # the default, whatever the worker count
            assert runtime["device"] == "cpu" and runtime["torch"] == torch.__version__
            assert "cudnn" in runtime
            assert t.user_attrs["seed"] == 3 and t.params["replicate"] == 0


def test_per_image_outputs_are_kept_as_artifacts(three_runs: dict[str, str]) -> None:
    url = three_runs["two"]
    assert Path(artifact_dir(url)).is_dir()
    for t in optuna.load_study(study_name="repro:digits", storage=url).get_trials():
        out = load_outputs(url, t)
        assert out is not None and out.probs.shape == (360, 10) and not out.multi_label
        assert accuracy(out.probs, out.targets) == pytest.approx(t.value, abs=1e-12)
        assert np.array_equal(np.sort(np.unique(out.targets)), np.arange(10))
