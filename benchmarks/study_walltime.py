"""Benchmark: the wall time of a whole smoke-sized study (26 trials) at a chosen image size.

Writes synthetic photo-like JPEGs in the Oxford-IIIT Pet layout, then runs the ``pets`` plugin's
study with the ``smoke`` spec's design (26 grid points, 1 frozen + 1 unfrozen epoch, fractions 0.2
and 1.0) at ``--size`` pixels with ``--arch`` and ``--batch``, no pretrained weights, in a fresh
SQLite storage and image cache. Prints the phases: writing the data, building the image cache, the
lr finder, the trials (first start to last finish), and the whole ``run_study`` call, plus the
median training time and images/s of one trial.

    python benchmarks/study_walltime.py [--images 1800] [--size 224] [--arch resnet34]
                                        [--batch 64] [--workers 2] [--device auto]
                                        [--compile off|default|reduce-overhead] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _output import emit
from _synthetic import make_pets_layout

from hpstudy.cache import CACHE_ENV, build_dataset_cache
from hpstudy.study import load_spec, run_study
from hpstudy.training import resolve_device


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1800, help="train + valid (digits has 1,797)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--arch", default="resnet34")
    ap.add_argument("--batch", type=int, default=64, help="the published study's batch size")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", default="off", choices=["off", "default", "reduce-overhead"])
    ap.add_argument("--workdir", type=Path, default=None, help="keep data, cache and storage here")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="hpstudy-walltime-"))
    data, storage = work / "pets", f"sqlite:///{work / 'study.db'}"
    os.environ[CACHE_ENV] = str(work / "cache")
    spec = dataclasses.replace(load_spec("smoke"), name=f"walltime-{args.size}px", arch=args.arch,
                               batch_size=args.batch, image_size=args.size)
    try:
        t0 = time.perf_counter()
        if not (data / "annotations").is_dir():
            make_pets_layout(data, args.images)
        data_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_dataset_cache("pets", size=args.size, data_root=data)
        cache_s = time.perf_counter() - t0
        phases: dict[str, float] = {}
        t0 = time.perf_counter()  # the "lr-find" phase starts at once; "training" once it is done
        result = run_study("pets", spec, workers=args.workers, storage=storage, data_root=data,
                           device=args.device, poll_s=0.5,
                           compile_mode=None if args.compile == "off" else args.compile,
                           on_progress=lambda p: phases.setdefault(p.phase, time.perf_counter()))
        study_s = time.perf_counter() - t0
        trials = _complete_trials(storage, result.study)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    starts = [t.datetime_start.timestamp() for t in trials]
    ends = [t.datetime_complete.timestamp() for t in trials]
    out = {
        "trials": len(trials), "grid": result.status.grid_size,
        "study_s": round(study_s, 1),
        "lr_find_s": round(phases["training"] - t0, 1) if "training" in phases else None,
        "trials_s": round(max(ends) - min(starts), 1),
        "trial_train_s_median": round(statistics.median(t.user_attrs["wall_s"] for t in trials), 2),
        "trial_images_per_s_median": round(
            statistics.median(t.user_attrs["images_per_s"] for t in trials), 1),
        "cache_build_s": round(cache_s, 2), "data_s": round(data_s, 1),
        "images": args.images, "size": args.size, "arch": args.arch, "batch": args.batch,
        "workers": args.workers, "device": resolve_device(args.device), "compile": args.compile,
    }
    emit(out, args.json)


def _complete_trials(storage: str, study_name: str) -> list:
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


if __name__ == "__main__":
    main()
