"""How images are made square: the methods, and how each is stored (no torch needed)."""

from __future__ import annotations

__all__ = ["RESIZE_METHODS", "check_resize", "stored_resize"]

#: How images are made square, as fastai's ``ResizeMethod``: a centred (validation) or random
#: (training) square crop, the whole image squished, or the whole image reflection-padded.
RESIZE_METHODS = ("crop", "squish", "pad")


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
    :class:`~hpstudy.training.TensorBatches`), every other split as ``resize`` says.

    Raises:
        ValueError: On an unknown method.
    """
    return "squish" if check_resize(resize) == "crop" and train else resize
