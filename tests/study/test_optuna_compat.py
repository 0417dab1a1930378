"""The Optuna internals hpstudy relies on (:mod:`hpstudy.study._optuna`), one test per feature.

Each test fails when an Optuna release changes the internal its function reads, so raising the
Optuna cap in ``pyproject.toml`` starts with running this file against the new release. Where the
feature depends on the database (the server's clock, row locks), it runs on every backend.
"""

from __future__ import annotations

import datetime as dt
import warnings

import optuna
import pytest
import sqlalchemy as sa
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from hpstudy.study import open_storage
from hpstudy.study._optuna import (
    enqueued_params,
    heartbeat_settings,
    heartbeat_stale_trial_ids,
    rdb_engine,
    rdb_of,
    rdb_url,
    storage_of,
    study_id_of,
    trial_id_of,
    trial_of,
)


def _studies(url: str, *names: str) -> tuple[optuna.storages.RDBStorage, list[optuna.Study]]:
    """The RDB storage at ``url`` (opened as hpstudy opens it) and a new study per name."""
    rdb = open_storage(url, create=True)
    return rdb, [optuna.create_study(storage=rdb, study_name=name) for name in names]


def test_storage_of_is_what_the_study_writes_through(sqlite_url: str) -> None:
    rdb, (study,) = _studies(sqlite_url, "a")
    storage = storage_of(study)
    assert isinstance(storage, optuna.storages.BaseStorage)
    study.set_user_attr("k", 1)
    storage.set_study_system_attr(study_id_of(study), "hpstudy:k", 2)
    fresh = optuna.storages.RDBStorage(sqlite_url)
    sid = fresh.get_study_id_from_name("a")
    assert fresh.get_study_user_attrs(sid) == {"k": 1}
    assert fresh.get_study_system_attrs(sid)["hpstudy:k"] == 2


def test_study_id_of_is_the_storage_id(sqlite_url: str) -> None:
    rdb, studies = _studies(sqlite_url, "a", "b")
    ids = [study_id_of(s) for s in studies]
    assert ids == [rdb.get_study_id_from_name(name) for name in ("a", "b")]
    assert ids[0] != ids[1]
    assert study_id_of(optuna.load_study(study_name="b", storage=rdb)) == ids[1]


def test_trial_id_of_is_the_storage_id_of_trials_and_frozen_trials(sqlite_url: str) -> None:
    rdb, (a, b) = _studies(sqlite_url, "a", "b")
    a.ask()
    a.ask()
    asked = b.ask()  # number 0 of its study, storage ID 2: IDs are not numbers
    frozen = b.get_trials(deepcopy=False)[0]
    expected = rdb.get_trial_id_from_study_id_trial_number(study_id_of(b), 0)
    assert expected != asked.number
    assert trial_id_of(asked) == trial_id_of(frozen) == expected


def test_trial_of_opens_the_trial_with_that_storage_id(sqlite_url: str) -> None:
    rdb, (a, b) = _studies(sqlite_url, "a", "b")
    a.ask()
    b.enqueue_trial({"x": 1.0})
    waiting = b.get_trials(deepcopy=False, states=(TrialState.WAITING,))[0]
    trial = trial_of(b, trial_id_of(waiting))
    assert isinstance(trial, optuna.Trial)
    assert trial.number == waiting.number == 0
    trial.set_user_attr("who", "me")
    assert rdb.get_trial(trial_id_of(waiting)).user_attrs == {"who": "me"}
    assert a.get_trials(deepcopy=False)[0].user_attrs == {}


def test_enqueued_params_are_those_enqueue_trial_stored(sqlite_url: str) -> None:
    rdb, (study,) = _studies(sqlite_url, "a")
    params = {"variant": "baseline", "fraction": 0.2, "replicate": 1, "wd": 0.01}
    study.enqueue_trial(params, user_attrs={"grid_point": "p"}, skip_if_exists=False)
    enqueued = study.get_trials(deepcopy=False)[0]
    assert enqueued_params(storage_of(study), trial_id_of(enqueued)) == params
    assert enqueued_params(rdb, trial_id_of(enqueued)) == params
    assert trial_id_of(study.ask()) == trial_id_of(enqueued)  # ask takes the waiting one first
    assert enqueued_params(rdb, trial_id_of(study.ask())) == {}  # a new trial, not enqueued


def test_rdb_of_unwraps_the_study_storage(sqlite_url: str) -> None:
    rdb, (study,) = _studies(sqlite_url, "a")
    assert isinstance(rdb, optuna.storages.RDBStorage)
    assert rdb_of(storage_of(study)) is rdb
    assert rdb_of(storage_of(optuna.load_study(study_name="a", storage=rdb))) is rdb
    assert rdb_of(rdb) is rdb


def test_rdb_url_is_the_storage_url(sqlite_url: str) -> None:
    rdb, (study,) = _studies(sqlite_url, "a")
    assert rdb_url(storage_of(study)) == rdb_url(rdb) == sqlite_url
    assert rdb_url(optuna.storages.InMemoryStorage()) is None


def test_rdb_engine_carries_the_storage_connections(sqlite_url: str) -> None:
    rdb, (study,) = _studies(sqlite_url, "a")
    engine = rdb_engine(storage_of(study))
    assert isinstance(engine, sa.engine.Engine)
    assert engine.url.render_as_string(hide_password=False) == sqlite_url
    connected = []
    sa.event.listen(engine, "connect", lambda *_: connected.append(1))
    engine.dispose()
    study.set_user_attr("k", 1)  # a storage call opens a connection through the engine
    assert connected


def test_heartbeat_settings_are_what_the_storage_reads_and_are_unset_after(sqlite_url: str) -> None:
    rdb, (study,) = _studies(sqlite_url, "a")
    with heartbeat_settings(storage_of(study), 7, 30):
        assert rdb.get_heartbeat_interval() == 7  # Optuna's accessor reads the attribute we set
        assert storage_of(study).get_heartbeat_interval() == 7
    assert rdb.get_heartbeat_interval() is None
    with pytest.raises(KeyError), heartbeat_settings(rdb, 7, 30):
        raise KeyError("a failed call")
    assert rdb.get_heartbeat_interval() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "heartbeat ... is only supported in optimize"
        study.ask()


def _backdate_heartbeat(url: str, trial_id: int, seconds: float) -> None:
    """Move the trial's last heartbeat ``seconds`` into the past, in the server's own terms."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            select = sa.text("SELECT heartbeat FROM trial_heartbeats WHERE trial_id = :t")
            beat = conn.execute(select.columns(heartbeat=sa.DateTime), {"t": trial_id}).scalar_one()
            update = sa.text("UPDATE trial_heartbeats SET heartbeat = :h WHERE trial_id = :t")
            conn.execute(update.bindparams(sa.bindparam("h", type_=sa.DateTime)),
                         {"h": beat - dt.timedelta(seconds=seconds), "t": trial_id})
    finally:
        engine.dispose()


def test_heartbeat_stale_trial_ids_by_the_server_clock(storage_url: str) -> None:
    rdb, (study, other) = _studies(storage_url, "a", "b")
    storage, sid = storage_of(study), study_id_of(study)
    for s in (study, other):
        for _ in range(3):
            s.enqueue_trial({"x": 1.0})
    old, fresh, silent = (trial_id_of(t) for t in study.get_trials(deepcopy=False))
    elsewhere = trial_id_of(other.get_trials(deepcopy=False)[0])
    for tid in (old, fresh, elsewhere):
        storage.record_heartbeat(tid)
    for tid in (old, fresh, silent, elsewhere):
        assert storage.set_trial_state_values(tid, TrialState.RUNNING)

    assert heartbeat_stale_trial_ids(storage, sid, 10, 60) == []
    _backdate_heartbeat(storage_url, old, 120)
    _backdate_heartbeat(storage_url, elsewhere, 120)
    assert heartbeat_stale_trial_ids(storage, sid, 10, 60) == [old]  # never-beaten: not stale
    assert heartbeat_stale_trial_ids(rdb, sid, 10, 60) == [old]
    assert heartbeat_stale_trial_ids(storage, sid, 10, 600) == []  # the grace period is ours
    assert heartbeat_stale_trial_ids(storage, study_id_of(other), 10, 60) == [elsewhere]
    storage.set_trial_state_values(old, TrialState.FAIL)
    assert heartbeat_stale_trial_ids(storage, sid, 10, 60) == []  # only RUNNING trials
    assert rdb.get_heartbeat_interval() is None


def test_claiming_switches_a_waiting_trial_to_running_once(storage_url: str) -> None:
    """Not a private, but what exactly-once claiming stands on: the storage's state switch."""
    rdb, (study,) = _studies(storage_url, "a")
    study.enqueue_trial({"x": 1.0})
    tid = trial_id_of(study.get_trials(deepcopy=False)[0])
    storage = storage_of(study)
    storage.record_heartbeat(tid)  # before the claim, on a WAITING trial
    assert storage.set_trial_state_values(tid, TrialState.RUNNING) is True
    assert storage.set_trial_state_values(tid, TrialState.RUNNING) is False  # taken already
    assert open_storage(storage_url, create=False).set_trial_state_values(
        tid, TrialState.RUNNING) is False  # also from another process's storage
    assert storage.set_trial_state_values(tid, TrialState.COMPLETE, [0.5]) is True
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_state_values(tid, TrialState.FAIL)
    assert rdb.get_trial(tid).state == TrialState.COMPLETE
