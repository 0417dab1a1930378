"""A study's data inside one worker: the plugin's splits, decoded once, subset per fraction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hpstudy.datasets import Dataset, Splits, fraction_indices, get_dataset, resolve_root
from hpstudy.study._spec import StudySpec

if TYPE_CHECKING:
    from hpstudy.training import DecodedSplit, TrainSettings

__all__ = ["StudyData"]


@dataclass
class StudyData:
    """The dataset of a study as one worker sees it. Images are decoded on first use, once."""

    plugin: Dataset
    root: Path
    splits: Splits
    image_size: int
    seed: int
    _train: DecodedSplit | None = field(default=None, repr=False)
    _valid: DecodedSplit | None = field(default=None, repr=False)

    @classmethod
    def open(cls, dataset: str, data_root: str | Path | None, spec: StudySpec) -> StudyData:
        plugin = get_dataset(dataset)
        root = resolve_root(plugin, data_root)
        splits = plugin.load(root)
        return cls(plugin, root, splits, spec.image_size or plugin.image_size, spec.seed)

    def settings(self, spec: StudySpec, device: str) -> TrainSettings:
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
            seed=spec.seed,
            device=device,
        )

    def _decode(self, samples) -> DecodedSplit:  # noqa: ANN001
        from hpstudy.training import decode_split

        return decode_split(self.plugin, self.root, samples, self.splits.classes, self.image_size)

    def valid(self) -> DecodedSplit:
        """The whole validation split (never subset)."""
        if self._valid is None:
            self._valid = self._decode(self.splits.valid)
        return self._valid

    def train(self, fraction: float) -> DecodedSplit:
        """The training split subset to ``fraction`` (deterministic, stratified when single-label)."""
        if self._train is None:
            self._train = self._decode(self.splits.train)
        if fraction == 1.0:
            return self._train
        idx = fraction_indices(self.splits.train, fraction, task=self.plugin.task, seed=self.seed)
        return self._train.subset(idx)
