"""Storage locks: a starter waits for a live holder (and says so), takes over from a dead one.

The holder is a real starter process inside its lr finder (a stand-in that sleeps), on every
backend.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from hpstudy.errors import StorageError
from hpstudy.study import open_storage, study_attrs
from hpstudy.study._locks import db_lock, file_lock
from hpstudy.study._storage import _lock_path, _sqlite_path, storage_lock
from hpstudy.study._study import load_study
from hpstudy.testing import prepare_standin_study

LOCK = "lr-find:smoke:digits"

# A starter (what `hpstudy run` does first) whose lr finder takes argv[2] seconds per fraction;
# with argv[3] == "fork" the lr finder first forks a child that keeps the process's connections.
_STARTER = textwrap.dedent(
    """
    import os, sys, time
    from hpstudy.study._lr import ensure_lr_find
    from hpstudy.study._spec import load_spec
    from hpstudy.study._storage import open_storage
    from hpstudy.study._study import create_study, ensure_queued

    def lr_find(ref, fraction, data_root, device):
        child = os.fork() if sys.argv[3:] == ["fork"] else None
        if child == 0:
            time.sleep(120)
            os._exit(0)
        print("lr finder running", child, flush=True)
        time.sleep(float(sys.argv[2]))
        return {"lr": 1e-3, "method": "slow"}

    ref = create_study(open_storage(sys.argv[1], create=True), load_spec("smoke"), "digits",
                       "accuracy")
    ensure_lr_find(ref, None, "cpu", lr_find)
    ensure_queued(ref)
    """
)


def _starter(url: str, lr_find_s: float, *extra: str) -> tuple[subprocess.Popen, int | None]:
    """Start a starter and return it once it is inside the lr finder (and its forked child)."""
    proc = subprocess.Popen([sys.executable, "-c", _STARTER, url, str(lr_find_s), *extra],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("lr finder running"), line
    time.sleep(1.5)  # the holder records itself one second into the hold
    child = line.split()[-1]
    return proc, None if child == "None" else int(child)


@pytest.fixture
def lock_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.WARNING, logger="hpstudy.study._locks")
    yield caplog


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hpstudy.study._locks"]


def test_starter_waits_for_a_live_lock_holder_and_says_so(
    storage_url: str, lock_log: pytest.LogCaptureFixture
) -> None:
    holder, _ = _starter(storage_url, 5.0)  # two fractions: it holds the lock for about 10 s
    try:
        started = time.monotonic()
        with storage_lock(storage_url, LOCK, timeout_s=2.0):
            waited = time.monotonic() - started
            lr = study_attrs(load_study(open_storage(storage_url, create=False), "smoke:digits").study)
        assert holder.wait(timeout=60) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert waited > 6.0  # far longer than timeout_s: the holder was alive and working
    assert lr["lr_find@0.2"]["method"] == lr["lr_find@1"]["method"] == "slow"
    (line,) = _lines(lock_log)
    assert re.fullmatch(rf"waiting for lock '{LOCK}' held by {re.escape(socket.gethostname())}:"
                        rf"{holder.pid} \(alive, running the lr finder for \d+ s\)", line), line


def test_starter_takes_over_from_a_dead_lock_holder(
    storage_url: str, lock_log: pytest.LogCaptureFixture
) -> None:
    holder, _ = _starter(storage_url, 60.0)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    ref = prepare_standin_study(storage_url)  # a second starter: takes the lock over and finishes
    assert time.monotonic() - started < 30
    assert study_attrs(ref.study)["lr_find@0.2"]["method"] == "standin"
    assert f"lock '{LOCK}': taking it over from {socket.gethostname()}:{holder.pid}, which is " \
        "gone (it was running the lr finder since" in "\n".join(_lines(lock_log))


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres),
                                     pytest.param("mysql", marks=pytest.mark.mysql)])
def test_session_left_by_a_dead_holder_is_ended(
    backend: str, request: pytest.FixtureRequest, lock_log: pytest.LogCaptureFixture
) -> None:
    # The holder dies, but a child it forked keeps its connection, so the server keeps the lock.
    url = request.getfixturevalue(f"{backend}_url")
    holder, child = _starter(url, 60.0, "fork")
    assert child is not None
    try:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        started = time.monotonic()
        with storage_lock(url, LOCK, timeout_s=30):
            assert time.monotonic() - started < 20
    finally:
        os.kill(child, signal.SIGKILL)
    assert any(re.fullmatch(rf"lock '{LOCK}': its holder {re.escape(socket.gethostname())}:"
                            rf"{holder.pid} is gone but its database session \d+ still held it; "
                            "ended that session to take the lock over", line)
               for line in _lines(lock_log)), _lines(lock_log)


def test_lock_held_without_a_sign_of_life_fails_with_what_to_do(storage_url: str) -> None:
    # A holder that records nothing (an older hpstudy, another program) and never lets go.
    open_storage(storage_url, create=True)
    path = _sqlite_path(storage_url)
    other = file_lock(_lock_path(f"{path}|{LOCK}")) if path else db_lock(storage_url, LOCK)
    assert other.try_acquire(1.0)
    try:
        with pytest.raises(StorageError) as err, storage_lock(storage_url, LOCK, timeout_s=2.0):
            pass
    finally:
        other.release()
        other.close()
    message = str(err.value)
    assert f"timed out after 2 s waiting for lock '{LOCK}', held by a process that left no " \
        "record of itself" in message
    assert ("fuser -v" if path else "pg_terminate_backend" if "postgres" in storage_url
            else "KILL CONNECTION") in message
