"""The metrics against scikit-learn on random data, and their edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from hpstudy.metrics import (
    METRICS,
    balanced_accuracy,
    f2_samples,
    get_metric,
    macro_f1,
    map3,
    mean_auroc,
    mean_auroc_findings,
)


def _single(seed: int, n: int = 200, c: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(c), size=n)
    return probs, rng.integers(0, c, size=n)


def _multi(seed: int, n: int = 150, c: int = 9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 0.3).astype(np.float32)
    probs = np.clip(0.5 * targets + 0.6 * rng.random((n, c)), 0, 1)
    return probs, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_accuracy_matches_sklearn(seed: int) -> None:
    probs, targets = _single(seed)
    expected = skm.balanced_accuracy_score(targets, probs.argmax(1))
    assert balanced_accuracy(probs, targets) == pytest.approx(expected)


def test_balanced_accuracy_ignores_classes_absent_from_targets() -> None:
    probs = np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.0, 0.2, 0.8]])
    targets = np.array([0, 0, 1])  # class 2 never true, but predicted once
    assert balanced_accuracy(probs, targets) == pytest.approx((0.5 + 0.0) / 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map3_matches_a_direct_count_and_top3(seed: int) -> None:
    probs, targets = _single(seed)
    ranks = [list(np.argsort(-p)).index(t) + 1 for p, t in zip(probs, targets, strict=True)]
    expected = np.mean([1 / r if r <= 3 else 0.0 for r in ranks])
    assert map3(probs, targets) == pytest.approx(expected)
    # MAP@3 lies between top-1 and top-3 accuracy.
    top1 = skm.top_k_accuracy_score(targets, probs, k=1, labels=range(7))
    top3 = skm.top_k_accuracy_score(targets, probs, k=3, labels=range(7))
    assert top1 <= map3(probs, targets) <= top3


def test_map3_by_hand() -> None:
    probs = np.array([[0.5, 0.3, 0.2, 0.0], [0.5, 0.3, 0.2, 0.0], [0.1, 0.2, 0.3, 0.4]])
    assert map3(probs, np.array([1, 2, 0])) == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_f2_samples_matches_sklearn(seed: int) -> None:
    probs, targets = _multi(seed)
    targets[0] = 0  # an image with no tag and (likely) predictions
    probs[1] = 0.0
    targets[1] = 0  # nothing true, nothing predicted: scores 1
    expected = skm.fbeta_score(targets, probs > 0.2, beta=2, average="samples", zero_division=1)
    assert f2_samples(probs, targets) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_matches_sklearn_multilabel(seed: int) -> None:
    probs, targets = _multi(seed)
    targets[:, 3] = 0
    probs[:, 3] = 0.1  # class 3 neither true nor predicted: left out
    pred = probs > 0.5
    present = [c for c in range(9) if targets[:, c].any() or pred[:, c].any()]
    expected = skm.f1_score(targets, pred, average="macro", labels=present, zero_division=0)
    assert 3 not in present
    assert macro_f1(probs, targets) == pytest.approx(expected)


def test_macro_f1_single_label_matches_sklearn() -> None:
    probs, targets = _single(4)
    expected = skm.f1_score(targets, probs.argmax(1), average="macro")
    assert macro_f1(probs, targets) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_auroc_matches_sklearn(seed: int) -> None:
    probs, targets = _multi(seed)
    probs = np.round(probs, 1)  # ties, handled like sklearn
    targets[:, 2] = 1  # no negatives: left out
    targets[:, 5] = 0  # no positives: left out
    keep = [c for c in range(9) if c not in (2, 5)]
    expected = np.mean([skm.roc_auc_score(targets[:, c], probs[:, c]) for c in keep])
    assert mean_auroc(probs, targets) == pytest.approx(expected)


def test_mean_auroc_findings_leaves_out_the_last_class() -> None:
    probs, targets = _multi(7)
    expected = np.mean([skm.roc_auc_score(targets[:, c], probs[:, c]) for c in range(8)])
    assert mean_auroc_findings(probs, targets) == pytest.approx(expected)
    assert mean_auroc_findings(probs, targets) != pytest.approx(mean_auroc(probs, targets))


def test_degenerate_inputs_give_nan_not_errors() -> None:
    assert np.isnan(mean_auroc(np.zeros((3, 2)), np.zeros((3, 2))))
    assert np.isnan(f2_samples(np.zeros((0, 2)), np.zeros((0, 2))))
    assert np.isnan(map3(np.zeros((0, 2)), np.zeros(0, dtype=int)))
    assert np.isnan(balanced_accuracy(np.zeros((0, 2)), np.zeros(0, dtype=int)))
    assert np.isnan(macro_f1(np.zeros((2, 2)), np.zeros((2, 2))))


def test_every_metric_is_registered_and_perfect_predictions_score_one() -> None:
    for name in ("balanced_accuracy", "map3", "f2_samples", "macro_f1", "mean_auroc",
                 "mean_auroc_findings"):
        assert get_metric(name) is METRICS[name]
    targets = np.array([0, 1, 2, 1])
    onehot = np.eye(3)[targets]
    for name in ("accuracy", "balanced_accuracy", "map3", "macro_f1"):
        assert METRICS[name](onehot, targets) == pytest.approx(1.0)
    multi = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=float)
    for name in ("f2_samples", "macro_f1", "mean_auroc", "mean_auroc_findings"):
        assert METRICS[name](multi, multi) == pytest.approx(1.0)
