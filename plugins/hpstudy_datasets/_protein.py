"""``protein``: the Human Protein Atlas image classification (Kaggle 2018), 28 locations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hpstudy.datasets import Splits, Task
from hpstudy_datasets._common import Row, SkipLog, StudyDataset, files_in, read_csv

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ProteinDataset"]

#: The 28 subcellular locations, indexed by the integers of ``train.csv``'s ``Target`` column.
LOCATIONS: tuple[str, ...] = (
    "Nucleoplasm", "Nuclear membrane", "Nucleoli", "Nucleoli fibrillar center",
    "Nuclear speckles", "Nuclear bodies", "Endoplasmic reticulum", "Golgi apparatus",
    "Peroxisomes", "Endosomes", "Lysosomes", "Intermediate filaments", "Actin filaments",
    "Focal adhesion sites", "Microtubules", "Microtubule ends", "Cytokinetic bridge",
    "Mitotic spindle", "Microtubule organizing center", "Centrosome", "Lipid droplets",
    "Plasma membrane", "Cell junctions", "Mitochondria", "Aggresome", "Cytosol",
    "Cytoplasmic bodies", "Rods & rings",
)

CHANNELS: tuple[str, ...] = ("red", "green", "blue", "yellow")


class ProteinDataset(StudyDataset):
    """Human Protein Atlas Image Classification (Kaggle, 2018).

    Layout: ``train.csv`` (header ``Id,Target``, ``Target`` = space-separated integers 0-27) and
    four grayscale 512x512 PNGs per image, ``train/<Id>_{red,green,blue,yellow}.png``. Multi-label
    over the 28 locations of :data:`LOCATIONS` (class names, in ``Target`` order). An item is
    ``train/<Id>``; a row with a target outside 0-27 or missing/damaged channel file is skipped and
    counted.

    RGB image: the protein of interest (green) stays green, microtubules (red) red, the nucleus
    (blue) blue, and the endoplasmic reticulum (yellow) is added half to red and half to green
    (yellow = red + green), each channel clipped at 255: ``R = min(255, red + yellow/2)``,
    ``G = min(255, green + yellow/2)``, ``B = blue``.

    Split: none is published for the labelled images, so a fixed 80/20 split of the ``Id`` values
    (seed 0). Metric: macro F1 at threshold 0.5 (``macro_f1``), the competition's metric. Download:
    needs a Kaggle account; see :attr:`manual_steps`.
    """

    name = "protein"
    task = Task.MULTI_LABEL
    augment = frozenset({"vflip", "rot90"})  # no "up" in aerial / microscopy images
    metric = "macro_f1"
    known_classes = LOCATIONS
    image_size = 224
    layout = "<root>/train.csv (Id,Target) and <root>/train/<Id>_{red,green,blue,yellow}.png"
    required = ("train.csv", "train")
    manual_steps = (
        "Accept the rules of https://www.kaggle.com/c/human-protein-atlas-image-classification",
        "pip install kaggle, and put your API token in ~/.kaggle/kaggle.json",
        "kaggle competitions download -c human-protein-atlas-image-classification -f train.csv "
        "-f train.zip",
        "unzip train.zip -d <root>/train and put train.csv in <root>, where <root> is "
        "<data_root>/protein",
    )

    def files(self, root: Path, item: str) -> list[Path]:
        """The four channel files of ``item`` (``train/<Id>``), in :data:`CHANNELS` order."""
        return [root / f"{item}_{c}.png" for c in CHANNELS]

    def load(self, root: Path) -> Splits:
        skip = SkipLog()
        present = files_in(root / "train")
        rows: list[Row] = []
        for row in read_csv(root / "train.csv", ("Id", "Target"), self.layout):
            image_id, target = row["Id"].strip(), row["Target"].split()
            bad = [t for t in target if not t.isdigit() or int(t) >= len(LOCATIONS)]
            missing = [c for c in CHANNELS if f"{image_id}_{c}.png" not in present]
            if bad:
                skip.add(f"train.csv:{image_id}", f"unknown target {bad[0]!r}")
            elif missing:
                skip.add(f"train/{image_id}_{missing[0]}.png", "file missing")
            else:
                labels = tuple(sorted({LOCATIONS[int(t)] for t in target}, key=LOCATIONS.index))
                rows.append((f"train/{image_id}", labels))
        rows = self.verified(root, rows, skip, lambda item: self.files(root, item))
        return self.seeded_splits(LOCATIONS, rows, skip)

    def image(self, root: Path, item: str) -> Image.Image:
        import numpy as np
        from PIL import Image

        planes = []
        for path in self.files(root, item):
            with Image.open(path) as img:
                planes.append(np.asarray(img.convert("L"), dtype=np.uint16))
        red, green, blue, yellow = planes
        rgb = np.stack([red + yellow // 2, green + yellow // 2, blue], axis=-1)
        return Image.fromarray(np.minimum(rgb, 255).astype(np.uint8), mode="RGB")

    def source_paths(self, root: Path, item: str) -> list[Path]:
        """The four channel PNGs of the item."""
        return list(self.files(root, item))

    def image_size_of(self, root: Path, item: str) -> tuple[int, int]:
        """Width and height from the red channel's header."""
        from PIL import Image

        with Image.open(self.files(root, item)[0]) as img:
            return img.size
