"""Benchmark: what the study's lr finder costs, and how much its answer moves from seed to seed.

On one dataset and spec (default: digits, smoke, the largest training fraction), measured side by
side in one run:

* the wall time of one sweep of our finder (validation loss after every step) and of fastai's
  ``Learner.lr_find`` on the same frozen learner, each relative to one frozen training epoch
  (``fit_one_cycle(1, lr)``) of the same data;
* over 5 seeds (head initialisation and batch order), the spread in decades - ``log10(max/min)``
  and the standard deviation of ``log10`` - of our suggestion (``ours``: the curve capped at its
  starting level before filtering), of the same curve truncated where it diverges instead
  (``truncated``), and of fastai's ``valley``, all taken from the *same* sweeps (fastai's from its
  own recipe: the moving average of the training loss).

    python benchmarks/lr_find.py [--dataset digits] [--study smoke] [--fraction F] [--seeds 5]
                                 [--device cpu] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace

import numpy as np

from hpstudy.study import load_spec
from hpstudy.study._data import StudyData
from hpstudy.study._lr import baseline_hyperparams
from hpstudy.training import build_learner, find_lr, resolve_device


def _spread(values: list[float]) -> dict[str, float]:
    logs = np.log10([v for v in values if v is not None and math.isfinite(v) and v > 0])
    if not len(logs):
        return {"range_decades": math.nan, "std_decades": math.nan}
    return {"range_decades": float(logs.max() - logs.min()), "std_decades": float(logs.std())}


def _timed(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(dataset: str, study: str, fraction: float | None, seeds: int, device: str) -> dict:
    spec = load_spec(study)
    fraction = fraction if fraction is not None else max(spec.fractions)
    device = resolve_device(device)
    data = StudyData.open(dataset, None, spec)
    train, valid = data.train(fraction), data.valid()
    settings = data.settings(spec, device)
    baseline = baseline_hyperparams(spec)

    one = find_lr(train, valid, baseline, settings, spec.lr_find)  # warm-up (also decodes)
    lr = one.lr

    def epoch() -> None:
        learn = build_learner(train, valid, replace(baseline, lr=lr), settings)
        learn.freeze()
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(1, lr)

    def fastai_lr_find() -> None:
        learn = build_learner(train, valid, baseline, settings)
        learn.freeze()
        with learn.no_bar(), learn.no_logging():
            learn.lr_find(start_lr=spec.lr_find.start_lr, end_lr=spec.lr_find.end_lr,
                          num_it=spec.lr_find.num_it, show_plot=False)

    epoch_s = _timed(epoch)
    ours_s = _timed(lambda: find_lr(train, valid, baseline, settings, spec.lr_find))
    fastai_s = _timed(fastai_lr_find)
    many = find_lr(train, valid, baseline, settings, replace(spec.lr_find, repeats=seeds))
    runs = many.details["runs"]
    ours = [r["suggestion"] for r in runs]
    truncated = [r["truncated"] for r in runs]
    valley = [r["valley"] for r in runs]
    return {
        "dataset": dataset,
        "study": spec.name,
        "fraction": fraction,
        "device": device,
        "train_images": len(train),
        "held_out_images": many.details["valid_images"],
        "num_it": spec.lr_find.num_it,
        "points_recorded": [r["points"] for r in runs],
        "epoch_s": epoch_s,
        "ours_sweep_s": ours_s,
        "fastai_lr_find_s": fastai_s,
        "ours_per_epoch": ours_s / epoch_s,
        "fastai_per_epoch": fastai_s / epoch_s,
        "seeds": seeds,
        "ours": ours,
        "truncated": truncated,
        "valley": valley,
        "ours_spread": _spread(ours),
        "truncated_spread": _spread(truncated),
        "valley_spread": _spread(valley),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--study", default="smoke")
    parser.add_argument("--fraction", type=float, default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    r = bench(args.dataset, args.study, args.fraction, args.seeds, args.device)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(f"{r['dataset']} / {r['study']} / fraction {r['fraction']:g} on {r['device']}: "
          f"{r['train_images']} training images, {r['held_out_images']} held-out, "
          f"{r['num_it']} steps (recorded {r['points_recorded']})")
    print(f"one frozen epoch           {r['epoch_s']:7.2f} s")
    print(f"our sweep                  {r['ours_sweep_s']:7.2f} s = "
          f"{r['ours_per_epoch']:.2f} epochs")
    print(f"fastai lr_find             {r['fastai_lr_find_s']:7.2f} s = "
          f"{r['fastai_per_epoch']:.2f} epochs")
    for name in ("ours", "truncated", "valley"):
        s = r[f"{name}_spread"]
        values = ", ".join("none" if v is None else f"{v:.3g}" for v in r[name])
        print(f"{name:>6} over {r['seeds']} seeds: range {s['range_decades']:.2f} decades, "
              f"std {s['std_decades']:.2f} decades  [{values}]")


if __name__ == "__main__":
    main()
