"""``hpstudy run``: create the study, find learning rates, start workers, follow their progress."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hpstudy.datasets import get_dataset, resolve_root
from hpstudy.errors import DataNotFoundError
from hpstudy.study._report import StudyStatus, SummaryRow, status_of, summarize
from hpstudy.study._spec import StudySpec, load_spec
from hpstudy.study._storage import open_storage, redact, resolve_storage_url, storage_lock
from hpstudy.study._study import (
    DEFAULT_MAX_ATTEMPTS,
    ATTR_POINT,
    StudyRef,
    create_study,
    ensure_queued,
    lr_find_key,
)
from hpstudy.study._worker import WorkerConfig, worker_main

__all__ = ["RunProgress", "RunResult", "WorkerActivity", "run_study", "ensure_lr_find"]


@dataclass(frozen=True)
class WorkerActivity:
    """What one worker is training right now."""

    worker: str
    point: str
    since: float


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
    """The outcome of ``run_study``: the final status, the summary table, what was trained now."""

    study: str
    storage: str
    metric: str
    status: StudyStatus
    summary: list[SummaryRow]
    trained_now: int
    lr_find: dict[str, float] = field(default_factory=dict)


ProgressFn = Callable[[RunProgress], None]


def ensure_lr_find(ref: StudyRef, data_root: str | Path | None, device: str) -> dict[str, float]:
    """Run the lr finder once per training fraction and store it on the study.

    Runs under a storage-wide lock, so concurrent coordinators compute each value once; values
    already stored are reused, never recomputed.
    """
    from hpstudy.study._data import StudyData
    from hpstudy.training import Hyperparams, find_lr

    study = ref.study
    out: dict[str, float] = {}
    with storage_lock(_storage_url(ref), f"lr-find:{study.study_name}"):
        stored = study.user_attrs
        data: StudyData | None = None
        for fraction in sorted(ref.spec.fractions):
            key = lr_find_key(fraction)
            if key in stored:
                out[key] = float(stored[key]["lr"])
                continue
            if data is None:
                data = StudyData.open(ref.dataset, data_root, ref.spec)
            b = ref.spec.baseline
            baseline = Hyperparams(lr=1e-3, divisor=b["divisor"], wd=b["wd"], beta2=b["beta2"],
                                   ps=b["ps"])
            result = find_lr(
                data.train(fraction), data.valid(), baseline, data.settings(ref.spec, device),
                ref.spec.lr_find,
            )
            study.set_user_attr(
                key, {"lr": result.lr, "method": result.method, **result.details}
            )
            out[key] = result.lr
    return out


def _storage_url(ref: StudyRef) -> str:
    storage = ref.study._storage
    return getattr(storage, "_backend", storage).url


def _activity(ref: StudyRef) -> list[WorkerActivity]:
    from optuna.trial import TrialState

    out = []
    for t in ref.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        since = t.datetime_start.timestamp() if t.datetime_start else time.time()
        out.append(
            WorkerActivity(t.user_attrs.get("worker", "?"), t.user_attrs.get(ATTR_POINT, "?"),
                           since)
        )
    return sorted(out, key=lambda a: a.worker)


def run_study(
    dataset: str,
    spec: str | StudySpec = "smoke",
    *,
    workers: int = 1,
    storage: str | None = None,
    data_root: str | Path | None = None,
    device: str = "auto",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    on_progress: ProgressFn | None = None,
    poll_s: float = 1.0,
) -> RunResult:
    """Run (or resume) the study of ``spec`` on ``dataset`` until every grid point is done.

    Everything a user can get wrong (dataset, spec, data, device, storage URL) is checked before
    anything is written to the storage. Grid points already complete are never trained again.

    Args:
        dataset: A registered dataset name.
        spec: A packaged spec name, a path to a spec file, or a :class:`StudySpec`.
        workers: Worker processes on this host; on the CPU each gets ``cores // workers`` threads.
        storage: Storage URL (default ``$HPSTUDY_STORAGE`` or ``sqlite:///hpstudy.db``).
        data_root: Folder that holds the dataset (default ``$HPSTUDY_DATA``).
        device: ``auto``, ``cpu`` or ``cuda``.
        max_attempts: Attempts per grid point before it is left failed.
        on_progress: Called about every ``poll_s`` seconds with a :class:`RunProgress`.

    Raises:
        HpstudyError: For any user error, before the storage is touched.
    """
    from hpstudy.training import resolve_arch, resolve_device

    if workers < 1:
        raise ValueError("workers must be >= 1")
    plugin = get_dataset(dataset)
    spec_obj = spec if isinstance(spec, StudySpec) else load_spec(spec)
    resolve_arch(spec_obj.arch)
    device = resolve_device(device)
    root = resolve_root(plugin, data_root)
    splits = plugin.load(root)
    if not splits.train or not splits.valid:
        raise DataNotFoundError(
            f"dataset {dataset!r} under {root} has {len(splits.train)} training and "
            f"{len(splits.valid)} validation images; both splits need images"
        )
    url = resolve_storage_url(storage)

    rdb = open_storage(url, create=True)
    ref = create_study(rdb, spec_obj, dataset, plugin.metric)
    start = time.time()

    def report(phase: str) -> StudyStatus:
        status = status_of(ref.study)
        if on_progress is not None:
            elapsed = time.time() - start
            eta = None
            if trained_base is not None and status.complete > trained_base:
                rate = (status.complete - trained_base) / elapsed
                eta = (status.grid_size - status.complete) / rate
            on_progress(RunProgress(ref.study.study_name, status, _activity(ref), elapsed, eta,
                                    phase))
        return status

    trained_base: int | None = None
    report("lr-find")
    lr_values = ensure_lr_find(ref, data_root, device)
    queued = ensure_queued(ref, max_attempts=max_attempts)
    before = status_of(ref.study)
    trained_base = before.complete
    if queued or before.waiting:
        _run_workers(ref, url, data_root, device, workers, max_attempts, report, poll_s)
    final = report("done")
    return RunResult(
        study=ref.study.study_name,
        storage=redact(url),
        metric=plugin.metric,
        status=final,
        summary=summarize(ref),
        trained_now=final.complete - before.complete,
        lr_find=lr_values,
    )


def _run_workers(
    ref: StudyRef,
    url: str,
    data_root: str | Path | None,
    device: str,
    workers: int,
    max_attempts: int,
    report: Callable[[str], StudyStatus],
    poll_s: float,
) -> None:
    cores = os.cpu_count() or 1
    threads = max(1, cores // workers) if device == "cpu" else None
    ctx = mp.get_context("spawn")
    procs = []
    for i in range(workers):
        cfg = WorkerConfig(
            storage_url=url,
            study_name=ref.study.study_name,
            data_root=str(data_root) if data_root is not None else None,
            device=device,
            threads=threads,
            worker_id=f"w{i}",
            max_attempts=max_attempts,
        )
        p = ctx.Process(target=worker_main, args=(cfg,), name=f"hpstudy-worker-{i}")
        p.start()
        procs.append(p)
    try:
        while any(p.is_alive() for p in procs):
            report("training")
            for p in procs:
                p.join(timeout=poll_s / max(1, len(procs)))
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the workers too; give them time to mark their trials.
        deadline = time.time() + 10
        for p in procs:
            p.join(timeout=max(0.1, deadline - time.time()))
        for p in procs:
            if p.is_alive():
                p.terminate()
        raise
