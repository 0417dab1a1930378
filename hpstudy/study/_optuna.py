"""The one place where hpstudy reaches into Optuna's internals.

Exactly-once claiming, heartbeats and stale-trial recovery need a few things Optuna keeps private:
the storage and IDs behind a study and its trials, the ``RDBStorage`` under Optuna's caching layer
(its URL and SQLAlchemy engine), the parameters ``Study.enqueue_trial`` stores on a trial, and the
storage's own stale-trial query with the heartbeat settings it reads. Every such access is one
function here, whose docstring names the internal it relies on; the rest of hpstudy calls these
functions and never touches an Optuna private itself.

``tests/study/test_optuna_compat.py`` has a test per function, against real storages, that fails
when an Optuna release changes the internal; ``pyproject.toml`` caps Optuna to the releases those
tests were run against. To support a new release: run those tests with it, adapt the function whose
test fails (here, nowhere else), then raise the cap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    import sqlalchemy

__all__ = [
    "enqueued_params",
    "heartbeat_settings",
    "heartbeat_stale_trial_ids",
    "rdb_engine",
    "rdb_of",
    "rdb_url",
    "storage_of",
    "study_id_of",
    "trial_id_of",
    "trial_of",
]


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage an open study reads and writes through.

    Relies on: the private attribute ``Study._storage`` (for an ``RDBStorage``, Optuna's
    ``_CachedStorage`` wrapping it).
    """
    return study._storage


def study_id_of(study: optuna.Study) -> int:
    """The storage's ID of an open study (what the storage's methods take as ``study_id``).

    Relies on: the private attribute ``Study._study_id``.
    """
    return study._study_id


def trial_id_of(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage's ID of a trial (what the storage's methods take as ``trial_id``; not its
    ``number``).

    Relies on: the private attribute ``_trial_id`` of ``optuna.Trial`` and of ``FrozenTrial``.
    """
    return trial._trial_id


def trial_of(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """The ``optuna.Trial`` of the trial with storage ID ``trial_id`` of ``study``, e.g. one this
    process has just switched from ``WAITING`` to ``RUNNING``.

    Relies on: the constructor ``optuna.Trial(study, trial_id)``, which Optuna documents but
    advises against calling, taking the storage's trial ID.
    """
    import optuna

    return optuna.Trial(study, trial_id)


def enqueued_params(storage: optuna.storages.BaseStorage, trial_id: int) -> dict[str, Any]:
    """The parameters a trial was enqueued with (``Study.enqueue_trial``); ``{}`` for a trial that
    was not enqueued.

    Relies on: the trial system attribute ``fixed_params``, where ``Study.enqueue_trial`` stores
    its ``params``.
    """
    return storage.get_trial_system_attrs(trial_id).get("fixed_params", {})


def rdb_of(storage: Any) -> Any:
    """The ``RDBStorage`` behind ``storage`` (Optuna wraps the one a study is opened with in a
    caching layer); ``storage`` itself when it is not wrapped.

    Relies on: the private attribute ``_CachedStorage._backend``.
    """
    return getattr(storage, "_backend", storage)


def rdb_url(storage: Any) -> str | None:
    """The URL of the ``RDBStorage`` behind ``storage`` (with its password; never print it
    unredacted); ``None`` for a storage that is not an ``RDBStorage``.

    Relies on: :func:`rdb_of`, and the undocumented attribute ``RDBStorage.url``.
    """
    return getattr(rdb_of(storage), "url", None)


def rdb_engine(storage: Any) -> sqlalchemy.engine.Engine:
    """The SQLAlchemy engine every session of the ``RDBStorage`` behind ``storage`` connects
    through; event listeners added to it apply to the storage's connections.

    Relies on: :func:`rdb_of`, and the undocumented attribute ``RDBStorage.engine``.
    """
    return rdb_of(storage).engine


@contextlib.contextmanager
def heartbeat_settings(storage: Any, interval_s: int, grace_s: float) -> Iterator[None]:
    """Give the ``RDBStorage`` behind ``storage`` a heartbeat interval and grace period while the
    block runs, and none afterwards (also when it raises).

    Optuna's stale-trial query reads them from the storage object; hpstudy keeps them unset
    otherwise, so ``Study.ask`` outside ``Study.optimize`` does not warn that heartbeats need
    ``optimize``. The storage object is shared by the threads of this process: set them only
    around a call that reads them.

    Relies on: the attributes ``RDBStorage.heartbeat_interval`` and ``RDBStorage.grace_period``
    (the constructor's arguments, read by ``RDBStorage._get_stale_trial_ids`` and by
    ``get_heartbeat_interval``).
    """
    rdb = rdb_of(storage)
    rdb.heartbeat_interval = interval_s
    rdb.grace_period = grace_s
    try:
        yield
    finally:
        rdb.heartbeat_interval = None
        rdb.grace_period = None


def heartbeat_stale_trial_ids(
    storage: Any, study_id: int, interval_s: int, grace_s: float
) -> list[int]:
    """IDs of the study's ``RUNNING`` trials whose last heartbeat is more than ``grace_s`` seconds
    old by the database server's clock (trials that never recorded one are left out).

    Relies on: the private method ``RDBStorage._get_stale_trial_ids(study_id)``, under
    :func:`heartbeat_settings`.
    """
    with heartbeat_settings(storage, interval_s, grace_s):
        return list(rdb_of(storage)._get_stale_trial_ids(study_id))
