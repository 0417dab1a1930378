"""``xray`` on fixtures in the NIH ChestX-ray14 layouts (official lists, and patient split)."""

from __future__ import annotations

from pathlib import Path

from hpstudy_datasets import XrayDataset
from hpstudy_datasets._xray import LABELS

from hpstudy.testing import DatasetConformance, FixtureInfo, write_csv, write_image

HEADER = (
    "Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age",
    "Patient Gender", "View Position", "OriginalImage[Width", "Height]",
    "OriginalImagePixelSpacing[x", "y]",
)
_FINDINGS = ("No Finding", "Effusion|Mass", "Atelectasis", "No Finding", "Cardiomegaly|Effusion")


def make_xray(root: Path, lists: bool = True, patients: int = 5) -> FixtureInfo:
    rows = []
    names = []
    used: set[str] = set()
    for p in range(patients):
        for follow_up in range(2):
            name = f"{p + 1:08d}_{follow_up:03d}.png"
            folder = f"images_00{1 + p % 2}/images"
            write_image(root / folder / name, (20, 20), mode="L", seed=p * 2 + follow_up)
            findings = _FINDINGS[(p + follow_up) % len(_FINDINGS)]
            used.update(findings.split("|"))
            rows.append((name, findings, follow_up, p + 1, 60, "M", "PA", 20, 20, 0.14, 0.14))
            names.append(name)
    rows.append(("00000099_000.png", "Covid", 0, 99, 50, "F", "AP", 20, 20, 0.1, 0.1))
    write_image(root / "images_001/images/00000099_000.png", (20, 20), mode="L")
    rows.append(("00000098_000.png", "Hernia", 0, 98, 50, "F", "AP", 20, 20, 0.1, 0.1))  # no PNG
    write_csv(root / "Data_Entry_2017.csv", HEADER, rows)
    n_test = 4 if lists else None
    if lists:  # the last two patients are the official test set
        (root / "train_val_list.txt").write_text("\n".join(names[:-4] + ["00000098_000.png"]))
        (root / "test_list.txt").write_text("\n".join(names[-4:]))
    return FixtureInfo(
        images=len(names),
        classes=15,
        labels=used,
        train=len(names) - 4 if lists else None,
        valid=n_test,
        skipped=2,
    )


class TestXray(DatasetConformance):
    plugin = XrayDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_xray(root)


class TestXrayPatientSplit(DatasetConformance):
    plugin = XrayDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_xray(root, lists=False)


def test_fifteen_labels_no_finding_last_and_patients_kept_together(tmp_path: Path) -> None:
    make_xray(tmp_path, lists=False, patients=10)
    splits = XrayDataset().load(tmp_path)
    assert len(LABELS) == 15 and splits.classes[-1] == "No Finding"

    def patient(item: str) -> str:
        return Path(item).name.split("_")[0]

    assert not {patient(s.item) for s in splits.train} & {patient(s.item) for s in splits.valid}
    assert len({patient(s.item) for s in splits.valid}) == 2  # 20% of 10 patients


def test_images_folder_and_2020_csv_name(tmp_path: Path) -> None:
    make_xray(tmp_path, lists=True)
    (tmp_path / "Data_Entry_2017.csv").rename(tmp_path / "Data_Entry_2017_v2020.csv")
    (tmp_path / "images").mkdir()
    for png in sorted(tmp_path.glob("images_00?/images/*.png")):
        png.rename(tmp_path / "images" / png.name)
    XrayDataset().check(tmp_path)
    splits = XrayDataset().load(tmp_path)
    assert len(splits.train) == 6 and len(splits.valid) == 4
    assert all(s.item.startswith("images/") for s in splits.train + splits.valid)
