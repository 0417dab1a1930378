"""Benchmark: how noisy a study's answers are, and whether hpstudy's significance survives it.

Runs a study on ``digits`` (the ``quickstart`` spec by default) with twice ``--replicates``
replicates, so that it holds two independent studies of ``--replicates`` replicates each, and
measures, side by side:

- ``baseline_sd``: the seed-to-seed standard deviation of the baseline metric at the largest
  fraction (replicates differ only in training randomness: head initialisation, batch order,
  augmentation, dropout);
- ``sign_flips`` of ``cells``: heatmap cells (variant, fraction) whose % change has opposite signs
  in two independent single-replicate runs (replicate ``i`` against replicate ``j``, every pair);
- ``flagged``: cells that a run of ``--replicates`` replicates calls significant, counted over
  every split of the study's replicates into two disjoint halves, in both directions, and
  ``flagged_reproduced``: the share of them whose sign the other half, an independent run,
  repeats (target: at least 0.95);
- ``flagged_single`` and ``flagged_reproduced_single``: the same for single-replicate runs,
  taking a cell as flagged where its images-only interval excludes 0 — what calling one
  replicate significant would give (hpstudy does not judge one replicate; this shows why);
- ``median_width_run``/``_single`` and ``covers_held_out_run``/``_single``: the median width of
  a run's intervals, and the share of them that contain the mean of the replicates the run left
  out (the other half; for a single replicate, all the others). That mean is noisy itself, so the
  share is below 0.95 even for exact intervals; what matters is the comparison: a single
  replicate's interval leaves out the seed's noise.

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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from _output import emit

from hpstudy.evidence import Comparison
from hpstudy.study import BASELINE, load_spec, load_study, open_storage, run_study, summarize
from hpstudy.study._report import complete_trials


def _cells(ref, replicates: Sequence[int]) -> dict[tuple[str, float], Comparison]:  # noqa: ANN001
    """What a study of only these replicates (their seeds) says of every cell."""
    return {(row.variant, row.fraction): row.comparison
            for row in summarize(ref, replicates=list(replicates)) if row.comparison is not None}


def _sign(x: float) -> int:
    return 0 if x == 0 or math.isnan(x) else (1 if x > 0 else -1)


def _excludes_zero(c: Comparison) -> bool:
    return c.ci_low_pct > 0 or c.ci_high_pct < 0  # False for nan bounds


def _reproduced(pairs: Iterable[tuple[dict, dict]], flagged: Callable[[Comparison], bool]) -> tuple[int, int]:
    """(cells flagged in either run of a pair, how many of them the other run's sign repeats)."""
    count = kept = 0
    for a, b in pairs:
        for key in a.keys() & b.keys():
            for this, other in ((a[key], b[key]), (b[key], a[key])):
                if flagged(this):
                    count += 1
                    kept += _sign(this.mean_pct) == _sign(other.mean_pct)
    return count, kept


def _held_out(runs: Iterable[tuple[dict, dict]]) -> tuple[float | None, float | None]:
    """For each run's interval against the mean of the replicates it left out: the share that
    contains it, and the median interval width (points of %)."""
    hits, widths = [], []
    for mine, rest in runs:
        for key in mine.keys() & rest.keys():
            c = mine[key]
            if math.isfinite(c.ci_low_pct) and math.isfinite(c.ci_high_pct):
                hits.append(c.ci_low_pct <= rest[key].mean_pct <= c.ci_high_pct)
                widths.append(c.ci_high_pct - c.ci_low_pct)
    if not hits:
        return None, None
    return sum(hits) / len(hits), statistics.median(widths)


def measure(ref, per_run: int) -> dict[str, object]:  # noqa: ANN001 - StudyRef
    """The noise figures of a finished study with ``2 * per_run`` replicates (at least 2)."""
    done = complete_trials(ref)
    replicates = ref.spec.replicates
    top = max(ref.spec.fractions)
    by_fraction = {}
    for f in sorted(ref.spec.fractions):
        values = [done[(BASELINE, f, r)].value for r in range(replicates)
                  if (BASELINE, f, r) in done]
        by_fraction[f"{f:g}"] = statistics.stdev(values) if len(values) >= 2 else None
    singles = [_cells(ref, [r]) for r in range(replicates)]
    single_pairs = list(itertools.combinations(singles, 2))
    cells = flips = 0
    for a, b in single_pairs:
        for key in a.keys() & b.keys():
            cells += 1
            flips += _sign(a[key].mean_pct) * _sign(b[key].mean_pct) < 0
    flagged_single, kept_single = _reproduced(single_pairs, _excludes_zero)
    everyone = range(replicates)
    # Each split into two disjoint halves once: the halves that hold replicate 0.
    halves = [(_cells(ref, half), _cells(ref, [r for r in everyone if r not in half]))
              for half in itertools.combinations(everyone, per_run) if 0 in half]
    flagged, kept = _reproduced(halves, lambda c: c.significant)
    others = [_cells(ref, [o for o in everyone if o != r]) for r in everyone]
    cover_single, width_single = _held_out(zip(singles, others, strict=True))
    cover_run, width_run = _held_out([*halves, *((b, a) for a, b in halves)])
    return {
        "replicates_per_run": per_run,
        "baseline_sd": by_fraction[f"{top:g}"],
        "baseline_sd_by_fraction": by_fraction,
        "cells": cells,
        "sign_flips": flips,
        "splits": len(halves),
        "flagged": flagged,
        "flagged_reproduced": kept / flagged if flagged else None,
        "flagged_single": flagged_single,
        "flagged_reproduced_single": kept_single / flagged_single if flagged_single else None,
        "median_width_run": width_run,
        "median_width_single": width_single,
        "covers_held_out_run": cover_run,
        "covers_held_out_single": cover_single,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="quickstart", help="packaged spec name or spec file")
    ap.add_argument("--replicates", type=int, default=3,
                    help="replicates of each of the two independent runs (the study trains twice as many)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--storage", default=None, help="default: a fresh SQLite file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.replicates < 2:
        ap.error("--replicates must be at least 2: one replicate is not judged")

    spec = dataclasses.replace(load_spec(args.spec), replicates=2 * args.replicates)
    storage = args.storage or f"sqlite:///{Path(tempfile.mkdtemp(prefix='hpstudy-noise-')) / 'study.db'}"
    t0 = time.perf_counter()
    result = run_study("digits", spec, workers=args.workers, storage=storage, device=args.device)
    study_s = time.perf_counter() - t0
    if not result.status.is_complete:
        raise SystemExit(f"the study did not finish: {result.status.complete}/"
                         f"{result.status.grid_size} points; see `hpstudy status --storage {storage}`")
    ref = load_study(open_storage(storage, create=False), result.study)
    emit({"spec": spec.name, **measure(ref, args.replicates), "study_s": round(study_s, 1)}, args.json)


if __name__ == "__main__":
    main()
