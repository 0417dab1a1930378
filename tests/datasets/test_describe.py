"""``describe_dataset`` and ``hpstudy datasets describe`` on a fixture with known numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hpstudy.cli import cli
from hpstudy.datasets import Dataset, Sample, Splits, Task, describe_dataset, register_dataset
from hpstudy.datasets import unregister_dataset as _unregister
from hpstudy.errors import DataNotFoundError
from hpstudy.testing import write_image


class Folders(Dataset):
    """``<root>/<split>/<class>/*.png``: enough of a plugin to describe."""

    name = "describe-fixture"
    task = Task.SINGLE_LABEL

    def check(self, root: Path) -> None:
        if not (root / "train").is_dir():
            raise DataNotFoundError(f"{root / 'train'} is missing; expected layout: <root>/train/")

    def load(self, root: Path) -> Splits:
        def rows(split: str) -> tuple[Sample, ...]:
            return tuple(Sample(str(p.relative_to(root)), (p.parent.name,))
                         for p in sorted((root / split).glob("*/*.png")))

        return Splits(("a", "b", "c"), rows("train"), rows("valid"), skipped=1,
                      skipped_examples=("train/a/x.png: file missing",))


@pytest.fixture
def data_root(tmp_path: Path):  # noqa: ANN201
    root = tmp_path / Folders.name
    # class a: 3 images (2 train, 1 valid), b: 1, c: 0 -> per class [3, 1, 0], sd = 1.2472
    for split, cls, i, size in [("train", "a", 0, (10, 20)), ("train", "a", 1, (30, 40)),
                                ("valid", "a", 2, (50, 60)), ("train", "b", 3, (70, 80))]:
        write_image(root / split / cls / f"{i}.png", size)
    register_dataset(Folders, replace=True)
    yield tmp_path
    _unregister(Folders.name)


def test_counts_sizes_and_imbalance(data_root: Path) -> None:
    d = describe_dataset(Folders(), data_root)
    assert (d.images, d.classes, d.train, d.valid, d.skipped) == (4, 3, 3, 1, 1)
    assert (d.avg_width, d.avg_height) == (40.0, 50.0)
    assert d.imbalance_sd == pytest.approx(1.2472, abs=1e-4)
    assert d.task == "single_label" and d.unreadable == 0


def test_progress_is_reported_to_the_end(data_root: Path) -> None:
    seen: list[tuple[int, int]] = []
    describe_dataset(Folders(), data_root, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (4, 4)


def test_unreadable_header_is_counted_not_raised(data_root: Path) -> None:
    (data_root / Folders.name / "train" / "b" / "3.png").write_bytes(b"nope")
    d = describe_dataset(Folders(), data_root)
    assert d.unreadable == 1 and d.avg_width == 30.0


def test_cli_json_keys(data_root: Path) -> None:
    result = CliRunner().invoke(
        cli, ["datasets", "describe", Folders.name, "--data-root", str(data_root), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("images", "classes", "avg_width", "avg_height", "imbalance_sd", "task", "train",
                "valid"):
        assert key in data
    assert data["images"] == 4 and data["valid"] == 1 and data["avg_height"] == 50.0


def test_cli_table(data_root: Path) -> None:
    result = CliRunner().invoke(
        cli, ["datasets", "describe", Folders.name, "--data-root", str(data_root)]
    )
    assert result.exit_code == 0, result.output
    assert "40 x 50" in result.stdout and "single_label" in result.stdout


def test_cli_missing_data_is_one_line_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "hpstudy", "datasets", "describe", "pets", "--data-root",
         str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "expected layout" in proc.stderr and "Traceback" not in proc.stderr
