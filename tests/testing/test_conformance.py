"""The conformance suite fails plugins that break the contract (it is not a rubber stamp)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpstudy.datasets import Dataset, Sample, Splits, Task
from hpstudy.testing import DatasetConformance, FixtureInfo, write_image


class _Sloppy(Dataset):
    """Raises a bare FileNotFoundError, crashes on a damaged image, and splits overlap."""

    name = "sloppy"
    task = Task.SINGLE_LABEL

    def check(self, root: Path) -> None:
        if not (root / "img").is_dir():
            raise FileNotFoundError(root / "img")

    def load(self, root: Path) -> Splits:
        from PIL import Image

        samples = []
        for p in sorted((root / "img").glob("*.png")):
            with Image.open(p) as img:
                img.load()  # decodes everything: a damaged file raises here
            samples.append(Sample(f"img/{p.name}", (p.stem[0],)))
        return Splits(("a", "b"), tuple(samples), tuple(samples[:1]))


class _Suite(DatasetConformance):
    plugin = _Sloppy

    def make_fixture(self, root: Path) -> FixtureInfo:
        for i in range(2):
            write_image(root / "img" / f"a{i}.png", (8, 8))
            write_image(root / "img" / f"b{i}.png", (8, 8))
        return FixtureInfo(images=4, classes=2, labels={"a", "b"})


@pytest.mark.parametrize(
    ("test", "error"),
    [
        ("test_missing_data_error_names_the_layout", FileNotFoundError),
        ("test_splits_disjoint_and_stable", AssertionError),
        ("test_counts", AssertionError),
        ("test_truncated_image_is_skipped", OSError),
    ],
)
def test_suite_catches_contract_breaches(tmp_path: Path, test: str, error: type) -> None:
    with pytest.raises(error):
        getattr(_Suite(), test)(tmp_path)


def test_suite_passes_the_parts_the_plugin_gets_right(tmp_path: Path) -> None:
    suite = _Suite()
    suite.test_plugin_attributes()
    suite.test_check_accepts_fixture(tmp_path / "a")
    suite.test_decoding(tmp_path / "b")
