"""``hpstudy worker``: join an existing study from any host and train its grid points."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

import click

from hpstudy.cli._console import console
from hpstudy.cli._options import (
    data_root_option,
    device_option,
    host_training_options,
    max_attempts_option,
    storage_option,
    study_option,
)


@contextlib.contextmanager
def _log_each_trial() -> Iterator[None]:
    """One timestamped line on stderr per trial start and end, flushed as it is written, so the
    log of a batch job (SLURM's ``--output``) fills while the worker runs, not when it exits.
    The logger is as it was afterwards."""
    log = logging.getLogger("hpstudy")
    handler = logging.StreamHandler(sys.stderr)  # flushes after every record
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    level, propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # the lines are this handler's; not again through the root logger
    with contextlib.suppress(AttributeError, ValueError):  # not a TextIOWrapper (a test's capture)
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


@click.command("worker")
@click.option("--dataset", required=True, help="Dataset of the study (see `hpstudy datasets`).")
@study_option
@storage_option
@data_root_option
@device_option
@click.option("--gpu", default=None, metavar="ID",
              help="Use only this GPU (sets CUDA_VISIBLE_DEVICES for this worker).")
@max_attempts_option("Attempts per grid point this worker allows before leaving it failed.")
@host_training_options
def command(dataset: str, spec: str, storage: str | None, data_root: str | None, device: str,
            gpu: str | None, max_attempts: int, cache_dir: str | None, compile_mode: str | None,
            gpu_share: float | None, threads: int | None) -> None:
    """Join the existing study of SPEC on DATASET and train grid points until none is left.

    The study must have been created with `hpstudy run` (on any host, same storage); the local
    spec must match the stored one. The stored lr-finder values are used.
    """
    from hpstudy.study import join_study, parse_gpus

    if gpu is not None:
        (gpu,) = parse_gpus(gpu) or (None,)
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before torch touches CUDA
    with _log_each_trial():
        result = join_study(dataset, spec, storage=storage, data_root=data_root, device=device,
                            gpu=gpu, max_attempts=max_attempts, handle_signals=True,
                            compile_mode=compile_mode, threads=threads, cache_dir=cache_dir,
                            gpu_share=gpu_share)
    console.print(f"{result.study}: this worker completed {result.trained} trial(s); "
                  f"{result.status.complete}/{result.status.grid_size} grid points complete")
