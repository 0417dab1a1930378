"""The 2019 study's future work, judged: does the lr finder on the unfrozen network pick a better
learning rate for the unfrozen stage than the finder on the frozen network?

Each study that ran both finders (``[lr_find] network = "both"``) contributes one row per training
fraction: the two finders' values, and, where it trained :data:`~hpstudy.study.UNFROZEN_VARIANT`
(``unfrozen_variant = true``), that variant's change against the baseline, whose unfrozen stage
trains at the frozen finder's value, with its interval and verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpstudy.evidence import NOT_JUDGED
from hpstudy.study import UNFROZEN_VARIANT

if TYPE_CHECKING:
    from hpstudy.analysis._collect import StudyResult
    from hpstudy.evidence import Comparison

__all__ = ["FinderComparison", "compare_finders"]


@dataclass(frozen=True)
class FinderComparison:
    """One study and fraction: both finders' values and, when trained, the comparison.

    ``answer`` says in words whether the unfrozen finder's lr beat the frozen finder's for the
    unfrozen stage on this data, or why that is not known.
    """

    study: str
    dataset: str
    fraction: float
    frozen_lr: float | None
    unfrozen_lr: float | None
    comparison: Comparison | None
    answer: str

    @property
    def decades(self) -> float | None:
        """How far the unfrozen finder's value lies from the frozen one's, in decades."""
        if not self.frozen_lr or not self.unfrozen_lr:
            return None
        return math.log10(self.unfrozen_lr / self.frozen_lr)


#: The comparison's verdict (:attr:`~hpstudy.evidence.Comparison.verdict`), in this question's words.
_ANSWERS = {
    NOT_JUDGED: "not judged (1 replicate: the seed's noise is unmeasured; set `replicates >= 2`)",
    "no detectable difference": "no detectable difference between the two finders' lrs",
    "better": "the unfrozen finder's lr trained better",
    "worse": "the frozen finder's lr trained better",
}


def _answer(r: StudyResult, c: Comparison | None) -> str:
    if r.lr_find_network == "unfrozen":
        return ('not compared: every unfrozen stage trains at the unfrozen finder\'s lr; set '
                '`[lr_find] network = "both"` and `unfrozen_variant = true` to compare')
    if not r.unfrozen_variant:
        return ("not trained: set `[lr_find] unfrozen_variant = true` to compare the two on this "
                "data")
    if c is None:
        return "no result yet: the variant or its baseline has not finished"
    return _ANSWERS[c.verdict]


def compare_finders(results: list[StudyResult]) -> list[FinderComparison]:
    """A :class:`FinderComparison` per fraction of every study that ran the unfrozen finder."""
    out = []
    for r in results:
        if r.lr_find_network == "frozen":
            continue
        for fraction in r.fractions:
            c = r.comparisons.get((UNFROZEN_VARIANT, fraction))
            out.append(FinderComparison(
                r.name, r.dataset, fraction, r.lr_find.get(fraction),
                r.lr_find_unfrozen.get(fraction), c, _answer(r, c),
            ))
    return out
