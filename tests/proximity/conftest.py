"""Runtime dataset plugins for proximity tests: digits mixed with far (noise) images, multi-label."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hpstudy.datasets import (
    Dataset,
    Sample,
    Splits,
    Task,
    get_dataset,
    register_dataset,
    unregister_dataset,
)


class MixedDigits(Dataset):
    """Every digits training image plus ``n_far`` random RGB noise images in two extra classes."""

    task = Task.SINGLE_LABEL
    image_size = 16
    needs_data = False

    def __init__(self, name: str, n_far: int) -> None:
        self.name = name
        self.n_far = n_far
        self.digits = get_dataset("digits")

    def check(self, root: Path) -> None:
        """Nothing to check."""

    def load(self, root: Path) -> Splits:
        base = self.digits.load(root)
        far = tuple(Sample(f"noise:{i}", (f"noise{i % 2}",)) for i in range(self.n_far))
        return Splits(base.classes + ("noise0", "noise1"), base.train + far, base.valid)

    def image(self, root: Path, item: str) -> Image.Image:
        if not item.startswith("noise:"):
            return self.digits.image(root, item)
        rng = np.random.default_rng(int(item.split(":")[1]))
        return Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), mode="RGB")


class TinyMultiLabel(Dataset):
    """60 generated images, each with one to three of the labels red/green/blue."""

    name = "tiny-multilabel"
    task = Task.MULTI_LABEL
    image_size = 16
    needs_data = False
    _labels = ("red", "green", "blue")

    def check(self, root: Path) -> None:
        """Nothing to check."""

    def load(self, root: Path) -> Splits:
        samples = []
        for i in range(60):
            on = tuple(c for k, c in enumerate(self._labels) if (i + 1) >> k & 1)
            samples.append(Sample(str(i), on))
        return Splits(self._labels, tuple(samples[:48]), tuple(samples[48:]))

    def image(self, root: Path, item: str) -> Image.Image:
        i = int(item)
        rng = np.random.default_rng(i)
        img = rng.integers(0, 40, (16, 16, 3), dtype=np.uint8)
        for k in range(3):
            if (i + 1) >> k & 1:
                img[..., k] += 200
        return Image.fromarray(img, mode="RGB")


@pytest.fixture(scope="module")
def mixed_datasets() -> Iterator[dict[float, str]]:
    """Far share of the training images → registered dataset name."""
    n_train = len(get_dataset("digits").load(Path(".")).train)
    out = {}
    for share in (0.0, 0.2, 0.4):
        n_far = round(share * n_train / (1 - share))
        name = f"mixed-digits-{int(share * 100)}"
        register_dataset(MixedDigits(name, n_far), replace=True)
        out[share] = name
    yield out
    for name in out.values():
        unregister_dataset(name)


@pytest.fixture(scope="module")
def multilabel_dataset() -> Iterator[str]:
    register_dataset(TinyMultiLabel(), replace=True)
    yield TinyMultiLabel.name
    unregister_dataset(TinyMultiLabel.name)
