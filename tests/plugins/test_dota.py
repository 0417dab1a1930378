"""``dota`` on fixtures in DOTA v1.0's flat and official train/val layouts."""

from __future__ import annotations

from pathlib import Path

from hpstudy_datasets import DotaDataset

from hpstudy.testing import DatasetConformance, FixtureInfo, write_image

_OBJECTS = (
    ("plane", "ship"),
    ("small-vehicle",),
    ("harbor", "ship", "ship"),
    (),
)


def _label_file(path: Path, categories: tuple[str, ...], header: bool) -> None:
    lines = ["imagesource:GoogleEarth", "gsd:0.146343590398"] if header else []
    for j, cat in enumerate(categories):
        x = 10 + j
        lines.append(f"{x}.0 5.0 {x + 8}.0 5.0 {x + 8}.0 12.0 {x}.0 12.0 {cat} {j % 2}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _write(root: Path, prefix: str, n: int, start: int) -> set[str]:
    used: set[str] = set()
    for i in range(start, start + n):
        objs = _OBJECTS[i % len(_OBJECTS)]
        write_image(root / prefix / "images" / f"P{i:04d}.png", (40, 30), seed=i)
        _label_file(root / prefix / "labelTxt" / f"P{i:04d}.txt", objs, header=i % 2 == 0)
        used.update(objs)
    return used


def make_dota(root: Path) -> FixtureInfo:
    used = _write(root, "", 8, 0)
    write_image(root / "images" / "P0100.png")
    _label_file(root / "labelTxt" / "P0100.txt", ("container-crane",), header=True)  # v1.5 only
    write_image(root / "images" / "P0101.png")  # no label file
    _label_file(root / "labelTxt" / "P0102.txt", ("plane",), header=False)  # no image
    return FixtureInfo(images=8, classes=15, labels=used, skipped=3)


class TestDota(DatasetConformance):
    plugin = DotaDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_dota(root)


class TestDotaOfficialSplit(DatasetConformance):
    plugin = DotaDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        used = _write(root, "train", 6, 0) | _write(root, "val", 3, 50)
        return FixtureInfo(images=9, classes=15, labels=used, train=6, valid=3)


def test_labels_are_the_categories_of_the_objects(tmp_path: Path) -> None:
    make_dota(tmp_path)
    splits = DotaDataset().load(tmp_path)
    by_item = {s.item: s.labels for s in splits.train + splits.valid}
    assert by_item["images/P0002.png"] == ("harbor", "ship")
    assert by_item["images/P0003.png"] == ()
    assert any("container-crane" in e for e in splits.skipped_examples)
