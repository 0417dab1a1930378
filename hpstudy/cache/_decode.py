"""Decoding a dataset's images once into a split of ``uint8`` pixels: the cache's input.

A split's pixels are a ``uint8`` array (``N x C x H x W``, one channel for grayscale datasets),
decoded once: in memory by :func:`decode_split`, or into the on-disk image cache
(:mod:`hpstudy.cache`), which memory-maps them back as a :class:`DecodedSplit`.

Images are made square as fastai's ``Resize(size, method)`` makes them (:data:`RESIZE_METHODS`):
``"squish"`` resizes the whole image, ``"crop"`` takes the largest centred square, ``"pad"``
reflects the short side out to a square, each then resized (bilinear) to ``size``. fastai's crop
is random on the training split; that split is stored squished with each original's aspect ratio,
and the training batches (:class:`hpstudy.training.TensorBatches`) draw the crop per image and
epoch as a window of the squished image.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hpstudy.cache._resize import stored_resize
from hpstudy.datasets import Dataset, Sample, Task

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DECODE_ERRORS",
    "DecodedSplit",
    "decode_image",
    "decode_rows",
    "decode_split",
    "guess_channels",
    "targets_of",
    "warn_damaged",
]



@dataclass(frozen=True)
class DecodedSplit:
    """A split's pixels and targets, possibly seen through a selection of rows.

    ``images`` (``uint8``, ``N x C x H x W``) and ``targets`` are the full backing arrays, one row
    per sample of the plugin's split; ``targets`` holds class indices (``int64``) for single-label
    data and 0/1 rows (``float32``, ``N x n_classes``) for multi-label data. ``rows`` selects and
    orders the rows this split consists of (``None``: all of them). Damaged images are left out of
    ``rows``, so positions in the plugin's sample list stay valid (see :meth:`select`).
    ``aspects`` (``float32``, one per backing row) is each original's width / height when the
    pixels are the originals squished to a square (what a random crop is drawn from, see
    :class:`TensorBatches`); ``None`` when they are not (cropped or padded already) or unknown.
    """

    images: torch.Tensor
    targets: torch.Tensor
    task: Task
    rows: torch.Tensor | None = None
    aspects: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0]) if self.rows is None else int(self.rows.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def _rows(self) -> torch.Tensor:
        return torch.arange(self.images.shape[0]) if self.rows is None else self.rows

    def subset(self, index: Sequence[int] | np.ndarray | torch.Tensor) -> DecodedSplit:
        """The images at positions ``index`` of this split (positions, not backing rows)."""
        idx = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return dataclasses.replace(self, rows=self._rows()[idx])

    def select(self, sample_positions: Sequence[int]) -> DecodedSplit:
        """The usable images among positions of the plugin's sample list (damaged ones dropped)."""
        wanted = torch.as_tensor(np.asarray(sample_positions, dtype=np.int64))
        if self.rows is None:
            return dataclasses.replace(self, rows=wanted)
        keep = torch.isin(wanted, self.rows)
        return dataclasses.replace(self, rows=wanted[keep])

    def gather(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels and targets at ``positions`` of this split (a copy, on the CPU); their aspect
        ratios are :meth:`aspects_at` the same positions."""
        rows = positions if self.rows is None else self.rows[positions]
        n = self.images.shape[0]
        if self.rows is None and len(rows) == n and torch.equal(rows, torch.arange(n)):
            return self.images, self.targets  # all of them, in order: no copy
        sorted_rows, order = torch.sort(rows)  # sequential reads from a memory map
        images = self.images[sorted_rows]
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order))
        return images[inverse], self.targets[rows]

    def aspects_at(self, positions: torch.Tensor) -> torch.Tensor | None:
        """Original width / height at ``positions`` of this split (``None`` without aspects)."""
        if self.aspects is None:
            return None
        return self.aspects[positions if self.rows is None else self.rows[positions]]

    def materialize(self) -> DecodedSplit:
        """A copy holding only this split's rows, in memory."""
        everything = torch.arange(len(self))
        images, targets = self.gather(everything)
        aspects = self.aspects_at(everything)
        return DecodedSplit(images.clone(), targets.clone(), self.task,
                            aspects=None if aspects is None else aspects.clone())


def targets_of(samples: Sequence[Sample], classes: Sequence[str], task: Task) -> torch.Tensor:
    """Class indices (single label) or 0/1 rows (multi label) of ``samples``."""
    pos = {c: i for i, c in enumerate(classes)}
    if task is Task.SINGLE_LABEL:
        return torch.tensor([pos[s.labels[0]] for s in samples], dtype=torch.int64)
    out = torch.zeros(len(samples), len(classes), dtype=torch.float32)
    for row, s in enumerate(samples):
        for label in s.labels:
            out[row, pos[label]] = 1.0
    return out


def decode_image(dataset: Dataset, root: Path, item: str, size: int, channels: int,
                 method: str = "squish") -> tuple[np.ndarray, float]:
    """Decode one item and make it ``channels x size x size`` ``uint8`` as fastai's
    ``Resize(size, method)`` does on the validation split: ``"squish"`` resizes it (bilinear),
    ``"crop"`` cuts the largest centred square and resizes that, ``"pad"`` reflection-pads the
    short side to a centred square and resizes that (fastai's pixel arithmetic throughout, so
    the result equals fastai's).

    Returns:
        The pixels, and the decoded image's width / height.

    Raises:
        OSError, ValueError, SyntaxError, KeyError, IndexError: When the image cannot be decoded.
    """
    from PIL import Image

    img = dataset.image(root, item)
    mode = "L" if channels == 1 else "RGB"
    if img.mode != mode:
        img = img.convert(mode)
    w, h = img.size
    if method != "squish":
        img = _square(img, size, method)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    a = np.asarray(img)
    return (a[None] if a.ndim == 2 else a.transpose(2, 0, 1)), w / h


def _square(img: Image.Image, size: int, method: str) -> Image.Image:
    """fastai's ``Resize.encodes`` for a square target, centred (its validation ``pcts``), before
    the resize: the largest (crop) or smallest (pad) square, cropped or reflection-padded."""
    from PIL import Image

    w, h = img.size
    m = min(w / size, h / size) if method == "crop" else max(w / size, h / size)
    side = int(m * size)  # fastai's arithmetic (it may come out a pixel short of the image)
    left, top = int(0.5 * (w - side)), int(0.5 * (h - side))
    box = (max(left, 0), max(top, 0), min(left + side, w), min(top + side, h))
    if box != (0, 0, w, h):
        img = img.crop(box)
    pad = (max(-left, 0), max(-top, 0), max(side - w + left, 0), max(side - h + top, 0))
    if any(pad):
        a = np.asarray(img)
        widths = ((pad[1], pad[3]), (pad[0], pad[2])) + (((0, 0),) if a.ndim == 3 else ())
        img = Image.fromarray(np.pad(a, widths, mode="reflect"))
    return img


DECODE_ERRORS = (OSError, ValueError, SyntaxError, KeyError, IndexError)


def guess_channels(dataset: Dataset, root: Path, samples: Sequence[Sample], probe: int = 32) -> int:
    """1 when the first ``probe`` decodable images are all grayscale, else 3."""
    seen = 0
    for s in samples:
        try:
            img = dataset.image(root, s.item)
        except DECODE_ERRORS:
            continue
        if img.mode not in ("L", "I", "I;16", "F", "1"):
            return 3
        seen += 1
        if seen >= probe:
            break
    return 1


def decode_split(
    dataset: Dataset,
    root: Path,
    samples: Sequence[Sample],
    classes: Sequence[str],
    size: int,
    *,
    resize: str = "squish",
    train: bool = False,
    threads: int | None = None,
) -> DecodedSplit:
    """Decode every sample once, into memory, made square and ``size`` x ``size`` (bilinear) by
    ``resize`` (see :func:`decode_image`); a ``train`` split to be cropped at random is squished
    and carries its aspect ratios (see :func:`stored_resize`).

    The split is grayscale (one channel) when its images are (see :func:`guess_channels`).
    Images that fail to decode are left out of the split's ``rows`` and reported in one warning.

    Raises:
        ValueError: On an unknown resize method.
    """
    method = stored_resize(resize, train)
    channels = guess_channels(dataset, root, samples)
    images = np.zeros((len(samples), channels, size, size), dtype=np.uint8)
    aspects = np.ones(len(samples), dtype=np.float32)
    ok, damaged = decode_rows(dataset, root, samples, size, images, method=method, aspects=aspects,
                              threads=threads)
    rows = None
    if damaged:
        warn_damaged(dataset.name, damaged, len(samples))
        rows = torch.from_numpy(np.flatnonzero(ok).astype(np.int64))
    return DecodedSplit(torch.from_numpy(images), targets_of(samples, classes, dataset.task),
                        dataset.task, rows,
                        torch.from_numpy(aspects) if method == "squish" else None)


def decode_rows(
    dataset: Dataset,
    root: Path,
    samples: Sequence[Sample],
    size: int,
    out: np.ndarray,
    *,
    method: str = "squish",
    aspects: np.ndarray | None = None,
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Decode every sample into row ``i`` of ``out`` (``N x C x size x size`` ``uint8``, in memory
    or memory-mapped) with a thread pool, made square by ``method`` (see :func:`decode_image`);
    each original's width / height into ``aspects[i]`` when given.

    Returns:
        Which rows decoded (a boolean mask) and, for the others, ``"item (error)"`` texts.
    """
    n = len(samples)
    channels = int(out.shape[1])
    ok = np.zeros(n, dtype=bool)
    damaged: list[str] = []

    def load(i: int) -> None:
        try:
            out[i], aspect = decode_image(dataset, root, samples[i].item, size, channels, method)
            if aspects is not None:
                aspects[i] = aspect
            ok[i] = True
        except DECODE_ERRORS as exc:
            damaged.append(f"{samples[i].item} ({type(exc).__name__}: {exc})")

    workers = threads or min(16, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, _ in enumerate(pool.map(load, range(n), chunksize=64), start=1):
            if on_progress is not None and (done % 256 == 0 or done == n):
                on_progress(done, n)
    return ok, damaged


def warn_damaged(dataset: str, damaged: Sequence[str], total: int) -> None:
    """Report undecodable images once, with a few examples."""
    warnings.warn(
        f"{dataset}: {len(damaged)} of {total} images could not be decoded and are skipped "
        f"(e.g. {'; '.join(sorted(damaged)[:3])})",
        RuntimeWarning,
        stacklevel=3,
    )
