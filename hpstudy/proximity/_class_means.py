"""Class means and class weights of a feature set (Cui et al. 2018, section 4.1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hpstudy.proximity._emd import (
    DEFAULT_GAMMA,
    Method,
    ProximityValue,
    emd,
    ground_distance,
    proximity_from_emd,
)

__all__ = ["ClassMeans", "class_means", "proximity"]


@dataclass(frozen=True)
class ClassMeans:
    """One mean feature per class and its weight (the number of images of the class).

    Classes without images are left out: they carry no mass in the transport problem.
    """

    classes: tuple[str, ...]
    means: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        if self.means.ndim != 2 or len(self.means) != len(self.classes) != len(self.weights):
            raise ValueError("classes, means and weights must have one entry per class")

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])


def class_means(
    features: np.ndarray,
    labels: Sequence[Sequence[int]] | np.ndarray,
    classes: Sequence[str],
) -> ClassMeans:
    """Mean feature and image count of every class.

    Args:
        features: ``N x D`` features, one row per image.
        labels: For each image the indices of its classes: a sequence of index sequences (an image
            counts toward each of its labels, for multi-label data), a ``N`` vector of class
            indices, or an ``N x C`` 0/1 matrix.
        classes: The class names, indexed by ``labels``.

    Returns:
        The means and weights of the classes that have at least one image.

    Raises:
        ValueError: If shapes disagree or no image has a label.
    """
    features = np.asarray(features, dtype=np.float64)
    n_classes = len(classes)
    membership = _membership(labels, len(features), n_classes)
    counts = membership.sum(axis=0)
    sums = membership.T @ features
    keep = counts > 0
    if not keep.any():
        raise ValueError("no image has a label; class means need labelled images")
    return ClassMeans(
        classes=tuple(c for c, k in zip(classes, keep, strict=True) if k),
        means=sums[keep] / counts[keep, None],
        weights=counts[keep].astype(np.float64),
    )


def _membership(labels: Sequence[Sequence[int]] | np.ndarray, n: int, n_classes: int) -> np.ndarray:
    arr = labels if isinstance(labels, np.ndarray) else None
    if arr is not None and arr.ndim == 2:
        if arr.shape != (n, n_classes):
            raise ValueError(f"label matrix is {arr.shape}, expected {(n, n_classes)}")
        return (arr > 0).astype(np.float64)
    out = np.zeros((n, n_classes), dtype=np.float64)
    if arr is not None:
        if arr.shape != (n,):
            raise ValueError(f"label vector has {arr.shape[0]} entries for {n} images")
        out[np.arange(n), arr.astype(np.int64)] = 1.0
        return out
    if len(labels) != n:
        raise ValueError(f"{len(labels)} label lists for {n} images")
    for row, idx in enumerate(labels):
        out[row, list(idx)] = 1.0
    return out


def proximity(
    dataset: ClassMeans,
    reference: ClassMeans,
    method: Method = "cosine",
    gamma: float = DEFAULT_GAMMA,
) -> ProximityValue:
    """Proximity of ``dataset`` to ``reference`` from the EMD between their weighted class means.

    ``cosine``: ``1 - EMD`` under the ground distance ``1 - cos``; ``cui``: ``exp(-gamma * EMD)``
    under the Euclidean distance (see :mod:`hpstudy.proximity._emd`).

    Raises:
        ValueError: If the feature dimensions differ or ``method`` is unknown.
    """
    if dataset.dim != reference.dim:
        raise ValueError(
            f"feature dimensions differ ({dataset.dim} vs {reference.dim}); both sides must come "
            "from the same backbone"
        )
    metric: Literal["cosine", "euclidean"] = "cosine" if method == "cosine" else "euclidean"
    if method not in ("cosine", "cui"):
        raise ValueError(f"unknown proximity method {method!r}; use cosine or cui")
    cost = ground_distance(dataset.means, reference.means, metric)
    d = emd(cost, dataset.weights, reference.weights)
    return ProximityValue(
        value=proximity_from_emd(d, method, gamma),
        emd=d,
        method=method,
        gamma=gamma if method == "cui" else None,
    )
