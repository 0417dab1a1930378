"""The recommendation table: per group, the setting of each factor the evidence supports.

Only a gain whose pooled 95 % interval lies above 0 moves a factor away from the baseline, and
only with two or more replicates (one replicate's interval leaves out the seed's noise).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hpstudy.analysis._collect import StudyResult
from hpstudy.study import FACTORS

if TYPE_CHECKING:
    from hpstudy.evidence import Comparison

__all__ = ["ALL", "FactorChoice", "recommendation_table"]

#: The pseudo-group of every study together.
ALL = "all"


@dataclass(frozen=True)
class FactorChoice:
    """The recommended value of one factor in one group, and the evidence behind it.

    Every value tried is compared with the baseline over the (dataset, fraction) cells of the group
    that have it: ``gains`` holds the mean % change per value and ``intervals`` its 95 % interval
    (pooled over the cells, see :func:`hpstudy.evidence.pool`; ``nan`` where a cell has none).
    ``best`` is the value with the highest mean gain *among those whose interval lies above 0*;
    when no value is significantly better the baseline is kept, however large a mean gain looks.
    ``mean_gain``/``ci_low``/``ci_high`` describe ``best`` (0 and no interval for the baseline);
    ``top``/``top_gain`` is the value with the highest mean gain whether significant or not.
    ``datasets``/``points`` count the datasets and cells behind ``best`` (behind ``top`` when the
    baseline is kept); ``replicates`` the fewest replicate pairs of any of those cells.
    """

    group: str
    factor: str
    best: float
    baseline: float
    mean_gain: float
    datasets: int
    points: int
    gains: dict[float, float]
    ci_low: float = math.nan
    ci_high: float = math.nan
    replicates: int = 0
    intervals: dict[float, tuple[float, float]] = field(default_factory=dict)
    top: float | None = None
    top_gain: float = math.nan

    @property
    def is_baseline(self) -> bool:
        return self.best == self.baseline

    @property
    def evidence(self) -> str:
        """How strong the evidence is, in words: interval, replicates and datasets."""
        if not self.is_baseline:
            return (f"{self.mean_gain:+.1f}% [{self.ci_low:+.1f}, {self.ci_high:+.1f}] (95% CI), "
                    f"{self.replicates} replicate(s), {self.datasets} dataset(s), "
                    f"{self.points} result(s)")
        if self.top is None or self.top == self.baseline:
            return f"nothing beat the baseline; {self.datasets} dataset(s)"
        low, high = self.intervals.get(self.top, (math.nan, math.nan))
        interval = (f"[{low:+.1f}, {high:+.1f}]" if math.isfinite(low) else "no interval")
        lead = ("no significant gain" if self.replicates >= 2 else
                "not judged (1 replicate: seed noise unmeasured; set replicates >= 2)")
        return (f"{lead}: best tried {self.factor}={self.top:g} {self.top_gain:+.1f}% "
                f"{interval}, {self.replicates} replicate(s), {self.datasets} dataset(s)")


def _choices(group: str, results: list[StudyResult]) -> list[FactorChoice]:
    from hpstudy.evidence import pool

    out = []
    for factor in FACTORS:
        cells: dict[float, list[Comparison]] = defaultdict(list)
        sets: dict[float, set[str]] = defaultdict(set)
        baselines = {r.baseline[factor] for r in results}
        for r in results:
            for (variant, _fraction), comparison in r.comparisons.items():
                f, value = r.settings.get(variant, (None, None))
                if f == factor and value is not None:
                    cells[value].append(comparison)
                    sets[value].add(r.dataset)
        if not cells or len(baselines) != 1:
            continue  # untested here, or studies disagree on the baseline: no common reference
        base = baselines.pop()
        pooled = {v: pool(cs) for v, cs in cells.items()}
        gains = {v: p.mean_pct for v, p in pooled.items()}
        gains[base] = 0.0
        intervals = {v: (p.ci_low_pct, p.ci_high_pct) for v, p in pooled.items()}
        better = [v for v, p in pooled.items() if p.significant and p.ci_low_pct > 0]
        top = max(pooled, key=lambda v: pooled[v].mean_pct)
        if better:
            best = max(better, key=lambda v: pooled[v].mean_pct)
            p = pooled[best]
            out.append(FactorChoice(
                group=group, factor=factor, best=best, baseline=base, mean_gain=p.mean_pct,
                datasets=len(sets[best]), points=len(cells[best]), gains=dict(sorted(gains.items())),
                ci_low=p.ci_low_pct, ci_high=p.ci_high_pct, replicates=p.replicates,
                intervals=intervals, top=top, top_gain=pooled[top].mean_pct,
            ))
        else:
            out.append(FactorChoice(
                group=group, factor=factor, best=base, baseline=base, mean_gain=0.0,
                datasets=len(sets[top]), points=len(cells[top]), gains=dict(sorted(gains.items())),
                replicates=pooled[top].replicates, intervals=intervals, top=top,
                top_gain=pooled[top].mean_pct,
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
        Group name → one :class:`FactorChoice` per factor with results; the baseline is kept unless
        a value's gain is significant.
    """
    members: dict[str, list[StudyResult]] = defaultdict(list)
    for r in results:
        members[groups.get(r.name, "?")].append(r)
    out = {g: _choices(g, rs) for g, rs in sorted(members.items())}
    out[ALL] = _choices(ALL, results)
    return {g: c for g, c in out.items() if c}
