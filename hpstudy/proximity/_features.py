"""Backbone features of a dataset's training split, computed once and cached on disk.

Features are the pooled penultimate activations of the study's backbone (see
:func:`hpstudy.training.backbone_features`) for every image of the **training** split — the split
Cui et al. weigh classes by, and the one the model is fine-tuned on. Pixels come memory-mapped
from the image cache training uses (``<cache root>/images``), so a large dataset is decoded once
and never sits in memory at full size.

The cache lives in ``<cache root>/features`` where the cache root is ``--cache-dir``, else
``$HPSTUDY_CACHE``, else ``~/.cache/hpstudy``. One ``.npy`` file per (dataset, plugin version, arch,
weights, image size, split, fingerprint of the split's items and labels); files are written to a
temporary name and renamed, so concurrent or interrupted runs never leave a partial file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpstudy.cache import CACHE_ENV, cache_root
from hpstudy.datasets import Sample, open_dataset
from hpstudy.errors import DataNotFoundError
from hpstudy.proximity._class_means import ClassMeans, class_means

__all__ = [
    "CACHE_ENV",
    "DEFAULT_FEATURE_SIZE",
    "FeatureSet",
    "cache_root",
    "dataset_features",
]

#: Image size for features when the study spec sets none (plugins' own defaults differ, and both
#: sides of a proximity must be measured at one size).
DEFAULT_FEATURE_SIZE = 224


@dataclass(frozen=True)
class FeatureSet:
    """Features of one split, with what they were computed from.

    ``labels`` holds, for each image, the indices of its classes in ``classes``.
    """

    dataset: str
    version: str
    arch: str
    weights: str
    size: int
    split: str
    classes: tuple[str, ...]
    labels: tuple[tuple[int, ...], ...]
    features: np.ndarray
    from_cache: bool

    def class_means(self) -> ClassMeans:
        """Mean feature and image count per class (multi-label images count for every label)."""
        return class_means(self.features, self.labels, self.classes)


def _fingerprint(samples: Sequence[Sample]) -> str:
    h = hashlib.sha256()
    for s in samples:
        h.update(s.item.encode())
        h.update(b"\t")
        h.update("\x1f".join(s.labels).encode())
        h.update(b"\n")
    return h.hexdigest()


def _cache_file(root: Path, key: dict[str, object]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{key['dataset']}-{key['arch']}-{key['size']}")
    return root / "features" / f"{slug}-{key['split']}-{digest}.npy"


def _load_cached(path: Path, n: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # unreadable: computed again and replaced
    if arr.ndim != 2 or arr.shape[0] != n:
        return None
    return arr


def _save_atomic(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def dataset_features(
    dataset: str,
    *,
    arch: str,
    pretrained: bool,
    size: int,
    seed: int = 0,
    data_root: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 256,
    cache_dir: str | Path | None = None,
    split: str = "train",
) -> FeatureSet:
    """Backbone features of every image of ``dataset``'s ``split``, from the cache when present.

    Args:
        dataset: A registered dataset name.
        arch: torchvision model name (as in the study spec).
        pretrained: ImageNet weights (as in the spec) or the seeded random initialisation.
        size: Square image size the images are resized to.
        seed: Seed of the random initialisation (part of the cache key when not pretrained).
        data_root: Folder holding the dataset (default ``$HPSTUDY_DATA``).
        device: ``cpu`` or ``cuda`` (already resolved).
        batch_size: Images per forward pass.
        cache_dir: Cache root (see module docs).
        split: ``train`` (the default and what proximity uses) or ``valid``.

    Raises:
        HpstudyError: Unknown dataset, missing data, an empty split, an unknown arch.
    """
    from hpstudy.cache import ImageCache, cached_split
    from hpstudy.training import FeatureExtractor, backbone_weights

    if split not in ("train", "valid"):
        raise ValueError(f"split must be 'train' or 'valid', not {split!r}")
    opened = open_dataset(dataset, data_root)
    plugin, root, splits = opened.plugin, opened.root, opened.splits
    samples = splits.train if split == "train" else splits.valid
    if not samples:
        raise DataNotFoundError(
            f"dataset {dataset!r} under {root} has no {split} images; features need images"
        )
    weights = backbone_weights(arch, pretrained=pretrained, seed=seed)
    key: dict[str, object] = {
        "dataset": dataset,
        "version": plugin.version,
        "arch": arch,
        "weights": weights,
        "size": size,
        "split": split,
        "samples": _fingerprint(samples),
    }
    path = _cache_file(cache_root(cache_dir), key)
    pos = {c: i for i, c in enumerate(splits.classes)}
    # Pixels come from the image cache that training uses (decoded once); damaged images are not
    # in the split's rows and get no feature.
    pixels = cached_split(plugin, root, split, samples, splits.classes, size,
                          cache=ImageCache(cache_dir))
    kept = pixels.rows.tolist() if pixels.rows is not None else range(len(samples))
    labels = tuple(tuple(pos[label] for label in samples[i].labels) for i in kept)
    feats = _load_cached(path, len(labels))
    from_cache = feats is not None
    if feats is None:
        feats = FeatureExtractor(arch, pretrained, device, seed, batch_size)(pixels)
        _save_atomic(path, feats)
    return FeatureSet(
        dataset=dataset,
        version=plugin.version,
        arch=arch,
        weights=weights,
        size=size,
        split=split,
        classes=splits.classes,
        labels=labels,
        features=feats,
        from_cache=from_cache,
    )
