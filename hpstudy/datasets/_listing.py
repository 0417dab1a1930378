"""The table behind ``hpstudy datasets``: every plugin and whether its data is present."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpstudy.datasets._registry import BrokenPlugin, _runtime, _scan
from hpstudy.datasets._resolve import resolve_root
from hpstudy.errors import HpstudyError

__all__ = ["DatasetRow", "DatasetListing", "list_datasets"]


@dataclass(frozen=True)
class DatasetRow:
    name: str
    task: str
    classes: int | None
    metric: str
    distribution: str
    data: str  # "embedded", "found: <root>" or "missing"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DatasetListing:
    datasets: list[DatasetRow]
    broken: list[BrokenPlugin]


def list_datasets(data_root: str | Path | None = None) -> DatasetListing:
    """Every registered dataset with its task, class count, plugin distribution and data status.

    Only each plugin's ``check()`` touches the data. The class count is the plugin's
    ``known_classes`` when it declares them, else read from the data's index when the data is found
    (``None`` otherwise).
    """
    found, broken = _scan()
    plugins = {**found, **_runtime}
    rows = []
    for name in sorted(plugins):
        info = plugins[name]
        ds = info.dataset
        classes: int | None = len(ds.known_classes) or None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                root = resolve_root(ds, data_root)
                if classes is None:
                    classes = len(ds.load(root).classes)
            data = "embedded" if not ds.needs_data else f"found: {root}"
        except HpstudyError:
            data = "missing"
        rows.append(DatasetRow(name, ds.task.value, classes, ds.metric, info.distribution, data))
    return DatasetListing(rows, broken)
