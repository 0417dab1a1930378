"""Batch augmentation on the device that holds the batch (the GPU in a study, any tensor in tests).

Two policies, both applied to ``[0, 1]`` float images before ImageNet normalization:

* ``"fastai"`` (the default): fastai's ``aug_transforms()`` with its defaults, transform by
  transform and range by range — a left-right flip (probability 0.5), a perspective warp (up to
  0.2 in x and in y), a rotation (up to 10 degrees) and a zoom (1 to 1.1, random centre), each with
  probability 0.75, reflection padding, bilinear sampling with ``align_corners=True``; then
  brightness (0.5 ± 0.1 in logit space) and contrast (0.8 to 1/0.8), each with probability 0.75.
  The affine matrices compose as fastai composes them (flip @ rotate @ zoom), the warp moves the
  sampling grid afterwards, and the lighting runs on the logits of the resampled pixels. The
  2019 study used fastai v1's ``get_transforms()``, their equivalent.
* ``"crop"``: the crop-heavy option, fastai's per-image ``RandomResizedCrop(size, min_scale=0.35)``
  (35–100 % of the area, aspect 3/4–4/3: up to ten draws per image, the first that fits the image
  kept, else the whole image) and a left-right flip.
* ``"clamped-crop"``: the policy of studies created before ``"fastai"`` existed, kept so they can
  be continued: the same draw, but a crop that does not fit is clamped to the image instead of
  drawn again, so its crops are larger than fastai's (mean area 0.66 against 0.62).

A dataset plugin's hints (``Dataset.augment``, :data:`HINTS`) change both: ``no_hflip`` removes the
left-right flip; ``vflip`` and ``rot90`` add vertical flips and quarter turns — under ``"fastai"``
as its ``Dihedral`` transform (``aug_transforms(flip_vert=True)``: one of the 8 symmetries of the
square with probability 0.5, in place of the flip), under ``"crop"`` as a vertical flip
(probability 0.5) and a random multiple of 90 degrees.

Every image of a batch gets its own random parameters, drawn on the CPU from the given
``torch.Generator`` (reproducible on any device); the resampling is one batched ``affine_grid`` +
``grid_sample`` call where the batch lives, so augmentation costs a few kernel launches per batch
instead of per-image PIL work on the CPU.

A ``window`` (see :func:`augment_batch`) crops each image inside the same resampling: the
augmented image is sampled from a window of the given image (fastai's ``Resize`` crop of a
non-square original, drawn per epoch from its squished copy), with reflection at the window's
edges as fastai reflects at the edges of the image it cropped.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["HINTS", "POLICIES", "Augment", "FastaiDraw", "apply_window", "augment_batch",
           "crop_sizes", "draw_fastai"]

#: Hints a plugin may list in ``Dataset.augment``: extra transforms (``vflip``, ``rot90``) or
#: ``no_hflip`` for images that a mirror turns into another class or into nonsense (digits, text).
HINTS = frozenset({"vflip", "rot90", "no_hflip"})

#: Augmentation policies: fastai's ``aug_transforms()`` defaults, fastai's random resized crop, or
#: the earlier clamped crop of stored studies.
POLICIES = ("fastai", "crop", "clamped-crop")
CROP_POLICIES = ("crop", "clamped-crop")
#: Draws per image before a random resized crop falls back to the whole image (fastai's 10).
_CROP_TRIES = 10


@dataclass(frozen=True)
class Augment:
    """Training augmentation settings.

    Attributes:
        policy: ``"fastai"`` (fastai's ``aug_transforms()`` defaults), ``"crop"`` (fastai's
            random resized crops) or ``"clamped-crop"`` (those of stored studies); see the module
            docstring.
        hflip: Flip left-right with probability 0.5 (both policies; fastai's ``do_flip``).
        hints: Extra transforms from the dataset plugin: ``vflip`` and ``rot90``, for aerial and
            microscopy images that have no "up" (see the module docstring). A plugin's ``no_hflip``
            hint turns ``hflip`` off.
        scale: ``"crop"``, ``"clamped-crop"``: range of the crop's area as a share of the image (torchvision's
            ``RandomResizedCrop`` convention; fastai's ``RandomResizedCrop`` uses ``min_scale``).
        ratio: ``"crop"``, ``"clamped-crop"``: range of the crop's aspect ratio.
        max_rotate: ``"fastai"``: largest rotation, in degrees either way.
        min_zoom: ``"fastai"``: smallest zoom factor.
        max_zoom: ``"fastai"``: largest zoom factor.
        max_warp: ``"fastai"``: largest perspective warp in x and in y.
        max_lighting: ``"fastai"``: largest brightness and contrast change.
        p_affine: ``"fastai"``: probability of each of warp (x and y separately), rotation and zoom.
        p_lighting: ``"fastai"``: probability of each of brightness and contrast.

    Raises:
        ValueError: On an unknown policy.
    """

    policy: str = "fastai"
    hflip: bool = True
    hints: frozenset[str] = frozenset()
    scale: tuple[float, float] = (0.35, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    max_rotate: float = 10.0
    min_zoom: float = 1.0
    max_zoom: float = 1.1
    max_warp: float = 0.2
    max_lighting: float = 0.2
    p_affine: float = 0.75
    p_lighting: float = 0.75

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(
                f"unknown augmentation policy {self.policy!r}; known: {', '.join(POLICIES)}"
            )

    @classmethod
    def for_hints(cls, hints: Collection[str], policy: str = "fastai") -> Augment:
        """The policy's defaults, changed by a plugin's (or a spec's) hints.

        Raises:
            ValueError: On an unknown hint or policy.
        """
        unknown = set(hints) - HINTS
        if unknown:
            raise ValueError(f"unknown augmentation hints {sorted(unknown)}; known: {sorted(HINTS)}")
        return cls(policy=policy, hflip="no_hflip" not in hints,
                   hints=frozenset(hints) - {"no_hflip"})

    @property
    def dihedral(self) -> bool:
        """``"fastai"``: whether fastai's ``Dihedral`` replaces the left-right flip."""
        return bool(self.hints & {"vflip", "rot90"})


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator, *,
                  window: torch.Tensor | None = None) -> torch.Tensor:
    """Augment a float batch ``N x C x H x W``; returns the same shape and dtype.

    ``"fastai"`` expects ``[0, 1]`` pixels (its lighting works on their logits) and returns
    ``[0, 1]`` pixels; the crop policies take any value range and keep values inside it. Random numbers
    come from ``generator`` (a CPU generator, so runs are reproducible on any device); the
    resampling runs where ``x`` lives.

    Args:
        window: ``N x 2 x 3`` affine maps (on the CPU, like the draws) from the normalized
            coordinates of the image to augment to those of ``x``, in ``affine_grid``'s
            ``align_corners=False`` convention (-1 and 1 are the outer edges): each image is
            augmented as if it were the window of ``x`` resized to ``H x W``, in the same single
            ``grid_sample``. The window is applied to the final sampling grid (after the policy's
            affine and warp), whose points outside the image are first reflected into it, as
            the policy's reflection padding would. ``None``: the whole of ``x``.
    """
    if aug.policy in CROP_POLICIES:
        return _crop_batch(x, aug, generator, window)
    return apply_fastai(x, draw_fastai(x.shape[0], aug, generator), aug, window=window)


def apply_window(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Resample each image of ``x`` from its window (see :func:`augment_batch`) to the same
    ``H x W``: the crop alone, in one ``affine_grid`` + ``grid_sample`` (bilinear)."""
    window = window.to(device=x.device, dtype=torch.float32, non_blocking=True)
    grid = F.affine_grid(window, list(x.shape), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="reflection",
                        align_corners=False)
    return out.to(x.dtype)


def _reflect(coords: torch.Tensor) -> torch.Tensor:
    """Normalized coordinates reflected into ``[-1, 1]`` about -1 and 1 (``grid_sample``'s
    reflection padding, done before a window maps them elsewhere)."""
    return 1 - ((coords + 1).remainder(4) - 2).abs()


def _through_window(coords: torch.Tensor, window: torch.Tensor, *,
                    align_corners: bool) -> torch.Tensor:
    """A sampling grid (``N x H x W x 2``) of the windowed image, reflected into it, mapped by
    ``window`` to ``x``'s coordinates (``align_corners=False`` convention).

    ``align_corners``: the convention of ``coords`` (``True``: -1 and 1 are the centres of the
    corner pixels); such coordinates are moved to the edge convention the window is given in.
    """
    coords = _reflect(coords)
    if align_corners:
        h, w = coords.shape[1:3]
        coords = coords * coords.new_tensor([(w - 1) / w, (h - 1) / h])
    flat = coords.reshape(coords.shape[0], -1, 2)
    moved = flat @ window[:, :, :2].transpose(1, 2) + window[:, :, 2].unsqueeze(1)
    return moved.view_as(coords)


# --------------------------------------------------------------------------- "fastai"


@dataclass(frozen=True)
class FastaiDraw:
    """The per-image parameters of fastai's ``aug_transforms()`` for a batch of ``n`` images
    (CPU tensors of length ``n``), each at its neutral value where its transform is not applied.

    Attributes:
        flip: Mirrored left-right (fastai's ``Flip``; all ``False`` under ``dihedral``).
        dihedral: Index 0–7 into fastai's ``dihedral_mat`` (0: unchanged).
        rotate: Rotation in degrees (``Rotate``; 0: none).
        zoom: Zoom factor (``Zoom``'s ``draw``; 1: none).
        zoom_x: Zoom centre across, in ``[0, 1]`` (``Zoom``'s ``draw_x``).
        zoom_y: Zoom centre down, in ``[0, 1]`` (``Zoom``'s ``draw_y``).
        warp_x: Perspective warp magnitude in x (``Warp``'s ``draw_x``; 0: none).
        warp_y: Perspective warp magnitude in y (``Warp``'s ``draw_y``; 0: none).
        brightness: Target brightness (``Brightness``'s ``draw``; 0.5: unchanged).
        contrast: Contrast factor (``Contrast``'s ``draw``; 1: unchanged).
    """

    flip: torch.Tensor
    dihedral: torch.Tensor
    rotate: torch.Tensor
    zoom: torch.Tensor
    zoom_x: torch.Tensor
    zoom_y: torch.Tensor
    warp_x: torch.Tensor
    warp_y: torch.Tensor
    brightness: torch.Tensor
    contrast: torch.Tensor


def draw_fastai(n: int, aug: Augment, generator: torch.Generator) -> FastaiDraw:
    """Draw the parameters of ``n`` images as fastai's ``aug_transforms()`` does (``batch=False``):
    each transform's value uniformly from its range, kept with its probability, else neutral."""

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.empty(n).uniform_(low, high, generator=generator)

    def kept(p: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) < p

    def masked(value: torch.Tensor, p: float, neutral: float) -> torch.Tensor:
        return torch.where(kept(p), value, torch.full_like(value, neutral))

    if aug.dihedral:
        flip = torch.zeros(n, dtype=torch.bool)
        dihedral = torch.where(kept(0.5), torch.randint(0, 8, (n,), generator=generator), 0)
    else:
        flip = kept(0.5) if aug.hflip else torch.zeros(n, dtype=torch.bool)
        dihedral = torch.zeros(n, dtype=torch.int64)
    m, p = aug.max_warp, aug.p_affine
    warp_x = masked(uniform(-m, m), p, 0.0)
    warp_y = masked(uniform(-m, m), p, 0.0)
    rotate = masked(uniform(-aug.max_rotate, aug.max_rotate), p, 0.0)
    zoom = masked(uniform(aug.min_zoom, aug.max_zoom), p, 1.0)
    zoom_x, zoom_y = uniform(0.0, 1.0), uniform(0.0, 1.0)
    light = aug.max_lighting
    brightness = masked(uniform(0.5 * (1 - light), 0.5 * (1 + light)), aug.p_lighting, 0.5)
    contrast = masked(torch.exp(uniform(math.log(1 - light), -math.log(1 - light))),
                      aug.p_lighting, 1.0)
    return FastaiDraw(flip, dihedral, rotate, zoom, zoom_x, zoom_y, warp_x, warp_y, brightness,
                      contrast)


# fastai's dihedral_mat: the 8 symmetries of the square as sign and swap tables
_DIHEDRAL_XS = torch.tensor([1, -1, 1, -1, -1, 1, 1, -1], dtype=torch.float32)
_DIHEDRAL_YS = torch.tensor([1, 1, -1, 1, -1, -1, 1, -1], dtype=torch.float32)
_DIHEDRAL_KEEP = torch.tensor([1, 1, 1, 0, 1, 0, 0, 0], dtype=torch.float32)


def _fastai_affine(d: FastaiDraw) -> torch.Tensor:
    """``n x 2 x 3``: flip (or dihedral) @ rotate @ zoom, as fastai's ``AffineCoordTfm`` composes
    ``flip_mat``/``dihedral_mat``, ``rotate_mat`` and ``zoom_mat`` (square images, so its
    ``_prepare_mat`` aspect correction changes nothing)."""
    n = d.rotate.shape[0]
    eye = torch.eye(3).repeat(n, 1, 1)
    flip = eye.clone()
    xs, ys = _DIHEDRAL_XS[d.dihedral], _DIHEDRAL_YS[d.dihedral]
    keep = _DIHEDRAL_KEEP[d.dihedral]
    swap = 1 - keep
    flip[:, 0, 0] = torch.where(d.flip, -1.0, 1.0) * xs * keep
    flip[:, 0, 1] = xs * swap
    flip[:, 1, 0] = ys * swap
    flip[:, 1, 1] = ys * keep
    theta = d.rotate * (math.pi / 180)
    rotate = eye.clone()
    rotate[:, 0, 0], rotate[:, 0, 1] = theta.cos(), theta.sin()
    rotate[:, 1, 0], rotate[:, 1, 1] = -theta.sin(), theta.cos()
    s = 1 / d.zoom
    zoom = eye.clone()
    zoom[:, 0, 0], zoom[:, 1, 1] = s, s
    zoom[:, 0, 2] = (1 - s) * (2 * d.zoom_x - 1)
    zoom[:, 1, 2] = (1 - s) * (2 * d.zoom_y - 1)
    return (flip @ rotate @ zoom)[:, :2]


def _fastai_warp(d: FastaiDraw) -> torch.Tensor:
    """``n x 3 x 3`` homographies of fastai's ``_WarpCoord``: they move the corners of the
    sampling grid by the warp magnitudes (``find_coeffs`` from the corners to their targets)."""
    x_t, y_t = d.warp_x, d.warp_y
    n = x_t.shape[0]
    src = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]).expand(n, 4, 2)
    dst = torch.stack([
        torch.stack([-1 - y_t, -1 - x_t], -1), torch.stack([-1 + y_t, 1 + x_t], -1),
        torch.stack([1 + y_t, -1 + x_t], -1), torch.stack([1 - y_t, 1 - x_t], -1),
    ], 1)
    one, zero = torch.ones(n), torch.zeros(n)
    rows = []
    for i in range(4):  # fastai's find_coeffs(p1=src, p2=dst): maps dst onto src
        px, py = dst[:, i, 0], dst[:, i, 1]
        rows.append(torch.stack([px, py, one, zero, zero, zero, -src[:, i, 0] * px,
                                 -src[:, i, 0] * py], -1))
        rows.append(torch.stack([zero, zero, zero, px, py, one, -src[:, i, 1] * px,
                                 -src[:, i, 1] * py], -1))
    coeffs = torch.linalg.solve(torch.stack(rows, 1), src.reshape(n, 8, 1))[..., 0]
    return torch.cat([coeffs, one[:, None]], 1).view(n, 3, 3)


def apply_fastai(x: torch.Tensor, d: FastaiDraw, aug: Augment, *,
                 window: torch.Tensor | None = None) -> torch.Tensor:
    """Apply one draw of fastai's ``aug_transforms()`` to ``[0, 1]`` images ``x``: the affine
    grid, the warp of its coordinates, one ``grid_sample``, then brightness and contrast on the
    logits. Warp and lighting are skipped (as ``aug_transforms`` skips them) when their maximum
    is 0. ``window``: see :func:`augment_batch`."""
    n = x.shape[0]
    # Every parameter in one copy to the device; non_blocking: a blocking copy to a GPU would
    # wait for all queued work at every batch.
    parts = [_fastai_affine(d).reshape(n, 6), _fastai_warp(d).reshape(n, 9),
             _logit(d.brightness)[:, None], d.contrast[:, None]]
    if window is not None:
        parts.append(window.reshape(n, 6).to(device=parts[0].device, dtype=torch.float32))
    params = torch.cat(parts, 1)
    params = params.to(device=x.device, dtype=torch.float32, non_blocking=True)
    theta, h = params[:, :6].view(n, 2, 3), params[:, 6:15].view(n, 3, 3)
    brightness, contrast = params[:, 15].view(n, 1, 1, 1), params[:, 16].view(n, 1, 1, 1)
    coords = F.affine_grid(theta, [n, x.shape[1], *x.shape[-2:]], align_corners=True)
    if aug.max_warp:
        # fastai's apply_perspective, less its fallback for a zero denominator: with the default
        # ranges (warps within 0.2, rotations within 10 degrees) the denominator stays above 0.4,
        # and checking it would cost a device sync per batch.
        flat = coords.view(n, -1, 2)
        moved = flat @ h[..., :2].transpose(1, 2) + h[..., 2].unsqueeze(1)
        coords = (moved[..., :2] / moved[..., 2:]).view_as(coords)
    corners = True
    if window is not None:
        coords = _through_window(coords, params[:, 17:23].view(n, 2, 3), align_corners=True)
        corners = False  # the window's convention
    out = F.grid_sample(x.float(), coords, mode="bilinear", padding_mode="reflection",
                        align_corners=corners)
    if aug.max_lighting:
        out = torch.sigmoid((_logit(out) + brightness) * contrast)
    return out.to(x.dtype)


def _logit(x: torch.Tensor) -> torch.Tensor:
    """fastai's ``logit``: clamped so 0 and 1 stay finite."""
    x = x.clamp(1e-7, 1 - 1e-7)
    return -(1 / x - 1).log()


# --------------------------------------------------------------------------- "crop"


def crop_sizes(n: int, aug: Augment, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Width and height of ``n`` random resized crops, as shares of the (square) image's side.

    Area and log aspect ratio are drawn uniformly from ``aug.scale`` and ``aug.ratio``. Under
    ``"crop"``, as fastai's ``RandomResizedCrop``, up to ten draws are made per image and the first
    that fits is kept; an image with none gets the whole image (fastai's fallback for a square
    image, whose aspect lies inside the ratio range). Under ``"clamped-crop"`` one draw is made and
    clamped to the image.
    """
    tries = _CROP_TRIES if aug.policy == "crop" else 1
    area = torch.empty(n, tries).uniform_(*aug.scale, generator=generator)
    log_r = torch.empty(n, tries).uniform_(math.log(aug.ratio[0]), math.log(aug.ratio[1]),
                                           generator=generator)
    ratio = torch.exp(log_r)
    w, h = torch.sqrt(area * ratio), torch.sqrt(area / ratio)
    if aug.policy == "clamped-crop":
        return w[:, 0].clamp(max=1.0), h[:, 0].clamp(max=1.0)
    fits = (w <= 1.0) & (h <= 1.0)
    first = fits.int().argmax(dim=1)  # the first draw that fits (0 when none does)
    rows = torch.arange(n)
    whole = ~fits.any(dim=1)
    return (torch.where(whole, 1.0, w[rows, first]), torch.where(whole, 1.0, h[rows, first]))


def _crop_affine(n: int, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """``n`` random 2x3 affine matrices in ``affine_grid``'s normalized coordinates."""
    w, h = crop_sizes(n, aug, generator)
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


def _crop_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator,
                window: torch.Tensor | None = None) -> torch.Tensor:
    """The crop policies: bilinear sampling keeps values inside the input's range.

    A ``window`` composes with the crop's affine into one: crops, flips and quarter turns keep
    the grid inside the image, so there is nothing to reflect first.
    """
    n = x.shape[0]
    theta = _crop_affine(n, aug, generator)
    if window is not None:
        window = window.to(dtype=torch.float32, device=theta.device)
        theta = torch.cat([window[:, :, :2] @ theta[:, :, :2],
                           window[:, :, :2] @ theta[:, :, 2:] + window[:, :, 2:]], 2)
    theta = theta.to(device=x.device, dtype=torch.float32, non_blocking=True)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="reflection",
                        align_corners=False)
    return out.to(x.dtype)
