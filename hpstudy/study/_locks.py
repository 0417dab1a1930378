"""Storage-wide named locks that wait for a live holder, take over from a dead one, and say so.

:func:`~hpstudy.study._storage.storage_lock` picks the mechanism (a file lock for SQLite, an
advisory lock on PostgreSQL, ``GET_LOCK`` on MySQL/MariaDB); this module adds, on top of any of
them, a record of who holds the lock and whether it still works:

- **The holder records itself** next to the lock: host, pid, process start token (see
  :mod:`hpstudy.study._liveness`), what it does ("running the lr finder"), since when, and on a
  server the database session that holds the lock. A background thread refreshes a progress stamp
  every 5 s while the lock is held. SQLite: a JSON file beside the lock file, the stamp being its
  modification time. PostgreSQL, MySQL/MariaDB: a row of the table ``hpstudy_locks`` (created on
  first use) written on the lock's own connection, the stamp taken from the server's clock. The
  record is written one second into the hold (most holds are shorter and cost nothing extra). The
  holder removes it before it lets go of the lock, so a record found by the next holder was left
  by one that died.
- **A waiter** tries the lock every 2 s and in between reads the record:

  - holder alive and making progress (its stamp at most 60 s old and, on this host, its process
    still running): wait, as long as that lasts, and once the wait passes 5 s say so (again for a
    new holder at most once a minute), e.g. ``waiting for lock 'lr-find:smoke:digits' held by
    vm:4242 (alive, running the lr finder for 42 s)``;
  - holder gone: on SQLite the operating system released its file lock with the process, so the
    next try succeeds; on a server an advisory lock dies with its connection. When a holder on
    this host died but its session lingers (a child process inherited the connection), that
    session is ended (``pg_terminate_backend``, ``KILL``) once the server confirms that it is the
    one holding the lock. Taking over says whom from;
  - otherwise (no record, a process that runs but shows no progress, a holder on another host that
    stopped refreshing) for ``timeout_s`` in a row: fail with a message that names the holder and
    what to do. A holder that cannot write its record (a database user without the right to create
    the table) is waited for like an unknown one, up to ``timeout_s``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from hpstudy.errors import StorageError
from hpstudy.study._liveness import is_alive, process_token

__all__ = ["LockHolder", "db_lock", "file_lock", "hold"]

_RECORD_AFTER_S = 1.0
_REFRESH_S = 5.0
_ALIVE_S = 60.0
_POLL_S = 2.0
_SAY_AFTER_S = 5.0  # a waiter says whom it waits for once it has waited this long,
_SAY_AGAIN_S = 60.0  # and names a new holder at most this often
_TABLE = "hpstudy_locks"
_TABLE_MADE: set[str] = set()  # URLs whose record table this process created or found
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock and what for (``session``: its database session on a server)."""

    name: str
    host: str
    pid: int
    proc: str | None
    doing: str
    since: float
    session: int | None = None

    @property
    def who(self) -> str:
        return f"{self.host}:{self.pid}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LockHolder | None:
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None


class _Lock(Protocol):
    """One lock mechanism with its holder record."""

    def try_acquire(self, wait_s: float) -> bool: ...
    def release(self) -> None: ...
    def session(self) -> int | None: ...
    def write(self, holder: LockHolder) -> None: ...
    def refresh(self) -> None: ...
    def clear(self) -> None: ...
    def read(self) -> tuple[LockHolder | None, float | None]: ...
    def holding_session(self) -> int | None: ...
    def end_session(self, session: int) -> bool: ...
    def how_to_free(self, holder: LockHolder | None) -> str: ...
    def close(self) -> None: ...


class _FileLock:
    """SQLite: a file lock (the OS releases it when its process dies) and a JSON record."""

    def __init__(self, path: Path) -> None:
        from filelock import FileLock

        self._path = path
        self._record = path.with_suffix(".json")
        self._lock = FileLock(str(path))

    def try_acquire(self, wait_s: float) -> bool:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=wait_s)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        self._lock.release()

    def session(self) -> int | None:
        return None

    def write(self, holder: LockHolder) -> None:
        tmp = self._record.with_name(f"{self._record.name}.{os.getpid()}.tmp")
        tmp.write_text(holder.to_json())
        os.replace(tmp, self._record)

    def refresh(self) -> None:
        os.utime(self._record)

    def clear(self) -> None:
        self._record.unlink(missing_ok=True)

    def read(self) -> tuple[LockHolder | None, float | None]:
        try:
            text = self._record.read_text()
            age = time.time() - self._record.stat().st_mtime
        except OSError:
            return None, None
        return LockHolder.from_json(text), age

    def holding_session(self) -> int | None:
        return None

    def end_session(self, session: int) -> bool:
        return False

    def how_to_free(self, holder: LockHolder | None) -> str:
        return f"find the process that holds the lock file with `fuser -v {self._path}` and stop it"

    def close(self) -> None:
        pass


class _DbLock:
    """PostgreSQL advisory lock or MySQL ``GET_LOCK`` (both die with their connection)."""

    def __init__(self, url: str, name: str) -> None:
        import sqlalchemy as sa

        self._sa = sa
        self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self._backend = self._engine.url.get_backend_name()
        if self._backend not in ("postgresql", "mysql", "mariadb"):
            self._engine.dispose()
            raise StorageError(
                f"storage backend {self._backend!r} is not supported; use sqlite, postgresql or mysql"
            )
        digest = hashlib.sha256(name.encode())
        self._key = digest.hexdigest()[:48]
        # PostgreSQL's advisory locks belong to one database; MySQL's GET_LOCK names are
        # server-wide, so the database is part of the name there.
        self._pg_key = int.from_bytes(digest.digest()[:8], "big", signed=True)
        scoped = f"{self._engine.url.database}|{name}".encode()
        self._my_name = f"hpstudy:{hashlib.sha256(scoped).hexdigest()[:48]}"
        self._mutex = threading.Lock()
        self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    @property
    def _pg(self) -> bool:
        return self._backend == "postgresql"

    def _run(self, sql: str, **params: Any) -> Any:
        with self._mutex:
            return self._conn.execute(self._sa.text(sql), params)

    def try_acquire(self, wait_s: float) -> bool:
        if not self._pg:
            got = self._run("SELECT GET_LOCK(:n, :t)", n=self._my_name, t=max(1, round(wait_s)))
            return got.scalar() == 1
        self._run("SELECT set_config('lock_timeout', :t, false)", t=f"{round(wait_s * 1000)}ms")
        try:
            self._run("SELECT pg_advisory_lock(:k)", k=self._pg_key)
        except self._sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            return False
        finally:
            self._run("SELECT set_config('lock_timeout', '0', false)")
        return True

    def release(self) -> None:
        if self._pg:
            self._run("SELECT pg_advisory_unlock(:k)", k=self._pg_key)
        else:
            self._run("SELECT RELEASE_LOCK(:n)", n=self._my_name)

    def session(self) -> int | None:
        return int(self._run("SELECT pg_backend_pid()" if self._pg else "SELECT CONNECTION_ID()")
                   .scalar())

    def write(self, holder: LockHolder) -> None:
        url = self._engine.url.render_as_string(hide_password=False)
        if url not in _TABLE_MADE:
            with contextlib.suppress(self._sa.exc.DBAPIError):  # made by another process meanwhile
                self._run(f"CREATE TABLE IF NOT EXISTS {_TABLE} (lock_key VARCHAR(64) PRIMARY KEY, "
                          "holder TEXT NOT NULL, progress_at TIMESTAMP NOT NULL)")
            _TABLE_MADE.add(url)
        self._run(f"DELETE FROM {_TABLE} WHERE lock_key = :k", k=self._key)
        self._run(f"INSERT INTO {_TABLE} (lock_key, holder, progress_at) "
                  "VALUES (:k, :h, LOCALTIMESTAMP)", k=self._key, h=holder.to_json())

    def refresh(self) -> None:
        self._run(f"UPDATE {_TABLE} SET progress_at = LOCALTIMESTAMP WHERE lock_key = :k",
                  k=self._key)

    def clear(self) -> None:
        self._run(f"DELETE FROM {_TABLE} WHERE lock_key = :k", k=self._key)

    def read(self) -> tuple[LockHolder | None, float | None]:
        try:
            row = self._run(f"SELECT holder, progress_at, LOCALTIMESTAMP FROM {_TABLE} "
                            "WHERE lock_key = :k", k=self._key).first()
        except self._sa.exc.DBAPIError:  # no table yet: nobody recorded a holder
            return None, None
        if row is None:
            return None, None
        return LockHolder.from_json(row[0]), (row[2] - row[1]).total_seconds()

    def holding_session(self) -> int | None:
        if self._pg:
            key = self._pg_key & 0xFFFFFFFFFFFFFFFF
            found = self._run(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1",
                hi=key >> 32, lo=key & 0xFFFFFFFF,
            ).scalar()
        else:
            found = self._run("SELECT IS_USED_LOCK(:n)", n=self._my_name).scalar()
        return None if found is None else int(found)

    def end_session(self, session: int) -> bool:
        if self.holding_session() != session:
            return False
        try:
            if self._pg:
                return bool(self._run("SELECT pg_terminate_backend(:s)", s=session).scalar())
            self._run(f"KILL CONNECTION {int(session)}")
        except self._sa.exc.DBAPIError as exc:
            _log.warning("cannot end database session %d: %s", session,
                         str(getattr(exc, "orig", exc)).strip().splitlines()[0])
            return False
        return True

    def how_to_free(self, holder: LockHolder | None) -> str:
        if holder is not None and holder.session is not None:
            end = f"SELECT pg_terminate_backend({holder.session})" if self._pg \
                else f"KILL CONNECTION {holder.session}"
            return f"end its database session with `{end}`"
        if self._pg:
            return ("find its session with `SELECT pid FROM pg_locks WHERE locktype = 'advisory'` "
                    "and end it with `SELECT pg_terminate_backend(pid)`")
        return (f"find its connection with `SELECT IS_USED_LOCK('{self._my_name}')` and end it "
                "with `KILL CONNECTION id`")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()
        self._engine.dispose()


def file_lock(path: Path) -> _Lock:
    """The lock of an SQLite storage: the file lock at ``path``, its record beside it."""
    return _FileLock(path)


def db_lock(url: str, name: str) -> _Lock:
    """The lock ``name`` on the PostgreSQL or MySQL/MariaDB server at ``url``."""
    return _DbLock(url, name)


class _Record:
    """The holder's record, written from a daemon thread while the lock is held.

    It is written after ``_RECORD_AFTER_S`` (most holds are shorter and cost nothing extra; a
    waiter takes an unrecorded holder for unknown, which it waits for up to ``timeout_s``), then
    its progress stamp is refreshed every ``_REFRESH_S``.
    """

    def __init__(self, lock: _Lock, name: str, doing: str) -> None:
        self._lock = lock
        self._name = name
        self._doing = doing
        self._since = time.time()
        self._written = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hpstudy-lock-record", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        wait = _RECORD_AFTER_S
        while not self._stop.wait(wait):
            try:
                if self._written:
                    self._lock.refresh()
                else:
                    self._lock.write(LockHolder(self._name, socket.gethostname(), os.getpid(),
                                                process_token(), self._doing, self._since,
                                                self._lock.session()))
                    self._written = True
            except Exception as exc:  # noqa: BLE001 - waiters see a late stamp, nothing breaks
                _log.debug("recording the holder of lock %r failed: %s", self._name, exc)
            wait = _REFRESH_S

    def stop(self) -> None:
        """Stop refreshing and remove the record (the next holder reports one left behind)."""
        self._stop.set()
        self._thread.join(timeout=30)
        if self._written:
            try:
                self._lock.clear()
            except Exception as exc:  # noqa: BLE001
                _log.debug("removing the record of lock %r failed: %s", self._name, exc)


def _since(holder: LockHolder) -> str:
    return time.strftime("%H:%M:%S", time.localtime(holder.since))


def _stuck(name: str, holder: LockHolder | None, alive: bool | None, age: float | None,
           lock: _Lock, timeout_s: float) -> str:
    """Why a waiter gives up, and what the user can do."""
    if holder is None:
        return (f"timed out after {timeout_s:.0f} s waiting for lock {name!r}, held by a process "
                f"that left no record of itself (an older hpstudy, or another program); if no "
                f"hpstudy is working on this storage, {lock.how_to_free(None)}, then start again")
    what = f"{holder.who} ({holder.doing} since {_since(holder)})"
    if alive is True:
        return (f"lock {name!r} is held by {what}, which runs but has shown no progress for "
                f"{age or 0:.0f} s; if it hangs, stop it (`kill {holder.pid}`) and start again")
    if alive is False:
        return (f"lock {name!r} is still held although its holder {what} is gone; "
                f"{lock.how_to_free(holder)}, then start again")
    return (f"lock {name!r} is held by {what} on another host, which has shown no progress for "
            f"{age or 0:.0f} s; if it still works, start again later; if it is gone, "
            f"{lock.how_to_free(holder)}, then start again")


def _acquire(lock: _Lock, name: str, timeout_s: float) -> None:
    started = last_sign = time.monotonic()
    announced: LockHolder | None = None
    said = -_SAY_AGAIN_S
    ended: set[int] = set()
    while not lock.try_acquire(_POLL_S):
        holder, age = lock.read()
        current = lock.holding_session()
        if holder is not None and current is not None and holder.session != current:
            holder = None  # left by an earlier holder; the current one has not written its own yet
        alive = None if holder is None else is_alive(holder.host, holder.pid, holder.proc)
        if holder is not None and alive is False and holder.session is not None \
                and holder.session not in ended:
            ended.add(holder.session)  # tried once: a session we may not end is left as it is
            if lock.end_session(holder.session):
                _log.warning("lock %r: its holder %s is gone but its database session %d still "
                             "held it; ended that session to take the lock over", name,
                             holder.who, holder.session)
                continue
        if holder is not None and alive is not False and age is not None and age <= _ALIVE_S:
            last_sign = now = time.monotonic()
            if holder != announced and now - started >= _SAY_AFTER_S and now - said >= _SAY_AGAIN_S:
                _log.warning("waiting for lock %r held by %s (alive, %s for %.0f s)", name,
                             holder.who, holder.doing, max(0.0, time.time() - holder.since))
                announced, said = holder, now
        elif time.monotonic() - last_sign > timeout_s:
            raise StorageError(_stuck(name, holder, alive, age, lock, timeout_s))


@contextlib.contextmanager
def hold(lock: _Lock, name: str, doing: str, timeout_s: float) -> Iterator[None]:
    """Hold ``lock`` for the block, waiting as the module doc says, with a refreshed record.

    Raises:
        StorageError: When no holder showed signs of life for ``timeout_s`` seconds in a row.
    """
    try:
        _acquire(lock, name, timeout_s)
        _take_over(lock, name)
        record = _Record(lock, name, doing)
        try:
            yield
        finally:
            record.stop()
            lock.release()
    finally:
        lock.close()


def _take_over(lock: _Lock, name: str) -> None:
    """Report and remove a record left by a holder that died holding the lock."""
    try:
        left, _ = lock.read()
        if left is None:
            return
        if left.pid != os.getpid() and is_alive(left.host, left.pid, left.proc) is not True:
            _log.warning("lock %r: taking it over from %s, which is gone (it was %s since %s)",
                         name, left.who, left.doing, _since(left))
        lock.clear()
    except Exception as exc:  # noqa: BLE001 - the record is for messages only
        _log.debug("reading the record of lock %r failed: %s", name, exc)
