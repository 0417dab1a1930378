from __future__ import annotations

from collections import Counter
from pathlib import Path

from hpstudy.datasets import Task, get_dataset


def test_digits_is_the_real_sklearn_set_with_a_fixed_stratified_split() -> None:
    ds = get_dataset("digits")
    assert ds.task is Task.SINGLE_LABEL and ds.metric == "accuracy" and not ds.needs_data
    splits = ds.load(Path("."))
    assert splits.classes == tuple(str(i) for i in range(10))
    assert (len(splits.train), len(splits.valid)) == (1437, 360)
    assert splits == ds.load(Path("."))  # fixed
    per_class = Counter(s.labels[0] for s in splits.valid)
    assert min(per_class.values()) >= 35  # stratified: every digit ~36 times


def test_digits_images_are_upscaled_grayscale() -> None:
    ds = get_dataset("digits")
    img = ds.image(Path("."), "0")
    assert img.mode == "L" and img.size == (32, 32)
    assert img.getextrema()[1] > 200  # ink reaches near white after scaling 0..16 -> 0..255
