"""Images made square as fastai's ``Resize`` makes them, decoded once through the real cache."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _fileplugin import BLUE, EDGED_SIZES, RED, PngFolder, make_edged_pngs
from PIL import Image

from hpstudy.cache import ImageCache, build_dataset_cache, cached_split, source_fingerprint
from hpstudy.datasets import Sample


@pytest.fixture
def edged(tmp_path: Path) -> tuple[PngFolder, Path, ImageCache]:
    make_edged_pngs(tmp_path / "data")
    return PngFolder(), tmp_path / "data", ImageCache(tmp_path / "cache")


def _original(root: Path, s: Sample) -> Image.Image:
    with Image.open(root / s.item) as img:
        return img.convert("RGB")


def _chw(img: Image.Image) -> np.ndarray:
    return np.asarray(img).transpose(2, 0, 1)


def _has(pixels: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool((pixels.transpose(1, 2, 0) == colour).all(-1).any())


def test_squish_is_todays_output_under_todays_name(edged) -> None:
    plugin, root, cache = edged
    samples = plugin.load(root).valid
    split = cached_split(plugin, root, "valid", samples, ("a", "b"), 24, cache=cache)
    for i, s in enumerate(samples):  # the decode of hpstudy before resize methods existed
        expected = _chw(_original(root, s).resize((24, 24), Image.Resampling.BILINEAR))
        assert np.array_equal(split.images[i].numpy(), expected)
    (entry,) = cache.entries()
    fingerprint = source_fingerprint(plugin, root, samples, 24)
    assert entry.path.name == f"valid-24px-v{plugin.version}-{fingerprint[:20]}"
    assert entry.resize == "squish" and entry.meta["resize"] == "squish"


def test_crop_validation_is_the_centre_square_resized(edged) -> None:
    plugin, root, cache = edged
    samples = plugin.load(root).valid
    split = cached_split(plugin, root, "valid", samples, ("a", "b"), 24, resize="crop", cache=cache)
    assert split.aspects is None  # already square: nothing left to crop
    for i, s in enumerate(samples):
        img = _original(root, s)
        w, h = img.size
        side = min(w, h)
        box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
        expected = _chw(img.crop(box).resize((24, 24), Image.Resampling.BILINEAR))
        assert np.array_equal(split.images[i].numpy(), expected)
    # at the short side's size nothing is resampled: the bands at the long edges are gone
    at_side = cached_split(plugin, root, "valid", samples, ("a", "b"), 40, resize="crop",
                           cache=cache)
    for i, s in enumerate(samples):
        w, h = _original(root, s).size
        if (w, h) in ((60, 40), (40, 60), (90, 40)):
            assert not _has(at_side.images[i].numpy(), RED)
            assert not _has(at_side.images[i].numpy(), BLUE)


def test_pad_keeps_the_whole_image_with_reflected_borders(edged) -> None:
    plugin, root, cache = edged
    samples = plugin.load(root).valid
    split = cached_split(plugin, root, "valid", samples, ("a", "b"), 60, resize="pad", cache=cache)
    for i, s in enumerate(samples):
        a = np.asarray(_original(root, s))
        h, w = a.shape[:2]
        if max(w, h) != 60:
            continue
        # the long side is the target's: no resampling, the short side reflected out, centred
        top, left = (60 - h) // 2, (60 - w) // 2
        widths = ((top, 60 - h - top), (left, 60 - w - left), (0, 0))
        expected = np.pad(a, widths, mode="reflect").transpose(2, 0, 1)
        assert np.array_equal(split.images[i].numpy(), expected)
        assert _has(expected, RED) and _has(expected, BLUE)  # the whole image is in it
        if h < 60:
            assert np.array_equal(expected[:, top - 1], expected[:, top + 1])  # reflected


@pytest.mark.parametrize("method", ["crop", "squish", "pad"])
def test_validation_equals_fastais_resize(edged, method: str) -> None:
    from fastai.vision.augment import Resize
    from fastai.vision.core import PILImage

    plugin, root, cache = edged
    samples = plugin.load(root).valid
    split = cached_split(plugin, root, "valid", samples, ("a", "b"), 24, resize=method, cache=cache)
    resize = Resize(24, method=method)
    for i, s in enumerate(samples):
        theirs = resize(PILImage.create(root / s.item), split_idx=1)  # validation: centred
        assert np.array_equal(split.images[i].numpy(), _chw(theirs))


def test_each_method_has_its_own_entry_and_squish_keeps_its_name(edged) -> None:
    plugin, root, cache = edged
    samples = plugin.load(root).valid
    fingerprint = source_fingerprint(plugin, root, samples, 24)[:20]
    paths = {m: cache.get_or_build(plugin, root, "valid", samples, 24, resize=m).path
             for m in ("squish", "crop", "pad")}
    assert {m: p.name for m, p in paths.items()} == {
        "squish": f"valid-24px-v{plugin.version}-{fingerprint}",
        "crop": f"valid-24px-crop-v{plugin.version}-{fingerprint}",
        "pad": f"valid-24px-pad-v{plugin.version}-{fingerprint}",
    }
    assert all(p.is_dir() for p in paths.values())  # building one never drops another
    assert {e.path: e.resize for e in cache.entries()} == {p: m for m, p in paths.items()}
    for m, p in paths.items():
        assert cache.lookup(plugin, root, "valid", samples, 24, resize=m).path == p
    with pytest.raises(ValueError, match="unknown resize method 'Crop'; known: crop, squish, pad"):
        cache.get_or_build(plugin, root, "valid", samples, 24, resize="Crop")


def test_a_training_split_to_crop_is_the_squished_entry_with_aspect_ratios(edged) -> None:
    plugin, root, cache = edged
    samples = plugin.load(root).train
    train = cached_split(plugin, root, "train", samples, ("a", "b"), 24, resize="crop", train=True,
                         cache=cache)
    squish = cached_split(plugin, root, "train", samples, ("a", "b"), 24, cache=cache)
    (entry,) = cache.entries()  # one decode serves both
    assert entry.resize == "squish" and entry.meta["crc32"].keys() == {
        "images.npy", "ok.npy", "aspect.npy"}
    assert torch.equal(train.images, squish.images)
    expected = [_original(root, s).size for s in samples]
    assert train.aspects.dtype == torch.float32
    assert train.aspects.tolist() == pytest.approx([w / h for w, h in expected])
    # validation of the same study: the centred crop, decoded once
    valid = cached_split(plugin, root, "valid", samples, ("a", "b"), 24, resize="crop",
                         cache=cache)
    assert valid.aspects is None and not torch.equal(valid.images, train.images)


def test_aspect_ratios_travel_with_the_rows(edged) -> None:
    plugin, root, cache = edged
    samples = plugin.load(root).train
    split = cached_split(plugin, root, "train", samples, ("a", "b"), 24, resize="crop", train=True,
                         cache=cache)
    ratios = split.aspects.tolist()
    picked = split.subset([2, 0])
    assert picked.aspects_at(torch.arange(2)).tolist() == [ratios[2], ratios[0]]
    selected = split.select([1, 2])
    assert selected.aspects_at(torch.arange(2)).tolist() == [ratios[1], ratios[2]]
    copy = picked.materialize()
    assert copy.rows is None and copy.aspects.tolist() == [ratios[2], ratios[0]]
    assert torch.equal(copy.images, picked.gather(torch.arange(2))[0])


def _as_built_before_resize_methods(entry_path: Path) -> None:
    """Make an entry look as hpstudy built it before resize methods: no aspect.npy, and no
    ``resize`` in meta.json."""
    (entry_path / "aspect.npy").unlink()
    meta = json.loads((entry_path / "meta.json").read_text())
    del meta["resize"], meta["crc32"]["aspect.npy"]
    (entry_path / "meta.json").write_text(json.dumps(meta))


def test_an_entry_built_before_resize_methods_stays_valid_and_gains_aspects_when_needed(
    edged,
) -> None:
    plugin, root, cache = edged
    samples = plugin.load(root).train
    built = cache.get_or_build(plugin, root, "train", samples, 24)
    _as_built_before_resize_methods(built.path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither damaged nor rebuilt
        old = cache.get_or_build(plugin, root, "train", samples, 24)
        assert old.path == built.path and old.resize == "squish" and old.aspects() is None
        assert old.meta["created"] == built.meta["created"]
        squish = cached_split(plugin, root, "train", samples, ("a", "b"), 24, cache=cache)
        assert squish.aspects is None
        assert cache.lookup(plugin, root, "train", samples, 24, aspects=True) is None
        # random crops need the aspect ratios: the entry is built again, under the same name
        train = cached_split(plugin, root, "train", samples, ("a", "b"), 24, resize="crop",
                             train=True, cache=cache)
    (entry,) = cache.entries()
    assert entry.path == built.path and entry.aspects() is not None
    assert torch.equal(train.images, squish.images) and train.aspects is not None


def test_build_dataset_cache_builds_what_a_study_of_that_method_uses(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache")
    crop = build_dataset_cache("digits", size=8, cache=cache)  # a spec's default: crop
    assert [(e.meta["split"], e.resize, e.aspects() is not None) for e in crop] == [
        ("train", "squish", True), ("valid", "crop", True)]
    pad = build_dataset_cache("digits", size=8, resize="pad", cache=cache)
    assert [(e.meta["split"], e.resize) for e in pad] == [("train", "pad"), ("valid", "pad")]
    assert len(cache.entries()) == 4
    with pytest.raises(ValueError, match="unknown resize method"):
        build_dataset_cache("digits", size=8, resize="stretch", cache=cache)


def test_fixture_sizes_are_what_the_tests_assume(edged) -> None:
    plugin, root, _ = edged
    splits = plugin.load(root)
    sizes = sorted(_original(root, s).size for s in (*splits.train, *splits.valid))
    assert sizes == sorted(EDGED_SIZES)
    assert any(w != h for w, h in (_original(root, s).size for s in splits.valid))


def test_the_cache_knows_the_trainers_methods() -> None:
    from hpstudy.cache import RESIZE_METHODS
    from hpstudy.cache._store import RESIZE_METHODS as STORE_METHODS
    from hpstudy.study._spec import RESIZE_METHODS as SPEC_METHODS

    assert STORE_METHODS is RESIZE_METHODS is SPEC_METHODS  # one constant, not copies
    assert RESIZE_METHODS == ("crop", "squish", "pad")
