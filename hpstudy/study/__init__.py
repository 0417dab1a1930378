"""Study design and execution: specs, the grid, the Optuna storage, workers and their results."""

from hpstudy.study._catalog import find_studies
from hpstudy.study._dashboard import open_dashboard
from hpstudy.study._data import HostSettings
from hpstudy.study._gpus import assign_gpus, parse_gpus, visible_gpus
from hpstudy.study._grid import (
    BASELINE,
    GridPoint,
    Variant,
    grid,
    point_key,
    search_space,
    variants,
)
from hpstudy.study._heartbeat import HeartbeatSettings
from hpstudy.study._join import JoinResult, join_study
from hpstudy.study._lr import find_lr_on, lr_find_for_dataset
from hpstudy.study._records import set_study_attr, study_attrs
from hpstudy.study._report import (
    FailedAttempt,
    RunningTrial,
    StudyStatus,
    SummaryRow,
    study_status,
    summarize,
    summarize_early,
)
from hpstudy.study._runner import RunProgress, RunResult, WorkerActivity, run_study
from hpstudy.study._spec import (
    FACTORS,
    LR_FIND_NETWORKS,
    UNFROZEN_VARIANT,
    LrFindSettings,
    StudySpec,
    load_spec,
    packaged_specs,
    parse_spec,
)
from hpstudy.study._storage import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    open_storage,
    redact,
    resolve_storage_url,
)
from hpstudy.study._study import StudyRef, create_study, load_study, lr_find_key, study_name
from hpstudy.study._trial_record import RECORD_VERSION, TrialRecord
from hpstudy.study._worker import WorkerConfig, run_worker

__all__ = [
    "BASELINE",
    "DEFAULT_STORAGE",
    "FACTORS",
    "LR_FIND_NETWORKS",
    "RECORD_VERSION",
    "STORAGE_ENV",
    "UNFROZEN_VARIANT",
    "FailedAttempt",
    "GridPoint",
    "HeartbeatSettings",
    "HostSettings",
    "JoinResult",
    "LrFindSettings",
    "RunProgress",
    "RunResult",
    "RunningTrial",
    "StudyRef",
    "StudySpec",
    "StudyStatus",
    "SummaryRow",
    "TrialRecord",
    "Variant",
    "WorkerActivity",
    "WorkerConfig",
    "assign_gpus",
    "create_study",
    "find_lr_on",
    "find_studies",
    "grid",
    "load_spec",
    "join_study",
    "load_study",
    "lr_find_for_dataset",
    "lr_find_key",
    "open_dashboard",
    "open_storage",
    "packaged_specs",
    "parse_gpus",
    "parse_spec",
    "point_key",
    "redact",
    "resolve_storage_url",
    "run_study",
    "run_worker",
    "search_space",
    "set_study_attr",
    "study_attrs",
    "study_name",
    "study_status",
    "summarize",
    "summarize_early",
    "variants",
    "visible_gpus",
]
