"""Storage URLs hpstudy cannot use, and a full disk under an SQLite storage: one clear error that
names the dialect or the file, and nothing stored lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import pytest
from sqlalchemy import event

from hpstudy.errors import StorageError
from hpstudy.study import open_storage, run_study, study_attrs, study_status
from hpstudy.study._optuna import rdb_engine
from hpstudy.study._study import load_study
from hpstudy.testing import prepare_standin_study, standin_lr_find, standin_train


@pytest.mark.parametrize("url", ["oracle://scott@db.example.org/orcl", "mssql+pyodbc://u@dsn"])
def test_an_unsupported_dialect_is_named_with_the_supported_ones(url: str) -> None:
    with pytest.raises(StorageError) as err:
        open_storage(url, create=True)
    dialect = url.split(":")[0].split("+")[0]
    assert str(err.value) == (
        f"storage {url} uses the {dialect!r} dialect, which hpstudy does not support; use sqlite "
        "(sqlite:///hpstudy.db), postgresql (postgresql+psycopg://user@host/db) or mysql/mariadb "
        "(mysql+pymysql://user@host/db)"
    )


def _status(url: str):  # noqa: ANN202 - StudyStatus
    (status,) = study_status(open_storage(url, create=False))
    return status


def _stored(url: str) -> tuple[dict, list[tuple]]:
    """Everything the storage holds about the study: its attributes and every trial."""
    (summary,) = optuna.get_all_study_summaries(open_storage(url, create=False))
    study = optuna.load_study(study_name=summary.study_name, storage=open_storage(url, create=False))
    trials = [(t.number, t.state, t.params, t.values, t.user_attrs, t.system_attrs)
              for t in study.get_trials(deepcopy=False)]
    return study_attrs(study), trials


def test_sqlite_full_is_a_storage_error_naming_the_file(tmp_path: Path) -> None:
    """SQLite's own size limit (``max_page_count``) fails a write exactly as a full disk does."""
    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    ref = prepare_standin_study(url)
    attrs = study_attrs(ref.study)
    pages = sqlite3.connect(db).execute("PRAGMA page_count").fetchone()[0]
    storage = open_storage(url, create=False)

    @event.listens_for(rdb_engine(storage), "connect")
    def _cap(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    rdb_engine(storage).dispose()
    study = load_study(storage, ref.study.study_name).study
    with pytest.raises(StorageError) as err:
        study.set_user_attr("blob", "x" * 2_000_000)
    assert f"the storage {db} " in str(err.value) and "database or disk is full" in str(err.value)
    assert "\n" not in str(err.value)
    assert study_attrs(load_study(open_storage(url, create=False), ref.study.study_name).study) == attrs


def test_a_new_storage_on_a_full_disk_is_one_line(small_disks, hpstudy_cli) -> None:  # noqa: ANN001
    disk = small_disks.mount("1m")
    small_disks.fill(disk)
    result = hpstudy_cli("run", "--dataset", "digits", "--workers", "0",
                         "--storage", f"sqlite:///{disk / 'new.db'}")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err_lines == [
        f"error: no space left for the storage {disk / 'new.db'}: its disk has 0.0 MiB free; free "
        "space there, or move the file to a larger disk and pass --storage sqlite:///<new path>; "
        "what is already stored is intact"
    ]


def test_run_stops_in_one_line_when_the_storage_disk_fills_and_loses_nothing(
    small_disks, capfd: pytest.CaptureFixture[str]
) -> None:  # noqa: ANN001
    disk = small_disks.mount("16m")  # SQLite's write-ahead log grows to 4 MiB between checkpoints
    db = disk / "s.db"
    url = f"sqlite:///{db}"
    prepare_standin_study(url)
    before = _stored(url)
    with sqlite3.connect(db) as con:  # an empty write-ahead log: the next write needs new space
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = small_disks.fill(disk)
    capfd.readouterr()
    with pytest.raises(StorageError, match=f"^no space left for the storage {db}: "):
        run_study("digits", "smoke", storage=url, workers=1, train_fn=standin_train(0.0),
                  lr_find_fn=standin_lr_find())
    assert "Traceback" not in capfd.readouterr().err

    filler.unlink()
    assert _stored(url) == before
    run_study("digits", "smoke", storage=url, workers=1, train_fn=standin_train(0.0),
              lr_find_fn=standin_lr_find())
    after = _status(url)
    assert after.complete == after.grid_size == 26 and after.duplicates == 0
