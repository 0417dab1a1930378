"""Every hpstudy study of a storage, read once into plain data for the analyses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpstudy.errors import HpstudyError

if TYPE_CHECKING:
    from hpstudy.evidence import Comparison

__all__ = ["StudyResult", "collect"]


@dataclass(frozen=True)
class StudyResult:
    """What the analyses need of one study.

    ``changes`` maps ``(variant, fraction)`` to the mean % change of the validation metric against
    the baseline of that fraction over the complete replicate pairs (a missing key is a missing
    result, never a guess); ``comparisons`` holds the same change with its confidence interval
    (:class:`~hpstudy.evidence.Comparison`). ``values`` is the mean metric over the complete
    replicates; ``replicates`` the spec's number of replicates per point. ``settings`` maps each
    variant to its ``(factor, value)`` (``(None, None)`` for the baseline). ``curves`` holds the
    per-epoch records of each point's lowest complete replicate. ``proximity`` is the stored
    proximity attribute, or ``None`` when the dataset was never measured. ``early`` holds each
    variant's change at ``early_epoch`` (1-based: the last frozen epoch), an interval over the
    replicate pairs only (:attr:`hpstudy.study.SummaryRow.early`). ``lr_find_unfrozen`` holds
    the finder's values on the unfrozen network (empty unless the spec's ``[lr_find] network`` is
    ``unfrozen`` or ``both``); ``lr_find_network`` is that setting and ``unfrozen_variant``
    whether the grid has :data:`~hpstudy.study.UNFROZEN_VARIANT`.
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
    comparisons: dict[tuple[str, float], Comparison]
    values: dict[tuple[str, float], float]
    curves: dict[tuple[str, float], list[dict[str, Any]]]
    lr_find: dict[float, float]
    complete: int
    grid_size: int
    proximity: dict[str, Any] | None = field(default=None)
    replicates: int = 1
    early: dict[tuple[str, float], Comparison] = field(default_factory=dict)
    early_epoch: int | None = None
    epochs: int | None = None
    lr_find_unfrozen: dict[float, float] = field(default_factory=dict)
    lr_find_network: str = "frozen"
    unfrozen_variant: bool = False

    @property
    def finished(self) -> bool:
        return self.complete >= self.grid_size


def _read(storage: Any, name: str) -> StudyResult:
    from hpstudy.proximity import PROXIMITY_ATTR
    from hpstudy.study import BASELINE, TrialRecord, load_study, study_attrs, summarize, variants
    from hpstudy.study._report import complete_trials, status_of
    from hpstudy.study._study import lr_find_key

    ref = load_study(storage, name)
    status = status_of(ref.study)
    changes: dict[tuple[str, float], float] = {}
    comparisons: dict[tuple[str, float], Comparison] = {}
    values: dict[tuple[str, float], float] = {}
    early: dict[tuple[str, float], Comparison] = {}
    for row in summarize(ref):
        if row.early is not None:
            early[(row.variant, row.fraction)] = row.early
        if row.metric is not None:
            values[(row.variant, row.fraction)] = row.metric
        if row.variant == BASELINE and row.metric is not None:
            changes[(row.variant, row.fraction)] = 0.0  # the reference itself, no interval
        elif row.comparison is not None and math.isfinite(row.comparison.mean_pct):
            changes[(row.variant, row.fraction)] = row.comparison.mean_pct
            comparisons[(row.variant, row.fraction)] = row.comparison
    curves: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for (variant, fraction, _replicate), t in sorted(complete_trials(ref).items()):
        if (variant, fraction) not in curves:  # the lowest complete replicate's curve
            curves[(variant, fraction)] = [dict(e) for e in TrialRecord.of(t).epochs]
    attrs = study_attrs(ref.study)

    def stored_lrs(network: str) -> dict[float, float]:
        keys = {f: lr_find_key(f, network) for f in ref.spec.fractions}
        return {f: float(attrs[k]["lr"]) for f, k in keys.items() if k in attrs}

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
        comparisons=comparisons,
        values=values,
        curves=curves,
        lr_find=stored_lrs("frozen"),
        complete=status.complete,
        grid_size=status.grid_size,
        proximity=attrs.get(PROXIMITY_ATTR),
        replicates=ref.spec.replicates,
        early=early,
        early_epoch=max(1, ref.spec.frozen_epochs),
        epochs=ref.spec.frozen_epochs + ref.spec.unfrozen_epochs,
        lr_find_unfrozen=stored_lrs("unfrozen"),
        lr_find_network=ref.spec.lr_find.network,
        unfrozen_variant=ref.spec.lr_find.unfrozen_variant,
    )


def collect(storage: Any) -> list[StudyResult]:
    """Every hpstudy study in ``storage`` (an open Optuna storage), sorted by name.

    Raises:
        HpstudyError: If the storage holds no hpstudy study.
    """
    from hpstudy.study import find_studies

    names = find_studies(storage)
    if not names:
        raise HpstudyError("no hpstudy studies in this storage; start one with `hpstudy run`")
    return [_read(storage, n) for n in names]
