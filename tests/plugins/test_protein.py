"""``protein`` on a fixture in the Human Protein Atlas (Kaggle 2018) layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hpstudy_datasets import ProteinDataset
from hpstudy_datasets._protein import CHANNELS, LOCATIONS
from PIL import Image

from hpstudy.datasets import Sample
from hpstudy.testing import DatasetConformance, FixtureInfo, write_csv, write_image

_TARGETS = ("0", "25 0", "2", "23", "0 2 21", "25")


def make_protein(root: Path, n: int = 8) -> FixtureInfo:
    rows = []
    for i in range(n):
        image_id = f"00070df0-bbc3-11e8-b2bc-ac1f6b{i:06d}"
        rows.append((image_id, _TARGETS[i % len(_TARGETS)]))
        for c, channel in enumerate(CHANNELS):
            write_image(root / "train" / f"{image_id}_{channel}.png", (16, 16), mode="L",
                        seed=i * 4 + c)
    rows.append(("bad-target", "0 28"))  # outside 0-27
    for channel in CHANNELS:
        write_image(root / "train" / f"bad-target_{channel}.png", (16, 16), mode="L")
    rows.append(("no-yellow", "1"))
    for channel in CHANNELS[:3]:
        write_image(root / "train" / f"no-yellow_{channel}.png", (16, 16), mode="L")
    write_csv(root / "train.csv", ("Id", "Target"), rows)
    used = {LOCATIONS[int(t)] for ts in _TARGETS[:n] for t in ts.split()}
    return FixtureInfo(images=n, classes=28, labels=used, skipped=2)


class TestProtein(DatasetConformance):
    plugin = ProteinDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_protein(root)

    def image_files(self, root: Path, sample: Sample) -> list[Path]:
        return ProteinDataset().files(root, sample.item)


def test_channels_compose_to_rgb(tmp_path: Path) -> None:
    for channel, value in zip(CHANNELS, (100, 50, 30, 80), strict=True):
        Image.new("L", (4, 4), value).save(tmp_path / f"x_{channel}.png")
    rgb = np.asarray(ProteinDataset().image(tmp_path, "x"))
    assert rgb.shape == (4, 4, 3)
    assert tuple(rgb[0, 0]) == (140, 90, 30)  # red + yellow/2, green + yellow/2, blue
    Image.new("L", (4, 4), 250).save(tmp_path / "x_red.png")
    assert tuple(np.asarray(ProteinDataset().image(tmp_path, "x"))[0, 0]) == (255, 90, 30)
