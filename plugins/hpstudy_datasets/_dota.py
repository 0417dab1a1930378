"""``dota``: DOTA v1.0 aerial images, as image-level labels of the 15 object categories."""

from __future__ import annotations

from pathlib import Path

from hpstudy.datasets import Splits, Task
from hpstudy_datasets._common import Row, SkipLog, StudyDataset, files_in

__all__ = ["DotaDataset"]

#: DOTA v1.0's categories, spelled as in ``labelTxt``.
CATEGORIES: tuple[str, ...] = (
    "plane", "ship", "storage-tank", "baseball-diamond", "tennis-court", "basketball-court",
    "ground-track-field", "harbor", "bridge", "large-vehicle", "small-vehicle", "helicopter",
    "roundabout", "soccer-ball-field", "swimming-pool",
)


def _labels(text: str) -> tuple[tuple[str, ...], str | None]:
    """The categories of one ``labelTxt`` file, or an error string."""
    found: set[str] = set()
    for n, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens or (len(tokens) < 9 and ":" in line):  # imagesource:..., gsd:...
            continue
        if len(tokens) not in (9, 10):
            return (), f"line {n}: expected 8 coordinates, a category and a difficulty"
        try:
            [float(t) for t in tokens[:8]]
        except ValueError:
            return (), f"line {n}: coordinates are not numbers"
        if tokens[8] not in CATEGORIES:
            return (), f"unknown category {tokens[8]!r}"
        found.add(tokens[8])
    return tuple(sorted(found)), None


class DotaDataset(StudyDataset):
    """DOTA v1.0 (Xia et al., 2018), read as multi-label classification of whole images.

    Layout: ``images/P####.png`` and ``labelTxt/P####.txt``; each label file may start with
    ``imagesource:`` and ``gsd:`` lines, then one object per line: ``x1 y1 x2 y2 x3 y3 x4 y4
    category difficult``. An image's labels are the categories of all its objects (``difficult``
    ones included: the flag concerns localisation); an image with no object has no label. An image
    without label file, a label file without image, a malformed line, a category outside the 15 of
    v1.0 (e.g. v1.5's ``container-crane``) or a damaged image skips that image, counted.

    Split: when the folder holds the official ``train/`` and ``val/`` sub-folders (each with
    ``images/`` and ``labelTxt/``, as the v1.0 archives unpack), those; otherwise a fixed 80/20
    split of the flat layout (seed 0). Metric: macro F1 at threshold 0.5 (``macro_f1``). Download:
    Google Drive or Baidu only; see :attr:`manual_steps`.
    """

    name = "dota"
    task = Task.MULTI_LABEL
    augment = frozenset({"vflip", "rot90"})  # no "up" in aerial / microscopy images
    metric = "macro_f1"
    known_classes = CATEGORIES
    image_size = 224
    layout = (
        "<root>/images/P####.png and <root>/labelTxt/P####.txt (or the official <root>/train/ and "
        "<root>/val/, each with images/ and labelTxt/)"
    )
    required = (("images", "train/images"), ("labelTxt", "train/labelTxt"))
    manual_steps = (
        "Open https://captain-whu.github.io/DOTA/dataset.html and follow the v1.0 download links "
        "(Google Drive or Baidu Pan)",
        "download the training and validation images (part1-3) and labelTxt-v1.0",
        "unzip them so that <root>/train/images/P####.png and <root>/train/labelTxt/P####.txt (and "
        "the same under <root>/val/) exist, where <root> is <data_root>/dota",
    )

    def _read(self, root: Path, prefix: str, skip: SkipLog) -> list[Row]:
        images = {n[:-4] for n in files_in(root / prefix / "images") if n.endswith(".png")}
        labels = {n[:-4] for n in files_in(root / prefix / "labelTxt") if n.endswith(".txt")}
        for stem in sorted(labels - images):
            skip.add(f"{prefix}images/{stem}.png", "file missing")
        for stem in sorted(images - labels):
            skip.add(f"{prefix}labelTxt/{stem}.txt", "file missing")
        rows: list[Row] = []
        for stem in sorted(images & labels):
            path = root / prefix / "labelTxt" / f"{stem}.txt"
            found, error = _labels(path.read_text(encoding="utf-8", errors="replace"))
            if error:
                skip.add(f"{prefix}labelTxt/{stem}.txt", error)
            else:
                rows.append((f"{prefix}images/{stem}.png", found))
        return self.verified(root, rows, skip, lambda item: [root / item])

    def load(self, root: Path) -> Splits:
        skip = SkipLog()
        if (root / "train" / "images").is_dir() and (root / "val" / "images").is_dir():
            train, valid = self._read(root, "train/", skip), self._read(root, "val/", skip)
            return self.splits(CATEGORIES, train, valid, skip)
        rows = self._read(root, "", skip)
        return self.seeded_splits(CATEGORIES, rows, skip)
