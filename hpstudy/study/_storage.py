"""The study storage: one relational database (SQLite by default) that every worker shares."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hpstudy.errors import StorageError
from hpstudy.study._optuna import rdb_engine, rdb_url, storage_of

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "describe_error",
    "open_storage",
    "redact",
    "resolve_storage_url",
    "storage_lock",
    "storage_url_of",
]

DEFAULT_STORAGE = "sqlite:///hpstudy.db"
STORAGE_ENV = "HPSTUDY_STORAGE"
_SQLITE_BUSY_TIMEOUT_S = 120
#: Below this much free space, SQLite's "database or disk is full" means the storage's own disk.
_FULL_BELOW = 64 * 2**20
#: Dialects hpstudy supports, with the extra that installs a driver and the URL scheme it serves.
_DIALECTS = {
    "sqlite": None,
    "postgresql": ("postgres", "postgresql+psycopg"),
    "mysql": ("mysql", "mysql+pymysql"),
    "mariadb": ("mysql", "mariadb+pymysql"),
}


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


def storage_url_of(study: Any) -> str:
    """The storage URL of an open study (with its password; never print it unredacted).

    Raises:
        TypeError: If the study is not in an RDB storage (hpstudy opens only those).
    """
    url = rdb_url(storage_of(study))
    if url is None:
        raise TypeError(f"study {study.study_name!r} is not in an RDB storage")
    return url


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


def _check_dialect(url: str) -> str:
    """The URL's dialect, if hpstudy supports it.

    Raises:
        StorageError: Naming the dialect and the supported ones.
    """
    from sqlalchemy.engine import make_url

    backend = make_url(url).get_backend_name()
    if backend not in _DIALECTS:
        raise StorageError(
            f"storage {redact(url)} uses the {backend!r} dialect, which hpstudy does not support; "
            "use sqlite (sqlite:///hpstudy.db), postgresql (postgresql+psycopg://user@host/db) or "
            "mysql/mariadb (mysql+pymysql://user@host/db)"
        )
    return backend


def _driver_hint(url: str, backend: str) -> str:
    from sqlalchemy.engine import make_url

    extra, scheme = _DIALECTS[backend] or ("", "")
    if make_url(url).drivername == scheme:
        return f'install it with pip install "hpstudy[{extra}]"'
    return f'install it, or pip install "hpstudy[{extra}]" and use a {scheme}:// URL'


def _is_disk_full(exc: BaseException) -> bool:
    """Whether SQLite (or the OS under it) failed because the disk is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.Error) and (
        getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        or "database or disk is full" in str(exc)
    )


def _disk_full_error(path: Path) -> StorageError:
    """What to do when SQLite reports ``SQLITE_FULL`` for the storage at ``path``."""
    free = shutil.disk_usage(path.parent).free if path.parent.is_dir() else 0
    if free < _FULL_BELOW:
        return StorageError(
            f"no space left for the storage {path}: its disk has {free / 2**20:,.1f} MiB free; "
            "free space there, or move the file to a larger disk and pass --storage "
            "sqlite:///<new path>; what is already stored is intact"
        )
    return StorageError(
        f"SQLite found no space to write the storage {path} (database or disk is full) although "
        f"its disk has {free / 2**20:,.1f} MiB free; free space in SQLite's temporary folder "
        "($SQLITE_TMPDIR, else $TMPDIR, /var/tmp or /tmp); what is already stored is intact"
    )


def _name_full_disk(engine, path: Path) -> None:  # noqa: ANN001 - a sqlalchemy Engine
    """Turn SQLite's "database or disk is full" into a :class:`StorageError` naming the file.

    Without this, Optuna reports the failed commit as "invalid data in the commit, e.g. exceeding
    max length". The transaction is rolled back, so nothing committed before is lost.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "handle_error")
    def _full(context) -> None:  # noqa: ANN001 - sqlalchemy ExceptionContext
        if _is_disk_full(context.original_exception):
            raise _disk_full_error(path)


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
        StorageError: If the URL is malformed or of a dialect hpstudy does not support, its driver
            is missing, the server is unreachable, or an SQLite file's disk is full (also raised
            by any later write to the returned storage).
    """
    import optuna
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        backend = _check_dialect(url)
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
            _immediate_transactions(rdb_engine(storage))
            _name_full_disk(rdb_engine(storage), path)
        else:
            if not create:
                _require_tables(url)
            with storage_lock(url, "create-tables"):
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except ImportError as exc:
        raise StorageError(f"the database driver for {redact(url)} is not installed ({exc}); "
                           + _driver_hint(url, backend)) from None
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        if path is not None and _is_disk_full(getattr(exc, "orig", None) or exc):
            raise _disk_full_error(path) from None
        raise StorageError(
            f"cannot open storage {redact(url)}: {describe_error(exc, url)}; check the URL, that "
            "the server is running and reachable, and the credentials"
        ) from None
    return storage
