"""``hpstudy run``: create the study, find learning rates, start workers, follow their progress."""

from __future__ import annotations

import contextlib
import functools
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from hpstudy.errors import HpstudyError
from hpstudy.study._checks import check_before_training
from hpstudy.study._data import HostSettings
from hpstudy.study._gpus import assign_gpus, visible_gpus
from hpstudy.study._heartbeat import HeartbeatSettings, heartbeat_of
from hpstudy.study._lr import find_lr_on
from hpstudy.study._note import save_design_note
from hpstudy.study._optuna import storage_of, study_id_of
from hpstudy.study._records import set_study_attr, study_attrs
from hpstudy.study._report import StudyStatus, SummaryRow, status_of, summarize
from hpstudy.study._spec import StudySpec
from hpstudy.study._storage import (
    open_storage,
    redact,
    resolve_storage_url,
    storage_lock,
    storage_url_of,
)
from hpstudy.study._study import (
    DEFAULT_MAX_ATTEMPTS,
    StudyRef,
    create_study,
    ensure_queued,
    fail_stale,
    lr_find_key,
    release,
)
from hpstudy.study._worker import (
    TrainFn,
    WorkerConfig,
    pending,
    study_data,
    torch_threads,
    train_point,
    worker_main,
)

__all__ = [
    "LrFindFn",
    "RunProgress",
    "RunResult",
    "WorkerActivity",
    "ensure_lr_find",
    "find_lr_point",
    "run_study",
]


@dataclass(frozen=True)
class WorkerActivity:
    """What one worker is training right now (``device`` as it runs it, e.g. ``cuda:1``): ``epoch``
    of ``epochs`` done, the last at ``images_per_s`` training images a second."""

    worker: str
    point: str
    since: float
    host: str = ""
    device: str = ""
    attempt: int = 1
    epoch: int = 0
    epochs: int = 0
    images_per_s: float | None = None


@dataclass(frozen=True)
class RunProgress:
    """A snapshot for progress displays."""

    study: str
    status: StudyStatus
    running: list[WorkerActivity]
    elapsed_s: float
    eta_s: float | None
    phase: str


@dataclass
class RunResult:
    """The outcome of ``run_study``: the final status, the summary table, and ``trained_now``,
    the grid points that became complete while it ran (by its workers or by any other process
    working on the same study). ``lr_find_spread`` is each finder value's spread in decades over
    its sweeps (``None`` for a single sweep or a fixed lr: not measured)."""

    study: str
    storage: str
    metric: str
    status: StudyStatus
    summary: list[SummaryRow]
    trained_now: int
    lr_find: dict[str, float] = field(default_factory=dict)
    lr_find_spread: dict[str, float | None] = field(default_factory=dict)


ProgressFn = Callable[[RunProgress], None]


#: ``lr_find_fn(ref, fraction, host, device) -> {"lr": ..., "method": ..., ...}`` (``host``: the
#: :class:`~hpstudy.study.HostSettings` of this host, or ``None`` for the defaults); for the
#: unfrozen network it is called with ``network="unfrozen", frozen_finder_lr=...`` too.
LrFindFn = Callable[..., dict[str, Any]]


def find_lr_point(
    ref: StudyRef, fraction: float, host: HostSettings | None, device: str, *,
    network: str = "frozen", frozen_finder_lr: float | None = None,
) -> dict[str, Any]:
    """Run the study's lr finder for one training fraction with the baseline hyperparameters, or
    take the spec's fixed ``lr_find.lr``; on the unfrozen network (``network="unfrozen"``) after
    a frozen stage at ``frozen_finder_lr`` times the baseline ``lr_mult``."""
    result = find_lr_on(study_data(ref, host), ref.spec, fraction, device, network=network,
                        frozen_finder_lr=frozen_finder_lr)
    return {"lr": result.lr, "method": result.method, **result.details}


def ensure_lr_find(
    ref: StudyRef,
    host: HostSettings | None,
    device: str,
    lr_find_fn: LrFindFn = find_lr_point,
) -> dict[str, float]:
    """Run the lr finder once per training fraction and store it on the study; with
    ``[lr_find] network = "unfrozen"`` or ``"both"`` the finder on the unfrozen network too
    (after the frozen one: it starts from the baseline's frozen stage, trained at that value).

    Runs under a storage-wide lock, so concurrent coordinators compute each value once; values
    already stored are reused, never recomputed. The study's dashboard note is written (or brought
    up to date) under the same lock.

    Returns:
        Each stored value by its attribute name (:func:`~hpstudy.study.lr_find_key`).
    """
    study = ref.study
    out: dict[str, float] = {}

    def ensure(key: str, find: Callable[[], dict[str, Any]]) -> float:
        if key not in stored:
            stored[key] = find()
            set_study_attr(study, key, stored[key], compact=float(f"{stored[key]['lr']:.3g}"))
        out[key] = float(stored[key]["lr"])
        return out[key]

    with storage_lock(storage_url_of(study), f"lr-find:{study.study_name}"):
        stored = study_attrs(study)
        for fraction in sorted(ref.spec.fractions):
            find = functools.partial(lr_find_fn, ref, fraction, host, device)
            frozen = ensure(lr_find_key(fraction), find)
            if ref.spec.lr_find.runs_unfrozen:
                ensure(lr_find_key(fraction, "unfrozen"),
                       functools.partial(find, network="unfrozen", frozen_finder_lr=frozen))
        save_design_note(ref)
    return out


def _activity(status: StudyStatus) -> list[WorkerActivity]:
    """What each worker trains, from the running trials the status already read."""
    out = [
        WorkerActivity(
            r.worker or "?", r.point,
            datetime.fromisoformat(r.since).timestamp() if r.since else time.time(),
            r.host, r.device, r.attempt, r.epoch, r.epochs, r.images_per_s,
        )
        for r in status.running_trials
    ]
    return sorted(out, key=lambda a: a.worker)


def run_study(
    dataset: str,
    spec: str | StudySpec = "smoke",
    *,
    workers: int = 1,
    storage: str | None = None,
    data_root: str | Path | None = None,
    device: str = "auto",
    gpus: list[str] | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    heartbeat: HeartbeatSettings | None = None,
    on_progress: ProgressFn | None = None,
    poll_s: float = 1.0,
    train_fn: TrainFn = train_point,
    lr_find_fn: LrFindFn = find_lr_point,
    compile_mode: str | None = None,
    threads: int | None = None,
    cache_dir: str | Path | None = None,
    gpu_share: float | None = None,
) -> RunResult:
    """Run (or resume) the study of ``spec`` on ``dataset`` until every grid point is done.

    Everything a user can get wrong (dataset, spec, data, device, GPUs, storage URL) is checked
    before anything is written to the storage. Grid points already complete are never trained
    again; points left failed by an earlier run get ``max_attempts`` new attempts. Several
    ``run_study`` calls (on one host or many) may run the same study at once: creation, the lr
    finder and the queue are each done once, under storage-wide locks.

    Args:
        dataset: A registered dataset name.
        spec: A packaged spec name, a path to a spec file, or a :class:`StudySpec`.
        workers: Worker processes on this host. ``0`` prepares the study (creation, lr finder,
            queue) for ``hpstudy worker`` processes elsewhere and returns.
        storage: Storage URL (default ``$HPSTUDY_STORAGE`` or ``sqlite:///hpstudy.db``).
        data_root: Folder that holds the dataset (default ``$HPSTUDY_DATA``).
        device: ``auto``, ``cpu`` or ``cuda``.
        gpus: GPU ids the workers share round-robin (default: every visible GPU; CUDA only).
        max_attempts: Attempts per grid point before it is left failed.
        heartbeat: Heartbeat settings of a new study (an existing one keeps its own).
        on_progress: Called about every ``poll_s`` seconds with a :class:`RunProgress`.
        poll_s: Seconds between progress reports and checks for dead workers.
        train_fn: The training step of the workers (a stand-in in tests and benchmarks).
        lr_find_fn: The lr finder (a stand-in in tests and benchmarks).
        compile_mode: ``torch.compile`` mode for the workers' training on CUDA, e.g.
            ``"reduce-overhead"`` (CUDA graphs) for small batches; ``None`` trains eagerly.
        threads: Torch CPU threads of every trial and of the lr finder (default: the spec's
            ``threads``, else 1). Fixed, never derived from ``workers``, so a trial's result does
            not depend on how many workers run beside it.
        cache_dir: Cache root of this host: decoded images in ``<root>/images`` (default
            ``$HPSTUDY_CACHE``, else ``~/.cache/hpstudy``).
        gpu_share: Share of free GPU memory a split's pixels may take on this host (default
            ``$HPSTUDY_GPU_MEMORY_SHARE``, else 0.5).

    Raises:
        HpstudyError: For any user error, before the storage is touched; for a full disk under
            the storage or the image cache, also from a worker (which then stops the others).
        KeyboardInterrupt: On Ctrl-C, once the workers have stopped and released their trials.
    """
    if workers < 0:
        raise ValueError("workers must be >= 0")
    if max_attempts < 1:
        raise ValueError("max_attempts must be >= 1")
    host = HostSettings.of(data_root, cache_dir, gpu_share)
    checked = check_before_training(dataset, spec, host=host, device=device, threads=threads)
    spec_obj, n_threads, device = checked.spec, checked.threads, checked.device
    slots: list[str | None] = [None] * workers
    if device.startswith("cuda") and workers:
        slots = list(assign_gpus(workers, gpus, visible_gpus()))
    elif gpus is not None:
        raise HpstudyError("--gpus needs --device cuda (or auto with a visible GPU)")
    url = resolve_storage_url(storage)

    rdb = open_storage(url, create=True)
    ref = create_study(rdb, spec_obj, dataset, checked.plugin.metric, heartbeat=heartbeat)
    start = time.time()
    trained_base: int | None = None

    def report(phase: str) -> StudyStatus:
        status = status_of(ref.study)
        if on_progress is not None:
            elapsed = time.time() - start
            eta = None
            if trained_base is not None and status.complete > trained_base:
                rate = (status.complete - trained_base) / elapsed
                eta = (status.grid_size - status.complete) / rate
            on_progress(RunProgress(ref.study.study_name, status, _activity(status), elapsed, eta,
                                    phase))
        return status

    report("lr-find")
    with torch_threads(n_threads):
        lr_values = ensure_lr_find(ref, host, device, lr_find_fn)
    ensure_queued(ref, max_attempts=max_attempts)
    before = status_of(ref.study)
    trained_base = before.complete
    if workers and (before.waiting or before.running):
        config = WorkerConfig(
            storage_url=url,
            study_name=ref.study.study_name,
            data_root=host.data_root,
            cache_dir=host.cache_dir,
            gpu_share=host.gpu_share,
            device=device,
            threads=n_threads,
            max_attempts=max_attempts,
            poll_s=max(0.2, min(2.0, heartbeat_of(ref.study).interval_s / 2)),
            compile_mode=compile_mode,
        )
        _Pool(ref, config, slots, train_fn, poll_s).run(report)
    final = report("done")
    records = study_attrs(ref.study)
    return RunResult(
        study=ref.study.study_name,
        storage=redact(url),
        metric=checked.plugin.metric,
        status=final,
        summary=summarize(ref),
        trained_now=final.complete - before.complete,
        lr_find=lr_values,
        lr_find_spread={k: records[k].get("spread_decades")
                        if records[k].get("repeats", 1) > 1 else None
                        for k in lr_values},
    )


class _Pool:
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
        self.pids: set[int] = set()
        self.restarts_left = len(slots) * max(1, config.max_attempts)
        self.errors = self.ctx.SimpleQueue()  # user errors of workers (a full disk), see _worker_process
        self.signalled = False  # a Ctrl-C or SIGTERM arrived, see _on_signal

    def _start(self, slot: int) -> None:
        cfg = replace(self.config, gpu=self.slots[slot], worker_id=f"w{slot}")
        p = self.ctx.Process(target=_worker_process, args=(cfg, self.train_fn, self.errors),
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


#: How long a stopping coordinator waits for its interrupted workers before killing them. A worker
#: holds its signals while it claims a trial (several storage writes); on a busy SQLite storage that
#: took over 10 s, and a worker killed there leaves a RUNNING trial without its owner's host and pid,
#: which ``release`` cannot attribute (it is found stale later, and uses an attempt).
_STOP_GRACE_S = 30.0
_USER_ERROR_EXIT = 2


def _worker_process(config: WorkerConfig, train_fn: TrainFn, errors: Any) -> None:
    """Process target of a local worker (:func:`worker_main`).

    Warnings print as one line. A user error (a full disk under the storage or the image cache) is
    handed to the coordinator through ``errors`` and ends the process with exit code 2, instead of
    a traceback from every worker and every replacement.
    """
    warnings.showwarning = _one_line_warning
    try:
        worker_main(config, train_fn)
    except HpstudyError as exc:
        errors.put(exc)
        sys.exit(_USER_ERROR_EXIT)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)

