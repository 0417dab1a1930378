"""Synthetic photo-like JPEGs for the benchmarks, written in parallel, in two layouts:
class folders (``<root>/<class>/<n>.jpg``, what fastai's ``from_folder`` reads) and the
Oxford-IIIT Pet layout (what the ``pets`` plugin reads)."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

N_CLASSES = 37


def photo_like(seed: int) -> np.ndarray:
    """A ``H x W x 3`` uint8 image, 450x375 or 500x333 like a web photo: smooth colour fields plus
    noise, so JPEG decoding costs what it costs on photos."""
    rng = np.random.default_rng(seed)
    w, h = (450, 375) if seed % 2 else (500, 333)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(0, 255, 3)
    img = np.stack([(base[k] + 60 * np.sin(xx / (20 + 7 * k) + yy / (30 + 5 * k))) for k in range(3)], -1)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _write(job: tuple[str, int]) -> None:
    from PIL import Image

    path, seed = job
    Image.fromarray(photo_like(seed)).save(path, quality=90)


def write_jpegs(jobs: list[tuple[Path, int]]) -> None:
    """Write ``photo_like(seed)`` to each path, one process per core."""
    for path, _ in jobs:
        path.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(_write, [(str(p), s) for p, s in jobs], chunksize=32))


def make_class_folders(root: Path, n: int) -> None:
    """``n`` JPEGs as ``<root>/classNN/<i>.jpg`` over :data:`N_CLASSES` classes."""
    write_jpegs([(root / f"class{i % N_CLASSES:02d}" / f"{i}.jpg", i) for i in range(n)])


def make_pets_layout(root: Path, n: int, valid_share: float = 0.2) -> None:
    """``n`` JPEGs in the Oxford-IIIT Pet layout over :data:`N_CLASSES` breeds: ``images/`` plus
    ``annotations/trainval.txt`` and ``test.txt`` (every ``1/valid_share``-th image validates)."""
    lists: dict[str, list[str]] = {"trainval": [], "test": []}
    jobs = []
    every = max(2, round(1 / valid_share))
    for i in range(n):
        b = i % N_CLASSES
        breed = f"Breed{b:02d}" if b % 2 else f"breed_{b:02d}"  # cats capitalised, dogs not
        stem = f"{breed}_{i}"
        jobs.append((root / "images" / f"{stem}.jpg", i))
        lists["test" if (i // N_CLASSES) % every == 0 else "trainval"].append(
            f"{stem} {b + 1} {1 + b % 2} {b + 1}")
    write_jpegs(jobs)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for name, rows in lists.items():
        (root / "annotations" / f"{name}.txt").write_text("\n".join(rows) + "\n")
