from __future__ import annotations

from collections import Counter

import pytest
import torch

from hpstudy.datasets import Task
from hpstudy.training import DecodedSplit, TensorBatches
from hpstudy.training._augment import Augment, augment_batch
from hpstudy.training._data import IMAGENET_MEAN, IMAGENET_STD, crop_windows, fits_in_memory

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


@pytest.mark.parametrize(("n", "bs"), [(100, 32), (64, 32), (5, 32)])
def test_drop_last_trains_on_full_batches_of_a_different_subset_each_epoch(n: int, bs: int) -> None:
    # fastai's training DataLoader: shuffle, then leave the last partial batch out.
    batches = TensorBatches(_indexed_split(n), bs, train=True, seed=1, augment=IDENTITY,
                            drop_last=True)
    epochs = []
    for _ in range(2):
        labels = []
        for x, y in batches:
            assert torch.equal(_pixel_value(x), y)  # labels travel with their images
            labels.append(y.tolist())
        sizes = [len(b) for b in labels]
        assert len(sizes) == len(batches) == max(1, n // bs)
        assert sizes == ([bs] * (n // bs) if n >= bs else [n])  # a small split is one batch
        flat = [v for b in labels for v in b]
        assert len(set(flat)) == len(flat)  # no image twice within an epoch
        epochs.append(set(flat))
    if n > bs and n % bs:
        assert epochs[0] != epochs[1]  # a different subset left out


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


# --------------------------------------------------------------------------- random crops


def _ramp_split(aspects: list[float], size: int = 16) -> DecodedSplit:
    """Squished images whose pixel value is 8 x their column (0-120), label = row index, with the
    given original aspect ratios."""
    n = len(aspects)
    images = (torch.arange(size) * 8).to(torch.uint8).expand(n, 1, size, size).clone()
    return DecodedSplit(images, torch.arange(n), Task.SINGLE_LABEL,
                        aspects=torch.tensor(aspects, dtype=torch.float32))


def _pixels(x: torch.Tensor) -> torch.Tensor:
    """Channel 0 of normalized batches back in 0-255 pixel values."""
    return (x[:, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255


@pytest.mark.parametrize("aspect", [0.25, 0.5, 0.75, 1.0, 4 / 3, 1.5, 2.0, 5.0])
def test_crop_windows_are_the_originals_square_and_stay_inside_the_image(aspect: float) -> None:
    windows = crop_windows(torch.full((2000,), aspect), torch.Generator().manual_seed(0))
    share_x, share_y = min(1.0, 1 / aspect), min(1.0, aspect)
    assert torch.allclose(windows[:, 0, 0], torch.tensor(share_x))  # w/h of the window in the
    assert torch.allclose(windows[:, 1, 1], torch.tensor(share_y))  # original: 1, a square
    assert (windows[:, 0, 1] == 0).all() and (windows[:, 1, 0] == 0).all()
    for axis, share in ((0, share_x), (1, share_y)):
        low = windows[:, axis, 2] - windows[:, axis, axis]  # where -1 and 1 land
        high = windows[:, axis, 2] + windows[:, axis, axis]
        assert low.min() >= -1 - 1e-6 and high.max() <= 1 + 1e-6
        if share < 1:
            assert low.min() < -1 + 0.01 and high.max() > 1 - 0.01  # reaching both edges


def test_crop_window_positions_are_uniform_as_fastais_pcts() -> None:
    from scipy import stats

    windows = crop_windows(torch.tensor([2.0, 0.5]).repeat(5000), torch.Generator().manual_seed(1))
    # the free axis of each: x of the wide originals, y of the tall ones
    offset_x, offset_y = windows[0::2, 0, 2], windows[1::2, 1, 2]
    for offset in (offset_x, offset_y):
        pcts = (offset / 0.5 + 1) / 2  # offset = (2 pct - 1)(1 - share), share 0.5
        assert stats.kstest(pcts.numpy(), "uniform").pvalue > 0.01
        counts = torch.histc(pcts, bins=10, min=0, max=1)
        assert counts.min() > 400 and counts.max() < 600
    assert (windows[0::2, 1, 2] == 0).all() and (windows[1::2, 0, 2] == 0).all()


def test_square_originals_are_used_whole() -> None:
    # Aspect 1 everywhere: nothing to crop, and batches equal those of squished images.
    square = _ramp_split([1.0] * 8)
    cropped = TensorBatches(square, 4, train=True, seed=1, augment=IDENTITY, resize="crop")
    plain = TensorBatches(square, 4, train=True, seed=1, augment=IDENTITY, resize="squish")
    assert not cropped.crops
    for (a, ya), (b, yb) in zip(cropped, plain, strict=True):
        assert torch.equal(ya, yb) and torch.allclose(a, b, atol=1e-6)
    windows = crop_windows(torch.ones(5), torch.Generator().manual_seed(0))
    assert torch.equal(windows, torch.eye(2, 3).expand(5, 2, 3))  # the whole image
    x = torch.rand(5, 3, 8, 8)
    assert torch.allclose(augment_batch(x, IDENTITY, torch.Generator(), window=windows), x,
                          atol=1e-5)


def test_training_batches_are_random_crops_of_wide_originals() -> None:
    # Originals twice as wide as high: each training image is a window of half the squished
    # width (a slope of 4 per column on the ramp, not 8), at a position that changes by epoch.
    split = _ramp_split([2.0] * 16)
    batches = TensorBatches(split, 8, train=True, seed=3, augment=IDENTITY)
    assert batches.crops and batches.resize == "crop"
    centres = []
    for _ in range(3):
        for x, _ in batches:
            px = _pixels(x)
            assert torch.allclose(px[:, :, 3:-3].diff(dim=2), torch.tensor(4.0), atol=0.05)
            assert torch.allclose(px, px[:, :1].expand_as(px), atol=1e-3)  # rows untouched
            centres.extend(px[:, 0, 7:9].mean(dim=1).tolist())
    # the window's centre, 8 x its column in the squished image: from 3.5 (the window at the
    # left edge) to 11.5 (at the right edge)
    values = torch.tensor(centres)
    assert values.min() >= 28 - 1e-3 and values.max() <= 92 + 1e-3
    assert values.min() < 34 and values.max() > 86 and values.std() > 10
    again = TensorBatches(split, 8, train=True, seed=3, augment=IDENTITY)
    assert torch.equal(next(iter(again))[0], next(iter(TensorBatches(split, 8, train=True, seed=3,
                                                                      augment=IDENTITY)))[0])


def test_a_training_window_without_augmentation_is_still_applied() -> None:
    split = _ramp_split([0.5, 2.0, 1.0, 2.0])
    batches = TensorBatches(split, 4, train=True, seed=0)
    batches.augment = None
    x, y = next(iter(batches))
    px = dict(zip(y.tolist(), _pixels(x), strict=True))
    assert torch.allclose(px[1][:, 3:-3].diff(dim=1), torch.tensor(4.0), atol=0.05)  # cropped
    assert torch.allclose(px[0][:, 3:-3].diff(dim=1), torch.tensor(8.0), atol=0.05)  # tall: x kept
    assert torch.allclose(px[2], split.images[2, 0].float(), atol=1e-3)  # square: whole image


@pytest.mark.parametrize("resize", ["squish", "pad"])
def test_only_crop_crops_and_never_validation(resize: str) -> None:
    split = _ramp_split([2.0] * 8)
    assert not TensorBatches(split, 4, train=True, augment=IDENTITY, resize=resize).crops
    assert not TensorBatches(split, 4, train=False).crops
    x, _ = next(iter(TensorBatches(split, 8, train=False)))
    assert torch.allclose(_pixels(x), split.images[:, 0].float(), atol=1e-3)
    with pytest.raises(ValueError, match="unknown resize method 'fit'"):
        TensorBatches(split, 4, train=True, resize="fit")


def test_a_split_decoded_for_random_crops_is_cropped_per_epoch(tmp_path) -> None:
    # Through the real decoders: wide PNGs with red and blue bands at their left and right
    # edges. Squished, every image shows both; a square crop of the original can show at most
    # one of them, which one depending on where the crop falls.
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cache"))
    from _fileplugin import PngFolder, make_edged_pngs

    from hpstudy.training import decode_split

    make_edged_pngs(tmp_path, sizes=((90, 40),) * 8)
    plugin = PngFolder()
    splits = plugin.load(tmp_path)
    train = decode_split(plugin, tmp_path, splits.train, splits.classes, 24, resize="crop",
                         train=True)
    assert train.aspects.tolist() == [90 / 40] * 4
    valid = decode_split(plugin, tmp_path, splits.valid, splits.classes, 24, resize="crop")
    assert valid.aspects is None
    batches = TensorBatches(train, 4, train=True, seed=0, augment=IDENTITY)
    seen = set()
    for _ in range(6):
        x, _ = next(iter(batches))
        pixels = x * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(
            IMAGENET_MEAN).view(1, 3, 1, 1)
        red = (pixels[:, 0] > 0.9) & (pixels[:, 2] < 0.1)
        blue = (pixels[:, 2] > 0.9) & (pixels[:, 0] < 0.1)
        for r, b in zip(red.any(dim=(1, 2)).tolist(), blue.any(dim=(1, 2)).tolist(), strict=True):
            assert not (r and b)
            seen.add((r, b))
    assert {(True, False), (False, True)} <= seen
    squished = train.images.float() / 255
    assert ((squished[:, 0] > 0.9) & (squished[:, 2] < 0.1)).any(dim=(1, 2)).all()


def test_gather_keeps_the_order_of_positions_even_for_the_whole_split() -> None:
    split = _indexed_split(6)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    images, targets = split.gather(order)
    assert targets.tolist() == order.tolist() and images[:, 0, 0, 0].tolist() == order.tolist()
    everything, _ = split.gather(torch.arange(6))
    assert everything.data_ptr() == split.images.data_ptr()  # all, in order: not copied
