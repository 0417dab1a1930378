"""Optuna's own views of a study: the factors are parameters, the objective has the metric's name,
and Optuna's plots and importance evaluator work on them.

Workers are real processes running the real claim/queue code with the stand-in training step.
"""

from __future__ import annotations

import matplotlib
import optuna
import pytest

from hpstudy.study import FACTORS, load_spec, variants
from hpstudy.study._grid import factor_distributions
from hpstudy.study._worker import WorkerConfig, run_worker
from hpstudy.testing import prepare_standin_study, standin_train

matplotlib.use("Agg")


@pytest.fixture()
def study(sqlite_url: str) -> optuna.Study:
    ref = prepare_standin_study(sqlite_url, "smoke")
    config = WorkerConfig(sqlite_url, ref.study.study_name, worker_id="w", poll_s=0.2)
    assert run_worker(config, standin_train(0.0)) == 26
    return optuna.load_study(study_name=ref.study.study_name, storage=sqlite_url)


def test_trials_carry_the_factors_as_parameters(study: optuna.Study) -> None:
    spec = load_spec("smoke")
    by_name = {v.name: v for v in variants(spec)}
    for t in study.get_trials():
        variant = by_name[t.params["variant"]]
        assert {k: t.params[k] for k in FACTORS} == dict(variant.hparams)
        choices = t.distributions["variant"].choices
        assert len(choices) == len(set(choices)) == 13  # each variant once
    wd = study.trials[0].distributions["wd"]
    assert (wd.low, wd.high) == (0.0, 0.1) and factor_distributions(spec)["lr_mult"].log


def test_the_objective_is_named_after_the_metric(study: optuna.Study) -> None:
    assert study.metric_names == ["accuracy"]


def test_optunas_plots_and_importances_see_the_factors(study: optuna.Study) -> None:
    from optuna.visualization import matplotlib as plots

    importances = optuna.importance.get_param_importances(study, params=list(FACTORS))
    assert set(importances) == set(FACTORS)
    axes = plots.plot_slice(study, params=["lr_mult", "wd"])
    assert [a.get_xlabel() for a in axes] == ["lr_mult", "wd"]
    assert all(len(a.collections[0].get_offsets()) == 26 for a in axes)
    plots.plot_parallel_coordinate(study, params=list(FACTORS))
