"""``amazon``: Kaggle's "Planet: Understanding the Amazon from Space", 17 atmospheric and land tags."""

from __future__ import annotations

from pathlib import Path

from hpstudy.datasets import Splits, Task
from hpstudy_datasets._common import Row, SkipLog, StudyDataset, files_in, read_csv

__all__ = ["AmazonDataset"]

#: The competition's 17 tags, spelled as in ``train_v2.csv`` (``artisinal_mine`` included).
TAGS: tuple[str, ...] = (
    "agriculture", "artisinal_mine", "bare_ground", "blooming", "blow_down", "clear", "cloudy",
    "conventional_mine", "cultivation", "habitation", "haze", "partly_cloudy", "primary", "road",
    "selective_logging", "slash_burn", "water",
)


class AmazonDataset(StudyDataset):
    """Planet's 256x256 Amazon chips, as downloaded from the Kaggle competition.

    Layout: ``train_v2.csv`` (header ``image_name,tags``, tags separated by spaces) and
    ``train-jpg/<image_name>.jpg`` (the competition's ``train-jpg.tar.7z``, extracted). Multi-label
    over the 17 tags of :data:`TAGS`; a row with a tag outside them, or whose image is missing or
    damaged, is skipped and counted.

    Split: none is published for the labelled images, so a fixed 80/20 split of the image names
    (seed 0, see :func:`hpstudy_datasets._common.valid_groups`). Metric: F2 averaged over images with
    threshold 0.2 (``f2_samples``), the competition's metric. Download: needs a Kaggle account; see
    :attr:`manual_steps`.
    """

    name = "amazon"
    task = Task.MULTI_LABEL
    augment = frozenset({"vflip", "rot90"})  # no "up" in aerial / microscopy images
    metric = "f2_samples"
    known_classes = TAGS
    image_size = 224
    layout = "<root>/train_v2.csv (image_name,tags) and <root>/train-jpg/<image_name>.jpg"
    required = ("train_v2.csv", "train-jpg")
    manual_steps = (
        "Accept the rules of https://www.kaggle.com/c/planet-understanding-the-amazon-from-space",
        "pip install kaggle, and put your API token in ~/.kaggle/kaggle.json",
        "kaggle competitions download -c planet-understanding-the-amazon-from-space "
        "-f train_v2.csv.zip -f train-jpg.tar.7z",
        "unzip train_v2.csv.zip -d <root> && 7z x train-jpg.tar.7z -so | tar xf - -C <root>",
        "where <root> is <data_root>/amazon; then `hpstudy datasets describe amazon`",
    )

    def load(self, root: Path) -> Splits:
        skip = SkipLog()
        present = files_in(root / "train-jpg")
        known = set(TAGS)
        rows: list[Row] = []
        for row in read_csv(root / "train_v2.csv", ("image_name", "tags"), self.layout):
            name, tags = row["image_name"].strip(), tuple(row["tags"].split())
            unknown = [t for t in tags if t not in known]
            if unknown:
                skip.add(f"train_v2.csv:{name}", f"unknown tag {unknown[0]!r}")
            elif f"{name}.jpg" not in present:
                skip.add(f"train-jpg/{name}.jpg", "file missing")
            else:
                rows.append((f"train-jpg/{name}.jpg", tuple(sorted(set(tags)))))
        rows = self.verified(root, rows, skip, lambda item: [root / item])
        return self.seeded_splits(TAGS, rows, skip)
