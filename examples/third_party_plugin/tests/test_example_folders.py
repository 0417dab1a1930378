"""hpstudy's conformance suite on ``example-folders``: ``pytest`` in this folder runs all of it
(``pip install "hpstudy[testing]"`` brings pytest)."""

from __future__ import annotations

from pathlib import Path

from hpstudy_example_plugin import FoldersDataset

from hpstudy.testing import DatasetConformance, FixtureInfo, write_image


class TestFoldersDataset(DatasetConformance):
    plugin = FoldersDataset
    listed = True  # the folders are the index: a deleted image is simply not there

    def make_fixture(self, root: Path) -> FixtureInfo:
        for split, n in (("train", 3), ("valid", 2)):
            for cls in ("circle", "square"):
                for i in range(n):
                    write_image(root / split / cls / f"{i}.png", (12, 12), seed=i)
        (root / "train" / "circle" / "broken.png").write_bytes(b"GIF89a, not really")
        return FixtureInfo(images=10, classes=2, labels={"circle", "square"}, train=6, valid=4,
                           skipped=1)
