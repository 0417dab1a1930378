"""The batches that feed the fastai Learner, from a split decoded once (:mod:`hpstudy.cache`).

:class:`TensorBatches` turns a :class:`~hpstudy.cache.DecodedSplit` into augmented, normalized float
batches on the training device: the whole split is copied into GPU memory when it fits, otherwise
batches stream from the memory map through pinned memory with a prefetching thread. A training split
stored squished with each original's aspect ratio gets fastai's random ``Resize`` crop here, drawn
per image and epoch as a window of the squished image, inside the augmentation's resampling on the
device.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
from collections.abc import Iterator

import torch

from hpstudy.cache._decode import DecodedSplit
from hpstudy.cache._resize import check_resize
from hpstudy.errors import HpstudyError
from hpstudy.training._augment import Augment, apply_window, augment_batch

__all__ = [
    "GPU_SHARE_ENV",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TensorBatches",
    "crop_windows",
    "fits_in_memory",
    "gpu_memory_share",
]

#: Environment variable with the share of free GPU memory a split's pixels may take (0 to 1).
GPU_SHARE_ENV = "HPSTUDY_GPU_MEMORY_SHARE"
DEFAULT_GPU_SHARE = 0.5

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

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


def gpu_memory_share(share: float | None = None) -> float:
    """The share of free GPU memory a split's pixels may take: ``share`` when given (e.g. from
    ``--gpu-memory-share``), else ``$HPSTUDY_GPU_MEMORY_SHARE``, else 0.5.

    Raises:
        HpstudyError: If it is not a number from 0 to 1.
    """
    if share is not None:
        if not 0.0 <= share <= 1.0:
            raise HpstudyError(f"--gpu-memory-share {share} is not a share of GPU memory; give a "
                               "number from 0 (always stream batches from host memory) to 1")
        return share
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
