"""``hpstudy recommend``: hyperparameters for one dataset, with the rule and evidence behind each.

One decision, used by ``hpstudy recommend`` and by the report's per-dataset recommendations: for
each factor, the dataset's own significant result comes first, then its proximity group's, then the
published rule (Fellowship.AI 2019); each recommendation says which it used and how strong the
evidence is. The published learning-rate rule: near ImageNet (proximity above the threshold) the
finder's lr, far from it lr_find/10; with no proximity measured, both are given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hpstudy.analysis._collect import StudyResult
from hpstudy.analysis._groups import group_label, proximity_group
from hpstudy.analysis._recommend import FactorChoice, recommendation_table
from hpstudy.proximity import DEFAULT_THRESHOLD

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
#: Where a recommendation comes from, in the order they are tried.
SOURCES = ("dataset", "group", "published")


@dataclass(frozen=True)
class Advice:
    """One recommended setting, the rule behind it, how much evidence backs it and its ``source``
    (``dataset``: this dataset's own significant result; ``group``: its proximity group's;
    ``published``: the 2019 study's rule)."""

    factor: str
    value: float
    rule: str
    confidence: str
    datasets: int
    source: str = "published"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Recommendation:
    """Everything ``hpstudy recommend`` prints. ``proximity`` and ``group`` are ``None`` when no
    proximity could be measured; ``lr_by_group`` then gives the lr for either group."""

    dataset: str
    lr_find: float
    lr_find_source: str
    proximity: float | None
    group: str | None
    threshold: float
    advice: list[Advice]
    proximity_detail: dict[str, Any] = field(default_factory=dict)
    proximity_note: str = ""

    @property
    def lr_by_group(self) -> dict[str, float]:
        return {"near": self.lr_find, "far": self.lr_find / 10}

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "lr_find": self.lr_find,
            "lr_find_source": self.lr_find_source,
            "proximity": self.proximity,
            "group": self.group,
            "threshold": self.threshold,
            "lr_by_group": self.lr_by_group,
            "recommended": {a.factor: a.value for a in self.advice},
            "advice": [a.to_dict() for a in self.advice],
            "proximity_detail": self.proximity_detail,
            "proximity_note": self.proximity_note,
        }


def _table(results: list[StudyResult], key: str) -> dict[str, FactorChoice]:
    if not results:
        return {}
    return {c.factor: c for c in recommendation_table(results, {r.name: key for r in results})
            .get(key, [])}


def _measured(factor: str, dataset: str, group: str | None, threshold: float,
              own: FactorChoice | None, theirs: FactorChoice | None,
              value: Callable[[float], float]) -> Advice | None:
    """The dataset's own significant result for ``factor``, else its group's; ``None`` when
    neither moved it from the baseline. ``value`` turns the best setting into the advised value."""
    for source, choice, where, datasets in (
        ("dataset", own, f"your results on {dataset}", 1),
        ("group", theirs, f"group {group_label(group or '', threshold)}",
         theirs.datasets if theirs else 0),
    ):
        if choice is not None and not choice.is_baseline:
            return Advice(choice.factor, value(choice.best),
                          f"{where}: {choice.factor}={choice.best:g} gained significantly over the "
                          "baseline", f"{source}: {choice.evidence}", datasets, source)
    return None


def _published_confidence(own: FactorChoice | None, theirs: FactorChoice | None) -> str:
    """The published rule's confidence, with any storage result that did not survive the noise."""
    return PUBLISHED_CONFIDENCE + "".join(
        f"; {who}: {c.evidence}" for who, c in (("your results", own), ("group", theirs)) if c)


def _lr_advice(dataset: str, lr_find: float, group: str | None, threshold: float,
               own: FactorChoice | None, theirs: FactorChoice | None) -> Advice:
    measured = _measured("lr_mult", dataset, group, threshold, own, theirs,
                         lambda best: lr_find * best)
    if measured is not None:
        return replace(measured, factor="lr")
    confidence = _published_confidence(own, theirs)
    if group is None:
        rule = (f"proximity not measured: near ImageNet (> {threshold:g}) the finder's lr "
                f"{lr_find:.3g}, far from it lr_find/10 = {lr_find / 10:.3g} (published); measure "
                f"it with `hpstudy proximity --dataset {dataset}`")
        return Advice("lr", lr_find, rule, confidence, 7)
    if group == "near":
        value, rule = lr_find, (f"near ImageNet (proximity > {threshold:g}): the finder's lr "
                                "performed best (published)")
    else:
        value, rule = lr_find / 10, (f"far from ImageNet (proximity <= {threshold:g}): "
                                     "lr_find/10 converged faster (published)")
    return Advice("lr", value, rule, confidence, 7)


def _factor_advice(factor: str, dataset: str, group: str | None, threshold: float,
                   own: FactorChoice | None, theirs: FactorChoice | None) -> Advice:
    measured = _measured(factor, dataset, group, threshold, own, theirs, lambda best: best)
    if measured is not None:
        return measured
    value, why = PUBLISHED[factor]
    return Advice(factor, value, f"published: {why}", _published_confidence(own, theirs), 7)


def advise(
    dataset: str,
    lr_find: float,
    proximity: float | None,
    results: list[StudyResult],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    lr_find_source: str = "lr finder",
    proximity_detail: dict[str, Any] | None = None,
    proximity_note: str = "",
) -> Recommendation:
    """The one decision: recommendations for ``dataset`` from a known lr-finder value, its
    proximity (``None``: not measured) and the storage's results (no training, no features).

    For each factor the dataset's own significant result comes first, then its group's (the
    studies whose stored proximity puts them in the same group), then the published rule.

    Args:
        dataset: The dataset the advice is for.
        lr_find: The finder's learning rate on that dataset.
        proximity: Its proximity to the reference, or ``None``.
        results: The storage's studies (may be empty: the published findings are used).
        threshold: Proximity above which a dataset is ``near``.
        proximity_note: Why the proximity is missing or what to mind about it (printed as is).
    """
    from hpstudy.proximity import group_of

    group = None if proximity is None else group_of(proximity, threshold)
    own = _table([r for r in results if r.dataset == dataset], "own")
    peers = [r for r in results if group is not None and proximity_group(r, threshold) == group]
    theirs = _table(peers, "group")
    advice = [_lr_advice(dataset, lr_find, group, threshold, own.get("lr_mult"),
                         theirs.get("lr_mult"))]
    advice += [_factor_advice(f, dataset, group, threshold, own.get(f), theirs.get(f))
               for f in ("divisor", "wd", "beta2", "ps")]
    return Recommendation(dataset, lr_find, lr_find_source, proximity, group, threshold, advice,
                          proximity_detail or {}, proximity_note)


def _stored_lr_find(storage: Any, dataset: str, spec_hash: str) -> tuple[float, str] | None:
    from hpstudy.study import find_studies, load_study, lr_find_key, study_attrs

    for name in find_studies(storage, dataset=dataset, spec_hash=spec_hash):
        stored = study_attrs(load_study(storage, name).study).get(lr_find_key(1.0))
        if stored is not None:
            return float(stored["lr"]), f"stored on study {name}"
    return None


def recommend(
    dataset: str,
    *,
    spec: Any,
    reference: Any | None,
    storage: Any | None = None,
    data_root: str | Path | None = None,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    proximity_note: str = "",
) -> Recommendation:
    """Run the finder (or reuse the one stored by this spec's study of the dataset) on the full
    training split, measure proximity to ``reference`` (skipped when it is ``None``), and apply
    :func:`advise`.

    Args:
        dataset: A registered dataset name (it needs no study of its own).
        spec: The :class:`~hpstudy.study.StudySpec` whose model, budget and baseline to use.
        reference: A :class:`~hpstudy.proximity.Reference` computed with the same backbone, or
            ``None`` when there is none (the advice then gives the lr for both groups).
        storage: An open storage with results to aggregate, or ``None`` (published findings).
        data_root, device, cache_dir: As for ``hpstudy run`` and ``hpstudy proximity``.
        threshold: Proximity above which a dataset is ``near``.
        proximity_note: Why there is no reference (shown with the advice).
    """
    from hpstudy.analysis._collect import collect
    from hpstudy.errors import HpstudyError
    from hpstudy.proximity import FeatureConfig, measure_proximity
    from hpstudy.study._data import StudyData
    from hpstudy.study._lr import FIXED_LR_METHOD, find_lr_on

    proximity, detail = None, {}
    if reference is not None:
        config = FeatureConfig.from_spec(spec, device=device, data_root=data_root,
                                         cache_dir=cache_dir)
        prox = measure_proximity(dataset, reference, config, threshold=threshold)
        proximity, detail = prox.value, prox.to_dict()
        proximity_note = "; ".join(n for n in (proximity_note, prox.warning) if n)
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
        lr, source = found.lr, (found.method if found.method == FIXED_LR_METHOD
                                else f"lr finder ({found.method}), run now")
    return advise(dataset, lr, proximity, results, threshold=threshold, lr_find_source=source,
                  proximity_detail=detail, proximity_note=proximity_note)
