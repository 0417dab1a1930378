"""Benchmark: does a trial of hpstudy give the validation accuracy a plain fastai pipeline gives?

hpstudy replaces fastai's data pipeline and optimizer with faster ones (decoded ``uint8`` splits
served by ``TensorBatches``, batch augmentation in ``hpstudy.training._augment``, ``StudyAdam``).
This script trains the same trial both ways, over the same seeds, and compares the results:

* hpstudy - ``train_trial`` with the spec's baseline hyperparameters at a fixed lr, the plugin's
  augmentation hints and ``TrainSettings.augment_policy``;
* fastai - a ``DataBlock`` over the *same* decoded pixels of the *same* split (one
  ``PILImage`` per image, grayscale repeated to RGB, no resizing: the split is already decoded at
  the spec's image size), batch transforms for the policy then
  ``Normalize.from_stats(*imagenet_stats)``, ``vision_learner(pretrained=False)`` with
  ``CrossEntropyLossFlat``, ``Adam(sqr_mom=beta2)`` (decoupled weight decay, fastai's default),
  ``wd``, the same head dropout, metric ``accuracy``; after
  ``fastai.torch_core.set_seed(seed, reproducible=True)``, ``fit_one_cycle(frozen, lr)``,
  ``unfreeze()``, ``fit_one_cycle(unfrozen, slice(lr / divisor**2, lr))`` - the steps of
  ``hpstudy.training._train.train_trial``. Data loading runs in the main process
  (``num_workers=0``), like hpstudy's; fastai's training loader drops its last partial batch (its
  default), hpstudy's uses every image.

Augmentation policies (``--policy``), on both sides, respecting the plugin's hints (``no_hflip``
drops the left-right flip; on the fastai side ``vflip`` or ``rot90`` turn the flip into fastai's
``Dihedral``, which has no vertical-only flip):

* ``fastai``: fastai's ``aug_transforms()`` defaults (rotation, zoom, warp, lighting, flips);
* ``crop``: a random resized crop of 35-100 % of the area, aspect ratio 3/4-4/3, drawn per image,
  plus flips (fastai: the item transform ``RandomResizedCrop(size, min_scale=0.35, val_xtra=0)``
  + ``Flip()``; its GPU twin ``RandomResizedCropGPU`` draws one crop per *batch*, hpstudy one per
  image, so the item transform is the like-for-like one);
* ``both``: each of the two in turn.

Seeds ``0 .. N-1`` are run interleaved, hpstudy first for even seeds and fastai first for odd
ones, so a change in the machine's load and the first trial's warm-up hit both sides alike; one
torch thread, on the CPU. Reported per side: mean and sample SD of the validation accuracy (a
share, 0-1) and the summed wall time of the trials (learner construction and training; decoding
is shared and left out). The paired difference hpstudy - fastai is in accuracy points (x100); its
95 % interval is a **Student t-interval over the per-seed paired differences** (``scipy.stats.t``,
n - 1 degrees of freedom). ``equivalent`` is true when that interval lies within +-2 points; false
means equivalence is not shown - either the sides differ, or the interval is too wide for the
seeds run (then more ``--seeds`` narrow it).

``--json``: for one policy, an object with ``policy``, ``dataset``, ``seeds``, ``epochs``
(``[frozen, unfrozen]``), ``lr``, ``size``, ``train_images``, ``valid_images``, ``hpstudy`` and
``fastai`` (each ``mean``, ``sd``, ``values``, ``wall_s``, ``trial_s``), ``diff_mean`` and
``diff_ci`` (points) and ``equivalent``; for ``--policy both``, an object with one such object per
policy, keyed by the policy's name (``{"fastai": {...}, "crop": {...}}``).

    python benchmarks/fastai_equivalence.py [--policy fastai|crop|both] [--seeds 5]
        [--dataset digits] [--lr 0.00176] [--frozen-epochs 1] [--unfrozen-epochs 1]
        [--size 32] [--batch 64] [--arch resnet18] [--limit N [--limit-valid M]] [--json]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _output import emit

from hpstudy.study import parse_spec
from hpstudy.study._data import StudyData
from hpstudy.study._lr import baseline_hyperparams
from hpstudy.training import DecodedSplit, Hyperparams, TrainSettings, train_trial

POLICIES = ("fastai", "crop")
EQUIVALENCE_MARGIN = 2.0  # accuracy points


def make_spec(args: argparse.Namespace):  # noqa: ANN201 - a StudySpec
    return parse_spec({
        "arch": args.arch,
        "pretrained": False,
        "batch_size": args.batch,
        "image_size": args.size,
        "frozen_epochs": args.frozen_epochs,
        "unfrozen_epochs": args.unfrozen_epochs,
        "fractions": [1.0],
        "seed": 0,
        "baseline": {"lr_mult": 1.0, "divisor": 10, "wd": 0.1, "beta2": 0.99, "ps": 0.5},
        "factors": {},
    }, name="equivalence")


def _limited(split: DecodedSplit, limit: int | None) -> DecodedSplit:
    """At most ``limit`` images of ``split`` (a fixed random choice, kept in order), in memory."""
    if limit is not None and limit < len(split):
        keep = np.sort(np.random.default_rng(0).permutation(len(split))[:limit])
        split = split.subset(keep)
    return split.materialize()


def fastai_item_tfms(policy: str, size: int) -> list:
    """fastai's item transforms for ``policy``: the per-image random resized crop of ``crop``."""
    from fastai.vision.augment import RandomResizedCrop

    return [RandomResizedCrop(size, min_scale=0.35, val_xtra=0)] if policy == "crop" else []


def fastai_batch_tfms(policy: str, hints: Collection[str], size: int) -> list:
    """fastai's batch transforms for ``policy``, then ImageNet normalization."""
    from fastai.vision.augment import Dihedral, Flip, aug_transforms
    from fastai.vision.core import imagenet_stats
    from fastai.vision.data import Normalize

    hflip = "no_hflip" not in hints
    dihedral = bool({"vflip", "rot90"} & set(hints))  # fastai has no vertical-only flip
    if policy == "fastai":
        tfms = aug_transforms(do_flip=hflip or dihedral, flip_vert=dihedral)
    elif policy == "crop":
        flips = [Dihedral()] if dihedral else [Flip()] if hflip else []
        tfms = flips  # the crop is an item transform, see fastai_item_tfms
    else:
        raise ValueError(f"unknown policy {policy!r}; use one of {', '.join(POLICIES)}")
    return [*tfms, Normalize.from_stats(*imagenet_stats)]


def fastai_trial(train: DecodedSplit, valid: DecodedSplit, hp: Hyperparams,
                 settings: TrainSettings, policy: str, size: int) -> float:
    """Validation accuracy of one trial run through a plain fastai pipeline."""
    import fastai.callback.schedule  # noqa: F401 - patches fit_one_cycle
    from fastai.data.block import CategoryBlock, DataBlock
    from fastai.data.transforms import IndexSplitter
    from fastai.losses import CrossEntropyLossFlat
    from fastai.metrics import accuracy
    from fastai.optimizer import Adam
    from fastai.torch_core import set_seed
    from fastai.vision.core import PILImage
    from fastai.vision.data import ImageBlock
    from fastai.vision.learner import vision_learner

    from hpstudy.training import resolve_arch

    images = torch.cat([train.images, valid.images])
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    pixels = images.permute(0, 2, 3, 1).contiguous().numpy()  # N x H x W x 3, uint8
    targets = torch.cat([train.targets, valid.targets]).tolist()
    n_train = len(train)

    set_seed(settings.seed, reproducible=True)
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock(vocab=list(range(settings.n_classes)))),
        get_x=lambda i: PILImage.create(pixels[i]),
        get_y=lambda i: targets[i],
        splitter=IndexSplitter(range(n_train, len(targets))),
        item_tfms=fastai_item_tfms(policy, size),
        batch_tfms=fastai_batch_tfms(policy, settings.augment, size),
    )
    dls = block.dataloaders(range(len(targets)), bs=settings.batch_size, num_workers=0,
                            device=torch.device(settings.device),
                            path=Path(tempfile.gettempdir()) / "hpstudy-equivalence")
    learn = vision_learner(dls, resolve_arch(settings.arch), pretrained=False,
                           ps=list(hp.head_dropout), loss_func=CrossEntropyLossFlat(),
                           opt_func=partial(Adam, sqr_mom=hp.beta2), wd=hp.wd, metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        learn.freeze()
        if settings.frozen_epochs:
            learn.fit_one_cycle(settings.frozen_epochs, hp.lr)
        learn.unfreeze()
        if settings.unfrozen_epochs:
            learn.fit_one_cycle(settings.unfrozen_epochs, slice(hp.lr / hp.divisor**2, hp.lr))
    return float(learn.recorder.values[-1][2])  # train loss, valid loss, accuracy


def _timed(fn: Callable[[], float]) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _side(values: list[float], walls: list[float]) -> dict[str, Any]:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)),
            "values": values, "wall_s": round(sum(walls), 2),
            "trial_s": round(sum(walls) / len(walls), 2)}


def paired_interval(a: list[float], b: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``a - b`` in points (x100) and its Student t-interval over the pairs."""
    from scipy import stats

    d = (np.asarray(a) - np.asarray(b)) * 100
    mean = float(d.mean())
    half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    return mean, mean - half, mean + half


def compare(policy: str, data: StudyData, spec: Any, args: argparse.Namespace) -> dict[str, Any]:
    train = _limited(data.train(1.0), args.limit)
    valid = _limited(data.valid(), args.limit_valid)
    hp = baseline_hyperparams(spec, args.lr)
    ours: list[float] = []
    theirs: list[float] = []
    ours_s: list[float] = []
    theirs_s: list[float] = []
    for seed in range(args.seeds):
        settings = replace(data.settings(spec, "cpu", seed=seed), augment_policy=policy)
        sides = [
            (ours, ours_s, lambda s=settings: train_trial(train, valid, hp, s).metric),
            (theirs, theirs_s, lambda s=settings: fastai_trial(train, valid, hp, s, policy, args.size)),
        ]
        for values, walls, trial in sides if seed % 2 == 0 else sides[::-1]:
            value, wall = _timed(trial)
            values.append(float(value))
            walls.append(wall)
    diff, low, high = paired_interval(ours, theirs)
    return {
        "policy": policy,
        "dataset": args.dataset,
        "seeds": args.seeds,
        "epochs": [spec.frozen_epochs, spec.unfrozen_epochs],
        "lr": args.lr,
        "size": args.size,
        "train_images": len(train),
        "valid_images": len(valid),
        "hpstudy": _side(ours, ours_s),
        "fastai": _side(theirs, theirs_s),
        "diff_mean": diff,
        "diff_ci": [low, high],
        "equivalent": bool(low >= -EQUIVALENCE_MARGIN and high <= EQUIVALENCE_MARGIN),
    }


def _lines(r: dict[str, Any]) -> dict[str, str]:
    def side(s: dict[str, Any]) -> str:
        return (f"{100 * s['mean']:.2f} ± {100 * s['sd']:.2f} %   "
                f"{s['wall_s']:.1f} s ({s['trial_s']:.1f} s a trial)")

    low, high = r["diff_ci"]
    return {
        "policy": r["policy"],
        "setting": (f"{r['dataset']}, {r['train_images']} train / {r['valid_images']} valid images "
                    f"at {r['size']} px, epochs {r['epochs'][0]}+{r['epochs'][1]}, lr {r['lr']:g}, "
                    f"{r['seeds']} seeds"),
        "hpstudy": side(r["hpstudy"]),
        "fastai": side(r["fastai"]),
        "hpstudy - fastai": f"{r['diff_mean']:+.2f} points, 95 % CI [{low:+.2f}, {high:+.2f}]",
        "equivalent": (f"{'yes' if r['equivalent'] else 'no'}: the interval is "
                       f"{'' if r['equivalent'] else 'not '}within ±{EQUIVALENCE_MARGIN:g} points"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", choices=[*POLICIES, "both"], default="fastai")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--lr", type=float, default=0.00176)
    ap.add_argument("--frozen-epochs", type=int, default=1)
    ap.add_argument("--unfrozen-epochs", type=int, default=1)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--limit", type=int, default=None,
                    help="use at most this many training images (and --limit-valid, default half)")
    ap.add_argument("--limit-valid", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.seeds < 2:
        ap.error("--seeds must be at least 2 for an interval over paired differences")
    if args.limit is not None and args.limit_valid is None:
        args.limit_valid = max(1, args.limit // 2)

    torch.set_num_threads(1)
    spec = make_spec(args)
    data = StudyData.open(args.dataset, None, spec)
    policies = POLICIES if args.policy == "both" else (args.policy,)
    results = {p: compare(p, data, spec, args) for p in policies}
    if args.json:
        emit(results if args.policy == "both" else results[args.policy], True)
        return
    for i, r in enumerate(results.values()):
        if i:
            print()
        emit(_lines(r), False)


if __name__ == "__main__":
    main()
