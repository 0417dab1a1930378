"""What a study holds: per-study status counts and the variant-vs-baseline summary table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpstudy.study._grid import BASELINE
from hpstudy.study._grid import point_key
from hpstudy.study._study import ATTR_POINT, StudyRef, complete_counts

if TYPE_CHECKING:
    import optuna

__all__ = ["StudyStatus", "SummaryRow", "study_status", "summarize", "status_of"]


@dataclass(frozen=True)
class StudyStatus:
    """Grid progress of one study. ``complete`` counts grid points, ``duplicates`` extra COMPLETE
    trials of a point, ``failed`` FAIL trials (attempts), ``waiting`` queued trials."""

    study: str
    dataset: str
    spec: str
    grid_size: int
    complete: int
    running: int
    waiting: int
    failed: int
    duplicates: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def status_of(study: optuna.Study) -> StudyStatus:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    per_point = complete_counts(trials)
    states = Counter(t.state for t in trials if ATTR_POINT in t.user_attrs)
    attrs = study.user_attrs
    return StudyStatus(
        study=study.study_name,
        dataset=attrs.get("dataset", "?"),
        spec=attrs.get("spec", {}).get("name", "?"),
        grid_size=int(attrs.get("grid_size", 0)),
        complete=len(per_point),
        running=states[TrialState.RUNNING],
        waiting=states[TrialState.WAITING],
        failed=states[TrialState.FAIL],
        duplicates=sum(n - 1 for n in per_point.values()),
    )


def study_status(storage: Any) -> list[StudyStatus]:
    """The status of every hpstudy study in ``storage``, sorted by name."""
    import optuna

    out = []
    for s in sorted(optuna.get_all_study_summaries(storage), key=lambda s: s.study_name):
        if "spec_hash" not in s.user_attrs:
            continue
        out.append(status_of(optuna.load_study(study_name=s.study_name, storage=storage)))
    return out


@dataclass(frozen=True)
class SummaryRow:
    """One grid point's result: its metric and % change against the baseline of its fraction.

    ``metric`` and ``change_pct`` are ``None`` until the point is complete.
    """

    fraction: float
    variant: str
    metric: float | None
    change_pct: float | None
    lr: float | None


def summarize(ref: StudyRef) -> list[SummaryRow]:
    """Every grid point of the study in grid order, with its % change against the baseline."""
    from optuna.trial import TrialState

    done: dict[str, optuna.trial.FrozenTrial] = {}
    for t in ref.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = t.user_attrs.get(ATTR_POINT)
        if key is not None and key not in done:
            done[key] = t
    rows = []
    for p in ref.points:
        t = done.get(p.key)
        base = done.get(point_key(BASELINE, p.fraction)) if t else None
        value = t.value if t else None
        change = None
        if value is not None and base is not None and base.value:
            change = (value - base.value) / abs(base.value) * 100.0
        lr = t.user_attrs.get("hparams", {}).get("lr") if t else None
        rows.append(SummaryRow(p.fraction, p.variant.name, value, change, lr))
    return rows
