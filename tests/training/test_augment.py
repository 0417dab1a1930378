from __future__ import annotations

import pytest
import torch

from hpstudy.training._augment import Augment, augment_batch


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("hints", [(), ("vflip",), ("rot90",), ("vflip", "rot90")])
def test_shapes_dtypes_and_value_ranges_are_kept(hints) -> None:
    x = torch.rand(16, 3, 20, 20)
    out = augment_batch(x, Augment.for_hints(hints), _g())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= x.min() - 1e-5 and out.max() <= x.max() + 1e-5
    assert not torch.equal(out, x)


def test_identity_settings_change_nothing() -> None:
    x = torch.rand(4, 3, 12, 12)
    out = augment_batch(x, Augment(scale=(1, 1), ratio=(1, 1), hflip=False), _g())
    assert torch.allclose(out, x, atol=1e-5)


def test_flips_and_quarter_turns_only_move_pixels() -> None:
    # Full-size crops: every output must be one of the 8 symmetries of its input.
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    aug = Augment(scale=(1, 1), ratio=(1, 1), hflip=True, hints=frozenset({"vflip", "rot90"}))
    for seed in range(10):
        out = augment_batch(x, aug, _g(seed))
        for i in range(2):
            variants = [torch.rot90(v, k, dims=(-2, -1)) for k in range(4)
                        for v in (x[i], x[i].flip(-1))]
            assert any(torch.allclose(out[i], v, atol=1e-4) for v in variants)


def test_augmentation_is_reproducible_from_the_generator() -> None:
    x = torch.rand(8, 3, 16, 16)
    assert torch.equal(augment_batch(x, Augment(), _g(5)), augment_batch(x, Augment(), _g(5)))


def test_unknown_hints_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown augmentation hints"):
        Augment.for_hints(["sideways"])
