"""``xray``: NIH ChestX-ray14, frontal chest radiographs with 14 text-mined findings."""

from __future__ import annotations

from pathlib import Path

from hpstudy.datasets import Splits, Task
from hpstudy_datasets._common import Row, SkipLog, StudyDataset, files_in, read_csv

__all__ = ["XrayDataset"]

#: The 14 findings in the order of the ChestX-ray14 paper, then ``No Finding`` (always last: the
#: metric ``mean_auroc_findings`` averages over every class but the last).
LABELS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
    "Hernia", "No Finding",
)

_CSV = ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv")


class XrayDataset(StudyDataset):
    """NIH ChestX-ray14 (Wang et al., 2017) as distributed by the NIH Clinical Center (and Kaggle).

    Layout: ``Data_Entry_2017.csv`` (or the 2020 re-release ``Data_Entry_2017_v2020.csv``; header
    ``Image Index,Finding Labels,Follow-up #,Patient ID,...``, findings joined by ``|``), the
    1024x1024 PNGs either all in ``images/`` (the NIH archives ``images_001.tar.gz`` ... unpack
    there) or in ``images_001/images/`` ... ``images_012/images/`` (Kaggle's copy), and optionally
    ``train_val_list.txt`` and ``test_list.txt``. Multi-label over the 15 labels of :data:`LABELS`,
    ``No Finding`` included; a row with another label, or whose PNG is missing or damaged, is
    skipped and counted.

    Split: the official patient-wise one when both list files are present (``train_val_list.txt``
    86,524 images for training, ``test_list.txt`` 25,596 for validation; rows in neither list are
    not used); otherwise a fixed 80/20 split of the *patients* (``Patient ID``, seed 0), so one
    patient's images are never on both sides. Metric: mean AUROC over the 14 findings
    (``mean_auroc_findings``; ``No Finding`` left out; a finding absent from the validation split is
    left out too). Download: the NIH box.com share; see :attr:`manual_steps`.
    """

    name = "xray"
    task = Task.MULTI_LABEL
    metric = "mean_auroc_findings"
    known_classes = LABELS
    extra_metrics = ("mean_auroc",)
    image_size = 224
    layout = (
        "<root>/Data_Entry_2017.csv (Image Index,Finding Labels,...,Patient ID,...), PNGs in "
        "<root>/images/ or <root>/images_0NN/images/, optional <root>/train_val_list.txt and "
        "<root>/test_list.txt"
    )
    required = (_CSV, ("images", "images_001/images"))
    manual_steps = (
        "Open https://nihcc.app.box.com/v/ChestXray-NIHCC (no account needed)",
        "download Data_Entry_2017_v2020.csv, train_val_list.txt, test_list.txt and the folder "
        "images/ (images_001.tar.gz ... images_012.tar.gz; the share's batch_download_zips.py "
        "fetches them all)",
        "extract every archive into <root> (they unpack to <root>/images/), where <root> is "
        "<data_root>/xray",
        "or, with a Kaggle account: kaggle datasets download -d nih-chest-xrays/data, unzipped "
        "into <root> as is",
    )

    def _index(self, root: Path) -> dict[str, str]:
        where = {name: f"images/{name}" for name in files_in(root / "images")}
        for folder in sorted(root.glob("images_[0-9][0-9][0-9]")):
            for name in files_in(folder / "images"):
                where.setdefault(name, f"{folder.name}/images/{name}")
        return where

    def load(self, root: Path) -> Splits:
        skip = SkipLog()
        csv_path = next((root / c for c in _CSV if (root / c).exists()), root / _CSV[0])
        where = self._index(root)
        known = set(LABELS)
        rows: list[Row] = []
        patient: dict[str, str] = {}
        columns = ("Image Index", "Finding Labels", "Patient ID")
        for row in read_csv(csv_path, columns, self.layout):
            name = row["Image Index"].strip()
            labels = tuple(x.strip() for x in row["Finding Labels"].split("|") if x.strip())
            unknown = [x for x in labels if x not in known]
            if unknown or not labels:
                skip.add(f"{csv_path.name}:{name}", f"unknown finding {row['Finding Labels']!r}")
            elif name not in where:
                skip.add(f"images/{name}", "file missing")
            else:
                rows.append((where[name], tuple(sorted(set(labels), key=LABELS.index))))
                patient[where[name]] = row["Patient ID"].strip()
        rows = self.verified(root, rows, skip, lambda item: [root / item])
        lists = root / "train_val_list.txt", root / "test_list.txt"
        if all(p.is_file() for p in lists):
            train_names, test_names = (set(p.read_text().split()) for p in lists)
            return self.splits(
                LABELS,
                [r for r in rows if Path(r[0]).name in train_names],
                [r for r in rows if Path(r[0]).name in test_names],
                skip,
            )
        return self.seeded_splits(LABELS, rows, skip, group=patient.__getitem__)
