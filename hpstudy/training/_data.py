"""Decoded images and the batches that feed the fastai Learner.

A split's pixels are a ``uint8`` array (``N x C x H x W``, one channel for grayscale datasets) that
is decoded once: in memory by :func:`decode_split`, or memory-mapped from the on-disk image cache
(:mod:`hpstudy.cache`). :class:`TensorBatches` turns it into augmented, normalized float batches on
the training device: the whole split is copied into GPU memory when it fits, otherwise batches stream
from the memory map through pinned memory with a prefetching thread.

Images are made square as fastai's ``Resize(size, method)`` makes them (:data:`RESIZE_METHODS`):
``"squish"`` resizes the whole image, ``"crop"`` takes the largest centred square, ``"pad"``
reflects the short side out to a square, each then resized (bilinear) to ``size``. fastai's crop
is random on the training split; that split is stored squished with each original's aspect ratio,
and :class:`TensorBatches` draws the crop per image and epoch as a window of the squished image,
inside the augmentation's resampling on the device.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import queue
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hpstudy.datasets import Dataset, Sample, Task
from hpstudy.errors import HpstudyError
from hpstudy.training._augment import Augment, apply_window, augment_batch

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "GPU_SHARE_ENV",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RESIZE_METHODS",
    "DecodedSplit",
    "TensorBatches",
    "check_resize",
    "crop_windows",
    "decode_image",
    "decode_rows",
    "decode_split",
    "fits_in_memory",
    "gpu_memory_share",
    "stored_resize",
    "targets_of",
]

#: Environment variable with the share of free GPU memory a split's pixels may take (0 to 1).
GPU_SHARE_ENV = "HPSTUDY_GPU_MEMORY_SHARE"
DEFAULT_GPU_SHARE = 0.5

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: How images are made square, as fastai's ``ResizeMethod``: a centred (validation) or random
#: (training) square crop, the whole image squished, or the whole image reflection-padded.
RESIZE_METHODS = ("crop", "squish", "pad")


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


def check_resize(method: str) -> str:
    """``method`` if it is one of :data:`RESIZE_METHODS`.

    Raises:
        ValueError: Otherwise.
    """
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}; known: {', '.join(RESIZE_METHODS)}")
    return method


def stored_resize(resize: str, train: bool) -> str:
    """How a split's pixels are decoded for ``resize``: a training split to be cropped at random
    is stored squished (with its aspect ratios; the crop is drawn per epoch, see
    :class:`TensorBatches`), every other split as ``resize`` says.

    Raises:
        ValueError: On an unknown method.
    """
    return "squish" if check_resize(resize) == "crop" and train else resize


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


class TensorBatches:
    """Batches of a :class:`DecodedSplit`, as float tensors on ``device``: augmented (training;
    ``augment`` defaults to :class:`Augment`'s fastai policy) on ``[0, 1]`` pixels, then grayscale
    repeated to three channels, normalized with ImageNet statistics, channels-last.

    ``resize="crop"`` (fastai's default ``Resize``) crops a training split that carries aspect
    ratios (its originals squished to squares, see :class:`DecodedSplit`) at random: per image
    and epoch, the square window of the original at a uniform random position (fastai's random
    ``pcts``; see :func:`crop_windows`), resampled inside the augmentation's ``grid_sample``, or
    alone when ``augment`` is ``None``. A split of square originals (or without aspect ratios)
    has nothing to crop and is used as it is. Other methods, and validation, use the pixels as
    decoded (see :func:`decode_image`).

    Training batches are shuffled (seeded per epoch). With ``drop_last`` (fastai's training
    ``DataLoader``; a study's default) the last partial batch is left out, so each epoch trains on
    full batches of a different subset; without it every image is used exactly once per epoch and
    a final batch of a single image (which BatchNorm cannot normalize) joins the batch before it.
    A split smaller than one batch is always one batch. Validation batches keep order. On a GPU the
    split's ``uint8`` pixels are copied into GPU memory once when they take at most ``gpu_share`` of
    the free memory (default :func:`gpu_memory_share`; ``0`` always streams); otherwise each batch
    is gathered on the CPU, pinned, and copied asynchronously while a background thread prepares
    the next ones. Plays the
    part of a fastai ``DataLoader`` in :class:`fastai.data.core.DataLoaders`.
    """

    prefetch = 3

    def __init__(
        self,
        split: DecodedSplit,
        batch_size: int,
        *,
        train: bool,
        device: torch.device | str = "cpu",
        seed: int = 0,
        augment: Augment | None = None,
        gpu_share: float | None = None,
        resize: str = "crop",
        drop_last: bool = False,
    ) -> None:
        self.split = split
        self.drop_last = drop_last
        self.bs = batch_size
        self.train = train
        self.device = torch.device(device)
        self.seed = seed
        self.augment = augment if augment is not None else (Augment() if train else None)
        self.gpu_share = gpu_memory_share() if gpu_share is None else gpu_share
        self.resize = check_resize(resize)
        self._epoch = 0
        self._resident: tuple[torch.Tensor, torch.Tensor] | None = None
        self.n = len(split)
        aspects = split.aspects_at(torch.arange(self.n)) if train and resize == "crop" else None
        #: Aspect ratios of this split's positions when training batches are cropped at random.
        self._aspects = aspects if aspects is not None and bool((aspects != 1).any()) else None

    @property
    def crops(self) -> bool:
        """Whether training batches are random crops of non-square originals."""
        return self._aspects is not None

    def to(self, device: torch.device | str) -> TensorBatches:
        self.device = torch.device(device)
        self._resident = None
        return self

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.bs)
        if self.train and full and (self.drop_last or rest == 1):
            return full  # the rest is dropped, or the lone image rides with the last full batch
        return full + (1 if rest else 0)

    def _chunks(self, order: torch.Tensor) -> list[torch.Tensor]:
        end = len(self) * self.bs if self.train and self.drop_last else self.n
        bounds = [b * self.bs for b in range(len(self))] + [min(end, self.n)]
        return [order[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]

    @property
    def resident(self) -> bool:
        """Whether the split's pixels live on the training device (decided on first use)."""
        return self._resident is not None

    def _make_resident(self) -> None:
        if self.device.type != "cuda" or self._resident is not None:
            return
        free, _ = torch.cuda.mem_get_info(self.device)
        c, h, w = self.split.images.shape[1:]
        if not fits_in_memory(self.n * c * h * w, free, self.gpu_share):
            return  # stream from host memory instead
        images, targets = self.split.gather(torch.arange(self.n))
        self._resident = (images.to(self.device), targets.to(self.device))

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``[0, 1]`` pixels, grayscale repeated to three channels, ImageNet-normalized."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        mean, std = _imagenet_stats(self.device)
        return (x - mean) / std

    def _finish(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator | None,
                positions: torch.Tensor):
        x = x.to(self.device, non_blocking=True).float().div_(255.0)
        window = None
        if self._aspects is not None and g is not None:
            window = crop_windows(self._aspects[positions], g)  # drawn before the augmentation
        if self.augment is not None and g is not None:
            # on [0, 1] pixels (fastai's lighting works on their logits), before grayscale
            # images are repeated to three channels (one channel resamples at a third the cost)
            x = augment_batch(x, self.augment, g, window=window)
        elif window is not None:
            x = apply_window(x, window)
        x = self._normalize(x)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y.to(self.device, non_blocking=True)

    def _order(self) -> tuple[torch.Tensor, torch.Generator | None]:
        if not self.train:
            return torch.arange(self.n), None
        g = torch.Generator().manual_seed(self.seed * 100_003 + self._epoch)
        self._epoch += 1
        return torch.randperm(self.n, generator=g), g

    def positions(self) -> Iterator[torch.Tensor]:
        """The positions of each batch of the next epoch (advances the epoch counter)."""
        order, _ = self._order()
        yield from self._chunks(order)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self._make_resident()
        order, g = self._order()
        chunks = self._chunks(order)
        if self._resident is not None:
            images, targets = self._resident
            for idx in chunks:
                on_device = idx.to(self.device, non_blocking=True)  # no stream sync per batch
                yield self._finish(images[on_device], targets[on_device], g, idx)
            return
        pin = self.device.type == "cuda"
        batches = _prefetch((self._host_batch(idx, pin) for idx in chunks), self.prefetch)
        for (x, y), idx in zip(batches, chunks, strict=True):
            yield self._finish(x, y, g, idx)

    def _host_batch(self, idx: torch.Tensor, pin: bool) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.split.gather(idx)
        if pin:
            x, y = x.pin_memory(), y.pin_memory()
        return x, y


def crop_windows(aspects: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """fastai's random ``Resize`` crop of each original (width / height ``aspects``), as a window
    of its squished square copy: ``N x 2 x 3`` affine maps for ``augment_batch(window=...)``.

    In the squished image's normalized coordinates the original's largest square spans
    ``min(1, h/w)`` of the width and ``min(1, w/h)`` of the height; its position along each axis
    is fastai's ``pcts``, uniform in ``[0, 1]`` (0: at the left or top edge), drawn from
    ``generator``. A square original's window is the whole image.
    """
    n = aspects.shape[0]
    aspects = aspects.float()
    share = torch.stack([(1 / aspects).clamp(max=1.0), aspects.clamp(max=1.0)], 1)
    pcts = torch.rand(n, 2, generator=generator)
    window = torch.zeros(n, 2, 3)
    window[:, 0, 0], window[:, 1, 1] = share[:, 0], share[:, 1]
    window[:, :, 2] = (2 * pcts - 1) * (1 - share)
    return window


@functools.lru_cache(maxsize=8)
def _imagenet_stats(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet mean and std as ``1 x 3 x 1 x 1`` tensors on ``device``, made once per device
    rather than copied to it for every batch."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return mean, std


def gpu_memory_share() -> float:
    """The share of free GPU memory a split's pixels may take: ``$HPSTUDY_GPU_MEMORY_SHARE``
    (set by ``--gpu-memory-share``), else 0.5.

    Raises:
        HpstudyError: If the variable is not a number from 0 to 1.
    """
    raw = os.environ.get(GPU_SHARE_ENV, "").strip()
    if not raw:
        return DEFAULT_GPU_SHARE
    try:
        share = float(raw)
    except ValueError:
        share = float("nan")
    if not 0.0 <= share <= 1.0:
        raise HpstudyError(
            f"{GPU_SHARE_ENV}={raw!r} is not a share of GPU memory; set it to a number from 0 "
            f"(always stream batches from host memory) to 1, or unset it for {DEFAULT_GPU_SHARE}"
        )
    return share


def fits_in_memory(nbytes: int, free: int, share: float) -> bool:
    """Whether ``nbytes`` of pixels may live on the device: at most ``share`` of its free memory,
    so activations, weights and the optimizer keep the rest."""
    return nbytes <= share * free


def _prefetch(it: Iterator, depth: int) -> Iterator:
    """Run ``it`` in a background thread, ``depth`` items ahead (memory-map reads release the GIL)."""
    if depth <= 0:
        yield from it
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    failure: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put(item)
        except BaseException as exc:  # surfaced in the consumer
            failure.append(exc)
        finally:
            q.put(done)

    t = threading.Thread(target=run, daemon=True, name="hpstudy-prefetch")
    t.start()
    try:
        while (item := q.get()) is not done:
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(timeout=0.01)
