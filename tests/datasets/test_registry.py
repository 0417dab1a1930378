from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from hpstudy.datasets import (
    Dataset,
    Splits,
    Task,
    available_datasets,
    broken_plugins,
    get_dataset,
    register_dataset,
    unregister_dataset,
)
from hpstudy.errors import UnknownDatasetError


class _Tiny(Dataset):
    name = "tiny-runtime"
    task = Task.MULTI_LABEL

    def check(self, root: Path) -> None:
        pass

    def load(self, root: Path) -> Splits:
        return Splits(classes=("x",), train=(), valid=())


def _fake_distribution(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_digits_comes_from_hpstudys_own_entry_points() -> None:
    info = available_datasets()["digits"]
    assert info.distribution == "hpstudy"
    assert type(info.dataset).__name__ == "DigitsDataset"


def test_runtime_registration_wins_and_can_be_undone() -> None:
    register_dataset(_Tiny)
    try:
        assert get_dataset("tiny-runtime").task is Task.MULTI_LABEL
        assert available_datasets()["tiny-runtime"].distribution == "runtime"
        with pytest.raises(ValueError, match="already registered"):
            register_dataset(_Tiny)
    finally:
        unregister_dataset("tiny-runtime")
    with pytest.raises(UnknownDatasetError):
        get_dataset("tiny-runtime")


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(
        tmp_path, "broken_plugin",
        "[hpstudy.datasets]\nbroken = hpstudy_no_such_module:Broken\n",
    )
    (tmp_path / "good_plugin_mod.py").write_text(
        "from pathlib import Path\n"
        "from hpstudy.datasets import Dataset, Splits, Task\n"
        "class Good(Dataset):\n"
        "    name = 'good-third-party'\n"
        "    task = Task.SINGLE_LABEL\n"
        "    def check(self, root: Path) -> None: pass\n"
        "    def load(self, root: Path) -> Splits: return Splits(('a',), (), ())\n"
    )
    _fake_distribution(tmp_path, "good_plugin", "[hpstudy.datasets]\ngood = good_plugin_mod:Good\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = {b.name: b for b in broken_plugins()}
    assert "broken" in broken and broken["broken"].distribution == "broken_plugin"
    assert "ModuleNotFoundError" in broken["broken"].error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = available_datasets()
    assert "good-third-party" in names and "digits" in names and "broken" not in names
    assert names["good-third-party"].distribution == "good_plugin"
    assert any("broken" in str(w.message) for w in caught)
    sys.modules.pop("good_plugin_mod", None)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownDatasetError) as err:
        get_dataset("imagenet-22k")
    assert "unknown dataset 'imagenet-22k'" in str(err.value)
    assert "digits" in str(err.value)
