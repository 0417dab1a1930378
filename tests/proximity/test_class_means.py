"""Class means and weights, single- and multi-label."""

from __future__ import annotations

import numpy as np
import pytest

from hpstudy.proximity import class_means


def test_single_label_means_and_counts() -> None:
    feats = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 5.0], [9.0, 9.0]])
    cm = class_means(feats, np.array([0, 0, 2, 0]), ["a", "b", "c"])
    assert cm.classes == ("a", "c")  # "b" has no image: no mass
    np.testing.assert_allclose(cm.means, [[13 / 3, 3.0], [0.0, 5.0]])
    np.testing.assert_allclose(cm.weights, [3.0, 1.0])


def test_multi_label_image_counts_toward_each_of_its_labels() -> None:
    feats = np.array([[2.0, 0.0], [0.0, 4.0], [6.0, 6.0]])
    labels = [(0,), (0, 1), (1, 2)]
    cm = class_means(feats, labels, ["a", "b", "c"])
    np.testing.assert_allclose(cm.weights, [2.0, 2.0, 1.0])
    np.testing.assert_allclose(cm.means, [[1.0, 2.0], [3.0, 5.0], [6.0, 6.0]])
    matrix = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1]])
    same = class_means(feats, matrix, ["a", "b", "c"])
    np.testing.assert_allclose(same.means, cm.means)
    np.testing.assert_allclose(same.weights, cm.weights)


def test_mismatched_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="label lists"):
        class_means(np.ones((3, 2)), [(0,), (1,)], ["a", "b"])
    with pytest.raises(ValueError, match="no image has a label"):
        class_means(np.ones((2, 2)), [(), ()], ["a", "b"])
