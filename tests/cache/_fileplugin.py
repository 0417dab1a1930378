"""A file-backed plugin for cache tests: PNGs under ``<root>/img``, importable by spawned processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from hpstudy.datasets import Dataset, Sample, Splits, Task


class PngFolder(Dataset):
    """``<root>/img/<label>_<n>.png``; every image in both splits' lists by parity."""

    name = "png-folder"
    task = Task.SINGLE_LABEL
    image_size = 24

    def check(self, root: Path) -> None:
        pass

    def load(self, root: Path) -> Splits:
        files = sorted((root / "img").glob("*.png"))
        samples = [Sample(f"img/{f.name}", (f.name.split("_")[0],)) for f in files]
        return Splits(("a", "b"), tuple(samples[::2]), tuple(samples[1::2]))

    def image(self, root: Path, item: str) -> Image.Image:
        delay = float(os.environ.get("PNG_FOLDER_DELAY", "0"))
        if delay:
            time.sleep(delay)
        return super().image(root, item)


def make_pngs(root: Path, n: int = 12, *, gray: bool = False, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        h, w = 20 + 3 * i, 30 + 2 * i  # varying sizes, none square
        shape = (h, w) if gray else (h, w, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(
            root / "img" / f"{'ab'[i % 2]}_{i}.png"
        )


def build_in_subprocess(cache_root: str, data_root: str, out: str) -> None:
    """Process target: build the train split and write who built the entry to ``out``."""
    from hpstudy.cache import ImageCache

    plugin = PngFolder()
    splits = plugin.load(Path(data_root))
    entry = ImageCache(cache_root).get_or_build(plugin, Path(data_root), "train", splits.train, 24)
    Path(out).write_text(f"{entry.path}\n{entry.meta['built_by']}")
