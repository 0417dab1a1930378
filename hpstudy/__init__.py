"""hpstudy: which fine-tuning hyperparameters suit your image dataset, with evidence.

The public API, for notebooks and scripts; the ``hpstudy`` command is a thin layer over it.
"""

from hpstudy.datasets import Dataset, Sample, Splits, Task, get_dataset, register_dataset
from hpstudy.errors import (
    DataNotFoundError,
    DownloadError,
    HpstudyError,
    SpecError,
    StorageError,
    StudyMismatchError,
    UnknownDatasetError,
    UnknownStudyError,
)
from hpstudy.study import (
    GridPoint,
    StudySpec,
    Variant,
    grid,
    load_spec,
    run_study,
    study_status,
    summarize,
)

__version__ = "0.1.0"

__all__ = [
    "DataNotFoundError",
    "Dataset",
    "DownloadError",
    "GridPoint",
    "HpstudyError",
    "Sample",
    "SpecError",
    "Splits",
    "StorageError",
    "StudyMismatchError",
    "StudySpec",
    "Task",
    "UnknownDatasetError",
    "UnknownStudyError",
    "Variant",
    "__version__",
    "get_dataset",
    "grid",
    "load_spec",
    "register_dataset",
    "run_study",
    "study_status",
    "summarize",
]
