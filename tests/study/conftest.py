"""Storage fixtures: one fresh database per test on SQLite, PostgreSQL and MariaDB/MySQL.

The server tests must run in CI: an unreachable server fails the test (set
``HPSTUDY_ALLOW_SKIP_DB=1`` to skip instead, e.g. on a laptop without the servers).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES = os.environ.get(
    "HPSTUDY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL = os.environ.get("HPSTUDY_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _unreachable(backend: str, exc: Exception) -> None:
    message = f"{backend} server for the tests is unreachable: {exc}".splitlines()[0]
    if os.environ.get("HPSTUDY_ALLOW_SKIP_DB") == "1":
        pytest.skip(message)
    pytest.fail(f"{message} (set HPSTUDY_ALLOW_SKIP_DB=1 to skip)")


def _server_db(base_url: str, backend: str) -> Iterator[str]:
    """Create a database named ``hpstudy_test_<random>`` on the server, yield its URL, drop it."""
    import sqlalchemy as sa

    base = sa.engine.make_url(base_url)
    name = f"hpstudy_test_{uuid.uuid4().hex[:12]}"
    admin_db = "postgres" if backend == "postgresql" else base.database
    engine = sa.create_engine(
        base.set(database=admin_db), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        _unreachable(backend, exc)
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        drop = f"DROP DATABASE IF EXISTS {name}"
        if backend == "postgresql":
            drop += " WITH (FORCE)"
        with engine.connect() as conn:
            conn.execute(sa.text(drop))
        engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database."""
    yield from _server_db(POSTGRES, "postgresql")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh, empty MariaDB/MySQL database."""
    yield from _server_db(MYSQL, "mysql")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file (not created yet)."""
    return f"sqlite:///{tmp_path / 'study.db'}"


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=BACKENDS)
def storage_url(request: pytest.FixtureRequest) -> str:
    """A fresh storage URL on each backend in turn."""
    return request.getfixturevalue(f"{request.param}_url")
