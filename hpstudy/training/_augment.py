"""Batch augmentation on the device that holds the batch (the GPU in a study, any tensor in tests).

Every image of a batch gets its own random resized crop, left-right flip and, where the dataset's
plugin asks for them (``Dataset.augment``), vertical flip and quarter turns — all as one batched
``affine_grid`` + ``grid_sample`` call, so augmentation costs one kernel launch per batch instead of
per-image PIL work on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Augment", "augment_batch"]

#: Hints a plugin may list in ``Dataset.augment``: extra transforms (``vflip``, ``rot90``) or
#: ``no_hflip`` for images that a mirror turns into another class or into nonsense (digits, text).
HINTS = frozenset({"vflip", "rot90", "no_hflip"})


@dataclass(frozen=True)
class Augment:
    """Training augmentation settings.

    Attributes:
        scale: Range of the crop's area as a share of the image (torchvision's
            ``RandomResizedCrop`` convention; fastai's ``RandomResizedCrop`` uses ``min_scale``).
        ratio: Range of the crop's aspect ratio.
        hflip: Flip left-right with probability 0.5.
        hints: Extra transforms from the dataset plugin: ``vflip`` (flip top-bottom with
            probability 0.5) and ``rot90`` (a random multiple of 90 degrees), for aerial and
            microscopy images that have no "up". A plugin's ``no_hflip`` hint turns ``hflip`` off.
    """

    scale: tuple[float, float] = (0.35, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: bool = True
    hints: frozenset[str] = frozenset()

    @classmethod
    def for_hints(cls, hints: Collection[str]) -> Augment:
        unknown = set(hints) - HINTS
        if unknown:
            raise ValueError(f"unknown augmentation hints {sorted(unknown)}; known: {sorted(HINTS)}")
        return cls(hflip="no_hflip" not in hints, hints=frozenset(hints) - {"no_hflip"})


def _affine(n: int, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """``n`` random 2x3 affine matrices in ``affine_grid``'s normalized coordinates."""
    area = torch.empty(n).uniform_(*aug.scale, generator=generator)
    log_r = torch.empty(n).uniform_(math.log(aug.ratio[0]), math.log(aug.ratio[1]), generator=generator)
    ratio = torch.exp(log_r)
    # Crop width and height as shares of the image side, clamped to the image.
    w = torch.sqrt(area * ratio).clamp(max=1.0)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=generator) * 2 - 1) * (1 - h)
    sx = w.clone()
    sy = h.clone()
    if aug.hflip:
        sx = torch.where(torch.rand(n, generator=generator) < 0.5, -sx, sx)
    if "vflip" in aug.hints:
        sy = torch.where(torch.rand(n, generator=generator) < 0.5, -sy, sy)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = sx
    theta[:, 1, 1] = sy
    theta[:, 0, 2] = cx
    theta[:, 1, 2] = cy
    if "rot90" in aug.hints:
        k = torch.randint(0, 4, (n,), generator=generator)
        angle = k.float() * (math.pi / 2)
        cos, sin = torch.cos(angle).round(), torch.sin(angle).round()
        rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        theta[:, :, :2] = rot @ theta[:, :, :2]
    return theta


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Augment a float batch ``N x C x H x W`` (any value range); returns the same shape and dtype.

    Random numbers come from ``generator`` (a CPU generator, so runs are reproducible on any
    device); the resampling runs where ``x`` lives. Bilinear sampling keeps values inside the
    input's range.
    """
    n = x.shape[0]
    # non_blocking: a blocking copy to a GPU would wait for all queued work at every batch
    theta = _affine(n, aug, generator).to(device=x.device, dtype=torch.float32, non_blocking=True)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="reflection",
                        align_corners=False)
    return out.to(x.dtype)
