"""``digits``: the embedded default dataset, so hpstudy runs with no download at all."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpstudy.datasets._base import Dataset, Sample, Splits, Task

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["DigitsDataset"]


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 -> 0..255
    return pixels, bunch.target.astype(int)


class DigitsDataset(Dataset):
    """The 1,797 real 8x8 handwritten digits that ship with scikit-learn (UCI optdigits test set).

    Ten classes ``"0"``..``"9"``, single label, metric accuracy. Items are the row numbers in
    scikit-learn's array; :meth:`image` scales the 0-16 intensities to 0-255 and upscales the 8x8
    image to 32x32 (bicubic) as a grayscale image. The split is a fixed, stratified 80/20 split
    (seed 0): 1,437 training and 360 validation images. No data root is read.
    """

    name = "digits"
    task = Task.SINGLE_LABEL
    metric = "accuracy"
    image_size = 32
    needs_data = False
    known_classes = tuple(str(c) for c in range(10))
    upscaled = 32
    augment = frozenset({"no_hflip"})  # a mirrored digit is not that digit

    def check(self, root: Path) -> None:
        """Nothing to check: the data ships with scikit-learn."""

    def load(self, root: Path) -> Splits:
        from sklearn.model_selection import train_test_split

        _, target = _digits()
        index = np.arange(len(target))
        train, valid = train_test_split(index, test_size=0.2, stratify=target, random_state=0)
        classes = self.known_classes

        def samples(rows: np.ndarray) -> tuple[Sample, ...]:
            return tuple(Sample(str(i), (classes[target[i]],)) for i in sorted(rows))

        return Splits(classes=classes, train=samples(train), valid=samples(valid))

    def image(self, root: Path, item: str) -> Image.Image:
        from PIL import Image

        pixels, _ = _digits()
        img = Image.fromarray(pixels[int(item)], mode="L")
        return img.resize((self.upscaled, self.upscaled), Image.Resampling.BICUBIC)
