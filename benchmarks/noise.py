"""Benchmark: how noisy a study's answers are, and whether hpstudy's significance survives it.

Runs a study on ``digits`` (the ``quickstart`` spec by default) with ``--replicates`` replicates,
then measures, side by side:

- ``baseline_sd``: the seed-to-seed standard deviation of the baseline metric at the largest
  fraction (replicates differ only in training randomness: head initialisation, batch order,
  augmentation, dropout);
- ``sign_flips`` of ``cells``: heatmap cells (variant, fraction) whose % change has opposite signs
  in two independent single-replicate runs — replicate ``i`` and replicate ``j`` of the study,
  every pair ``i < j``;
- ``flagged``: cells a single-replicate run calls significant (its image-bootstrap interval
  excludes 0), counted in both runs of every pair, and ``flagged_reproduced``: the share of them
  whose sign the other, independent run repeats (target: at least 0.95).

    python benchmarks/noise.py [--spec quickstart] [--replicates 3] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import statistics
import tempfile
import time
from pathlib import Path

from _output import emit

from hpstudy.study import BASELINE, load_spec, load_study, open_storage, run_study, summarize
from hpstudy.study._report import complete_trials


def _single_replicate_cells(ref, replicate: int) -> dict[tuple[str, float], object]:  # noqa: ANN001
    """What a study of one replicate (``replicate``'s seed) says of every cell."""
    return {(row.variant, row.fraction): row.comparison
            for row in summarize(ref, replicates=[replicate]) if row.comparison is not None}


def _sign(x: float) -> int:
    return 0 if x == 0 or math.isnan(x) else (1 if x > 0 else -1)


def measure(ref) -> dict[str, object]:  # noqa: ANN001 - StudyRef
    """The noise figures of a finished study with two or more replicates."""
    done = complete_trials(ref)
    replicates = ref.spec.replicates
    top = max(ref.spec.fractions)
    by_fraction = {}
    for f in sorted(ref.spec.fractions):
        values = [done[(BASELINE, f, r)].value for r in range(replicates)
                  if (BASELINE, f, r) in done]
        by_fraction[f"{f:g}"] = statistics.stdev(values) if len(values) >= 2 else None
    runs = [_single_replicate_cells(ref, r) for r in range(replicates)]
    cells = flips = flagged = reproduced = 0
    for a, b in itertools.combinations(runs, 2):
        for key in a.keys() & b.keys():
            sa, sb = _sign(a[key].mean_pct), _sign(b[key].mean_pct)
            cells += 1
            flips += sa * sb < 0
            for this, other in ((a[key], sb), (b[key], sa)):
                if this.significant:
                    flagged += 1
                    reproduced += _sign(this.mean_pct) == other
    return {
        "replicates": replicates,
        "baseline_sd": by_fraction[f"{top:g}"],
        "baseline_sd_by_fraction": by_fraction,
        "cells": cells,
        "sign_flips": flips,
        "flagged": flagged,
        "flagged_reproduced": reproduced / flagged if flagged else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="quickstart", help="packaged spec name or spec file")
    ap.add_argument("--replicates", type=int, default=3, help="at least 2")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--storage", default=None, help="default: a fresh SQLite file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.replicates < 2:
        ap.error("--replicates must be at least 2: noise is measured between replicates")

    spec = dataclasses.replace(load_spec(args.spec), replicates=args.replicates)
    storage = args.storage or f"sqlite:///{Path(tempfile.mkdtemp(prefix='hpstudy-noise-')) / 'study.db'}"
    t0 = time.perf_counter()
    result = run_study("digits", spec, workers=args.workers, storage=storage, device=args.device)
    study_s = time.perf_counter() - t0
    if not result.status.is_complete:
        raise SystemExit(f"the study did not finish: {result.status.complete}/"
                         f"{result.status.grid_size} points; see `hpstudy status --storage {storage}`")
    ref = load_study(open_storage(storage, create=False), result.study)
    emit({"spec": spec.name, **measure(ref), "study_s": round(study_s, 1)}, args.json)


if __name__ == "__main__":
    main()
