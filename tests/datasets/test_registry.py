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
from hpstudy.errors import PluginError, UnknownDatasetError


class _Tiny(Dataset):
    name = "tiny-runtime"
    task = Task.MULTI_LABEL

    def check(self, root: Path) -> None:
        pass

    def load(self, root: Path) -> Splits:
        return Splits(classes=("x",), train=(), valid=())


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


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(fake_distribution) -> None:  # noqa: ANN001
    fake_distribution("broken_plugin", "[hpstudy.datasets]\nbroken = hpstudy_no_such_module:Broken\n")
    fake_distribution("good_plugin", "[hpstudy.datasets]\ngood = good_plugin_mod:Good\n", {
        "good_plugin_mod": "from pathlib import Path\n"
        "from hpstudy.datasets import Dataset, Splits, Task\n"
        "class Good(Dataset):\n"
        "    name = 'good-third-party'\n"
        "    task = Task.SINGLE_LABEL\n"
        "    def check(self, root: Path) -> None: pass\n"
        "    def load(self, root: Path) -> Splits: return Splits(('a',), (), ())\n"
    })
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


def test_a_plugin_that_fails_to_import_is_the_cause_when_asked_for(fake_distribution) -> None:  # noqa: ANN001
    fake_distribution("broken_plugin", "[hpstudy.datasets]\nbroken = hpstudy_no_such_module:Broken\n")
    with warnings.catch_warnings(record=True) as caught, pytest.raises(UnknownDatasetError) as err:
        warnings.simplefilter("always")
        get_dataset("broken")
    assert str(err.value) == (
        "dataset plugin 'broken' from broken_plugin failed to load (ModuleNotFoundError: No module "
        "named 'hpstudy_no_such_module'); fix or reinstall broken_plugin (`hpstudy datasets` lists "
        "every plugin)"
    )
    assert caught == []  # the error says it all; no second report of the same failure


KNOWN_METRICS = ("accuracy, balanced_accuracy, f2_samples, macro_f1, map3, mean_auroc, "
                 "mean_auroc_findings")

_MISSPELT = {
    "misspelt_plugin_mod": "from pathlib import Path\n"
    "from hpstudy.datasets import Dataset, Splits, Task\n"
    "class Misspelt(Dataset):\n"
    "    name = 'misspelt'\n"
    "    task = Task.SINGLE_LABEL\n"
    "    metric = 'acuracy'\n"
    "    def check(self, root: Path) -> None: pass\n"
    "    def load(self, root: Path) -> Splits: return Splits(('a',), (), ())\n"
}


def test_a_runtime_plugin_with_an_unknown_metric_is_refused_in_one_line() -> None:
    class Misspelt(_Tiny):
        name = "tiny-misspelt"
        metric = "acuracy"

    with pytest.raises(PluginError) as err:
        register_dataset(Misspelt)
    assert str(err.value) == (
        f"dataset plugin 'tiny-misspelt' ({__name__}:test_a_runtime_plugin_with_an_unknown_metric_"
        "is_refused_in_one_line.<locals>.Misspelt, registered at runtime) is refused: metric "
        f"'acuracy' is not a metric of hpstudy.metrics; set Misspelt.metric to one of {KNOWN_METRICS}"
    )
    with pytest.raises(UnknownDatasetError):
        get_dataset("tiny-misspelt")


def test_every_problem_of_a_runtime_plugin_is_in_its_one_line() -> None:
    class Sloppy(_Tiny):
        name = "tiny sloppy"
        task = "single_label"  # type: ignore[assignment]
        extra_metrics = ("map3", "auc", "top5")

    with pytest.raises(PluginError) as err:
        register_dataset(Sloppy())
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("dataset plugin 'tiny sloppy' (")
    assert "registered at runtime) is refused: name 'tiny sloppy' is not a non-empty string" in message
    assert ("; task 'single_label' is not a hpstudy.datasets.Task; set Sloppy.task = "
            "Task.SINGLE_LABEL or Task.MULTI_LABEL; ") in message
    assert message.endswith(f"extra_metrics 'auc', 'top5' are not metrics of hpstudy.metrics; set "
                            f"Sloppy.extra_metrics to names among {KNOWN_METRICS}")

    class OneString(_Tiny):
        name = "tiny-one-string"
        extra_metrics = "map3"  # type: ignore[assignment]

    with pytest.raises(PluginError, match="extra_metrics 'map3' is not a tuple of metric names"):
        register_dataset(OneString)
    with pytest.raises(UnknownDatasetError):
        get_dataset("tiny-one-string")


def test_an_entry_point_with_an_unknown_metric_is_refused_and_skipped(fake_distribution) -> None:  # noqa: ANN001
    fake_distribution("misspelt_plugin",
                      "[hpstudy.datasets]\nmisspelt = misspelt_plugin_mod:Misspelt\n", _MISSPELT)
    refusal = (
        "dataset plugin 'misspelt' (misspelt_plugin_mod:Misspelt from misspelt_plugin) is refused: "
        "metric 'acuracy' is not a metric of hpstudy.metrics; set Misspelt.metric to one of "
        f"{KNOWN_METRICS}"
    )
    try:
        broken = {b.name: b for b in broken_plugins()}
        assert broken["misspelt"].refused and broken["misspelt"].message == refusal
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = available_datasets()
        assert "misspelt" not in names and "digits" in names
        assert [str(w.message) for w in caught] == [
            refusal.replace(" is refused: ", " is refused and skipped: ")
        ]
        with warnings.catch_warnings(record=True) as caught, pytest.raises(PluginError) as err:
            warnings.simplefilter("always")
            get_dataset("misspelt")
        assert str(err.value) == refusal
        assert caught == []  # the error says it all
        with pytest.warns(RuntimeWarning, match=r"'misspelt' .* is refused and skipped"):
            assert get_dataset("digits").name == "digits"  # the others still load
    finally:
        sys.modules.pop("misspelt_plugin_mod", None)
