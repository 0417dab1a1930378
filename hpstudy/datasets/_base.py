"""The contract a dataset plugin fulfils."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from PIL import Image

    from hpstudy.datasets._download import Source

__all__ = ["Task", "Sample", "Splits", "Dataset"]


class Task(enum.StrEnum):
    """What a label set means: exactly one class per image, or any number of them."""

    SINGLE_LABEL = "single_label"
    MULTI_LABEL = "multi_label"


@dataclass(frozen=True)
class Sample:
    """One image of a split: a reference its dataset can open, and its class names.

    ``item`` is whatever :meth:`Dataset.image` understands: a path relative to the dataset root for
    most datasets, or a key for datasets that render or compose their images.
    """

    item: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Splits:
    """A dataset's class names and its training and validation samples.

    Every label of every sample is one of ``classes``. Single-label samples carry exactly one label.
    ``skipped`` counts rows the plugin could not use (a missing file, an unknown label), with a few
    examples in ``skipped_examples``; they are reported, never fatal.
    """

    classes: tuple[str, ...]
    train: tuple[Sample, ...]
    valid: tuple[Sample, ...]
    skipped: int = 0
    skipped_examples: tuple[str, ...] = field(default=())


class Dataset(ABC):
    """Base class of every dataset plugin.

    A plugin is a subclass with the class attributes below and the three methods. It is instantiated
    without arguments by the registry; everything that depends on a user's copy of the data takes the
    dataset root as an argument, so one plugin object serves any number of copies.

    Register a subclass in your distribution's metadata::

        [project.entry-points."hpstudy.datasets"]
        mydata = "my_package.module:MyDataset"

    The registry checks ``name``, ``task``, ``metric`` and ``extra_metrics`` when it loads a plugin
    and refuses one it cannot use (:class:`~hpstudy.errors.PluginError`), so a misspelt metric is
    one line at load time, not a failure in every trial.

    Attributes:
        name: The name users pass to ``--dataset``; lower case, no spaces.
        task: :class:`Task` of the labels.
        metric: Name of the primary metric in :mod:`hpstudy.metrics` (higher is better).
        extra_metrics: Names of further :mod:`hpstudy.metrics` metrics worth reporting alongside.
        image_size: Default square training size in pixels, used when a study spec sets none.
        needs_data: ``False`` for datasets that ship with their package (no data root is read).
        version: Bump when the plugin reads images differently, so caches built by an older version
            are not reused.
        known_classes: The dataset's official class list, when it defines one independently of the
            files (shown by ``hpstudy datasets`` without reading any data); empty otherwise.
        augment: Training augmentation hints that suit the images: ``"vflip"`` and ``"rot90"`` for
            aerial and microscopy images that have no "up"; ``"no_hflip"`` for images a mirror
            changes (digits, text). A study's augmentation policy (fastai's ``aug_transforms()``
            defaults, or random resized crops) always applies, left-right flips unless
            ``"no_hflip"``; a spec's ``[augment] hints`` replace these.
        downloads: Files ``hpstudy datasets download`` fetches into :meth:`default_root`
            (:class:`~hpstudy.datasets.Source`: public direct URLs with checksums).
        manual_steps: What to do by hand where the data needs an account or a click-through
            licence; printed by ``hpstudy datasets download`` when there is nothing to fetch.
    """

    name: ClassVar[str]
    task: ClassVar[Task]
    metric: ClassVar[str] = "accuracy"
    extra_metrics: ClassVar[tuple[str, ...]] = ()
    image_size: ClassVar[int] = 224
    needs_data: ClassVar[bool] = True
    version: ClassVar[str] = "1"
    augment: ClassVar[frozenset[str]] = frozenset()
    known_classes: ClassVar[tuple[str, ...]] = ()
    downloads: ClassVar[tuple[Source, ...]] = ()
    manual_steps: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def check(self, root: Path) -> None:
        """Raise :class:`~hpstudy.errors.DataNotFoundError` naming what is missing under ``root``.

        The message names the first missing file or folder and the layout the plugin expects.
        """

    @abstractmethod
    def load(self, root: Path) -> Splits:
        """Read the dataset's index (not its images) under ``root`` into :class:`Splits`."""

    def image(self, root: Path, item: str) -> Image.Image:
        """Open one item as an RGB or grayscale PIL image. The default opens ``root / item``."""
        from PIL import Image

        with Image.open(root / item) as img:
            img.load()
            return img if img.mode in ("RGB", "L") else img.convert("RGB")

    def image_size_of(self, root: Path, item: str) -> tuple[int, int]:
        """Width and height of one item without decoding its pixels (``hpstudy datasets
        describe`` reads every item's). The default reads the header of ``root / item``; plugins
        whose :meth:`image` renders or composes its images override it."""
        from PIL import Image

        with Image.open(root / item) as img:
            return img.size

    def source_paths(self, root: Path, item: str) -> list[Path]:
        """The files an item is decoded from; the image cache watches their size and mtime.

        The default is ``root / item``; plugins that compose or render images override it.
        """
        return [root / item]

    def default_root(self, data_root: Path) -> Path:
        """Where this dataset lives under a shared data root: its own sub-folder by default."""
        return data_root / self.name
