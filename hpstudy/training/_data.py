"""Images decoded once into memory, and the batches that feed the fastai Learner.

Every image of a split is decoded and resized once per worker process into a ``uint8`` tensor
(``N x C x H x W``, one channel for grayscale datasets); each epoch then only indexes that tensor,
so a 20-epoch trial decodes nothing after its start.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hpstudy.datasets import Dataset, Sample, Task

__all__ = ["DecodedSplit", "TensorBatches", "decode_split", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DecodedSplit:
    """A split's pixels (``uint8``, ``N x C x H x W``) and targets.

    ``targets`` holds class indices (``int64``, ``N``) for single-label data and 0/1 rows
    (``float32``, ``N x n_classes``) for multi-label data.
    """

    images: torch.Tensor
    targets: torch.Tensor
    task: Task

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, index: Sequence[int]) -> DecodedSplit:
        idx = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return DecodedSplit(self.images[idx], self.targets[idx], self.task)


def _targets(samples: Sequence[Sample], classes: Sequence[str], task: Task) -> torch.Tensor:
    pos = {c: i for i, c in enumerate(classes)}
    if task is Task.SINGLE_LABEL:
        return torch.tensor([pos[s.labels[0]] for s in samples], dtype=torch.int64)
    out = torch.zeros(len(samples), len(classes), dtype=torch.float32)
    for row, s in enumerate(samples):
        for label in s.labels:
            out[row, pos[label]] = 1.0
    return out


def decode_split(
    dataset: Dataset,
    root: Path,
    samples: Sequence[Sample],
    classes: Sequence[str],
    size: int,
    *,
    threads: int | None = None,
) -> DecodedSplit:
    """Decode and resize (bilinear, to ``size`` x ``size``) every sample once.

    The split is grayscale (one channel) when every image is; otherwise RGB.
    """
    from PIL import Image

    damaged: list[str] = []

    def load(s: Sample) -> np.ndarray:
        # An image the plugin's load() passed but that fails to decode must not end a study: it
        # becomes a black image (dropping it would shift the fraction indices of the split), and
        # the failures are reported once below.
        try:
            img = dataset.image(root, s.item)
            if img.mode not in ("L", "RGB"):
                img = img.convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img)
        except (OSError, ValueError, SyntaxError, KeyError, IndexError) as exc:
            damaged.append(f"{s.item} ({type(exc).__name__}: {exc})")
            return np.zeros((size, size), dtype=np.uint8)

    workers = threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        arrays = list(pool.map(load, samples))
    if damaged:
        warnings.warn(
            f"{dataset.name}: {len(damaged)} of {len(samples)} images could not be decoded and are "
            f"black in training (e.g. {'; '.join(damaged[:3])})",
            RuntimeWarning,
            stacklevel=2,
        )
    gray = all(a.ndim == 2 for a in arrays)
    channels = 1 if gray else 3
    images = np.empty((len(arrays), channels, size, size), dtype=np.uint8)
    for i, a in enumerate(arrays):
        if gray:
            images[i, 0] = a
        elif a.ndim == 2:
            images[i] = a[None]
        else:
            images[i] = a.transpose(2, 0, 1)
    return DecodedSplit(torch.from_numpy(images), _targets(samples, classes, dataset.task),
                        dataset.task)


class TensorBatches:
    """Batches of a :class:`DecodedSplit`, as float tensors on ``device`` normalized with ImageNet
    statistics (grayscale repeated to three channels).

    Training batches are shuffled (seeded per epoch), randomly flipped left-right and the last partial
    batch is dropped; validation batches keep order and keep every image. Plays the part of a fastai
    ``DataLoader`` for :class:`fastai.data.core.DataLoaders`.
    """

    def __init__(
        self,
        split: DecodedSplit,
        batch_size: int,
        *,
        train: bool,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        self.split = split
        self.bs = batch_size
        self.train = train
        self.device = torch.device(device)
        self.seed = seed
        self._epoch = 0
        # A training batch of one would break BatchNorm; never drop so much that nothing is left.
        self.drop_last = train and len(split) > batch_size
        self.n = len(split)

    def to(self, device: torch.device | str) -> TensorBatches:
        self.device = torch.device(device)
        return self

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.bs
        return math.ceil(self.n / self.bs)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).float().div_(255.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.train:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self._epoch)
            self._epoch += 1
            order = torch.randperm(self.n, generator=g)
        else:
            g = None
            order = torch.arange(self.n)
        for b in range(len(self)):
            idx = order[b * self.bs : (b + 1) * self.bs]
            x = self._normalize(self.split.images[idx])
            if self.train:
                flip = torch.rand(len(idx), generator=g) < 0.5
                x[flip.to(self.device)] = x[flip.to(self.device)].flip(-1)
            yield x, self.split.targets[idx].to(self.device, non_blocking=True)
