"""A :class:`~hpstudy.training.DecodedSplit` backed by the image cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hpstudy.cache._store import CacheEntry, ImageCache, ProgressFn
from hpstudy.datasets import Dataset, Sample

if TYPE_CHECKING:
    from hpstudy.training import DecodedSplit

__all__ = ["build_dataset_cache", "cached_split"]


def cached_split(
    dataset: Dataset,
    root: Path,
    split: str,
    samples: Sequence[Sample],
    classes: Sequence[str],
    size: int,
    *,
    cache: ImageCache | None = None,
    on_progress: ProgressFn | None = None,
) -> DecodedSplit:
    """The split's pixels memory-mapped from the cache (built on first use); damaged images are
    left out of its rows."""
    from hpstudy.training import DecodedSplit
    from hpstudy.training._data import targets_of

    entry = (cache or ImageCache()).get_or_build(dataset, root, split, samples, size,
                                                 on_progress=on_progress)
    ok = entry.ok()
    rows = None if ok.all() else torch.from_numpy(np.flatnonzero(ok).astype(np.int64))
    return DecodedSplit(torch.from_numpy(entry.images()), targets_of(samples, classes, dataset.task),
                        dataset.task, rows)


def build_dataset_cache(
    dataset: str,
    *,
    size: int | None = None,
    data_root: str | Path | None = None,
    cache: ImageCache | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[CacheEntry]:
    """Decode both splits of a registered dataset into the cache (a no-op when current).

    Args:
        dataset: Registered dataset name.
        size: Square size in pixels (default: the plugin's ``image_size``).
        on_progress: Called with (split, done, total) while decoding.
    """
    from hpstudy.datasets import get_dataset, resolve_root

    plugin = get_dataset(dataset)
    root = resolve_root(plugin, data_root)
    splits = plugin.load(root)
    cache = cache or ImageCache()
    out = []
    for name, samples in (("train", splits.train), ("valid", splits.valid)):
        progress = (lambda d, t, n=name: on_progress(n, d, t)) if on_progress else None
        out.append(cache.get_or_build(plugin, root, name, samples, size or plugin.image_size,
                                      on_progress=progress))
    return out
