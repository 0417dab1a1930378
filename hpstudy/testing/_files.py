"""Writers of small fixture files in real formats, and of damaged ones."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["write_image", "write_csv", "truncate", "write_garbage"]


def write_image(
    path: Path,
    size: tuple[int, int] = (32, 24),
    *,
    mode: str = "RGB",
    seed: int = 0,
    format: str | None = None,  # noqa: A002 - PIL's name
) -> Path:
    """Write a random-noise image of ``size`` (width, height) in ``mode`` to ``path``; the format
    follows the suffix (``.jpg``/``.JPEG`` JPEG, ``.png`` PNG) unless ``format`` is given."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], len(mode))
    img = Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode=mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = format or ("JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else None)
    img.save(path, format=fmt)
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write a CSV file with ``header`` and ``rows`` (values quoted where needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut ``path`` to the first ``keep`` share of its bytes, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def write_garbage(path: Path) -> Path:
    """Replace ``path`` with bytes no image decoder accepts."""
    path.write_bytes(b"this is not an image\n" * 8)
    return path
