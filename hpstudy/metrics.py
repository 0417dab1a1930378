"""Primary metrics by name; every one takes class probabilities and targets, higher is better.

``probs`` is ``(N, C)``: softmax outputs for single-label data, sigmoid outputs for multi-label data.
``targets`` is ``(N,)`` class indices for single-label data and ``(N, C)`` 0/1 for multi-label data.
Plugins name their primary metric by a key of :data:`METRICS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["METRICS", "MetricFn", "get_metric", "accuracy"]

MetricFn = Callable[[np.ndarray, np.ndarray], float]


def accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Share of images whose most probable class is the true one."""
    if len(targets) == 0:
        return float("nan")
    return float(np.mean(np.argmax(probs, axis=1) == targets))


METRICS: dict[str, MetricFn] = {
    "accuracy": accuracy,
}


def get_metric(name: str) -> MetricFn:
    """Look up a metric by name.

    Raises:
        KeyError: With the known names, if ``name`` is unknown.
    """
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}") from None
