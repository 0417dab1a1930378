"""``hpstudy datasets describe``: the study's dataset table for one copy of a dataset."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpstudy.datasets._base import Dataset
from hpstudy.datasets._resolve import resolve_root

__all__ = ["DatasetDescription", "describe_dataset"]

#: ``on_progress(done, total)`` while image headers are read.
DescribeProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class DatasetDescription:
    """The columns of the study's dataset table, for one copy of a dataset.

    ``images`` counts the usable samples of both splits; ``classes`` is the number of classes the
    plugin declares (the width of the model's output); ``avg_width``/``avg_height`` are the mean
    image size in pixels over the images whose header could be read (``unreadable`` counts the
    others); ``imbalance_sd`` is the population standard deviation of the number of images per
    class, over every declared class, counting each label of a multi-label image.
    """

    name: str
    root: str
    images: int
    classes: int
    avg_width: float | None
    avg_height: float | None
    imbalance_sd: float
    task: str
    train: int
    valid: int
    skipped: int
    unreadable: int
    skipped_examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_dataset(
    dataset: Dataset,
    data_root: str | Path | None = None,
    *,
    on_progress: DescribeProgress | None = None,
    threads: int = 8,
) -> DatasetDescription:
    """Count a dataset's images and classes and measure its images from their headers.

    Args:
        dataset: The plugin.
        data_root: As for :func:`~hpstudy.datasets.resolve_root`.
        on_progress: Called as headers are read (every 256 images and at the end).
        threads: Header reads in flight (the cost is file-system latency, not CPU).

    Raises:
        DataNotFoundError: If the dataset is not found.
    """
    root = resolve_root(dataset, data_root)
    splits = dataset.load(root)
    samples = splits.train + splits.valid
    total = len(samples)

    def size(item: str) -> tuple[int, int] | None:
        try:
            return dataset.image_size_of(root, item)
        except Exception:  # noqa: BLE001 - a damaged header is counted, never fatal
            return None

    sizes: list[tuple[int, int] | None] = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for i, s in enumerate(pool.map(size, (x.item for x in samples), chunksize=64), start=1):
            sizes.append(s)
            if on_progress is not None and (i % 256 == 0 or i == total):
                on_progress(i, total)
    known = np.array([s for s in sizes if s is not None], dtype=np.float64).reshape(-1, 2)
    per_class = Counter(label for s in samples for label in s.labels)
    counts = np.array([per_class.get(c, 0) for c in splits.classes], dtype=np.float64)
    return DatasetDescription(
        name=dataset.name,
        root=str(root),
        images=total,
        classes=len(splits.classes),
        avg_width=round(float(known[:, 0].mean()), 2) if len(known) else None,
        avg_height=round(float(known[:, 1].mean()), 2) if len(known) else None,
        imbalance_sd=round(float(counts.std()), 4) if len(counts) else 0.0,
        task=dataset.task.value,
        train=len(splits.train),
        valid=len(splits.valid),
        skipped=splits.skipped,
        unreadable=total - len(known),
        skipped_examples=splits.skipped_examples,
    )
