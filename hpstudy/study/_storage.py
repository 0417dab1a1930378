"""The study storage: one relational database (SQLite by default) that every worker shares."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hpstudy.errors import StorageError

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "describe_error",
    "open_storage",
    "redact",
    "rdb_of",
    "resolve_storage_url",
    "storage_lock",
    "storage_url_of",
]

DEFAULT_STORAGE = "sqlite:///hpstudy.db"
STORAGE_ENV = "HPSTUDY_STORAGE"
_SQLITE_BUSY_TIMEOUT_S = 120


def resolve_storage_url(url: str | None = None) -> str:
    """``url`` if given, else ``$HPSTUDY_STORAGE``, else ``sqlite:///hpstudy.db`` (working dir)."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to print or store."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "<unparseable storage URL>"
    return parsed.render_as_string(hide_password=True)


def rdb_of(study: Any) -> Any:
    """The ``RDBStorage`` behind an open study (Optuna wraps it in a caching layer)."""
    storage = study._storage
    return getattr(storage, "_backend", storage)


def storage_url_of(study: Any) -> str:
    """The storage URL of an open study (with its password; never print it unredacted)."""
    return rdb_of(study).url


def _scrub(text: str, url: str) -> str:
    """Remove the URL's password from ``text`` (driver errors may echo connection strings)."""
    from sqlalchemy.engine import make_url

    with contextlib.suppress(Exception):
        password = make_url(url).password
        if password:
            text = text.replace(str(password), "***")
    return text


def describe_error(exc: BaseException, url: str) -> str:
    """One line for a storage error: its root cause (not Optuna's generic wrapper), no password."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    cause = getattr(exc, "orig", None) or exc
    text = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return _scrub(text, url)


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise StorageError(
            f"storage {url!r} is in memory and cannot be shared by workers; "
            "use a file such as sqlite:///hpstudy.db"
        )
    return Path(parsed.database).expanduser().resolve()


def _lock_path(key: str) -> Path:
    d = Path(tempfile.gettempdir()) / "hpstudy-locks"
    d.mkdir(exist_ok=True)
    return d / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")


_DOING = {
    "create-tables": "creating the tables",
    "study": "creating the study",
    "queue": "filling the queue",
    "lr-find": "running the lr finder",
}


@contextlib.contextmanager
def storage_lock(
    url: str, name: str, timeout_s: float = 600.0, *, doing: str | None = None
) -> Iterator[None]:
    """Hold a lock named ``name`` across every process that uses the storage at ``url``.

    SQLite (one host) uses a file lock; PostgreSQL an advisory lock; MySQL/MariaDB ``GET_LOCK``.
    Used to create a study, run its lr finder and fill its queue exactly once when several
    processes start together. A waiter waits as long as the holder is alive and making progress,
    saying once whom it waits for; it takes over from a holder that died; see
    :mod:`hpstudy.study._locks` for how each is told.

    Args:
        url: The storage URL.
        name: The lock's name, e.g. ``lr-find:smoke:digits``.
        timeout_s: Give up after this long in a row without a sign of life from the holder.
        doing: What the holder does, shown to waiters (default: from the name's prefix).

    Raises:
        StorageError: When the holder showed no sign of life for ``timeout_s``; the message says
            who holds the lock and how to free it.
    """
    from hpstudy.study._locks import db_lock, file_lock, hold

    path = _sqlite_path(url)
    lock = file_lock(_lock_path(f"{path}|{name}")) if path is not None else db_lock(url, name)
    with hold(lock, name, doing or _DOING.get(name.split(":", 1)[0], f"holding {name}"), timeout_s):
        yield


def _prepare_sqlite(path: Path) -> None:
    """Switch a new or existing SQLite file to WAL so readers never wait for the writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=_SQLITE_BUSY_TIMEOUT_S)
    try:
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


def _immediate_transactions(engine) -> None:  # noqa: ANN001 - a sqlalchemy Engine
    """Make every SQLite transaction ``BEGIN IMMEDIATE``.

    A deferred transaction that reads and then writes fails at once with "database is locked" when
    another process wrote in between; an immediate one takes the write lock up front and waits for
    it (busy timeout), so many workers can share one file.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None  # let us issue BEGIN ourselves
        dbapi_connection.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_S * 1000}")

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the hooks existed are dropped


def _require_tables(url: str) -> None:
    """Refuse a server database that holds no study tables (nothing is created in it)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            present = sa.inspect(conn).has_table("studies")
    finally:
        engine.dispose()
    if not present:
        raise StorageError(
            f"no study storage in {redact(url)}; run `hpstudy run` first or pass --storage with "
            "the database that holds the study"
        )


def open_storage(url: str, *, create: bool):  # noqa: ANN201 - optuna.storages.RDBStorage
    """Open the Optuna RDB storage at ``url``.

    Args:
        url: An SQLAlchemy URL (``sqlite:///file.db``, ``postgresql+psycopg://host/db``,
            ``mysql+pymysql://user@host/db``).
        create: Create the database file and tables when missing (once, under a lock, however many
            processes start together). When false, a missing SQLite file or a server database
            without study tables is an error, and nothing is created.

    Raises:
        StorageError: If the URL is malformed, its driver is missing, or the server is unreachable.
    """
    import optuna
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        path = _sqlite_path(url)
    except ArgumentError:
        raise StorageError(
            f"storage URL {redact(url)!r} is not a valid SQLAlchemy URL; "
            "use e.g. sqlite:///hpstudy.db or postgresql+psycopg://user@host/db"
        ) from None
    engine_kwargs: dict[str, object] = {}
    if path is not None:
        if not create and not path.is_file():
            raise StorageError(
                f"no storage at {path}; run `hpstudy run` first or pass --storage with an "
                "existing database"
            )
        engine_kwargs["connect_args"] = {"timeout": _SQLITE_BUSY_TIMEOUT_S}
    else:
        engine_kwargs["pool_pre_ping"] = True
    try:
        if path is not None:
            with storage_lock(url, "create-tables"):
                _prepare_sqlite(path)
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
            _immediate_transactions(storage.engine)
        else:
            if not create:
                _require_tables(url)
            with storage_lock(url, "create-tables"):
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except ImportError as exc:
        raise StorageError(
            f"the database driver for {redact(url)} is not installed ({exc}); "
            'install it with pip install "hpstudy[postgres]" or "hpstudy[mysql]"'
        ) from None
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise StorageError(
            f"cannot open storage {redact(url)}: {describe_error(exc, url)}; check the URL, that "
            "the server is running and reachable, and the credentials"
        ) from None
    return storage
