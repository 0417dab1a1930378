"""The recommendation table: per group, the best setting of each factor and its mean gain."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from hpstudy.analysis._collect import StudyResult
from hpstudy.study import BASELINE, FACTORS

__all__ = ["ALL", "FactorChoice", "recommendation_table"]

#: The pseudo-group of every study together.
ALL = "all"


@dataclass(frozen=True)
class FactorChoice:
    """The best value of one factor in one group.

    ``mean_gain`` is the mean % change against the baseline over every (dataset, fraction) of the
    group that has the value (the baseline's own gain is 0 by definition); ``gains`` holds it for
    every value tried. ``datasets`` counts the distinct datasets behind ``best``.
    """

    group: str
    factor: str
    best: float
    baseline: float
    mean_gain: float
    datasets: int
    points: int
    gains: dict[float, float]

    @property
    def is_baseline(self) -> bool:
        return self.best == self.baseline


def _choices(group: str, results: list[StudyResult]) -> list[FactorChoice]:
    out = []
    for factor in FACTORS:
        gains: dict[float, list[float]] = defaultdict(list)
        sets: dict[float, set[str]] = defaultdict(set)
        baselines = {r.baseline[factor] for r in results}
        for r in results:
            for (variant, _fraction), change in r.changes.items():
                if variant == BASELINE:
                    continue
                f, value = r.settings.get(variant, (None, None))
                if f == factor and value is not None:
                    gains[value].append(change)
                    sets[value].add(r.dataset)
        if not gains or len(baselines) != 1:
            continue  # untested here, or studies disagree on the baseline: no common reference
        base = baselines.pop()
        base_sets = {r.dataset for r in results if any(v == BASELINE for v, _ in r.changes)}
        means = {v: float(np.mean(g)) for v, g in gains.items()}
        means[base] = 0.0
        best = max(means, key=lambda v: (means[v], v == base))
        n_points = len(gains[best]) if best != base else sum(
            1 for r in results for v, _ in r.changes if v == BASELINE
        )
        out.append(FactorChoice(
            group=group, factor=factor, best=best, baseline=base, mean_gain=means[best],
            datasets=len(sets[best] if best != base else base_sets), points=n_points,
            gains=dict(sorted(means.items())),
        ))
    return out


def recommendation_table(
    results: list[StudyResult], groups: dict[str, str]
) -> dict[str, list[FactorChoice]]:
    """Per group (and :data:`ALL`), the best value of each factor tested in it.

    Args:
        results: The studies.
        groups: Study name → group (e.g. :attr:`Grouping.by_proximity`).

    Returns:
        Group name → one :class:`FactorChoice` per factor with results; ties go to the baseline.
    """
    members: dict[str, list[StudyResult]] = defaultdict(list)
    for r in results:
        members[groups.get(r.name, "?")].append(r)
    out = {g: _choices(g, rs) for g, rs in sorted(members.items())}
    out[ALL] = _choices(ALL, results)
    return {g: c for g, c in out.items() if c}
