"""``cancer`` on a fixture in the HAM10000 layout."""

from __future__ import annotations

from pathlib import Path

from hpstudy_datasets import CancerDataset

from hpstudy.testing import DatasetConformance, FixtureInfo, write_csv, write_image

HEADER = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")


def make_cancer(root: Path) -> FixtureInfo:
    rows = []
    k = 0
    for dx in ("nv", "mel", "bkl"):
        for lesion in range(5):
            for _ in range(1 + lesion % 2):  # lesions with one or two images
                image_id = f"ISIC_{k:07d}"
                part = "HAM10000_images_part_1" if k % 2 else "HAM10000_images_part_2"
                write_image(root / part / f"{image_id}.jpg", (30, 20), seed=k)
                rows.append((f"HAM_{dx}{lesion}", image_id, dx, "histo", 50, "male", "back"))
                k += 1
    rows.append(("HAM_x", "ISIC_9000000", "melanomaish", "histo", 40, "female", "face"))
    write_image(root / "HAM10000_images_part_1" / "ISIC_9000000.jpg")
    rows.append(("HAM_y", "ISIC_9000001", "nv", "histo", 40, "female", "face"))  # no file
    write_csv(root / "HAM10000_metadata.csv", HEADER, rows)
    return FixtureInfo(images=k, classes=7, labels={"nv", "mel", "bkl"}, skipped=2)


class TestCancer(DatasetConformance):
    plugin = CancerDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_cancer(root)


def test_a_lesion_never_spans_both_splits(tmp_path: Path) -> None:
    make_cancer(tmp_path)
    splits = CancerDataset().load(tmp_path)
    lesion = {}
    for line in (tmp_path / "HAM10000_metadata.csv").read_text().splitlines()[1:]:
        lesion_id, image_id = line.split(",")[:2]
        lesion[image_id] = lesion_id
    train = {lesion[Path(s.item).stem] for s in splits.train}
    valid = {lesion[Path(s.item).stem] for s in splits.valid}
    assert valid and not train & valid
    assert {s.labels[0] for s in splits.valid} == {"nv", "mel", "bkl"}  # drawn within each dx
    assert CancerDataset.extra_metrics == ("balanced_accuracy",)
