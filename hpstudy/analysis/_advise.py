"""``hpstudy recommend``: hyperparameters for one dataset, with the rule and evidence behind each.

The learning rate follows the study's rule: near ImageNet (proximity above the threshold) train at
the finder's lr, far from it at lr_find/10. The other factors come from the storage's results for
the dataset's group when there are any (else from every group together), else from the published
findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpstudy.analysis._collect import StudyResult
from hpstudy.analysis._groups import proximity_group
from hpstudy.analysis._recommend import ALL, FactorChoice, recommendation_table

__all__ = ["Advice", "PUBLISHED", "Recommendation", "advise", "recommend"]

#: The published findings (Fellowship.AI 2019, seven datasets) for everything but the lr.
PUBLISHED: dict[str, tuple[float, str]] = {
    "divisor": (5.0, '"slightly decrease the divisors for fine tuning" (10 → 5)'),
    "wd": (0.01, '"since the weight decay is defaulted to 0.1, lowering it to 0.01 may provide a '
                 'slight improvement overall"'),
    "beta2": (0.99, "the baseline; the study reports no gain from 0.9 or 0.95"),
    "ps": (0.25, '"lowering the dropout of the custom head to 0.25"'),
}
PUBLISHED_CONFIDENCE = "published: 7 datasets"


@dataclass(frozen=True)
class Advice:
    """One recommended setting, the rule behind it and how much evidence backs it."""

    factor: str
    value: float
    rule: str
    confidence: str
    datasets: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Recommendation:
    """Everything ``hpstudy recommend`` prints."""

    dataset: str
    lr_find: float
    lr_find_source: str
    proximity: float
    group: str
    threshold: float
    advice: list[Advice]
    proximity_detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "lr_find": self.lr_find,
            "lr_find_source": self.lr_find_source,
            "proximity": self.proximity,
            "group": self.group,
            "threshold": self.threshold,
            "recommended": {a.factor: a.value for a in self.advice},
            "advice": [a.to_dict() for a in self.advice],
            "proximity_detail": self.proximity_detail,
        }


def _lr_advice(lr_find: float, group: str, threshold: float,
               table: dict[str, list[FactorChoice]]) -> Advice:
    if group == "near":
        value, rule = lr_find, (f"near ImageNet (proximity > {threshold:g}): the finder's lr "
                                "performed best (published)")
    else:
        value, rule = lr_find / 10, (f"far from ImageNet (proximity <= {threshold:g}): "
                                     "lr_find/10 converged faster (published)")
    confidence = PUBLISHED_CONFIDENCE
    n = 7
    lr_choice = next((c for c in table.get(group, []) if c.factor == "lr_mult"), None)
    if lr_choice is not None:
        wanted = 1.0 if group == "near" else 0.1
        if lr_choice.is_baseline and lr_choice.top not in (None, lr_choice.baseline):
            verdict = "cannot tell"  # no multiplier beat the baseline beyond the noise
        else:
            verdict = "agrees" if abs(lr_choice.best - wanted) <= 1e-9 * wanted else "disagrees"
        confidence += (f"; storage ({verdict}): lr_mult={lr_choice.best:g} in group {group}, "
                       f"{lr_choice.evidence}")
    return Advice("lr", value, rule, confidence, n)


def advise(
    dataset: str,
    lr_find: float,
    proximity: float,
    results: list[StudyResult],
    *,
    threshold: float = 0.72,
    lr_find_source: str = "lr finder",
    proximity_detail: dict[str, Any] | None = None,
) -> Recommendation:
    """The rules, applied to a known lr-finder value and proximity (no training, no features).

    Args:
        dataset: The dataset the advice is for.
        lr_find: The finder's learning rate on that dataset.
        proximity: Its proximity to the reference.
        results: The storage's studies (may be empty: the published findings are used).
        threshold: Proximity above which a dataset is ``near``.
    """
    from hpstudy.proximity import group_of

    group = group_of(proximity, threshold)
    groups = {r.name: proximity_group(r, threshold) for r in results}
    table = recommendation_table(results, groups) if results else {}
    advice = [_lr_advice(lr_find, group, threshold, table)]
    for factor in ("divisor", "wd", "beta2", "ps"):
        choice, scope = None, group
        for scope in (group, ALL):
            choice = next((c for c in table.get(scope, []) if c.factor == factor), None)
            if choice is not None:
                break
        if choice is None:
            value, why = PUBLISHED[factor]
            advice.append(Advice(factor, value, f"published: {why}", PUBLISHED_CONFIDENCE, 7))
            continue
        where = f"group {group}" if scope == group else "all groups (none in this group)"
        tried = ", ".join(f"{v:g}" for v in choice.gains)
        if choice.is_baseline:
            rule = (f"storage, {where}: baseline kept; no value of {tried} gained significantly "
                    "over it (95% interval above 0)")
        else:
            rule = (f"storage, {where}: of {tried}, the largest significant gain over the "
                    "baseline")
        advice.append(Advice(factor, choice.best, rule, f"storage: {choice.evidence}",
                             choice.datasets))
    return Recommendation(dataset, lr_find, lr_find_source, proximity, group, threshold, advice,
                          proximity_detail or {})


def _stored_lr_find(storage: Any, dataset: str, spec_hash: str) -> tuple[float, str] | None:
    import optuna

    from hpstudy.study._study import lr_find_key

    for s in optuna.get_all_study_summaries(storage, include_best_trial=False):
        a = s.user_attrs
        if a.get("dataset") == dataset and a.get("spec_hash") == spec_hash:
            key = lr_find_key(1.0)
            if key in a:
                return float(a[key]["lr"]), f"stored on study {s.study_name}"
    return None


def recommend(
    dataset: str,
    *,
    spec: Any,
    reference: Any,
    storage: Any | None = None,
    data_root: str | Path | None = None,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    threshold: float = 0.72,
) -> Recommendation:
    """Run the finder (or reuse the one stored by this spec's study of the dataset) on the full
    training split, measure proximity to ``reference``, and apply :func:`advise`.

    Args:
        dataset: A registered dataset name (it needs no study of its own).
        spec: The :class:`~hpstudy.study.StudySpec` whose model, budget and baseline to use.
        reference: A :class:`~hpstudy.proximity.Reference` computed with the same backbone.
        storage: An open storage with results to aggregate, or ``None`` (published findings).
        data_root, device, cache_dir: As for ``hpstudy run`` and ``hpstudy proximity``.
        threshold: Proximity above which a dataset is ``near``.
    """
    from hpstudy.analysis._collect import collect
    from hpstudy.errors import HpstudyError
    from hpstudy.proximity import FeatureConfig, measure_proximity
    from hpstudy.study._data import StudyData
    from hpstudy.study._lr import find_lr_on

    config = FeatureConfig.from_spec(spec, device=device, data_root=data_root, cache_dir=cache_dir)
    prox = measure_proximity(dataset, reference, config, threshold=threshold)
    results: list[StudyResult] = []
    stored = None
    if storage is not None:
        try:
            results = collect(storage)
        except HpstudyError:
            results = []  # an empty storage: the published findings apply
        stored = _stored_lr_find(storage, dataset, spec.hash)
    if stored is not None:
        lr, source = stored
    else:
        found = find_lr_on(StudyData.open(dataset, data_root, spec), spec, 1.0, device)
        lr, source = found.lr, f"lr finder ({found.method}), run now"
    return advise(dataset, lr, prox.value, results, threshold=threshold, lr_find_source=source,
                  proximity_detail=prox.to_dict())
