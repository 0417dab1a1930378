"""Dataset plugins: the base class a plugin subclasses, the registry that finds plugins, subsets."""

from hpstudy.datasets._base import Dataset, Sample, Splits, Task
from hpstudy.datasets._describe import DatasetDescription, describe_dataset
from hpstudy.datasets._download import (
    DownloadError,
    DownloadReport,
    Source,
    download_dataset,
    download_source,
    safe_extract,
)
from hpstudy.datasets._listing import DatasetListing, DatasetRow, list_datasets
from hpstudy.datasets._open import OpenDataset, open_dataset
from hpstudy.datasets._registry import (
    ENTRY_POINT_GROUP,
    BrokenPlugin,
    PluginInfo,
    available_datasets,
    broken_plugins,
    get_dataset,
    register_dataset,
    unregister_dataset,
)
from hpstudy.datasets._resolve import resolve_root
from hpstudy.datasets._subset import fraction_indices, fraction_subset

__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenPlugin",
    "Dataset",
    "DownloadError",
    "DownloadReport",
    "DatasetDescription",
    "DatasetListing",
    "DatasetRow",
    "OpenDataset",
    "PluginInfo",
    "Sample",
    "Source",
    "Splits",
    "Task",
    "available_datasets",
    "broken_plugins",
    "describe_dataset",
    "download_dataset",
    "download_source",
    "fraction_indices",
    "fraction_subset",
    "get_dataset",
    "list_datasets",
    "open_dataset",
    "register_dataset",
    "resolve_root",
    "safe_extract",
    "unregister_dataset",
]
