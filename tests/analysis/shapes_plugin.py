"""``shapes``: a generated dataset for the report tests, registered through a real entry point.

Four classes (disc, square, bar, cross) drawn in a seeded random color and position on a noisy
background; 40 training and 10 validation images per class, 16 px. Every image is rendered from
its item key, so no files are needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from hpstudy.datasets import Dataset, Sample, Splits, Task

CLASSES = ("disc", "square", "bar", "cross")


class ShapesDataset(Dataset):
    name = "shapes"
    task = Task.SINGLE_LABEL
    metric = "accuracy"
    image_size = 16
    needs_data = False

    def check(self, root: Path) -> None:
        """Nothing to check: images are generated."""

    def load(self, root: Path) -> Splits:
        def split(tag: str, n: int) -> tuple[Sample, ...]:
            return tuple(Sample(f"{tag}:{c}:{i}", (c,)) for c in CLASSES for i in range(n))

        return Splits(CLASSES, split("train", 40), split("valid", 10))

    def image(self, root: Path, item: str) -> Image.Image:
        tag, cls, i = item.split(":")
        rng = np.random.default_rng([len(tag), CLASSES.index(cls), int(i)])
        bg = rng.integers(0, 60, (32, 32, 3), dtype=np.uint8)
        img = Image.fromarray(bg, mode="RGB")
        draw = ImageDraw.Draw(img)
        color = tuple(int(v) for v in rng.integers(120, 256, 3))
        x, y = (int(v) for v in rng.integers(4, 12, 2))
        s = int(rng.integers(12, 18))
        if cls == "disc":
            draw.ellipse((x, y, x + s, y + s), fill=color)
        elif cls == "square":
            draw.rectangle((x, y, x + s, y + s), fill=color)
        elif cls == "bar":
            draw.rectangle((x, y + s // 3, x + s, y + 2 * s // 3), fill=color)
        else:
            draw.line((x, y, x + s, y + s), fill=color, width=3)
            draw.line((x, y + s, x + s, y), fill=color, width=3)
        return img
