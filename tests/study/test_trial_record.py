"""The trial record: written by the worker through TrialWriter, read back typed; records written
before versioning read as they did, records of a newer hpstudy are refused in one line."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from hpstudy.errors import HpstudyError
from hpstudy.study import RECORD_VERSION, TrialRecord
from hpstudy.study._trial_record import ATTR_ATTEMPT, ATTR_POINT, TrialWriter


@pytest.fixture
def study(tmp_path: Path) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(storage=f"sqlite:///{tmp_path / 'r.db'}")


def test_what_the_writer_writes_reads_back_typed(study: optuna.Study) -> None:
    trial = study.ask()
    trial.set_user_attr(ATTR_POINT, "wd=0@0.2#1")
    trial.set_user_attr(ATTR_ATTEMPT, 2)
    for key, value in {"host": "gpu01", "pid": 4242, "worker": "w0", "device": "cuda:1"}.items():
        trial.set_user_attr(key, value)
    writer = TrialWriter(trial)
    writer.setup(hparams={"lr": 3e-3, "divisor": 10.0, "lr_mult": 1.0}, lr_find=3e-3,
                 lr_find_unfrozen=None, metric="accuracy", seed=1,
                 runtime={"threads": 2, "device": "cpu"}, n_train=200)
    for epoch in range(2):
        writer.epoch({"epoch": epoch, "stage": "frozen", "train_loss": 1.0, "valid_loss": 0.9,
                      "metric": 0.5 + epoch / 10, "extra": {}, "images_per_s": 100.0 + epoch})
    writer.result(wall_s=12.34567, images_per_s=33.333)
    TrialWriter.attempt_wall(trial, 15.0)
    study.tell(trial, 0.6)
    r = TrialRecord.of(study.trials[0])
    assert r.version == RECORD_VERSION
    assert (r.point, r.attempt, r.host, r.pid, r.worker, r.device) == \
        ("wd=0@0.2#1", 2, "gpu01", 4242, "w0", "cuda:1")
    assert r.lr == 3e-3 and r.lr_find == 3e-3 and r.lr_find_unfrozen is None
    assert (r.metric, r.seed, r.n_train, r.runtime["threads"]) == ("accuracy", 1, 200, 2)
    assert [e["metric"] for e in r.epochs] == [0.5, 0.6] and r.epoch_images_per_s == 101.0
    assert (r.wall_s, r.images_per_s, r.trial_wall_s) == (12.346, 33.3, 15.0)
    assert not r.interrupted and r.error is None


def test_a_record_from_before_versioning_reads_as_it_did(study: optuna.Study) -> None:
    trial = study.ask()  # the keys a worker wrote before records carried a version
    for key, value in {ATTR_POINT: "baseline@1", "hparams": {"lr": 0.01}, "lr_find": 0.01,
                       "epochs": [{"epoch": 0, "stage": "frozen", "metric": 0.9}],
                       "error": "boom", "interrupted": True}.items():
        trial.set_user_attr(key, value)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    r = TrialRecord.of(study.trials[0])
    assert r.version == 0 and r.point == "baseline@1" and r.attempt == 1
    assert r.lr == 0.01 and r.epochs[0]["metric"] == 0.9 and r.epoch_images_per_s is None
    assert r.error == "boom" and r.interrupted


def test_a_record_from_a_newer_hpstudy_is_refused(study: optuna.Study) -> None:
    trial = study.ask()
    trial.set_user_attr("record_version", RECORD_VERSION + 1)
    with pytest.raises(HpstudyError, match=rf"trial 0 was recorded by a newer hpstudy \(record "
                                           rf"version {RECORD_VERSION + 1}.*upgrade hpstudy"):
        TrialRecord.of(trial)
