"""Primary metrics by name; every one takes class probabilities and targets, higher is better.

``probs`` is ``(N, C)``: softmax outputs for single-label data, sigmoid outputs for multi-label data.
``targets`` is ``(N,)`` class indices for single-label data and ``(N, C)`` 0/1 for multi-label data.
Plugins name their primary metric by a key of :data:`METRICS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "METRICS",
    "MetricFn",
    "get_metric",
    "accuracy",
    "balanced_accuracy",
    "f2_samples",
    "macro_f1",
    "map3",
    "mean_auroc",
    "mean_auroc_findings",
]

MetricFn = Callable[[np.ndarray, np.ndarray], float]


def accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Share of images whose most probable class is the true one."""
    if len(targets) == 0:
        return float("nan")
    return float(np.mean(np.argmax(probs, axis=1) == targets))


def balanced_accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Mean recall over the classes that occur in ``targets`` (single-label; as scikit-learn's
    ``balanced_accuracy_score``)."""
    if len(targets) == 0:
        return float("nan")
    pred = np.argmax(probs, axis=1)
    recalls = [np.mean(pred[targets == c] == c) for c in np.unique(targets)]
    return float(np.mean(recalls))


def map3(probs: np.ndarray, targets: np.ndarray) -> float:
    """Mean average precision at 3 (Kaggle Quick Draw): 1, 1/2 or 1/3 when the true class is the
    first, second or third most probable one, else 0; averaged over images (single-label)."""
    if len(targets) == 0:
        return float("nan")
    top = np.argsort(-probs, axis=1, kind="stable")[:, :3]
    hit = top == np.asarray(targets).reshape(-1, 1)
    return float(np.mean((hit / np.arange(1, top.shape[1] + 1)).sum(axis=1)))


def _fbeta_counts(pred: np.ndarray, true: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    tp = np.sum(pred & true, axis=axis)
    fp = np.sum(pred & ~true, axis=axis)
    fn = np.sum(~pred & true, axis=axis)
    return tp, fp, fn


def f2_samples(probs: np.ndarray, targets: np.ndarray, threshold: float = 0.2) -> float:
    """F2 score per image, averaged over images (multi-label; Kaggle Planet's metric).

    A class is predicted when its probability is above ``threshold`` (0.2, as in the study). An
    image with no true and no predicted class scores 1 (nothing to find, nothing claimed), as
    scikit-learn's ``fbeta_score(beta=2, average="samples", zero_division=1)``.
    """
    if len(targets) == 0:
        return float("nan")
    pred = np.asarray(probs) > threshold
    true = np.asarray(targets) > 0.5
    tp, fp, fn = _fbeta_counts(pred, true, axis=1)
    denom = 5 * tp + 4 * fn + fp
    scores = np.where(denom > 0, 5 * tp / np.maximum(denom, 1), 1.0)
    return float(np.mean(scores))


def macro_f1(probs: np.ndarray, targets: np.ndarray, threshold: float = 0.5) -> float:
    """F1 per class, averaged over the classes that occur in ``targets`` or in the predictions.

    Multi-label data predicts a class above ``threshold`` (0.5); single-label data predicts the
    most probable class. A class that is neither true nor predicted anywhere has no defined F1 and
    is left out (small validation sets rarely hold every class); as scikit-learn's
    ``f1_score(average="macro", labels=<those classes>)``.
    """
    if len(targets) == 0:
        return float("nan")
    probs = np.asarray(probs)
    targets = np.asarray(targets)
    if targets.ndim == 1:  # single-label: one-hot both sides
        n_classes = probs.shape[1]
        true = np.eye(n_classes, dtype=bool)[targets]
        pred = np.eye(n_classes, dtype=bool)[np.argmax(probs, axis=1)]
    else:
        true = targets > 0.5
        pred = probs > threshold
    tp, fp, fn = _fbeta_counts(pred, true, axis=0)
    present = (tp + fp + fn) > 0
    if not present.any():
        return float("nan")
    f1 = 2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])
    return float(np.mean(f1))


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    from scipy.stats import rankdata

    ranks = rankdata(scores)  # ties get their average rank, as in the Mann-Whitney U statistic
    pos = labels.sum()
    neg = len(labels) - pos
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def mean_auroc(probs: np.ndarray, targets: np.ndarray) -> float:
    """Area under the ROC curve per class, averaged over the classes whose column holds both
    positives and negatives (multi-label). ``nan`` when no class qualifies."""
    probs = np.asarray(probs, dtype=np.float64)
    true = np.asarray(targets) > 0.5
    values = [
        _auroc(probs[:, c], true[:, c])
        for c in range(true.shape[1] if true.ndim == 2 else 0)
        if 0 < true[:, c].sum() < len(true)
    ]
    return float(np.mean(values)) if values else float("nan")


def mean_auroc_findings(probs: np.ndarray, targets: np.ndarray) -> float:
    """:func:`mean_auroc` over every class but the last: ChestX-ray14's 14 findings, leaving out its
    ``No Finding`` label, which the ``xray`` plugin puts last."""
    return mean_auroc(np.asarray(probs)[:, :-1], np.asarray(targets)[:, :-1])


METRICS: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "map3": map3,
    "f2_samples": f2_samples,
    "macro_f1": macro_f1,
    "mean_auroc": mean_auroc,
    "mean_auroc_findings": mean_auroc_findings,
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
