"""``tiny-imagenet`` on fixtures in the ``tiny-imagenet-200`` layout."""

from __future__ import annotations

from pathlib import Path

from hpstudy_datasets import TinyImageNetDataset

from hpstudy.datasets import Sample, Splits, resolve_root
from hpstudy.testing import DatasetConformance, FixtureInfo, write_image

WNIDS = ("n01443537", "n01629819", "n01641577")


def make_tiny(base: Path, per_class: int = 3) -> FixtureInfo:
    """Write the folder ``tiny-imagenet-200`` is (``base`` is that folder)."""
    (base).mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (base / "words.txt").write_text(
        "n01443537\tgoldfish, Carassius auratus\nn01629819\tEuropean fire salamander\n"
        "n01641577\tbullfrog, Rana catesbeiana\n"
    )
    for w, wnid in enumerate(WNIDS):
        for i in range(per_class):
            write_image(base / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", (64, 64),
                        seed=w * 10 + i)
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    write_image(base / "train" / "n99999999" / "images" / "n99999999_0.JPEG", (64, 64))
    lines = []
    for i in range(6):
        write_image(base / "val" / "images" / f"val_{i}.JPEG", (64, 64), seed=100 + i)
        lines.append(f"val_{i}.JPEG\t{WNIDS[i % 3]}\t0\t32\t44\t62")
    lines.append("val_6.JPEG\tn99999999\t0\t0\t10\t10")  # a wnid not in wnids.txt
    write_image(base / "val" / "images" / "val_6.JPEG", (64, 64))
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return FixtureInfo(images=3 * per_class + 6, classes=3, labels=WNIDS,
                       train=3 * per_class, valid=6, skipped=2)


class TestTinyImageNet(DatasetConformance):
    """As the zip unpacks: ``<data_root>/tiny-imagenet/tiny-imagenet-200/``."""

    plugin = TinyImageNetDataset

    def damage_victim(self, splits: Splits) -> Sample:
        return splits.valid[0]  # training images are found by listing their folders

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_tiny(root / "tiny-imagenet-200")


class TestTinyImageNetFlat(TestTinyImageNet):
    """The folder's contents directly in ``<data_root>/tiny-imagenet/``."""

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_tiny(root)


def test_zip_folder_directly_under_the_data_root(tmp_path: Path) -> None:
    make_tiny(tmp_path / "tiny-imagenet-200")
    ds = TinyImageNetDataset()
    assert resolve_root(ds, tmp_path) == tmp_path / "tiny-imagenet-200"
    assert len(ds.load(resolve_root(ds, tmp_path)).classes) == 3
