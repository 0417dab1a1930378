"""Exactly once, on every backend: many workers at once, a SIGKILL, a raising trial, Ctrl-C.

The workers are real processes running the real claim/heartbeat/retry/queue code; only the
training step is the stand-in (a short sleep), see ``hpstudy.testing``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

from hpstudy.study import HeartbeatSettings, StudyStatus, open_storage, study_status
from hpstudy.study._worker import WorkerConfig, run_worker, worker_main
from hpstudy.testing import prepare_standin_study, run_standin_nodes, standin_train

HEARTBEAT = HeartbeatSettings(interval_s=1, grace_s=4)
STUDY = "smoke:digits"
GRID = 26


def _status(url: str) -> StudyStatus:
    (status,) = study_status(open_storage(url, create=False))
    return status


def _assert_exactly_once(status: StudyStatus) -> None:
    assert status.grid_size == GRID
    assert status.complete == GRID
    assert status.duplicates == 0
    assert status.running == 0
    assert status.waiting == 0
    assert status.failed == 0


def _trials(url: str) -> list:
    import optuna

    return optuna.load_study(study_name=STUDY, storage=open_storage(url, create=False)).get_trials()


def test_many_workers_start_at_once_on_fresh_storage(storage_url: str) -> None:
    codes = run_standin_nodes(storage_url, 8, standin_train(0.1), heartbeat=HEARTBEAT)
    assert codes == [0] * 8
    status = _status(storage_url)
    _assert_exactly_once(status)
    assert status.attempts_failed == 0
    trials = _trials(storage_url)
    assert len(trials) == GRID  # one trial per point: nothing enqueued twice
    assert len({t.user_attrs["worker"] for t in trials}) > 1


def _worker(url: str, i: int, train_fn) -> mp.process.BaseProcess:  # noqa: ANN001
    cfg = WorkerConfig(url, STUDY, worker_id=f"w{i}", poll_s=0.5)
    p = mp.get_context("spawn").Process(target=worker_main, args=(cfg, train_fn))
    p.start()
    return p


def test_sigkilled_worker_is_detected_and_its_point_runs_again(storage_url: str) -> None:
    prepare_standin_study(storage_url, heartbeat=HEARTBEAT)
    # The victim's trials take 5 s, so it is surely still in the one it is seen running.
    procs = [_worker(storage_url, i, standin_train(5.0 if i == 0 else 0.4)) for i in range(3)]
    victim = procs[0]
    deadline = time.time() + 120
    while time.time() < deadline and not any(
        t.state.name == "RUNNING" and t.user_attrs.get("pid") == victim.pid
        for t in _trials(storage_url)
    ):
        time.sleep(0.1)
    assert time.time() < deadline, "the victim never claimed a trial"
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(timeout=30)
    for p in procs[1:]:
        p.join(timeout=300)
    assert [p.exitcode for p in procs[1:]] == [0, 0]
    status = _status(storage_url)
    _assert_exactly_once(status)
    assert status.attempts_failed == 1
    (failure,) = status.failures
    assert "heartbeat" in failure.reason
    (killed,) = [t for t in _trials(storage_url) if t.state.name == "FAIL"]
    assert killed.user_attrs["pid"] == victim.pid
    assert killed.user_attrs["grid_point"] == failure.point
    rerun = [t for t in _trials(storage_url) if t.user_attrs["grid_point"] == failure.point]
    assert sorted((t.state.name, t.user_attrs["attempt"]) for t in rerun) == [
        ("COMPLETE", 2), ("FAIL", 1)
    ]


def test_raising_trial_is_retried_then_left_failed_and_rerun_retries(storage_url: str) -> None:
    flaky, broken = "wd=0@0.2", "ps=0.25@1"
    prepare_standin_study(storage_url, heartbeat=HEARTBEAT, max_attempts=2)
    train = standin_train(0.02, fail_first=(flaky,), fail_always=(broken,))
    procs = [_worker(storage_url, i, train) for i in range(2)]
    for p in procs:
        p.join(timeout=300)
    status = _status(storage_url)
    assert status.complete == GRID - 1
    assert not status.is_complete
    assert status.failed == 1
    assert status.attempts_failed == 3  # flaky once, broken twice (its limit)
    assert status.running == status.waiting == status.duplicates == 0
    reasons = {(f.point, f.attempt): f.reason for f in status.failures}
    assert set(reasons) == {(flaky, 1), (broken, 1), (broken, 2)}
    assert all("StandinError: stand-in failure" in r for r in reasons.values())

    # A new run gives the point left failed fresh attempts; now it succeeds.
    prepare_standin_study(storage_url, heartbeat=HEARTBEAT, max_attempts=2)
    run_worker(WorkerConfig(storage_url, STUDY, poll_s=0.5), standin_train(0.02))
    status = _status(storage_url)
    _assert_exactly_once(status)
    assert status.attempts_failed == 3
    (done,) = [t for t in _trials(storage_url)
               if t.user_attrs["grid_point"] == broken and t.state.name == "COMPLETE"]
    assert done.user_attrs["attempt"] == 3


_RUN = textwrap.dedent(
    """
    import sys
    from hpstudy.study import HeartbeatSettings, run_study
    from hpstudy.testing import standin_lr_find, standin_train

    try:
        run_study("digits", "smoke", workers=3, storage=sys.argv[1], device="cpu",
                  heartbeat=HeartbeatSettings(1, 4), poll_s=0.2,
                  train_fn=standin_train(float(sys.argv[2]), epochs=4),
                  lr_find_fn=standin_lr_find())
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


def _interrupt_then_resume(storage_url: str, tmp_path, send) -> None:  # noqa: ANN001
    env = {**os.environ, "HPSTUDY_DATA": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN, storage_url, "1.0"], env=env, start_new_session=True,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            time.sleep(0.5)
            try:
                trials = _trials(storage_url)
            except Exception:  # noqa: BLE001 - the study may not exist yet
                continue
            done = sum(t.state.name == "COMPLETE" for t in trials)
            running = sum(t.state.name == "RUNNING" for t in trials)
            if done >= 3 and running >= 2:
                break
        send(proc.pid)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    status = _status(storage_url)
    assert status.running == 0
    assert 0 < status.complete < GRID
    assert status.interrupted >= 1
    assert status.attempts_failed == 0  # an interruption uses up no attempt
    interrupted = {t.user_attrs["grid_point"] for t in _trials(storage_url)
                   if t.user_attrs.get("interrupted")}

    resumed = subprocess.run([sys.executable, "-c", _RUN, storage_url, "0.05"], env=env,
                             timeout=300)
    assert resumed.returncode == 0
    status = _status(storage_url)
    _assert_exactly_once(status)
    assert status.attempts_failed == 0
    complete = {t.user_attrs["grid_point"]: t for t in _trials(storage_url)
                if t.state.name == "COMPLETE"}
    assert interrupted <= set(complete)
    assert all(complete[p].user_attrs["attempt"] == 1 for p in interrupted)


def test_ctrl_c_stops_workers_and_the_next_run_resumes(storage_url: str, tmp_path) -> None:  # noqa: ANN001
    # What the terminal does on Ctrl-C: SIGINT to the coordinator and its workers.
    _interrupt_then_resume(storage_url, tmp_path, lambda pid: os.killpg(pid, signal.SIGINT))


def test_sigterm_to_the_coordinator_alone_stops_its_workers(sqlite_url: str, tmp_path) -> None:  # noqa: ANN001
    # What `kill PID` or a batch system does: the coordinator passes the stop on to its workers.
    _interrupt_then_resume(sqlite_url, tmp_path, lambda pid: os.kill(pid, signal.SIGTERM))


class _SignalInFinalizer:
    """Raises SIGINT inside ``__del__``, where Python prints the handler's KeyboardInterrupt and
    drops it: what happened when a Ctrl-C met SQLAlchemy's weakref cleanup in CI."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)
        sum(range(10))  # bytecode after the signal: the handler runs here, inside __del__


def test_ctrl_c_swallowed_by_a_finalizer_still_stops_the_run(sqlite_url: str, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    import pytest

    from hpstudy.study import run_study
    from hpstudy.testing import standin_lr_find

    monkeypatch.setenv("HPSTUDY_DATA", str(tmp_path / "data"))
    fired: list[str] = []

    def progress(p) -> None:  # noqa: ANN001
        if p.phase == "training" and not fired:
            fired.append(p.phase)
            _SignalInFinalizer()  # deleted at once: the signal lands in its __del__

    with pytest.raises(KeyboardInterrupt):
        run_study("digits", "smoke", workers=2, storage=sqlite_url, device="cpu",
                  heartbeat=HEARTBEAT, poll_s=0.2, on_progress=progress,
                  train_fn=standin_train(1.0, epochs=4), lr_find_fn=standin_lr_find())
    status = _status(sqlite_url)
    assert fired
    assert status.running == 0
    assert status.complete < GRID


def test_a_trial_left_mid_claim_is_released_by_its_pool(sqlite_url: str) -> None:
    # A worker killed between switching a trial to RUNNING and writing its owner leaves a trial
    # that says nobody's; the pool releases it by the id the worker published while claiming.
    import multiprocessing as mp

    from optuna.trial import TrialState

    from hpstudy.study._optuna import storage_of, trial_id_of
    from hpstudy.study._pool import Pool
    from hpstudy.study._worker import WorkerConfig
    from hpstudy.testing import prepare_standin_study, standin_train

    ref = prepare_standin_study(sqlite_url)
    waiting = ref.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    victim = trial_id_of(waiting[0])
    assert storage_of(ref.study).set_trial_state_values(victim, state=TrialState.RUNNING)
    pool = Pool(ref, WorkerConfig(sqlite_url, ref.study.study_name), [None], standin_train(0.0),
                0.2)
    ctx = mp.get_context("spawn")
    dead = ctx.Process(target=sum, args=([],))  # a worker process that is gone
    dead.start()
    dead.join()
    pool.procs[0] = dead
    pool.claiming[0] = ctx.Value("q", victim)
    pool.stop()
    t = storage_of(ref.study).get_trial(victim)
    assert t.state == TrialState.FAIL and t.user_attrs["interrupted"] is True
    assert pool.claiming[0].value == -1
    assert sum(w.user_attrs["grid_point"] == t.user_attrs["grid_point"]
               for w in ref.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) == 1


def test_a_claim_whose_owner_cannot_be_written_is_released(sqlite_url: str) -> None:
    import random

    import pytest
    from optuna.trial import TrialState

    from hpstudy.study._study import claim_next
    from hpstudy.testing import prepare_standin_study

    ref = prepare_standin_study(sqlite_url)
    told: list[int | None] = []
    with pytest.raises(TypeError):  # an owner value that is not JSON
        claim_next(ref, owner={"host": object()}, rng=random.Random(0), claiming=told.append)
    assert told[0] is not None and told[-1] is None
    trials = ref.study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    (failed,) = [t for t in trials if t.state == TrialState.FAIL]
    assert failed.user_attrs["interrupted"] is True
