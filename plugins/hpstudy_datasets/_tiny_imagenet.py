"""``tiny-imagenet``: Tiny ImageNet (CS231n), 200 ImageNet classes at 64x64, the study's ImageNet
reference."""

from __future__ import annotations

from pathlib import Path

from hpstudy.datasets import Splits, Task
from hpstudy.datasets._download import Source
from hpstudy_datasets._common import Row, SkipLog, StudyDataset, files_in

__all__ = ["TinyImageNetDataset"]

_FOLDER = "tiny-imagenet-200"


class TinyImageNetDataset(StudyDataset):
    """Tiny ImageNet as distributed in ``tiny-imagenet-200.zip`` (Stanford CS231n).

    Layout: the folder ``tiny-imagenet-200/`` with ``wnids.txt`` (the 200 WordNet ids, the class
    names), ``words.txt`` (id to words; not needed), ``train/<wnid>/images/*.JPEG`` (500 per class)
    and ``val/images/*.JPEG`` labelled by ``val/val_annotations.txt`` (tab-separated ``file wnid
    x y w h``). The folder may be the dataset root itself or inside it: both
    ``<data_root>/tiny-imagenet/tiny-imagenet-200/`` (what the zip unpacks to) and
    ``<data_root>/tiny-imagenet/`` holding ``wnids.txt`` work, and so does
    ``<data_root>/tiny-imagenet-200/``. The unlabelled ``test/`` folder is not used. A training
    folder or validation line with a wnid outside ``wnids.txt``, or a missing or damaged image, is
    skipped and counted.

    Split: the official one, ``train/`` (100,000 images) and ``val/`` (10,000). Metric: accuracy.
    Download: the zip from cs231n.stanford.edu, MD5-checked.
    """

    name = "tiny-imagenet"
    task = Task.SINGLE_LABEL
    metric = "accuracy"
    image_size = 64
    layout = (
        "<root>/tiny-imagenet-200/ (or <root> itself) with wnids.txt, "
        "train/<wnid>/images/*.JPEG, val/images/*.JPEG and val/val_annotations.txt"
    )
    required = ()
    downloads = (
        Source(
            "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
            md5="90528d7ca1a48142e341f4ef8d21d0de",
            extract=True,
        ),
    )

    def default_root(self, data_root: Path) -> Path:
        own = data_root / self.name
        if not own.is_dir() and (data_root / _FOLDER).is_dir():
            return data_root / _FOLDER
        return own

    @staticmethod
    def _prefix(root: Path) -> str:
        return f"{_FOLDER}/" if (root / _FOLDER / "wnids.txt").is_file() else ""

    def check(self, root: Path) -> None:
        prefix = self._prefix(root)
        for rel in ("wnids.txt", "train", "val/val_annotations.txt"):
            if not (root / prefix / rel).exists():
                raise self.missing(root / (prefix or f"{_FOLDER}/") / rel)

    def load(self, root: Path) -> Splits:
        skip = SkipLog()
        prefix = self._prefix(root)
        base = root / prefix
        classes = tuple(dict.fromkeys((base / "wnids.txt").read_text().split()))
        known = set(classes)
        train: list[Row] = []
        for wnid in sorted(files_in(base / "train")):
            names = sorted(n for n in files_in(base / "train" / wnid / "images")
                           if n.endswith(".JPEG"))
            if wnid not in known:
                for n in names or ["(empty)"]:
                    skip.add(f"{prefix}train/{wnid}/images/{n}", f"wnid {wnid!r} not in wnids.txt")
                continue
            train.extend((f"{prefix}train/{wnid}/images/{n}", (wnid,)) for n in names)
        present = files_in(base / "val" / "images")
        valid: list[Row] = []
        annotations = (base / "val" / "val_annotations.txt").read_text().splitlines()
        for n, line in enumerate(annotations, start=1):
            fields = line.split("\t") if "\t" in line else line.split()
            if len(fields) < 2:
                if line.strip():
                    skip.add(f"{prefix}val/val_annotations.txt:{n}", "malformed line")
                continue
            file, wnid = fields[0].strip(), fields[1].strip()
            if wnid not in known:
                skip.add(f"{prefix}val/images/{file}", f"wnid {wnid!r} not in wnids.txt")
            elif file not in present:
                skip.add(f"{prefix}val/images/{file}", "file missing")
            else:
                valid.append((f"{prefix}val/images/{file}", (wnid,)))

        def paths(item: str) -> list[Path]:
            return [root / item]

        train = self.verified(root, train, skip, paths)
        valid = self.verified(root, valid, skip, paths)
        return self.splits(classes, train, valid, skip)
