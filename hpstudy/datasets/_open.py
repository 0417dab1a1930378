"""A dataset by name, opened: its plugin, its checked root and its splits' index (no pixels)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hpstudy.datasets._base import Dataset, Splits
from hpstudy.datasets._registry import get_dataset
from hpstudy.datasets._resolve import resolve_root
from hpstudy.errors import DataNotFoundError

__all__ = ["OpenDataset", "open_dataset"]


@dataclass(frozen=True)
class OpenDataset:
    """A registered dataset found on disk: ``plugin``, the folder it reads (``root``) and what
    :meth:`~hpstudy.datasets.Dataset.load` indexed there (``splits``)."""

    plugin: Dataset
    root: Path
    splits: Splits

    def require_images(self) -> OpenDataset:
        """Itself, when both splits hold images.

        Raises:
            DataNotFoundError: Naming the dataset, its root and each split's count.
        """
        if not self.splits.train or not self.splits.valid:
            raise DataNotFoundError(
                f"dataset {self.plugin.name!r} under {self.root} has {len(self.splits.train)} "
                f"training and {len(self.splits.valid)} validation images; both splits need images"
            )
        return self


def open_dataset(dataset: str | Dataset, data_root: str | Path | None = None) -> OpenDataset:
    """Resolve a dataset's plugin (by name, or given), find and check its root under
    ``data_root`` (default ``$HPSTUDY_DATA``; see :func:`resolve_root`), and read its index.

    Raises:
        UnknownDatasetError: If no plugin has that name.
        DataNotFoundError: If the data is missing or incomplete.
    """
    plugin = get_dataset(dataset) if isinstance(dataset, str) else dataset
    root = resolve_root(plugin, data_root)
    return OpenDataset(plugin, root, plugin.load(root))
