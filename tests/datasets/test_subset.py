from __future__ import annotations

from collections import Counter

import pytest
import torch

from hpstudy.datasets import Sample, Task, fraction_indices, fraction_subset, get_dataset


def _samples() -> list[Sample]:
    # Unequal classes: 50 "a", 30 "b", 7 "c", 1 "d".
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 7 + ["d"]
    return [Sample(f"img{i}", (lab,)) for i, lab in enumerate(labels)]


def test_subsets_are_deterministic_and_depend_on_the_seed() -> None:
    s = _samples()
    one = fraction_subset(s, 0.2, task=Task.SINGLE_LABEL, seed=0)
    assert one == fraction_subset(s, 0.2, task=Task.SINGLE_LABEL, seed=0)
    assert one != fraction_subset(s, 0.2, task=Task.SINGLE_LABEL, seed=1)


def test_single_label_subsets_are_stratified() -> None:
    s = _samples()
    sub = fraction_subset(s, 0.2, task=Task.SINGLE_LABEL, seed=0)
    counts = Counter(x.labels[0] for x in sub)
    assert len(sub) == round(0.2 * len(s))
    assert counts["a"] == 10 and counts["b"] == 6
    assert counts["c"] >= 1 and counts["d"] == 1  # every class keeps at least one image


def test_multi_label_subsets_are_uniform_samples_of_the_right_size() -> None:
    s = [Sample(f"i{i}", ("x", "y") if i % 2 else ("y",)) for i in range(100)]
    idx = fraction_indices(s, 0.25, task=Task.MULTI_LABEL, seed=3)
    assert len(idx) == 25 and idx == sorted(set(idx))
    assert idx == fraction_indices(s, 0.25, task=Task.MULTI_LABEL, seed=3)


def test_full_fraction_is_everything_in_order() -> None:
    s = _samples()
    assert fraction_subset(s, 1.0, task=Task.SINGLE_LABEL) == tuple(s)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01])
def test_fraction_out_of_range_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="fraction must be in"):
        fraction_subset(_samples(), bad, task=Task.SINGLE_LABEL)


def test_study_data_subsets_training_only(tmp_path) -> None:
    from hpstudy.study import load_spec
    from hpstudy.study._data import StudyData

    data = StudyData.open("digits", None, load_spec("smoke"))
    full_valid = data.valid()
    small = data.train(0.2)
    assert len(small) == round(0.2 * len(data.splits.train))
    assert data.valid() is full_valid and len(full_valid) == len(data.splits.valid)
    train_items = {s.item for s in data.splits.train}
    valid_items = {s.item for s in data.splits.valid}
    assert not train_items & valid_items
    plugin = get_dataset("digits")
    chosen = fraction_indices(data.splits.train, 0.2, task=plugin.task, seed=0)
    assert small.rows.tolist() == chosen  # rows of the full (cached) training split
    _, targets = small.gather(torch.arange(len(small)))
    assert (targets == data.train(1.0).targets[chosen]).all()
