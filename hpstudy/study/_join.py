"""``hpstudy worker``: join a study that ``hpstudy run`` created, from any host."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hpstudy.errors import UnknownStudyError
from hpstudy.study._checks import check_before_training
from hpstudy.study._data import HostSettings
from hpstudy.study._records import study_attrs
from hpstudy.study._report import StudyStatus, status_of
from hpstudy.study._signals import interrupt_handling
from hpstudy.study._spec import StudySpec
from hpstudy.study._storage import open_storage, resolve_storage_url, storage_lock
from hpstudy.study._study import DEFAULT_MAX_ATTEMPTS, load_study, lr_find_key, study_name
from hpstudy.study._train_step import train_point
from hpstudy.study._worker import TrainFn, WorkerConfig, run_worker

__all__ = ["JoinResult", "join_study"]


@dataclass(frozen=True)
class JoinResult:
    """What one joined worker did: the trials it completed and the study's status after."""

    study: str
    trained: int
    status: StudyStatus


def join_study(
    dataset: str,
    spec: str | StudySpec = "smoke",
    *,
    storage: str | None = None,
    data_root: str | Path | None = None,
    device: str = "auto",
    gpu: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    train_fn: TrainFn = train_point,
    handle_signals: bool = False,
    compile_mode: str | None = None,
    threads: int | None = None,
    cache_dir: str | Path | None = None,
    gpu_share: float | None = None,
) -> JoinResult:
    """Work on the existing study of ``spec`` on ``dataset`` in this process until none is left.

    Args:
        dataset: The study's dataset (its data must be on this host).
        spec: The local spec; its hash must equal the stored one.
        storage: The shared storage URL (default ``$HPSTUDY_STORAGE``).
        data_root: Folder that holds the dataset (default ``$HPSTUDY_DATA``).
        device: ``auto``, ``cpu`` or ``cuda``.
        gpu: The GPU id this process was given (for the record; ``CUDA_VISIBLE_DEVICES`` is the
            caller's to set).
        max_attempts: Attempts per grid point this worker allows (points keep their own limit).
        train_fn: The training step.
        handle_signals: Hold SIGINT/SIGTERM back except while training or waiting, so a Ctrl-C
            always records the trial as interrupted (what the CLI wants; not in a notebook).
        compile_mode: ``torch.compile`` mode (see :func:`~hpstudy.study.run_study`).
        threads: Torch CPU threads of every trial (default: the spec's ``threads``, else 1), as
            for :func:`~hpstudy.study.run_study`, so this host's results match a local run's.
        cache_dir: Cache root of this host: decoded images in ``<root>/images`` (default
            ``$HPSTUDY_CACHE``, else ``~/.cache/hpstudy``).
        gpu_share: Share of free GPU memory a split's pixels may take on this host (default
            ``$HPSTUDY_GPU_MEMORY_SHARE``, else 0.5).

    Raises:
        UnknownStudyError: If the study does not exist, or its lr finder has not run.
        StudyMismatchError: If the stored spec hash differs from the local spec's.
        HpstudyError: For any other user error, before a trial is claimed.
    """
    host = HostSettings.of(data_root, cache_dir, gpu_share)
    checked = check_before_training(dataset, spec, host=host, device=device, threads=threads,
                                    check_host=False)
    spec_obj, n_threads, device = checked.spec, checked.threads, checked.device
    url = resolve_storage_url(storage)
    name = study_name(spec_obj.name, dataset)
    ref = load_study(open_storage(url, create=False), name, spec=spec_obj)
    networks = ("frozen", "unfrozen") if spec_obj.lr_find.runs_unfrozen else ("frozen",)
    with storage_lock(url, f"lr-find:{name}"):  # waits for a coordinator still finding them
        stored = study_attrs(ref.study)
        missing = sorted({f for f in ref.spec.fractions for n in networks
                          if lr_find_key(f, n) not in stored})
    if missing:
        raise UnknownStudyError(
            f"study {name!r} has no lr-finder value for fraction(s) "
            f"{', '.join(f'{f:g}' for f in missing)}; let `hpstudy run` (with --workers 0 "
            "to only prepare it) finish first"
        )
    checked.on_this_host()  # the data and weights, before a trial is claimed
    config = WorkerConfig(
        storage_url=url,
        study_name=name,
        data_root=host.data_root,
        cache_dir=host.cache_dir,
        gpu_share=host.gpu_share,
        device=device,
        gpu=gpu,
        worker_id=f"join-{gpu}" if gpu is not None else "join",
        max_attempts=max_attempts,
        compile_mode=compile_mode,
        threads=n_threads,
    )
    if handle_signals:
        with interrupt_handling():
            trained = run_worker(config, train_fn)
    else:
        trained = run_worker(config, train_fn)
    return JoinResult(name, trained, status_of(ref.study))
