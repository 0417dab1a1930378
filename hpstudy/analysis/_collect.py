"""Every hpstudy study of a storage, read once into plain data for the analyses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hpstudy.errors import HpstudyError

__all__ = ["StudyResult", "collect"]


@dataclass(frozen=True)
class StudyResult:
    """What the analyses need of one study.

    ``changes`` maps ``(variant, fraction)`` to the % change of the validation metric against the
    baseline of that fraction, for complete grid points only (a missing key is a missing result,
    never a guess). ``settings`` maps each variant to its ``(factor, value)`` (``(None, None)`` for
    the baseline). ``curves`` holds each complete trial's per-epoch records. ``proximity`` is the
    stored proximity attribute, or ``None`` when the dataset was never measured.
    """

    name: str
    dataset: str
    spec: str
    metric: str
    fractions: tuple[float, ...]
    variants: tuple[str, ...]
    settings: dict[str, tuple[str | None, float | None]]
    baseline: dict[str, float]
    changes: dict[tuple[str, float], float]
    values: dict[tuple[str, float], float]
    curves: dict[tuple[str, float], list[dict[str, Any]]]
    lr_find: dict[float, float]
    complete: int
    grid_size: int
    proximity: dict[str, Any] | None = field(default=None)

    @property
    def finished(self) -> bool:
        return self.complete >= self.grid_size


def _read(storage: Any, name: str) -> StudyResult:
    from optuna.trial import TrialState

    from hpstudy.proximity import PROXIMITY_ATTR
    from hpstudy.study import load_study, summarize, variants
    from hpstudy.study._report import status_of
    from hpstudy.study._study import ATTR_POINT, lr_find_key

    ref = load_study(storage, name)
    status = status_of(ref.study)
    changes: dict[tuple[str, float], float] = {}
    values: dict[tuple[str, float], float] = {}
    for row in summarize(ref):
        if row.metric is not None:
            values[(row.variant, row.fraction)] = row.metric
        if row.change_pct is not None:
            changes[(row.variant, row.fraction)] = row.change_pct
    by_key = {p.key: (p.variant.name, p.fraction) for p in ref.points}
    curves: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for t in ref.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        point = by_key.get(t.user_attrs.get(ATTR_POINT, ""))
        if point is not None and point not in curves:
            curves[point] = list(t.user_attrs.get("epochs", []))
    attrs = ref.study.user_attrs
    lr_find = {
        f: float(attrs[lr_find_key(f)]["lr"]) for f in ref.spec.fractions if lr_find_key(f) in attrs
    }
    vs = variants(ref.spec)
    return StudyResult(
        name=name,
        dataset=ref.dataset,
        spec=ref.spec.name,
        metric=str(attrs.get("metric", "?")),
        fractions=tuple(sorted(ref.spec.fractions)),
        variants=tuple(v.name for v in vs),
        settings={v.name: (v.factor, v.value) for v in vs},
        baseline=dict(ref.spec.baseline),
        changes=changes,
        values=values,
        curves=curves,
        lr_find=lr_find,
        complete=status.complete,
        grid_size=status.grid_size,
        proximity=attrs.get(PROXIMITY_ATTR),
    )


def collect(storage: Any) -> list[StudyResult]:
    """Every hpstudy study in ``storage`` (an open Optuna storage), sorted by name.

    Raises:
        HpstudyError: If the storage holds no hpstudy study.
    """
    import optuna

    names = sorted(
        s.study_name
        for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
        if "spec_hash" in s.user_attrs
    )
    if not names:
        raise HpstudyError("no hpstudy studies in this storage; start one with `hpstudy run`")
    return [_read(storage, n) for n in names]
