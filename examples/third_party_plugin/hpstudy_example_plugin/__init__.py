"""``example-folders``: one folder of images per class, split into ``train/`` and ``valid/``."""

from __future__ import annotations

from pathlib import Path

from hpstudy.datasets import Dataset, Sample, Splits, Task
from hpstudy.errors import DataNotFoundError

__all__ = ["FoldersDataset"]

_LAYOUT = "<root>/train/<class>/*.png|jpg and <root>/valid/<class>/*.png|jpg"
_SUFFIXES = (".png", ".jpg", ".jpeg")


class FoldersDataset(Dataset):
    """Single-label images sorted into one folder per class, in ``train/`` and ``valid/``.

    Classes are the folder names found in ``train/``. A file that does not start like a PNG or
    JPEG is skipped and counted.
    """

    name = "example-folders"
    task = Task.SINGLE_LABEL
    metric = "accuracy"
    image_size = 64

    def check(self, root: Path) -> None:
        for split in ("train", "valid"):
            if not (root / split).is_dir():
                raise DataNotFoundError(
                    f"{root / split} is missing; expected layout: {_LAYOUT}; put your images there"
                )

    def load(self, root: Path) -> Splits:
        classes = tuple(sorted(p.name for p in (root / "train").iterdir() if p.is_dir()))
        skipped: list[str] = []

        def samples(split: str) -> tuple[Sample, ...]:
            out = []
            for cls in classes:
                for path in sorted((root / split / cls).glob("*")):
                    if path.suffix.lower() not in _SUFFIXES:
                        continue
                    head = path.read_bytes()[:8]
                    if not head.startswith((b"\x89PNG", b"\xff\xd8\xff")):
                        skipped.append(f"{path.relative_to(root)}: not an image")
                        continue
                    out.append(Sample(str(path.relative_to(root)), (cls,)))
            return tuple(out)

        train, valid = samples("train"), samples("valid")
        return Splits(classes, train, valid, len(skipped), tuple(skipped[:5]))
