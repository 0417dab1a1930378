"""This host's worker processes for ``hpstudy run``: started (one per slot, spawned), watched,
replaced when they die, and stopped, their claimed trials released, on Ctrl-C."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hpstudy.errors import HpstudyError
from hpstudy.study._heartbeat import heartbeat_of
from hpstudy.study._optuna import storage_of, study_id_of
from hpstudy.study._report import StudyStatus
from hpstudy.study._study import StudyRef, fail_stale, release, release_trials
from hpstudy.study._worker import TrainFn, WorkerConfig, pending, worker_main

__all__ = ["Pool"]


class Pool:
    """This host's worker processes: started, watched, replaced when they die, stopped on Ctrl-C."""

    def __init__(
        self,
        ref: StudyRef,
        config: WorkerConfig,
        slots: list[str | None],
        train_fn: TrainFn,
        poll_s: float,
    ) -> None:
        self.ref = ref
        self.config = config
        self.slots = slots
        self.train_fn = train_fn
        self.poll_s = poll_s
        self.heartbeat = heartbeat_of(ref.study)
        self.ctx = mp.get_context("spawn")
        self.procs: dict[int, mp.process.BaseProcess] = {}
        # Per slot, the trial its worker is claiming (-1: none): see _stop and ClaimingFn.
        self.claiming: dict[int, Any] = {}
        self.pids: set[int] = set()
        self.restarts_left = len(slots) * max(1, config.max_attempts)
        self.errors = self.ctx.SimpleQueue()  # user errors of workers (a full disk), see _worker_process
        self.signalled = False  # a Ctrl-C or SIGTERM arrived, see _on_signal

    def _start(self, slot: int) -> None:
        cfg = replace(self.config, gpu=self.slots[slot], worker_id=f"w{slot}")
        self.claiming[slot] = claiming = self.ctx.Value("q", -1)
        p = self.ctx.Process(target=_worker_process,
                             args=(cfg, self.train_fn, self.errors, claiming),
                             name=f"hpstudy-worker-{slot}")
        p.start()
        self.procs[slot] = p
        if p.pid is not None:
            self.pids.add(p.pid)

    def run(self, report: Callable[[str], StudyStatus]) -> None:
        """Start the workers and return when none of them has anything left to do.

        SIGTERM (``kill``, a batch system ending the job) stops them like Ctrl-C.
        """
        main = threading.current_thread() is threading.main_thread()
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.signal(s, self._on_signal) for s in signals} if main else {}
        try:
            self._run(report)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        """Ctrl-C or SIGTERM: interrupt now, and remember it for the watch loop.

        Python runs a handler wherever the interpreter is; where that is a weakref callback or a
        ``__del__`` (SQLAlchemy's state cleanup), the ``KeyboardInterrupt`` is printed and dropped.
        The flag makes the loop's next round raise it again, so no stop is ever lost.
        """
        self.signalled = True
        raise KeyboardInterrupt

    def _run(self, report: Callable[[str], StudyStatus]) -> None:
        try:
            for slot in range(len(self.slots)):
                self._start(slot)
            while True:
                if self.signalled:  # the handler's own raise was swallowed, see _on_signal
                    raise KeyboardInterrupt
                report("training")
                fail_stale(self.ref, self.heartbeat)
                if not self._replace_dead():
                    return
                alive = [p for p in self.procs.values() if p.is_alive()]
                if not alive:
                    time.sleep(self.poll_s)
                for p in alive:
                    p.join(timeout=self.poll_s / len(alive))
        except KeyboardInterrupt:
            self.stop()
            raise
        except HpstudyError:  # e.g. the storage's disk is full: stop, and say so in one line
            with contextlib.suppress(HpstudyError):
                self.stop()
            raise

    def _replace_dead(self) -> bool:
        """Restart workers that are gone while work is left. Returns whether to keep watching.

        A worker that crashed (non-zero exit, e.g. killed by the OOM killer) is replaced at once,
        within a restart budget; one that finished is replaced only when new work appeared (a
        stale trial of another worker re-enqueued). With no worker left and trials still running
        elsewhere, the coordinator keeps watching them.
        """
        from optuna.trial import TrialState

        dead = [s for s, p in self.procs.items() if not p.is_alive()]
        if not dead:
            return True
        self._release_mid_claim(dead)
        if any(self.procs[s].exitcode == _USER_ERROR_EXIT for s in dead) and not self.errors.empty():
            raise self.errors.get()
        if not pending(self.ref):
            return len(dead) < len(self.procs)
        waiting = storage_of(self.ref.study).get_all_trials(
            study_id_of(self.ref.study), deepcopy=False, states=(TrialState.WAITING,)
        )
        for slot in dead:
            crashed = self.procs[slot].exitcode != 0
            if self.restarts_left > 0 and (crashed or waiting):
                self.restarts_left -= 1
                self._start(slot)
        return any(p.is_alive() for p in self.procs.values()) or self.restarts_left > 0

    def stop(self) -> None:
        """Interrupt every worker, wait for them to record their trials, release what is left.

        A second Ctrl-C (or SIGTERM) while this runs is ignored, so the bookkeeping finishes.
        """
        main = threading.current_thread() is threading.main_thread()
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in signals} if main else {}
        try:
            self._stop()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _stop(self) -> None:
        alive = [p for p in self.procs.values() if p.is_alive()]
        for p in alive:  # the terminal's Ctrl-C may not have reached them (another session)
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGINT)  # type: ignore[arg-type]
        deadline = time.time() + _STOP_GRACE_S
        for p in alive:
            p.join(timeout=max(0.1, deadline - time.time()))
        for p in alive:
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        host = socket.gethostname()
        release(self.ref, {(host, pid) for pid in self.pids})
        self._release_mid_claim([s for s, p in self.procs.items() if not p.is_alive()])

    def _release_mid_claim(self, slots: list[int]) -> None:
        """A worker stopped, killed or crashed mid-claim leaves a RUNNING trial that names no
        owner yet: release it by the id the worker published, without using an attempt."""
        mid_claim = []
        for slot in slots:
            value = self.claiming.get(slot)
            if value is not None and value.value >= 0:
                mid_claim.append(int(value.value))
                value.value = -1
        if mid_claim:
            release_trials(self.ref, mid_claim)


#: How long a stopping coordinator waits for its interrupted workers before killing them. A worker
#: holds its signals while it claims a trial (several storage writes); on a busy SQLite storage that
#: took over 10 s. A worker killed there leaves a RUNNING trial without its owner's host and pid,
#: which the coordinator releases by the id the worker published (``claiming``).
_STOP_GRACE_S = 30.0


_USER_ERROR_EXIT = 2


def _worker_process(config: WorkerConfig, train_fn: TrainFn, errors: Any, claiming: Any) -> None:
    """Process target of a local worker (:func:`worker_main`).

    Warnings print as one line. A user error (a full disk under the storage or the image cache) is
    handed to the coordinator through ``errors`` and ends the process with exit code 2, instead of
    a traceback from every worker and every replacement.
    """
    warnings.showwarning = _one_line_warning

    def publish(trial_id: int | None) -> None:
        claiming.value = -1 if trial_id is None else trial_id

    try:
        worker_main(config, train_fn, claiming=publish)
    except HpstudyError as exc:
        errors.put(exc)
        sys.exit(_USER_ERROR_EXIT)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
