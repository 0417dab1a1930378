"""``pets``: the Oxford-IIIT Pet dataset, 37 cat and dog breeds."""

from __future__ import annotations

from pathlib import Path

from hpstudy.datasets import Splits, Task
from hpstudy.datasets._download import Source
from hpstudy_datasets._common import Row, SkipLog, StudyDataset, files_in

__all__ = ["PetsDataset"]

_URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/data/"


class PetsDataset(StudyDataset):
    """Oxford-IIIT Pet (Parkhi et al., 2012) as distributed by the VGG group.

    Layout: ``images/<Breed_Name>_<n>.jpg`` and ``annotations/trainval.txt`` / ``test.txt``, whose
    lines read ``Image CLASS-ID SPECIES BREED-ID`` (``#`` lines are comments). The class of an image
    is its file name without the trailing ``_<n>``: 37 breeds, cats capitalised
    (``Abyssinian``), dogs in lower case (``american_bulldog``). Images not named by either list are
    not used (the archive ships a few stray files).

    Split: the official one, ``trainval.txt`` (3,680 images) for training and ``test.txt`` (3,669)
    for validation. Metric: accuracy. A list line whose image is missing or damaged is skipped and
    counted. Download: both archives from the VGG site, MD5-checked (``hpstudy datasets download
    pets``).
    """

    name = "pets"
    task = Task.SINGLE_LABEL
    metric = "accuracy"
    image_size = 224
    layout = (
        "<root>/images/<Breed_Name>_<n>.jpg, <root>/annotations/trainval.txt and "
        "<root>/annotations/test.txt"
    )
    required = ("images", "annotations/trainval.txt", "annotations/test.txt")
    downloads = (
        Source(_URL + "images.tar.gz", md5="5c4f3ee8e5d25df40f4fd59a7f44e54c", extract=True),
        Source(_URL + "annotations.tar.gz", md5="95a8c909bbe2e81eed6a22bccdf3f68f", extract=True),
    )

    def load(self, root: Path) -> Splits:
        skip = SkipLog()
        present = files_in(root / "images")
        parts: dict[str, list[Row]] = {}
        breeds: set[str] = set()
        for split in ("trainval", "test"):
            rows: list[Row] = []
            lines = (root / "annotations" / f"{split}.txt").read_text(encoding="utf-8")
            for n, line in enumerate(lines.splitlines(), start=1):
                if not line.strip() or line.startswith("#"):
                    continue
                stem = line.split()[0]
                breed, sep, number = stem.rpartition("_")
                if not sep or not breed or not number.isdigit():
                    skip.add(f"annotations/{split}.txt:{n}", f"not <Breed_Name>_<n>: {stem!r}")
                    continue
                breeds.add(breed)
                if f"{stem}.jpg" not in present:
                    skip.add(f"images/{stem}.jpg", "file missing")
                    continue
                rows.append((f"images/{stem}.jpg", (breed,)))
            parts[split] = self.verified(root, rows, skip, lambda item: [root / item])
        classes = sorted(breeds, key=lambda b: (b.lower(), b))
        return self.splits(classes, parts["trainval"], parts["test"], skip)
