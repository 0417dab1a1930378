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

    Classes are the folder names found in ``train/``. A file that does not start and end like a
    PNG or JPEG (undecodable, or cut short by an interrupted copy) is skipped and counted; only
    its first and last bytes are read.
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
                    problem = _damage(path)
                    if problem:
                        skipped.append(f"{path.relative_to(root)}: {problem}")
                        continue
                    out.append(Sample(str(path.relative_to(root)), (cls,)))
            return tuple(out)

        train, valid = samples("train"), samples("valid")
        return Splits(classes, train, valid, len(skipped), tuple(skipped[:5]))


_ENDS = {b"\x89PNG": b"IEND\xaeB`\x82", b"\xff\xd8\xff": b"\xff\xd9"}


def _damage(path: Path) -> str | None:
    """What is wrong with an image file, from its first and last bytes (``None``: nothing)."""
    with path.open("rb") as f:
        head = f.read(8)
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 16))
        tail = f.read()
    for magic, end in _ENDS.items():
        if head.startswith(magic):
            return None if end in tail else "truncated"
    return "not an image"
