"""A :class:`~hpstudy.cache.DecodedSplit` backed by the image cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpstudy.cache._store import CacheEntry, ImageCache, ProgressFn
from hpstudy.datasets import Dataset, Sample

if TYPE_CHECKING:
    from hpstudy.cache._decode import DecodedSplit

__all__ = ["build_dataset_cache", "cached_split"]


def cached_split(
    dataset: Dataset,
    root: Path,
    split: str,
    samples: Sequence[Sample],
    classes: Sequence[str],
    size: int,
    *,
    resize: str = "squish",
    train: bool = False,
    cache: ImageCache | None = None,
    on_progress: ProgressFn | None = None,
) -> DecodedSplit:
    """The split's pixels memory-mapped from the cache (built on first use); damaged images are
    left out of its rows.

    Args:
        resize: How images are made square, as fastai's ``Resize`` (``"squish"``, ``"crop"``,
            ``"pad"``; see :func:`~hpstudy.cache._decode.decode_image`).
        train: The split is trained on: with ``"crop"`` it is served squished with each
            original's aspect ratio, and :class:`~hpstudy.training.TensorBatches` crops it at
            random per epoch (otherwise: the centred crop, decoded once).

    Raises:
        ValueError: On an unknown resize method.
    """
    import torch

    from hpstudy.cache._decode import DecodedSplit, targets_of

    entry = _entry(cache or ImageCache(), dataset, root, split, samples, size, resize, train,
                   on_progress or _reported(split))
    ok = entry.ok()
    rows = None if ok.all() else torch.from_numpy(np.flatnonzero(ok).astype(np.int64))
    aspects = entry.aspects() if entry.resize == "squish" else None  # see DecodedSplit.aspects
    return DecodedSplit(torch.from_numpy(entry.images()), targets_of(samples, classes, dataset.task),
                        dataset.task, rows, None if aspects is None else torch.from_numpy(aspects))


def _entry(cache: ImageCache, dataset: Dataset, root: Path, split: str,
           samples: Sequence[Sample], size: int, resize: str, train: bool,
           on_progress: ProgressFn | None) -> CacheEntry:
    """The cache entry a split made square by ``resize`` is served from: a training split to be
    cropped at random is stored squished, with its aspect ratios (see
    :func:`~hpstudy.cache._decode.stored_resize`)."""
    from hpstudy.cache._resize import stored_resize

    method = stored_resize(resize, train)
    return cache.get_or_build(dataset, root, split, samples, size, resize=method,
                              aspects=method != resize, on_progress=on_progress)


def _reported(split: str) -> ProgressFn:
    """Decoding progress for :func:`hpstudy.progress.report` (a CLI's bars) when nobody passed
    ``on_progress``."""
    from hpstudy.progress import report

    return lambda done, total: report(f"decoding {split}", done, total)


def build_dataset_cache(
    dataset: str,
    *,
    size: int | None = None,
    resize: str = "crop",
    data_root: str | Path | None = None,
    cache: ImageCache | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[CacheEntry]:
    """Decode both splits of a registered dataset into the cache (a no-op when current).

    Args:
        dataset: Registered dataset name.
        size: Square size in pixels (default: the plugin's ``image_size``).
        resize: The study's resize method (default ``"crop"``, a spec's default): the entries
            its training and validation splits use (see :func:`cached_split`).
        on_progress: Called with (split, done, total) while decoding (default: reported through
            :mod:`hpstudy.progress`).

    Raises:
        ValueError: On an unknown resize method.
    """
    from hpstudy.cache._resize import check_resize
    from hpstudy.datasets import open_dataset

    check_resize(resize)
    opened = open_dataset(dataset, data_root)
    plugin, root, splits = opened.plugin, opened.root, opened.splits
    cache = cache or ImageCache()
    out = []
    for name, samples in (("train", splits.train), ("valid", splits.valid)):
        progress = (lambda d, t, n=name: on_progress(n, d, t)) if on_progress else _reported(name)
        out.append(_entry(cache, plugin, root, name, samples, size or plugin.image_size, resize,
                          name == "train", progress))
    return out
