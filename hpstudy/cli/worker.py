"""``hpstudy worker``: join an existing study from any host and train its grid points."""

from __future__ import annotations

import os

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
            gpu: str | None, max_attempts: int, compile_mode: str | None,
            threads: int | None) -> None:
    """Join the existing study of SPEC on DATASET and train grid points until none is left.

    The study must have been created with `hpstudy run` (on any host, same storage); the local
    spec must match the stored one. The stored lr-finder values are used.
    """
    from hpstudy.study import join_study, parse_gpus

    if gpu is not None:
        (gpu,) = parse_gpus(gpu) or (None,)
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before torch touches CUDA
    result = join_study(dataset, spec, storage=storage, data_root=data_root, device=device,
                        gpu=gpu, max_attempts=max_attempts, handle_signals=True,
                        compile_mode=compile_mode, threads=threads)
    console.print(f"{result.study}: this worker completed {result.trained} trial(s); "
                  f"{result.status.complete}/{result.status.grid_size} grid points complete")
