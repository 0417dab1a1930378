"""Storage URLs hpstudy cannot use: one clear error that names the dialect."""

from __future__ import annotations

import pytest

from hpstudy.errors import StorageError
from hpstudy.study import open_storage


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

