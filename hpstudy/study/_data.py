"""A study's data inside one worker: the plugin's splits, decoded once into the image cache (made
square by the spec's ``resize``) and memory-mapped from there, subset per fraction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hpstudy.datasets import Dataset, Splits, fraction_indices, open_dataset
from hpstudy.study._spec import StudySpec

if TYPE_CHECKING:
    from hpstudy.training import DecodedSplit, TrainSettings

__all__ = ["HostSettings", "StudyData"]


@dataclass(frozen=True)
class HostSettings:
    """Where this host keeps a study's data and cache, and how much GPU memory a split may take.

    They differ from host to host and never change a result, so they travel as arguments (from
    the command line to every worker process), not in the spec.

    Attributes:
        data_root: Folder holding the datasets (default ``$HPSTUDY_DATA``).
        cache_dir: Cache root: decoded images in ``<root>/images`` (default ``$HPSTUDY_CACHE``,
            else ``~/.cache/hpstudy``).
        gpu_share: Share of free GPU memory a split's pixels may take (default
            ``$HPSTUDY_GPU_MEMORY_SHARE``, else 0.5).
    """

    data_root: str | None = None
    cache_dir: str | None = None
    gpu_share: float | None = None

    @classmethod
    def of(cls, data_root: str | Path | None = None, cache_dir: str | Path | None = None,
           gpu_share: float | None = None) -> HostSettings:
        """Built from paths of any kind (kept as plain strings, so it pickles and compares)."""
        return cls(None if data_root is None else str(data_root),
                   None if cache_dir is None else str(cache_dir), gpu_share)


@dataclass
class StudyData:
    """The dataset of a study as one worker sees it. Images are decoded on first use, once.

    ``resize`` is the spec's: the validation split is decoded with it; with ``"crop"`` the
    training split is decoded squished with its aspect ratios and cropped at random per epoch
    (see :func:`~hpstudy.cache.cached_split`).
    """

    plugin: Dataset
    root: Path
    splits: Splits
    image_size: int
    seed: int
    cache_dir: str | None = None
    resize: str = "crop"
    gpu_share: float | None = None
    _train: DecodedSplit | None = field(default=None, repr=False)
    _valid: DecodedSplit | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        dataset: str,
        data_root: str | Path | None,
        spec: StudySpec,
        cache_dir: str | Path | None = None,
        gpu_share: float | None = None,
    ) -> StudyData:
        """Resolve the plugin and its root and read its index (not its images).

        Args:
            cache_dir: Cache root (decoded images in ``<root>/images``; default
                ``$HPSTUDY_CACHE``, else ``~/.cache/hpstudy``).
            gpu_share: As :attr:`HostSettings.gpu_share`.
        """
        opened = open_dataset(dataset, data_root)
        return cls(opened.plugin, opened.root, opened.splits,
                   spec.image_size or opened.plugin.image_size, spec.seed,
                   str(cache_dir) if cache_dir is not None else None, spec.resize, gpu_share)

    def settings(
        self, spec: StudySpec, device: str, *, compile_mode: str | None = None,
        seed: int | None = None,
    ) -> TrainSettings:
        """What every trial shares; ``seed`` (default: the spec's) seeds training randomness."""
        from hpstudy.training import TrainSettings

        return TrainSettings(
            arch=spec.arch,
            pretrained=spec.pretrained,
            batch_size=spec.batch_size,
            frozen_epochs=spec.frozen_epochs,
            unfrozen_epochs=spec.unfrozen_epochs,
            n_classes=len(self.splits.classes),
            task=self.plugin.task,
            metric=self.plugin.metric,
            seed=spec.seed if seed is None else seed,
            device=device,
            augment=(self.plugin.augment if spec.augment_hints is None
                     else frozenset(spec.augment_hints)),
            augment_policy=spec.augment_policy,
            extra_metrics=tuple(self.plugin.extra_metrics),
            compile_mode=compile_mode,
            resize=spec.resize,
            drop_last=spec.drop_last,
            gpu_share=self.gpu_share,
        )

    def _decode(self, split: str, samples) -> DecodedSplit:  # noqa: ANN001
        from hpstudy.cache import ImageCache, cached_split

        return cached_split(self.plugin, self.root, split, samples, self.splits.classes,
                            self.image_size, resize=self.resize, train=split == "train",
                            cache=ImageCache(self.cache_dir))

    def valid(self) -> DecodedSplit:
        """The whole validation split (never subset; damaged images left out)."""
        if self._valid is None:
            self._valid = self._decode("valid", self.splits.valid)
        return self._valid

    def train(self, fraction: float) -> DecodedSplit:
        """The training split subset to ``fraction`` (deterministic, stratified when single-label)."""
        if self._train is None:
            self._train = self._decode("train", self.splits.train)
        if fraction == 1.0:
            return self._train
        idx = fraction_indices(self.splits.train, fraction, task=self.plugin.task, seed=self.seed)
        return self._train.select(idx)
