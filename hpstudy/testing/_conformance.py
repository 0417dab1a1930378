"""The conformance suite every dataset plugin passes (after torchvision's ``DatasetTestCase``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

try:
    import pytest
except ImportError as exc:  # pragma: no cover - only plugin test suites import this module
    raise ImportError('hpstudy.testing needs pytest: pip install "hpstudy[testing]"') from exc

from hpstudy.datasets import (
    Dataset,
    Sample,
    Splits,
    Task,
    describe_dataset,
    fraction_indices,
    resolve_root,
)
from hpstudy.datasets._resolve import DATA_ENV
from hpstudy.errors import DataNotFoundError
from hpstudy.testing._files import truncate, write_garbage

__all__ = ["FixtureInfo", "DatasetConformance"]


@dataclass(frozen=True)
class FixtureInfo:
    """What a fixture holds, as its author counted it.

    Attributes:
        images: Usable samples in both splits together.
        classes: ``len(splits.classes)``: the plugin's declared classes (the dataset's full list
            where it defines one, even if the fixture uses fewer).
        labels: The labels that occur in the fixture.
        train: Training samples, when the split is known in advance (an official split).
        valid: Validation samples, likewise.
        skipped: Rows the fixture damaged on purpose (unknown label, missing file, ...).
    """

    images: int
    classes: int
    labels: Iterable[str]
    train: int | None = None
    valid: int | None = None
    skipped: int = 0
    extra: dict[str, object] = field(default_factory=dict)


class DatasetConformance:
    """Subclass it in a test module, set :attr:`plugin` and write :meth:`make_fixture`.

    Every ``test_*`` method builds the fixture under pytest's ``tmp_path`` in the folder the plugin
    expects under a data root (``plugin().default_root(tmp_path / "data")``) and checks one part of
    the plugin contract: the missing-data error, counts, labels, disjoint and stable splits, fraction
    subsets, decoding, ``describe`` and damaged files (truncated, undecodable, missing), which must
    be skipped and counted, never raised.
    """

    plugin: ClassVar[type[Dataset]]
    #: ``True`` when the dataset's index is a folder listing rather than a file that names every
    #: image (a CSV, a list): a deleted image is then simply not listed, so it must vanish from the
    #: splits without being counted as skipped.
    listed: ClassVar[bool] = False

    def make_fixture(self, root: Path) -> FixtureInfo:
        """Write a few fake files in the dataset's real layout under ``root``; say what they hold."""
        raise NotImplementedError

    def image_files(self, root: Path, sample: Sample) -> list[Path]:
        """The files behind one sample, for the damaged-file tests; ``[]`` skips those tests.

        The default is ``[root / sample.item]``; override it for items that are not file paths.
        """
        return [root / sample.item]

    def damage_victim(self, splits: Splits) -> Sample:
        """The sample the damaged-file tests break. Default: the first training sample."""
        return splits.train[0]

    # -- helpers ------------------------------------------------------------------------------

    def _setup(self, tmp_path: Path) -> tuple[Dataset, Path, Path, FixtureInfo]:
        ds = self.plugin()
        data_root = tmp_path / "data"
        root = ds.default_root(data_root)
        root.mkdir(parents=True, exist_ok=True)
        info = self.make_fixture(root)
        return ds, data_root, root, info

    def _loaded(self, tmp_path: Path) -> tuple[Dataset, Path, FixtureInfo, Splits]:
        ds, _, root, info = self._setup(tmp_path)
        return ds, root, info, ds.load(root)

    def _damage(self, tmp_path: Path, how: str) -> None:
        ds, root, info, splits = self._loaded(tmp_path)
        victim = self.damage_victim(splits)
        files = self.image_files(root, victim)
        if not files:
            pytest.skip(f"{ds.name}: items are not image files")
        if how == "truncate":
            truncate(files[0])
        elif how == "garbage":
            write_garbage(files[0])
        else:
            files[0].unlink()
        damaged = ds.load(root)
        items = {s.item for s in damaged.train + damaged.valid}
        assert victim.item not in items, f"{how}: the damaged image is still in the splits"
        assert len(damaged.train) + len(damaged.valid) == info.images - 1
        if how == "delete" and self.listed:  # not listed, so nothing to count
            assert damaged.skipped == splits.skipped, f"{how}: a file not listed is not skipped"
            return
        assert damaged.skipped == splits.skipped + 1, f"{how}: expected one more skipped row"
        assert any(files[0].name in e for e in damaged.skipped_examples), damaged.skipped_examples

    # -- the suite ----------------------------------------------------------------------------

    def test_plugin_attributes(self) -> None:
        from hpstudy.metrics import METRICS

        ds = self.plugin()
        assert isinstance(ds.name, str) and ds.name and " " not in ds.name
        assert isinstance(ds.task, Task)
        assert ds.metric in METRICS, f"unknown metric {ds.metric!r}"
        for m in getattr(ds, "extra_metrics", ()):
            assert m in METRICS, f"unknown extra metric {m!r}"
        assert isinstance(ds.image_size, int) and ds.image_size > 0

    def test_check_accepts_fixture(self, tmp_path: Path) -> None:
        ds, data_root, root, _ = self._setup(tmp_path)
        ds.check(root)
        assert resolve_root(ds, data_root) == root

    def test_data_root_from_environment(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        ds, data_root, root, _ = self._setup(tmp_path)
        monkeypatch.setenv(DATA_ENV, os.fspath(data_root))
        assert resolve_root(ds) == root

    def test_missing_data_error_names_the_layout(self, tmp_path: Path) -> None:
        ds = self.plugin()
        empty = tmp_path / "empty"
        empty.mkdir()
        for call in (lambda: ds.check(empty), lambda: resolve_root(ds, empty)):
            with pytest.raises(DataNotFoundError) as err:
                call()
            message = str(err.value)
            assert "\n" not in message, "the error must be one line"
            assert "expected layout" in message, message
            assert str(empty) in message, message

    def test_counts(self, tmp_path: Path) -> None:
        _, _, info, splits = self._loaded(tmp_path)
        assert len(splits.train) + len(splits.valid) == info.images
        if info.train is not None:
            assert len(splits.train) == info.train
        if info.valid is not None:
            assert len(splits.valid) == info.valid
        assert splits.skipped == info.skipped, splits.skipped_examples
        assert bool(splits.skipped_examples) == bool(splits.skipped)
        assert len(splits.skipped_examples) <= max(splits.skipped, 0)

    def test_labels(self, tmp_path: Path) -> None:
        ds, _, info, splits = self._loaded(tmp_path)
        assert len(splits.classes) == info.classes
        assert len(set(splits.classes)) == len(splits.classes), "classes repeat"
        if ds.known_classes:
            assert set(splits.classes) <= set(ds.known_classes), "classes outside known_classes"
        known = set(splits.classes)
        used: set[str] = set()
        for s in splits.train + splits.valid:
            assert set(s.labels) <= known, s
            assert len(set(s.labels)) == len(s.labels), s
            if ds.task is Task.SINGLE_LABEL:
                assert len(s.labels) == 1, s
            used.update(s.labels)
        assert used == set(info.labels)

    def test_splits_disjoint_and_stable(self, tmp_path: Path) -> None:
        ds, root, _, splits = self._loaded(tmp_path)
        train = [s.item for s in splits.train]
        valid = [s.item for s in splits.valid]
        assert train and valid, "both splits must hold images"
        assert len(set(train)) == len(train) and len(set(valid)) == len(valid)
        assert not set(train) & set(valid)
        assert ds.load(root) == splits, "load() must give the same splits every time"

    def test_fraction_subsets(self, tmp_path: Path) -> None:
        ds, _, _, splits = self._loaded(tmp_path)
        n = len(splits.train)
        for fraction in (0.5, 1.0):
            idx = fraction_indices(splits.train, fraction, task=ds.task, seed=0)
            assert idx == fraction_indices(splits.train, fraction, task=ds.task, seed=0)
            assert idx == sorted(set(idx)) and all(0 <= i < n for i in idx)
            if fraction == 1.0:
                assert len(idx) == n
            elif ds.task is Task.SINGLE_LABEL:
                kept = {splits.train[i].labels[0] for i in idx}
                assert kept == {s.labels[0] for s in splits.train}, "a class vanished"
            else:
                assert len(idx) == max(1, round(fraction * n))

    def test_decoding(self, tmp_path: Path) -> None:
        ds, root, _, splits = self._loaded(tmp_path)
        for s in splits.train + splits.valid:
            img = ds.image(root, s.item)
            assert img.mode in ("RGB", "L"), (s.item, img.mode)
            assert img.width > 0 and img.height > 0
            assert tuple(ds.image_size_of(root, s.item)) == img.size, s.item

    def test_describe(self, tmp_path: Path) -> None:
        ds, data_root, _, info = self._setup(tmp_path)
        d = describe_dataset(ds, data_root)
        assert d.images == info.images
        assert d.classes == info.classes
        assert d.train + d.valid == info.images
        assert d.unreadable == 0
        assert d.skipped == info.skipped
        assert d.avg_width is not None and d.avg_width > 0 and d.imbalance_sd >= 0

    def test_truncated_image_is_skipped(self, tmp_path: Path) -> None:
        self._damage(tmp_path, "truncate")

    def test_undecodable_image_is_skipped(self, tmp_path: Path) -> None:
        self._damage(tmp_path, "garbage")

    def test_missing_image_file_is_skipped(self, tmp_path: Path) -> None:
        self._damage(tmp_path, "delete")
