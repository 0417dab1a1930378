"""A storage URL's password never shows in output, errors or anything stored."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hpstudy.cli import cli, main
from hpstudy.errors import StorageError
from hpstudy.study import open_storage
from hpstudy.study._worker import WorkerConfig, run_worker
from hpstudy.testing import prepare_standin_study, standin_train

SECRET = "s3cr3t-Pa55"


def _with_password(url: str) -> str:
    return sa.engine.make_url(url).set(password=SECRET).render_as_string(hide_password=False)


@pytest.mark.postgres
def test_password_never_printed_or_stored(postgres_url: str) -> None:
    url = _with_password(postgres_url)  # trust auth accepts any password
    prepare_standin_study(url)
    run_worker(WorkerConfig(url, "smoke:digits", poll_s=0.2), standin_train(0.0))
    runner = CliRunner()
    for args in (["status", "--storage", url], ["status", "--storage", url, "--json"],
                 ["worker", "--dataset", "digits", "--study", "fellowship2019", "--storage", url]):
        result = runner.invoke(cli, args)
        assert SECRET not in result.output, args
        assert SECRET not in str(result.exception or ""), args
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        for table in ("study_user_attributes", "study_system_attributes",
                      "trial_user_attributes", "trial_system_attributes"):
            rows = conn.execute(sa.text(f"SELECT value_json FROM {table}")).scalars().all()
            assert rows or table.endswith("system_attributes")
            assert not any(SECRET in r for r in rows), table
    engine.dispose()


def test_password_not_in_connection_error() -> None:
    url = f"postgresql+psycopg://someone:{SECRET}@127.0.0.1:1/nowhere"
    with pytest.raises(StorageError) as info:
        open_storage(url, create=True)
    assert SECRET not in str(info.value)
    assert "***" in str(info.value)


@pytest.mark.postgres
def test_refused_worker_creates_nothing_in_an_empty_database(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["worker", "--dataset", "digits", "--storage", _with_password(postgres_url),
              "--device", "cpu"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "no study storage" in err and SECRET not in err
    assert len(err.strip().splitlines()) == 1
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    engine.dispose()
