"""``quickdraw`` on fixtures in Kaggle's ``train_simplified`` and Google's ``numpy_bitmap`` layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hpstudy_datasets import QuickDrawDataset
from hpstudy_datasets._quickdraw import PER_CLASS_ENV, render

from hpstudy.datasets import Sample
from hpstudy.errors import HpstudyError
from hpstudy.testing import DatasetConformance, FixtureInfo, write_csv

HEADER = ("countrycode", "drawing", "key_id", "recognized", "timestamp", "word")
WORDS = ("alarm clock", "cat", "The Eiffel Tower")


def _drawing(seed: int) -> str:
    rng = np.random.default_rng(seed)
    strokes = []
    for _ in range(1 + seed % 3):
        n = int(rng.integers(1, 6))
        strokes.append([rng.integers(0, 256, n).tolist(), rng.integers(0, 256, n).tolist()])
    return json.dumps(strokes)


def make_quickdraw(root: Path, per_word: int = 5) -> FixtureInfo:
    key = 4_000_000_000_000_000
    for w, word in enumerate(WORDS):
        rows = []
        for i in range(per_word):
            key += 1
            rows.append(("US", _drawing(w * 10 + i), key, i % 2 == 0, "2017-03-09 00:28:55", word))
        write_csv(root / "train_simplified" / f"{word}.csv", HEADER, rows)
    with open(root / "train_simplified" / "cat.csv", "a") as f:
        f.write('GB,"[[[1, 2], [3]]]",5000000000000001,True,2017-01-01 00:00:00,cat\n')
        f.write('GB,"[[[1, 2], [3, 4]]]",5000000000000002,True,2017-01-01 00:00:00,dog\n')
    return FixtureInfo(images=3 * per_word, classes=3, labels=WORDS, skipped=2)


def make_bitmaps(root: Path, per_word: int = 6) -> FixtureInfo:
    rng = np.random.default_rng(0)
    (root / "numpy_bitmap").mkdir(parents=True)
    for word in WORDS:
        np.save(root / "numpy_bitmap" / f"{word}.npy",
                rng.integers(0, 256, (per_word, 784), dtype=np.uint8))
    (root / "numpy_bitmap" / "broken.npy").write_bytes(b"\x93NUMPY truncated")
    return FixtureInfo(images=3 * per_word, classes=3, labels=WORDS, skipped=1)


class TestQuickDraw(DatasetConformance):
    plugin = QuickDrawDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_quickdraw(root)

    def image_files(self, root: Path, sample: Sample) -> list[Path]:
        return []  # drawings are CSV rows; damaged rows are in the fixture itself


class TestQuickDrawBitmaps(DatasetConformance):
    plugin = QuickDrawDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_bitmaps(root)

    def image_files(self, root: Path, sample: Sample) -> list[Path]:
        return []


def test_render_draws_white_strokes_on_black_128() -> None:
    img = render([[[0, 255], [128, 128]], [[50], [50]]])
    assert img.size == (128, 128) and img.mode == "L"
    a = np.asarray(img)
    assert a[64, 64] > 200 and a[10, 64] == 0  # the horizontal line, and background
    assert a[25, 25] > 0  # the dot of a one-point stroke


def test_per_class_cap_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_quickdraw(tmp_path, per_word=5)
    monkeypatch.setenv(PER_CLASS_ENV, "2")
    splits = QuickDrawDataset().load(tmp_path)
    assert len(splits.train) + len(splits.valid) == 6
    monkeypatch.setenv(PER_CLASS_ENV, "0")
    assert len(QuickDrawDataset().load(tmp_path).train) == 12
    monkeypatch.setenv(PER_CLASS_ENV, "many")
    with pytest.raises(HpstudyError, match=PER_CLASS_ENV):
        QuickDrawDataset().load(tmp_path)


def test_items_name_the_file_and_key(tmp_path: Path) -> None:
    make_quickdraw(tmp_path)
    ds = QuickDrawDataset()
    splits = ds.load(tmp_path)
    item = splits.train[0].item
    assert item.startswith("train_simplified/") and "#" in item
    assert ds.image(tmp_path, item).size == (128, 128)
    assert QuickDrawDataset.extra_metrics == ("map3",)


def test_drawings_are_not_mirrored_in_training() -> None:
    from hpstudy.training._augment import Augment

    assert QuickDrawDataset.augment == frozenset({"no_hflip"})
    assert not Augment.for_hints(QuickDrawDataset.augment).hflip
