"""Liveness of trials: who counts as dead, heartbeats on a busy storage, a trial failed under a worker.

Real worker processes on real databases; only the training step is the stand-in (a sleep). A
stopped process (SIGSTOP) stands for a worker whose heartbeat writer is blocked: it is alive, but
its heartbeat goes overdue.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState

from hpstudy.study import HeartbeatSettings, open_storage
from hpstudy.study._heartbeat import Heartbeat, overdue_trial_ids
from hpstudy.study._liveness import is_alive, process_token
from hpstudy.study._optuna import storage_of, trial_id_of
from hpstudy.study._study import claim_next, ensure_queued, fail_stale, finish, load_study
from hpstudy.testing import prepare_standin_study

HEARTBEAT = HeartbeatSettings(interval_s=1, grace_s=4)
STUDY = "smoke:digits"
GRID = 26
SLOW = "wd=0@0.2"

_WORKER = textwrap.dedent(
    """
    import sys
    from hpstudy.testing import standin_train
    from hpstudy.study._worker import WorkerConfig, worker_main

    slow = tuple(sys.argv[3].split(",")) if sys.argv[3] else ()
    worker_main(WorkerConfig(sys.argv[1], "smoke:digits", poll_s=0.3),
                standin_train(float(sys.argv[2]), epochs=8, slow_first=slow, slow_s=4.0))
    """
)


def _start_worker(url: str, sleep_s: float, slow: tuple[str, ...], log: Path) -> subprocess.Popen:
    with log.open("w") as err:
        return subprocess.Popen([sys.executable, "-c", _WORKER, url, str(sleep_s), ",".join(slow)],
                                stderr=err)


def _ref(url: str):  # noqa: ANN202 - StudyRef
    return load_study(open_storage(url, create=False), STUDY)


def _wait_for(what: str, check, timeout_s: float = 90.0):  # noqa: ANN001, ANN202
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen, url: str) -> None:
    """SIGSTOP ``proc``, but not while it holds SQLite's write lock (that would stop everyone)."""
    import sqlite3

    from hpstudy.study._storage import _sqlite_path

    path = _sqlite_path(url)
    while True:
        os.kill(proc.pid, signal.SIGSTOP)
        if path is None:
            return
        con = sqlite3.connect(path, timeout=1.0, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.1)
        finally:
            con.close()


def _running(ref) -> dict[int, FrozenTrial]:  # noqa: ANN001 - StudyRef
    """RUNNING trials that have reported an epoch (so they train), by their worker's pid."""
    return {t.user_attrs["pid"]: t for t in ref.study.get_trials(deepcopy=False)
            if t.state == TrialState.RUNNING and t.intermediate_values}


def test_start_token_tells_a_live_process_from_a_dead_or_reused_pid() -> None:
    host, me = socket.gethostname(), os.getpid()
    token = process_token()
    assert token is not None
    assert is_alive(host, me, token) is True
    assert is_alive("another-host", me, token) is None  # rely on its heartbeat
    assert is_alive(host, me, None) is None
    prefix, _, started = token.rpartition("/")
    assert is_alive(host, me, f"{prefix}/{int(started) + 1}") is False  # the pid, reused
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child_token = process_token(child.pid)
    assert is_alive(host, child.pid, child_token) is True
    child.kill()
    time.sleep(0.5)
    assert is_alive(host, child.pid, child_token) is False  # a zombie, not reaped yet
    child.wait()
    assert is_alive(host, child.pid, child_token) is False


def test_live_worker_with_overdue_heartbeat_is_not_stale_but_a_dead_one_is(
    storage_url: str, tmp_path: Path
) -> None:
    prepare_standin_study(storage_url, heartbeat=HEARTBEAT)
    ref = _ref(storage_url)
    stopped, killed = (_start_worker(storage_url, 3.0, (), tmp_path / f"w{i}.log") for i in (0, 1))
    try:
        running = _wait_for("both workers to train", lambda: (
            r if {stopped.pid, killed.pid} <= (r := _running(ref)).keys() else None))
        _stop(stopped, storage_url)  # alive, but its heartbeat stops
        os.kill(killed.pid, signal.SIGKILL)  # gone (a zombie until reaped: not waited for here)
        ids = {trial_id_of(running[stopped.pid]), trial_id_of(running[killed.pid])}
        _wait_for("both heartbeats to be overdue", lambda: ids <= set(
            overdue_trial_ids(ref.study, HEARTBEAT.interval_s, HEARTBEAT.grace_s)))

        assert fail_stale(ref, HEARTBEAT) == [trial_id_of(running[killed.pid])]
        assert fail_stale(ref, HEARTBEAT) == []  # the stopped worker's trial stays RUNNING

        os.kill(stopped.pid, signal.SIGCONT)
        number = running[stopped.pid].number
        done = _wait_for("the stopped worker's trial to complete", lambda: (
            t if (t := ref.study.get_trials(deepcopy=False)[number]).state == TrialState.COMPLETE
            else None), timeout_s=30)
        assert done.user_attrs["pid"] == stopped.pid
        failed = [t for t in ref.study.get_trials(deepcopy=False) if t.state == TrialState.FAIL]
        assert [t.user_attrs["pid"] for t in failed] == [killed.pid]
    finally:
        for proc in (stopped, killed):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            proc.wait()


def test_trial_failed_as_stale_under_a_live_worker_is_dropped_and_runs_again(
    storage_url: str, tmp_path: Path
) -> None:
    prepare_standin_study(storage_url, heartbeat=HEARTBEAT)
    ref = _ref(storage_url)
    log = tmp_path / "worker.log"
    worker = _start_worker(storage_url, 0.05, (SLOW,), log)
    try:
        trial = _wait_for(f"the worker to train {SLOW}", lambda: next(
            (t for t in _running(ref).values() if t.user_attrs["grid_point"] == SLOW), None))
        _stop(worker, storage_url)
        _wait_for("its heartbeat to be overdue", lambda: trial_id_of(trial) in overdue_trial_ids(
            ref.study, HEARTBEAT.interval_s, HEARTBEAT.grace_s))
        # What a process on another host does, which sees the heartbeat overdue and cannot check
        # the worker's process: fail the trial and re-enqueue its point.
        assert finish(ref, trial_id_of(trial), TrialState.FAIL)
        assert ensure_queued(ref, keys={SLOW}) == 1
        os.kill(worker.pid, signal.SIGCONT)
        assert worker.wait(timeout=120) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    trials = ref.study.get_trials(deepcopy=False)
    assert sum(t.state.name == "COMPLETE" for t in trials) == GRID
    assert len({t.user_attrs["grid_point"] for t in trials if t.state.name == "COMPLETE"}) == GRID
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    slow = sorted((t.user_attrs["attempt"], t.state.name, t.value) for t in trials
                  if t.user_attrs["grid_point"] == SLOW)
    assert [s[:2] for s in slow] == [(1, "FAIL"), (2, "COMPLETE")]
    assert slow[0][2] is None  # the stale attempt's result was dropped
    stderr = log.read_text()
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "failed as stale" in line]
    assert lines == [f"trial {trial.number} ({SLOW}) was failed as stale by another process while "
                     "it ran; its result is dropped and the point runs again"]


@pytest.mark.parametrize(
    ("backend", "lock_timeout"),
    [
        pytest.param("postgres", "options=-clock_timeout%3D300", marks=pytest.mark.postgres,
                     id="postgres"),
        pytest.param("mysql", "init_command=SET%20innodb_lock_wait_timeout%3D1",
                     marks=pytest.mark.mysql, id="mysql"),
    ],
)
def test_heartbeat_writes_that_fail_for_a_while_are_retried(
    backend: str, lock_timeout: str, request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The storage gives up on a write that waits for a row lock (a lock timeout: what a busy
    # server does), and this test holds the trial's heartbeat row locked for a while.
    import sqlalchemy as sa

    url = f"{request.getfixturevalue(f'{backend}_url')}?{lock_timeout}"
    settings = HeartbeatSettings(interval_s=4, grace_s=8)
    ref = prepare_standin_study(url, heartbeat=settings)
    trial = claim_next(ref, owner={"host": socket.gethostname(), "pid": os.getpid()},
                       rng=random.Random(0))
    assert trial is not None
    blocker = sa.create_engine(url.split("?")[0], poolclass=sa.pool.NullPool)
    caplog.set_level(logging.WARNING, logger="hpstudy.study._heartbeat")
    try:
        with Heartbeat(storage_of(ref.study), trial_id_of(trial), settings, trial.number), \
                blocker.connect() as conn:
            with conn.begin():
                conn.execute(sa.text("SELECT * FROM trial_heartbeats WHERE trial_id = :t FOR UPDATE"),
                             {"t": trial_id_of(trial)})
                time.sleep(7.0)  # the beat at 4 s fails, and its retries until the row is free
            # The row is free: a retry gets through before the next regular beat would.
            _wait_for("the heartbeat to get through", lambda: "written again" in caplog.text,
                      timeout_s=settings.interval_s)
            assert trial_id_of(trial) not in overdue_trial_ids(ref.study, 1, 2)  # fresh again
    finally:
        blocker.dispose()
    failures = [r.getMessage() for r in caplog.records if "failed (retrying)" in r.getMessage()]
    assert len(failures) >= 2  # retried within one interval, not only at the next one
    assert all(m.startswith(f"heartbeat write of trial {trial.number} failed (retrying): ")
               for m in failures)
    assert all("lock" in m.lower() for m in failures)  # the cause, not Optuna's generic wrapper
    assert storage_of(ref.study).get_trial(trial_id_of(trial)).state.name == "RUNNING"
    assert fail_stale(ref, settings) == []
