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


#: Sizes (width, height) of :func:`make_edged_pngs`: wide, tall and square originals.
EDGED_SIZES = ((60, 40), (40, 60), (60, 40), (48, 48), (90, 40), (40, 40))
RED, BLUE = (255, 0, 0), (0, 0, 255)


def make_edged_pngs(root: Path, sizes: tuple[tuple[int, int], ...] = EDGED_SIZES,
                    seed: int = 0) -> None:
    """Non-square RGB PNGs (``sizes`` in order, alternately in the train and valid lists): noise
    in the green channel only, a red band along the left (or top) edge and a blue band along the
    right (or bottom) edge, each a sixth of the long side, so a centred square crop holds neither
    band when the long side is 1.5 times the short one."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    for i, (w, h) in enumerate(sizes):
        a = np.zeros((h, w, 3), dtype=np.uint8)
        a[..., 1] = rng.integers(0, 256, (h, w), dtype=np.uint8)
        band = max(w, h) // 6
        if w >= h:
            a[:, :band], a[:, w - band:] = RED, BLUE
        else:
            a[:band], a[h - band:] = RED, BLUE
        Image.fromarray(a).save(root / "img" / f"{'ab'[i % 2]}_{i}.png")
