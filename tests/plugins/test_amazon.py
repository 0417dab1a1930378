"""``amazon`` on a fixture in the Kaggle Planet layout."""

from __future__ import annotations

from pathlib import Path

from hpstudy_datasets import AmazonDataset
from hpstudy_datasets._amazon import TAGS

from hpstudy.testing import DatasetConformance, FixtureInfo, write_csv, write_image

_TAGS = ("clear primary", "clear primary water", "haze primary", "cloudy", "partly_cloudy primary")


def make_amazon(root: Path, n: int = 10) -> FixtureInfo:
    rows = []
    for i in range(n):
        rows.append((f"train_{i}", _TAGS[i % len(_TAGS)]))
        write_image(root / "train-jpg" / f"train_{i}.jpg", (24, 24), seed=i)
    rows.append((f"train_{n}", "clear martian"))  # unknown tag
    write_image(root / "train-jpg" / f"train_{n}.jpg", (24, 24))
    rows.append((f"train_{n + 1}", "clear"))  # image missing
    write_csv(root / "train_v2.csv", ("image_name", "tags"), rows)
    used = {t for tags in _TAGS for t in tags.split()}
    return FixtureInfo(images=n, classes=17, labels=used, skipped=2)


class TestAmazon(DatasetConformance):
    plugin = AmazonDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_amazon(root)


def test_seventeen_tags_and_tags_from_the_csv(tmp_path: Path) -> None:
    make_amazon(tmp_path)
    splits = AmazonDataset().load(tmp_path)
    assert len(TAGS) == 17 and splits.classes == TAGS
    by_item = {s.item: s.labels for s in splits.train + splits.valid}
    assert by_item["train-jpg/train_1.jpg"] == ("clear", "primary", "water")
    assert any("unknown tag 'martian'" in e for e in splits.skipped_examples)
