"""The 2019 study's findings, judged on the user's own results: holds, contradicted or inconclusive.

Each finding names the variants it is about. For one dataset the variant's cells (its training
fractions) are pooled into one % change with a 95 % interval (:func:`hpstudy.evidence.pool`); for a
proximity group, the cells of every dataset in it. A finding *holds* or is *contradicted* only when
an interval says so; anything the noise cannot decide, or that has no result, is *inconclusive*,
with the numbers behind it.

"Far datasets do better at lr_find/10, *especially in early epochs*" is judged as two findings: at
the end of training (``lr-far``) and at the early epoch, the last epoch of the frozen stage
(``lr-far-early``; epoch 5 of 20 in the published schedule). Per-image outputs exist for the last
epoch only, so the early interval resamples replicate pairs: it needs ``replicates >= 2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hpstudy.analysis._collect import StudyResult
from hpstudy.analysis._groups import NO_PROXIMITY
from hpstudy.evidence import Comparison, pool

__all__ = ["FINDINGS", "Finding", "PublishedFinding", "judge_findings"]

HOLDS, CONTRADICTED, INCONCLUSIVE = "holds", "contradicted", "inconclusive"


@dataclass(frozen=True)
class PublishedFinding:
    """One conclusion of the 2019 study and the variants that test it.

    ``factor`` and ``values`` select the variants (the baseline with ``factor`` set to one of
    ``values``); ``claim`` is ``"better"`` (some such variant beats the baseline) or ``"not
    beaten"`` (no other value of ``factor`` beats the baseline). ``group`` restricts it to datasets
    near or far from ImageNet (``None``: every dataset). ``when`` is ``"final"`` (the trained
    network) or ``"early"`` (the last frozen epoch).
    """

    key: str
    text: str
    factor: str
    values: tuple[float, ...] | None
    claim: str
    group: str | None = None
    when: str = "final"


#: The published conclusions hpstudy can test (Fellowship.AI 2019, seven datasets).
FINDINGS: tuple[PublishedFinding, ...] = (
    PublishedFinding("lr-near", "near ImageNet (proximity > threshold), the finder's lr is "
                     "near-optimal: no other lr multiplier beats it", "lr_mult", None,
                     "not beaten", "near"),
    PublishedFinding("lr-far", "far from ImageNet, lr_find/10 trains better than the finder's lr",
                     "lr_mult", (0.1,), "better", "far"),
    PublishedFinding("lr-far-early", "far from ImageNet, lr_find/10's advantage shows in early "
                     "epochs (judged at the last frozen epoch)", "lr_mult", (0.1,), "better", "far",
                     when="early"),
    PublishedFinding("divisor", "lowering the divisor (10 to 5 or 3) helps a little everywhere",
                     "divisor", (5.0, 3.0), "better"),
    PublishedFinding("ps", "lowering head dropout to 0.25 helps a little everywhere", "ps",
                     (0.25,), "better"),
    PublishedFinding("wd", "lowering weight decay from 0.1 to 0.01 helps a little everywhere", "wd",
                     (0.01,), "better"),
)


@dataclass(frozen=True)
class Finding:
    """A published finding judged on one dataset or one group: ``verdict`` and the evidence."""

    key: str
    finding: str
    scope: str
    verdict: str
    evidence: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "finding": self.finding, "scope": self.scope,
                "verdict": self.verdict, "evidence": self.evidence}


def _cells(results: Sequence[StudyResult], f: PublishedFinding) -> dict[float, list[Comparison]]:
    """The comparisons of each selected value of ``f.factor``, over ``results``' fractions."""
    out: dict[float, list[Comparison]] = {}
    for r in results:
        if r.baseline.get(f.factor) is None:
            continue
        cells = r.early if f.when == "early" else r.comparisons
        for (variant, _fraction), c in cells.items():
            factor, value = r.settings.get(variant, (None, None))
            if factor != f.factor or value is None:
                continue
            if f.values is None or any(math.isclose(value, v) for v in f.values):
                out.setdefault(value, []).append(c)
    return out


def _describe(value: float, factor: str, c: Comparison) -> str:
    interval = (f"[{c.ci_low_pct:+.1f}, {c.ci_high_pct:+.1f}]" if math.isfinite(c.ci_low_pct)
                else "no interval")
    return f"{factor}={value:g} {c.mean_pct:+.1f}% {interval}"


def _judge(f: PublishedFinding, results: Sequence[StudyResult], scope: str) -> Finding:
    cells = _cells(results, f)
    if not cells:
        wanted = ", ".join(f"{v:g}" for v in f.values) if f.values else "any other value"
        return Finding(f.key, f.text, scope, INCONCLUSIVE,
                       f"no result for {f.factor} = {wanted} here; add it to the spec's factors")
    pooled = {v: pool(cs) for v, cs in sorted(cells.items())}
    replicates = min(p.replicates for p in pooled.values())
    n_cells = sum(len(cs) for cs in cells.values())
    datasets = len({r.dataset for r in results})
    numbers = "; ".join(_describe(v, f.factor, p) for v, p in pooled.items())
    tail = (f" ({n_cells} cell(s) over fractions, {replicates} replicate(s), "
            f"{datasets} dataset(s))")
    if f.when == "early":
        tail += _early_note(results, pooled.values())
    elif replicates < 2:
        tail += ("; one replicate measures the validation images' noise but not the seed's, so "
                 "nothing is judged: set `replicates >= 2` in the spec")
    better = [v for v, p in pooled.items() if p.significant and p.ci_low_pct > 0]
    worse = [v for v, p in pooled.items() if p.significant and p.ci_high_pct < 0]
    if f.claim == "better":  # some value helps; contradicted when one hurts and none helps
        verdict = HOLDS if better else CONTRADICTED if worse else INCONCLUSIVE
    else:  # "not beaten": the baseline's value is not significantly beaten by any other
        decided = all(p.judged and math.isfinite(p.ci_high_pct) for p in pooled.values())
        verdict = CONTRADICTED if better else HOLDS if decided else INCONCLUSIVE
    return Finding(f.key, f.text, scope, verdict, numbers + tail)


def _early_note(results: Sequence[StudyResult], pooled: Iterable[Comparison]) -> str:
    """Which epoch the early finding is judged at, and why it may have no interval."""
    epochs = sorted({(r.early_epoch, r.epochs) for r in results if r.early_epoch is not None})
    at = ", ".join(f"epoch {e} of {n}" for e, n in epochs)
    note = f" at {at}" if at else ""
    if any(p.replicates < 2 for p in pooled):
        note += ("; an early epoch has no per-image outputs, so its interval needs replicates >= 2 "
                 "(set `replicates` in the spec)")
    return note


def judge_findings(
    results: Sequence[StudyResult], groups: dict[str, str],
    label: Callable[[str], str] = str,
) -> dict[str, list[Finding]]:
    """Every published finding judged for each study's dataset and for each proximity group.

    Args:
        results: The studies.
        groups: Study name → ``near``/``far``/``no proximity``.
        label: Human name of a group (for the ``scope`` text).

    Returns:
        Scope (a study name, or ``group:<name>``) → its findings. A finding about near (far)
        datasets is judged only where the dataset or group is near (far); for a dataset without a
        proximity it is inconclusive and says how to measure one.
    """
    out: dict[str, list[Finding]] = {}
    for r in results:
        group = groups.get(r.name, NO_PROXIMITY)
        out[r.name] = [_scoped(f, [r], f"dataset {r.dataset}", group) for f in FINDINGS]
    members: dict[str, list[StudyResult]] = {}
    for r in results:
        members.setdefault(groups.get(r.name, NO_PROXIMITY), []).append(r)
    for group, rs in sorted(members.items()):
        if group == NO_PROXIMITY:
            continue
        out[f"group:{group}"] = [_scoped(f, rs, f"group {label(group)}", group)
                                 for f in FINDINGS if f.group in (None, group)]
    return out


def _scoped(f: PublishedFinding, results: Sequence[StudyResult], scope: str, group: str) -> Finding:
    if f.group is None:
        return _judge(f, results, scope)
    if group == NO_PROXIMITY:
        return Finding(f.key, f.text, scope, INCONCLUSIVE,
                       "proximity not measured; run `hpstudy proximity --dataset "
                       f"{results[0].dataset}`")
    if group != f.group:
        return Finding(f.key, f.text, scope, "not applicable",
                       f"this dataset is {group}, the finding is about {f.group} datasets")
    return _judge(f, results, scope)
