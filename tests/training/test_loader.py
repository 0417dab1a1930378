from __future__ import annotations

from collections import Counter

import pytest
import torch

from hpstudy.datasets import Task
from hpstudy.training import DecodedSplit, TensorBatches
from hpstudy.training._augment import Augment
from hpstudy.training._data import IMAGENET_MEAN, IMAGENET_STD, fits_in_memory

IDENTITY = Augment(policy="crop", scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=False)


def _indexed_split(n: int, channels: int = 1) -> DecodedSplit:
    """Image i is a constant image of value i, labelled i: pixels tell which row a batch holds."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, channels, 8, 8).clone()
    return DecodedSplit(images, torch.arange(n), Task.SINGLE_LABEL)


def _pixel_value(x: torch.Tensor) -> torch.Tensor:
    """Undo the normalization of channel 0 and return each image's (constant) value."""
    v = (x[:, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255
    return v.mean(dim=(1, 2)).round().long()


@pytest.mark.parametrize(("n", "bs"), [(100, 32), (97, 32), (64, 32), (65, 32), (5, 32)])
def test_every_training_image_once_per_epoch_with_labels_aligned(n: int, bs: int) -> None:
    batches = TensorBatches(_indexed_split(n), bs, train=True, seed=1, augment=IDENTITY)
    for _ in range(2):
        seen = Counter()
        sizes = []
        for x, y in batches:
            assert x.shape[1:] == (3, 8, 8) and x.dtype == torch.float32
            assert torch.equal(_pixel_value(x), y)  # labels travel with their images
            seen.update(y.tolist())
            sizes.append(len(y))
        assert seen == Counter(range(n))
        assert min(sizes) >= 2 or n < 2  # never a lone image in a training batch
        assert len(sizes) == len(batches)


def test_epochs_are_shuffled_differently_and_reproducibly() -> None:
    a = TensorBatches(_indexed_split(64), 16, train=True, seed=3, augment=IDENTITY)
    b = TensorBatches(_indexed_split(64), 16, train=True, seed=3, augment=IDENTITY)
    first = [y.tolist() for _, y in a]
    assert first == [y.tolist() for _, y in b]
    assert first != [y.tolist() for _, y in a]


def test_validation_keeps_order_and_is_not_augmented() -> None:
    batches = TensorBatches(_indexed_split(10), 4, train=False)
    assert batches.augment is None
    ys = torch.cat([y for _, y in batches])
    assert ys.tolist() == list(range(10))


def test_training_augments_with_fastais_policy_on_pixels_before_normalization() -> None:
    # Constant images stay constant under flips, warps, rotations and zooms (reflection padding);
    # only the lighting changes them. On [0, 1] pixels a mid-grey 128 / 255 moves by up to the
    # brightness (logit of 0.5 +- 0.1) and contrast (0.8 to 1.25) changes, alike in every channel;
    # on normalized values (near 0, different per channel) the channels would come apart and the
    # changes would stay below 0.02.
    split = DecodedSplit(torch.full((64, 1, 8, 8), 128, dtype=torch.uint8), torch.zeros(64),
                         Task.SINGLE_LABEL)
    batches = TensorBatches(split, 64, train=True, seed=2)
    assert batches.augment == Augment() and batches.augment.policy == "fastai"
    x, _ = next(iter(batches))
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pixels = x * std + mean
    assert torch.allclose(pixels, pixels[:, :1].expand_as(pixels), atol=1e-5)  # grey stays grey
    assert torch.allclose(pixels, pixels[:, :, :1, :1].expand_as(pixels), atol=1e-5)
    per_image = pixels[:, 0, 0, 0]
    assert per_image.min() > 0.37 and per_image.max() < 0.63
    assert (per_image - 128 / 255).abs().max() > 0.05  # the lighting did change some images


def test_a_selection_of_rows_is_served_through_the_stream() -> None:
    split = _indexed_split(50).select([3, 7, 9, 20, 41])
    ys = sorted(torch.cat([y for _, y in TensorBatches(split, 2, train=True, augment=IDENTITY)]).tolist())
    assert ys == [3, 7, 9, 20, 41]


def test_rgb_batches_keep_their_channels() -> None:
    x, _ = next(iter(TensorBatches(_indexed_split(8, channels=3), 4, train=False)))
    assert x.shape == (4, 3, 8, 8)


def test_gpu_residency_is_bounded_by_the_share_of_free_memory() -> None:
    assert fits_in_memory(40, free=100, share=0.5)
    assert not fits_in_memory(60, free=100, share=0.5)


def test_gpu_memory_share_comes_from_the_environment(monkeypatch) -> None:
    from hpstudy.errors import HpstudyError
    from hpstudy.training import GPU_SHARE_ENV, gpu_memory_share

    monkeypatch.delenv(GPU_SHARE_ENV, raising=False)
    assert gpu_memory_share() == 0.5
    split = _indexed_split(4)
    assert TensorBatches(split, 2, train=False).gpu_share == 0.5
    monkeypatch.setenv(GPU_SHARE_ENV, "0")
    assert TensorBatches(split, 2, train=False).gpu_share == 0.0
    assert TensorBatches(split, 2, train=False, gpu_share=0.8).gpu_share == 0.8
    for bad in ("1.5", "-0.1", "nan", "half"):
        monkeypatch.setenv(GPU_SHARE_ENV, bad)
        with pytest.raises(HpstudyError, match=f"{GPU_SHARE_ENV}='{bad}'.*number from 0"):
            gpu_memory_share()
