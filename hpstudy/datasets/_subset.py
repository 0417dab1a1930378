"""Deterministic fraction subsets of a training split."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from hpstudy.datasets._base import Sample, Task

__all__ = ["fraction_indices", "fraction_subset"]


def fraction_subset(
    samples: Sequence[Sample], fraction: float, *, task: Task, seed: int = 0
) -> tuple[Sample, ...]:
    """The samples chosen by :func:`fraction_indices`, in their original order."""
    return tuple(samples[i] for i in fraction_indices(samples, fraction, task=task, seed=seed))


def fraction_indices(
    samples: Sequence[Sample], fraction: float, *, task: Task, seed: int = 0
) -> list[int]:
    """Pick ``fraction`` of ``samples``, the same ones for the same seed; sorted positions.

    Single-label data is stratified: each class keeps ``round(fraction * n_class)`` images (at least
    one), the rounding error spread so the total is ``round(fraction * n)``. Multi-label data is a
    seeded uniform sample. Only the training split is ever passed here; validation is untouched.

    Args:
        samples: The training samples.
        fraction: In ``(0, 1]``.
        task: Decides whether to stratify.
        seed: Makes the subset reproducible.

    Raises:
        ValueError: If ``fraction`` is outside ``(0, 1]``.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    n = len(samples)
    if fraction == 1.0 or n == 0:
        return list(range(n))
    rng = np.random.default_rng(seed)
    target = max(1, round(fraction * n))
    if task is not Task.SINGLE_LABEL:
        chosen = rng.choice(n, size=target, replace=False)
        return sorted(int(i) for i in chosen)

    by_class: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_class[s.labels[0]].append(i)
    classes = sorted(by_class)
    exact = np.array([fraction * len(by_class[c]) for c in classes])
    counts = np.maximum(1, np.floor(exact)).astype(int)
    # Hand out the remaining images to the classes with the largest rounding remainders.
    remainder = exact - np.floor(exact)
    order = np.lexsort((rng.random(len(classes)), -remainder))
    short = target - int(counts.sum())
    for k in order[: max(0, short)]:
        if counts[k] < len(by_class[classes[k]]):
            counts[k] += 1
    chosen_idx: list[int] = []
    for c, k in zip(classes, counts, strict=True):
        idx = by_class[c]
        chosen_idx.extend(idx[j] for j in rng.choice(len(idx), size=int(k), replace=False))
    return sorted(chosen_idx)
