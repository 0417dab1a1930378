"""``cancer``: HAM10000, dermatoscopic images of 7 kinds of pigmented skin lesion."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from hpstudy.datasets import Splits, Task
from hpstudy_datasets._common import Row, SkipLog, StudyDataset, files_in, read_csv, valid_groups

__all__ = ["CancerDataset"]

#: The ``dx`` codes of ``HAM10000_metadata.csv``.
DX: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")

_PARTS = ("HAM10000_images_part_1", "HAM10000_images_part_2")


class CancerDataset(StudyDataset):
    """HAM10000 (Tschandl et al., 2018) as distributed by the Harvard Dataverse (and on Kaggle).

    Layout: ``HAM10000_metadata.csv`` (header ``lesion_id,image_id,dx,dx_type,age,sex,
    localization``) and the images ``<image_id>.jpg`` in ``HAM10000_images_part_1/`` and
    ``HAM10000_images_part_2/``. Single label: the 7 ``dx`` codes of :data:`DX`; a row with another
    code, or whose image is in neither folder or damaged, is skipped and counted.

    Split: none is published, so a fixed 80/20 split (seed 0) of the *lesions*, drawn within each
    ``dx`` class: the several images of one lesion are always on the same side, so validation never
    sees a lesion it trained on. Metric: accuracy, with balanced accuracy reported too (``nv`` is
    two thirds of the data). Download: a click-through licence; see :attr:`manual_steps`.
    """

    name = "cancer"
    task = Task.SINGLE_LABEL
    metric = "accuracy"
    known_classes = DX
    extra_metrics = ("balanced_accuracy",)
    image_size = 224
    layout = (
        "<root>/HAM10000_metadata.csv (lesion_id,image_id,dx,...) and <root>/"
        "HAM10000_images_part_1/<image_id>.jpg, <root>/HAM10000_images_part_2/<image_id>.jpg"
    )
    required = ("HAM10000_metadata.csv", *_PARTS)
    manual_steps = (
        "Either: accept the licence at https://doi.org/10.7910/DVN/DBW86T and download "
        "HAM10000_images_part_1.zip, HAM10000_images_part_2.zip and HAM10000_metadata.tab "
        "(save the latter as HAM10000_metadata.csv)",
        "or, with a Kaggle account: kaggle datasets download -d kmader/skin-cancer-mnist-ham10000",
        "unzip everything into <root> = <data_root>/cancer so that <root>/HAM10000_metadata.csv, "
        "<root>/HAM10000_images_part_1/ and <root>/HAM10000_images_part_2/ exist",
    )

    def load(self, root: Path) -> Splits:
        skip = SkipLog()
        where = {name: part for part in reversed(_PARTS) for name in files_in(root / part)}
        known = set(DX)
        rows: list[Row] = []
        lesion: dict[str, str] = {}
        columns = ("lesion_id", "image_id", "dx")
        for row in read_csv(root / "HAM10000_metadata.csv", columns, self.layout):
            image_id, dx = row["image_id"].strip(), row["dx"].strip()
            file = f"{image_id}.jpg"
            if dx not in known:
                skip.add(f"HAM10000_metadata.csv:{image_id}", f"unknown dx {dx!r}")
            elif file not in where:
                skip.add(f"{_PARTS[0]}/{file}", "file missing (in neither images folder)")
            else:
                item = f"{where[file]}/{file}"
                rows.append((item, (dx,)))
                lesion[item] = row["lesion_id"].strip() or image_id
        rows = self.verified(root, rows, skip, lambda item: [root / item])
        by_dx: dict[str, list[str]] = defaultdict(list)
        for item, (dx,) in rows:
            by_dx[dx].append(lesion[item])
        valid: set[str] = set()
        for dx in sorted(by_dx):
            valid |= valid_groups(by_dx[dx])
        return self.splits(
            DX,
            [r for r in rows if lesion[r[0]] not in valid],
            [r for r in rows if lesion[r[0]] in valid],
            skip,
        )
