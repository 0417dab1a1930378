"""``hpstudy run``: create the study, find learning rates, start workers, follow their progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hpstudy.errors import HpstudyError
from hpstudy.study._checks import check_before_training
from hpstudy.study._data import HostSettings
from hpstudy.study._gpus import assign_gpus, visible_gpus
from hpstudy.study._heartbeat import HeartbeatSettings, heartbeat_of
from hpstudy.study._lr import LrFindFn, ensure_lr_find, find_lr_point
from hpstudy.study._pool import Pool
from hpstudy.study._records import study_attrs
from hpstudy.study._report import StudyStatus, SummaryRow, status_of, summarize
from hpstudy.study._spec import StudySpec
from hpstudy.study._storage import (
    open_storage,
    redact,
    resolve_storage_url,
)
from hpstudy.study._study import (
    DEFAULT_MAX_ATTEMPTS,
    create_study,
    ensure_queued,
)
from hpstudy.study._train_step import torch_threads, train_point
from hpstudy.study._worker import TrainFn, WorkerConfig

__all__ = ["RunProgress", "RunResult", "WorkerActivity", "run_study"]


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
        Pool(ref, config, slots, train_fn, poll_s).run(report)
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


