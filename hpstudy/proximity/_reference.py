"""A reference dataset's class means, saved to a shareable ``.npz`` with what they came from."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpstudy.errors import HpstudyError, ReferenceMismatchError
from hpstudy.proximity._class_means import ClassMeans

__all__ = ["Reference", "load_reference"]

_FORMAT = "hpstudy-proximity-reference/1"


@dataclass(frozen=True)
class Reference:
    """Class means of a reference dataset (Tiny-ImageNet for the study) and their provenance.

    A proximity is only meaningful between features of the same backbone, weights and image size;
    :meth:`check` refuses anything else.
    """

    means: ClassMeans
    dataset: str
    version: str
    arch: str
    weights: str
    size: int
    n_images: int

    def describe(self) -> dict[str, Any]:
        """Plain data naming the reference (stored with every proximity computed against it)."""
        return {
            "dataset": self.dataset,
            "version": self.version,
            "arch": self.arch,
            "weights": self.weights,
            "size": self.size,
            "classes": len(self.means.classes),
            "n_images": self.n_images,
        }

    def check(self, arch: str, weights: str, size: int) -> None:
        """Refuse features computed another way.

        Raises:
            ReferenceMismatchError: Naming each field that differs.
        """
        wrong = [
            f"{name} {mine!r} (features use {theirs!r})"
            for name, mine, theirs in (
                ("arch", self.arch, arch),
                ("weights", self.weights, weights),
                ("image size", self.size, size),
            )
            if mine != theirs
        ]
        if wrong:
            raise ReferenceMismatchError(
                f"the reference of {self.dataset!r} was computed with " + ", ".join(wrong)
                + "; rebuild it with `hpstudy proximity reference` and the same --study"
            )

    def save(self, path: str | Path) -> Path:
        """Write the reference to ``path`` (``.npz``, written atomically). Returns the path."""
        path = Path(path).expanduser()
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        meta = {"format": _FORMAT, **self.describe()}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(
                    f,
                    means=self.means.means.astype(np.float32),
                    weights=self.means.weights,
                    classes=np.array(self.means.classes, dtype=str),
                    meta=np.array(json.dumps(meta)),
                )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path


def load_reference(path: str | Path) -> Reference:
    """Read a reference written by :meth:`Reference.save`.

    Raises:
        HpstudyError: If the file is missing or is not a hpstudy reference.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise HpstudyError(
            f"no reference file at {path}; create one with "
            "`hpstudy proximity reference --dataset tiny-imagenet --out ref.npz`"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            means = ClassMeans(
                classes=tuple(str(c) for c in z["classes"]),
                means=z["means"].astype(np.float64),
                weights=z["weights"].astype(np.float64),
            )
        if meta.get("format") != _FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        return Reference(
            means=means,
            dataset=str(meta["dataset"]),
            version=str(meta["version"]),
            arch=str(meta["arch"]),
            weights=str(meta["weights"]),
            size=int(meta["size"]),
            n_images=int(meta["n_images"]),
        )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise HpstudyError(
            f"{path} is not a hpstudy proximity reference ({exc}); create one with "
            "`hpstudy proximity reference`"
        ) from None
