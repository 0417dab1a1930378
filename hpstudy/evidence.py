"""Confidence intervals for the % change of a variant's validation metric against the baseline.

A variant and the baseline are trained ``R`` times each; replicate ``r`` of both uses the same seed,
so the replicates are *pairs* (Bouthillier et al. 2021, "Accounting for variance in machine learning
benchmarks": the seed is a source of variance to sample, not to fix). Each trial is scored on the
same validation images, so the two arms are also paired over images, and how much of a difference
is luck in those images is measured by resampling them: the paired bootstrap over test items of
Koehn 2004 ("Statistical significance tests for machine translation evaluation").

:func:`compare` adds the two sources of noise draw by draw. The validation images are resampled
with :func:`scipy.stats.bootstrap` (percentile method), the same draw for both arms and every
replicate pair; its statistic is the % change of the variant's metric, averaged over the pairs, on
the drawn images against the baseline's. The seed noise of that average is drawn from the paired
t distribution of the pairs' metric differences (``R - 1`` degrees of freedom): with the two to five
replicates a study can afford, a bootstrap over the pairs would stay inside their range and call
too much significant. The interval is the percentile interval of the sum. Every metric is computed
for a whole batch of image resamples at once from how often each image is drawn: metrics that are
a mean of per-image scores (accuracy, map3, f2_samples) as a matrix product of those counts with
the scores; balanced accuracy and macro F1 from count-weighted per-class tallies; AUROC as a
count-weighted Mann-Whitney statistic, from cumulative sums of the counts along each class's sorted
scores. ``_slow_statistic`` recomputes the metric on each resample's images instead, the reference
the batch forms are tested against. Without per-image outputs only the seed noise is drawn, from
the stored metric values (the paired t interval); a single trial per arm without outputs has no
interval.

One replicate pair measures the images' noise only, not the seed's: such a comparison keeps its
interval for reading but is *not judged* (:attr:`Comparison.judged`), never better or worse.

:func:`pool` averages the % change of several cells (a variant on several datasets or fractions)
and combines their bootstrap distributions draw by draw.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse, stats

from hpstudy.metrics import get_metric
from hpstudy.outputs import ValidOutputs

__all__ = ["NOT_JUDGED", "Comparison", "compare", "per_image_scores", "pool"]

#: The verdict of a comparison with one replicate pair: its seed noise is not measured.
NOT_JUDGED = "not judged"

#: Largest number of (resample, image) cells one batch of resamples may hold in a matrix.
_BATCH_CELLS = 2_000_000

# A statistic over one batch: replicate-pair indices (B, R) and image indices (B, N) -> (B,) % changes.
_BatchStatistic = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Comparison:
    """The % change of a variant's metric against the baseline's, with its confidence interval.

    ``mean_pct`` is ``(mean variant metric - mean baseline metric) / |mean baseline metric| * 100``
    over the replicate pairs. ``ci_low_pct`` and ``ci_high_pct`` bound the confidence interval
    (``nan`` when none could be computed). ``method`` says what was resampled:
    ``"images+replicates"``, ``"images"`` (one pair: not :attr:`judged`), ``"replicates"`` (no
    per-image outputs: the seed pairs alone) or
    ``"none"``. ``images`` is the number of validation images resampled (0 without outputs).
    ``draws`` is the bootstrap distribution of the % change, kept for :func:`pool`; ``None`` when
    ``method`` is ``"none"``. It takes no part in equality or ``repr``.
    """

    mean_pct: float
    ci_low_pct: float
    ci_high_pct: float
    replicates: int
    images: int
    method: str
    draws: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def judged(self) -> bool:
        """Whether the interval covers training noise too: two or more replicate pairs.

        One pair's interval measures only which validation images happened to be drawn; how much
        the comparison moves with another seed (head initialisation, batch order, augmentation)
        is unmeasured, and on small studies it is the larger part (``benchmarks/noise.py`` on
        quickstart: one replicate's intervals were narrower than three replicates', 4.8 against
        6.5 points, and held the other replicates' mean less often, 90 % against 97 %).
        """
        return self.replicates >= 2

    @property
    def significant(self) -> bool:
        """Whether the comparison is :attr:`judged` and its interval is finite and excludes 0."""
        finite = math.isfinite(self.ci_low_pct) and math.isfinite(self.ci_high_pct)
        return self.judged and finite and (self.ci_low_pct > 0 or self.ci_high_pct < 0)

    @property
    def verdict(self) -> str:
        """``"better"``, ``"worse"``, ``"no detectable difference"``, or ``"not judged"`` (one
        replicate pair: seed noise unmeasured)."""
        if not self.judged:
            return NOT_JUDGED
        if not self.significant:
            return "no detectable difference"
        return "better" if self.ci_low_pct > 0 else "worse"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (no ``draws``; ``nan`` becomes ``None``)."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "mean_pct": num(self.mean_pct),
            "ci_low_pct": num(self.ci_low_pct),
            "ci_high_pct": num(self.ci_high_pct),
            "replicates": int(self.replicates),
            "images": int(self.images),
            "method": self.method,
            "significant": self.significant,
            "verdict": self.verdict,
        }


def per_image_scores(metric: str, outputs: ValidOutputs) -> np.ndarray | None:
    """Per-image scores whose mean is ``metric`` on ``outputs``, or ``None`` if it is no such mean.

    Accuracy scores 1 or 0, map3 1, 1/2, 1/3 or 0, f2_samples each image's F2 (as
    :func:`hpstudy.metrics.f2_samples`). Other metrics (balanced accuracy, macro F1, AUROC) are not
    means over images.

    Raises:
        KeyError: If ``metric`` is unknown.
    """
    get_metric(metric)
    probs, targets = np.asarray(outputs.probs), np.asarray(outputs.targets)
    if metric == "accuracy" and not outputs.multi_label:
        return (np.argmax(probs, axis=1) == targets).astype(np.float64)
    if metric == "map3" and not outputs.multi_label:
        top = np.argsort(-probs, axis=1, kind="stable")[:, :3]
        hit = top == targets.reshape(-1, 1)
        return (hit / np.arange(1, top.shape[1] + 1)).sum(axis=1)
    if metric == "f2_samples" and outputs.multi_label:
        pred = probs > 0.2
        true = targets > 0.5
        tp = np.sum(pred & true, axis=1)
        fp = np.sum(pred & ~true, axis=1)
        fn = np.sum(~pred & true, axis=1)
        denom = 5 * tp + 4 * fn + fp
        return np.where(denom > 0, 5 * tp / np.maximum(denom, 1), 1.0)
    return None


def _pct(variant: np.ndarray | float, baseline: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.asarray(variant) - baseline) / np.abs(baseline) * 100.0


def _row_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each row of ``idx`` (B, draws) -> (B, n)."""
    rows = idx.shape[0]
    flat = (idx.astype(np.int64) + n * np.arange(rows, dtype=np.int64)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)


def _fast_statistic(variant_scores: np.ndarray, baseline_scores: np.ndarray) -> _BatchStatistic:
    """The batch statistic for a mean-of-per-image-scores metric; scores are (R, N)."""
    n_reps, n_images = variant_scores.shape

    def statistic(rep_idx: np.ndarray, img_idx: np.ndarray) -> np.ndarray:
        img_counts = _row_counts(img_idx, n_images)  # (B, N)
        rep_counts = _row_counts(rep_idx, n_reps)  # (B, R)
        scale = rep_idx.shape[1] * img_idx.shape[1]
        mv = np.sum((variant_scores @ img_counts.T).T * rep_counts, axis=1) / scale
        mb = np.sum((baseline_scores @ img_counts.T).T * rep_counts, axis=1) / scale
        return _pct(mv, mb)

    return statistic


# A metric over a batch of resamples, for one trial: image counts transposed, (N, B), and the
# batch's shared context (see ``_CountMetric``) -> (B,) metric values.
_CountScorer = Callable[[np.ndarray, Any], np.ndarray]


@dataclass(frozen=True)
class _CountMetric:
    """A metric in count form for one set of targets.

    ``context`` maps a batch's image counts, (N, B), to what every trial's scorer shares (such as
    the per-class support); ``scorer`` builds one trial's scorer from its probabilities, or gives
    ``None`` where the count form does not apply (the generic path then takes over).
    """

    context: Callable[[np.ndarray], Any]
    scorer: Callable[[np.ndarray], _CountScorer | None]


def _indicator(keys: np.ndarray, n_keys: int, items: np.ndarray | None = None) -> sparse.csr_matrix:
    """(n_keys, N) 0/1 matrix whose row ``k`` marks the images (of ``items``; all when ``None``)
    with key ``k``; times counts (N, B), it sums each resample's counts per key (see :func:`_tally`)."""
    n = len(keys)
    items = np.arange(n) if items is None else np.asarray(items, dtype=np.intp)
    ones = np.ones(items.size, dtype=np.float32)
    return sparse.csr_matrix((ones, (keys[items], items)), shape=(n_keys, n))


def _tally(matrix: sparse.csr_matrix | np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``matrix`` (K, N) of small integers times counts (N, B), in float64. The products are sums
    of integer counts no larger than twice a resample's draws, exact in float32 as in float64."""
    return np.asarray(matrix @ counts, dtype=np.float64)


def _mean_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Column means of ``values`` (C, B) over the entries where ``mask``; ``nan`` for an empty one."""
    n = mask.sum(axis=0)
    total = np.where(mask, values, 0.0).sum(axis=0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den > 0``, else 0 (those entries are masked out by the caller)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _class_labels(targets: np.ndarray, n_classes: int) -> np.ndarray | None:
    """Single-label targets as class indices in ``[0, n_classes)``, or ``None`` if they are not."""
    if targets.ndim != 1 or targets.size == 0 or not np.issubdtype(targets.dtype, np.integer):
        return None
    if targets.min() < 0 or targets.max() >= n_classes:
        return None
    return targets.astype(np.intp)


def _balanced_accuracy_counts(targets: np.ndarray, n_classes: int) -> _CountMetric | None:
    """Mean over the classes drawn of the count-weighted recall (as ``metrics.balanced_accuracy``)."""
    labels = _class_labels(targets, n_classes)
    if labels is None:
        return None
    support = _indicator(labels, n_classes)

    def scorer(probs: np.ndarray) -> _CountScorer:
        hits = _indicator(labels, n_classes, np.flatnonzero(np.argmax(probs, axis=1) == labels))

        def score(counts: np.ndarray, true_counts: np.ndarray) -> np.ndarray:
            return _mean_where(_ratio(_tally(hits, counts), true_counts), true_counts > 0)

        return score

    return _CountMetric(lambda counts: _tally(support, counts), scorer)


def _macro_f1_counts(targets: np.ndarray, n_classes: int) -> _CountMetric | None:
    """F1 per class from count-weighted TP, FP and FN, averaged over the classes with any of them
    (as ``metrics.macro_f1``)."""
    if targets.ndim == 2:
        if targets.shape[1] != n_classes:
            return None
        true = targets > 0.5

        def multi_scorer(probs: np.ndarray) -> _CountScorer:
            pred = probs > 0.5
            # Rows: TP indicators, then FP-or-FN indicators (2 TP + FP + FN is the F1 denominator).
            indicators = np.concatenate([true & pred, true ^ pred], axis=1).T.astype(np.float32)

            def score(counts: np.ndarray, context: None) -> np.ndarray:
                tallies = _tally(indicators, counts)
                tp2 = 2 * tallies[:n_classes]
                denom = tp2 + tallies[n_classes:]
                return _mean_where(_ratio(tp2, denom), denom > 0)

            return score

        return _CountMetric(lambda counts: None, multi_scorer)

    labels = _class_labels(targets, n_classes)
    if labels is None:
        return None
    support = _indicator(labels, n_classes)

    def scorer(probs: np.ndarray) -> _CountScorer:
        pred = np.argmax(probs, axis=1)
        # Rows: the class's hits (TP), then its predicted images (TP + FP).
        tallies = sparse.vstack([
            _indicator(labels, n_classes, np.flatnonzero(pred == labels)),
            _indicator(pred, n_classes),
        ]).tocsr()

        def score(counts: np.ndarray, true_counts: np.ndarray) -> np.ndarray:
            both = _tally(tallies, counts)
            # 2 TP + FP + FN = (TP + FN) + (TP + FP): the class's true plus its predicted images.
            denom = true_counts + both[n_classes:]
            return _mean_where(_ratio(2 * both[:n_classes], denom), denom > 0)

        return score

    return _CountMetric(lambda counts: _tally(support, counts), scorer)


def _auroc_plan(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The count form of one class's AUROC: a (2m, N) sparse matrix as (rows, columns, values),
    and ``m``, the number of tie groups of ``scores`` that hold a positive.

    With image ``i`` drawn ``w_i`` times, the Mann-Whitney statistic ``U`` sums ``w_i w_j`` over
    positives ``i`` and negatives ``j`` with ``s_i > s_j``, and half of it where ``s_i = s_j``: the
    statistic of average ranks on the resampled multiset. Let ``G_1 < ... < G_m`` be the tie groups
    (along ascending scores) that hold positives. Row ``m + k`` sums the positives of ``G_k``
    (``Pos_k``). Row ``k`` (``X_k``) sums twice the negatives above ``G_(k-1)`` and below ``G_k``,
    plus once the negatives tied with ``G_k`` and once those tied with ``G_(k-1)``; so the
    cumulative sum of ``X`` up to ``k`` is twice the negatives below ``G_k`` plus those tied with
    it, and ``2 U = sum_k Pos_k * cumsum(X)_k``. Negatives above ``G_m`` take no part.
    """
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    pos_sorted = positive[order]
    group = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1  # tie group per sorted place
    held = np.unique(group[pos_sorted])
    m = held.size
    k = np.searchsorted(held, group)  # the first positive-holding group at or above each place
    tied = held[np.minimum(k, m - 1)] == group
    neg = ~pos_sorted
    gap = neg & ~tied & (k < m)
    tie = neg & tied
    tie_next = tie & (k + 1 < m)
    rows = np.concatenate([m + k[pos_sorted], k[gap], k[tie], k[tie_next] + 1])
    cols = np.concatenate([order[pos_sorted], order[gap], order[tie], order[tie_next]])
    values = np.concatenate([
        np.ones(np.count_nonzero(pos_sorted)),
        np.full(np.count_nonzero(gap), 2.0),
        np.ones(np.count_nonzero(tie) + np.count_nonzero(tie_next)),
    ])
    return rows, cols, values, m


def _auroc_counts(targets: np.ndarray, n_classes: int, drop_last: bool) -> _CountMetric | None:
    """Count-weighted Mann-Whitney AUROC per class (see :func:`_auroc_plan`), averaged over the
    classes whose resample holds both positives and negatives (as ``metrics.mean_auroc``, or
    ``mean_auroc_findings`` with ``drop_last``). A sparse product per chunk of classes gives
    their per-group sums; every term is an integer, exact in float64.
    """
    if targets.ndim != 2 or targets.shape[1] != n_classes:
        return None
    true = targets > 0.5
    n_images = true.shape[0]
    classes = list(range(n_classes - 1 if drop_last else n_classes))
    # Classes with only positives or only negatives have neither in any resample: never averaged.
    kept = [c for c in classes if 0 < np.count_nonzero(true[:, c]) < n_images]

    def scorer(probs: np.ndarray) -> _CountScorer | None:
        probs = np.asarray(probs, dtype=np.float64)
        if not np.isfinite(probs[:, classes]).all():
            return None
        # Classes in chunks of at most about N product rows, so that a chunk's sums take no more
        # memory than the batch's counts.
        chunks: list[tuple[sparse.csr_matrix, list[tuple[int, int]]]] = []
        plans: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        blocks: list[tuple[int, int]] = []
        offset = 0
        for i, c in enumerate(kept):
            rows, cols, values, m = _auroc_plan(probs[:, c], true[:, c])
            plans.append((rows + offset, cols, values))
            blocks.append((offset, m))
            offset += 2 * m
            if i == len(kept) - 1 or offset + 2 * np.count_nonzero(true[:, kept[i + 1]]) > n_images:
                r, col, v = (np.concatenate(parts) for parts in zip(*plans, strict=True))
                matrix = sparse.csr_matrix((v.astype(np.float32), (r, col)), shape=(offset, n_images))
                chunks.append((matrix, blocks))
                plans, blocks, offset = [], [], 0

        def score(counts: np.ndarray, drawn: np.ndarray) -> np.ndarray:
            summed = np.zeros(counts.shape[1])
            averaged = np.zeros(counts.shape[1])
            for matrix, chunk_blocks in chunks:
                sums = _tally(matrix, counts)  # (rows, B)
                for lo, m in chunk_blocks:
                    below = np.cumsum(sums[lo : lo + m], axis=0)
                    pos = sums[lo + m : lo + 2 * m]
                    u2 = np.einsum("kb,kb->b", pos, below)
                    n_pos = pos.sum(axis=0)
                    n_neg = drawn - n_pos
                    both = (n_pos > 0) & (n_neg > 0)
                    summed += np.where(both, _ratio(u2, 2 * n_pos * n_neg), 0.0)
                    averaged += both
            return np.where(averaged > 0, summed / np.maximum(averaged, 1), np.nan)

        return score

    return _CountMetric(lambda counts: counts.sum(axis=0, dtype=np.float64), scorer)


#: Metric name -> its count form for (targets, number of classes), or ``None`` where that does not fit.
_COUNT_METRICS: dict[str, Callable[[np.ndarray, int], _CountMetric | None]] = {
    "balanced_accuracy": _balanced_accuracy_counts,
    "macro_f1": _macro_f1_counts,
    "mean_auroc": lambda targets, n_classes: _auroc_counts(targets, n_classes, drop_last=False),
    "mean_auroc_findings": lambda targets, n_classes: _auroc_counts(targets, n_classes, drop_last=True),
}


def _count_statistic(
    metric: str,
    variant: Sequence[ValidOutputs],
    baseline: Sequence[ValidOutputs],
    targets: np.ndarray,
) -> _BatchStatistic | None:
    """The batch statistic for a metric that is not a mean of per-image scores, from image counts.

    Each trial's metric is computed for all resamples of a batch at once from how often each image
    is drawn (as in :func:`_fast_statistic`); a resample's statistic weights them by how often
    their replicate pair is drawn, as :func:`_slow_statistic` does. ``None`` where the metric has
    no count form or the outputs do not fit it (the caller then takes the generic path).
    """
    build = _COUNT_METRICS.get(metric)
    targets = np.asarray(targets)
    n_images, n_classes = np.asarray(baseline[0].probs).shape
    form = build(targets, n_classes) if build is not None else None
    if form is None:
        return None
    scorers: list[_CountScorer] = []
    for outputs in (*variant, *baseline):
        scorer = form.scorer(np.asarray(outputs.probs))
        if scorer is None:
            return None
        scorers.append(scorer)
    n_reps = len(variant)
    variant_scorers = scorers[:n_reps]
    baseline_scorers = scorers[n_reps:]
    # Counts and the products' sums are integers no larger than twice the draws of a resample (N),
    # so float32 holds them exactly (below 2**24) for N < 2**23, and the products run much faster.
    dtype = np.float32 if n_images < 2**23 else np.float64

    def statistic(rep_idx: np.ndarray, img_idx: np.ndarray) -> np.ndarray:
        counts = np.ascontiguousarray(_row_counts(img_idx, n_images).T, dtype=dtype)  # (N, B)
        rep_counts = _row_counts(rep_idx, n_reps)  # (B, R)
        weights = rep_counts / rep_idx.shape[1]
        context = form.context(counts)
        mv = np.zeros(counts.shape[1])
        mb = np.zeros(counts.shape[1])
        for r in range(n_reps):
            drawn = rep_counts[:, r] > 0
            if not drawn.any():
                continue
            # Undrawn pairs count for nothing, even where their metric is nan on the resample.
            mv += np.where(drawn, weights[:, r] * variant_scorers[r](counts, context), 0.0)
            mb += np.where(drawn, weights[:, r] * baseline_scorers[r](counts, context), 0.0)
        return _pct(mv, mb)

    return statistic


def _slow_statistic(
    fn: Callable[[np.ndarray, np.ndarray], float],
    variant: Sequence[ValidOutputs],
    baseline: Sequence[ValidOutputs],
    targets: np.ndarray,
) -> _BatchStatistic:
    """The batch statistic for any metric: recomputed on the drawn images of each resample."""

    def statistic(rep_idx: np.ndarray, img_idx: np.ndarray) -> np.ndarray:
        out = np.empty(rep_idx.shape[0])
        for b in range(rep_idx.shape[0]):
            images = img_idx[b]
            drawn_targets = targets[images]
            reps, counts = np.unique(rep_idx[b], return_counts=True)
            drawn = list(zip(reps, counts / counts.sum(), strict=True))
            mv = sum(w * fn(variant[r].probs[images], drawn_targets) for r, w in drawn)
            mb = sum(w * fn(baseline[r].probs[images], drawn_targets) for r, w in drawn)
            out[b] = _pct(mv, mb)
        return out

    return statistic


def _bootstrap(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    *,
    n_resamples: int,
    batch: int,
    seed: int,
) -> np.ndarray:
    """The bootstrap distribution of ``statistic`` from scipy, quietly and deterministically (the
    interval is taken from it after the seed's noise is added)."""
    rng = np.random.default_rng(seed)
    # scipy 1.15 renamed ``random_state`` to ``rng``; the project supports older scipy too.
    key = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        res = stats.bootstrap(
            data,
            statistic,
            n_resamples=n_resamples,
            batch=batch,
            vectorized=True,
            paired=False,
            method="percentile",
            **{key: rng},
        )
    return np.asarray(res.bootstrap_distribution, dtype=np.float64)


def _usable_outputs(variant: Sequence[ValidOutputs | None], baseline: Sequence[ValidOutputs | None]) -> bool:
    """Whether every trial has outputs, all on the same (at least two) images and task."""
    everything = [*variant, *baseline]
    present = [o for o in everything if o is not None]
    if len(present) != len(everything) or present[0].n_images < 2:
        return False
    first = present[0]
    return all(
        o.multi_label == first.multi_label
        and o.probs.shape == first.probs.shape
        and np.array_equal(o.targets, first.targets)
        for o in present
    )


def compare(
    variant: Sequence[ValidOutputs | None],
    baseline: Sequence[ValidOutputs | None],
    metric: str,
    *,
    variant_values: Sequence[float],
    baseline_values: Sequence[float],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    _fast: bool = True,
) -> Comparison:
    """The % change of a variant's ``metric`` against the baseline's, with a bootstrap interval.

    ``variant[r]`` and ``baseline[r]`` are replicate pair ``r`` (trained with the same seed);
    ``variant_values[r]`` and ``baseline_values[r]`` are those trials' stored metric values. With
    every per-image output present (all on the same validation images) the images are resampled
    and the pairs' seed noise added (``"images+replicates"``, or ``"images"`` for one pair, which
    is not judged) and the point estimate is recomputed from the outputs; otherwise two or more
    pairs give the paired t interval of their values (``"replicates"``) and a single pair has no
    interval (``"none"``). A baseline mean of 0
    has no % change (``"none"``). A resample whose baseline mean is 0 has no % change either, which
    makes the interval ``nan``.

    Args:
        variant: Per replicate pair, the variant trial's validation outputs or ``None``.
        baseline: Per replicate pair, the baseline trial's validation outputs or ``None``.
        metric: A key of :data:`hpstudy.metrics.METRICS`.
        variant_values: Per replicate pair, the variant trial's metric value.
        baseline_values: Per replicate pair, the baseline trial's metric value.
        n_resamples: Bootstrap resamples.
        confidence: Confidence level of the interval.
        seed: Seed of the resampling; the same seed gives the same interval. Cells that share their
            validation images and replicate seeds (fractions of one dataset) get image-paired draws
            for :func:`pool` from the same seed.
        _fast: Internal, for tests: ``False`` recomputes the metric on each resample's images
            (``_slow_statistic``) instead of taking the batch forms.

    Returns:
        The :class:`Comparison`.

    Raises:
        ValueError: If the four sequences are empty or differ in length, or ``n_resamples`` < 1.
        KeyError: If ``metric`` is unknown.
    """
    n_reps = len(variant)
    if n_reps < 1 or not len(baseline) == len(variant_values) == len(baseline_values) == n_reps:
        raise ValueError(
            "variant, baseline, variant_values and baseline_values need one entry per replicate pair "
            f"(at least one), got lengths {len(variant)}, {len(baseline)}, {len(variant_values)}, "
            f"{len(baseline_values)}"
        )
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    fn = get_metric(metric)

    if _usable_outputs(variant, baseline):
        var_out = [o for o in variant if o is not None]
        base_out = [o for o in baseline if o is not None]
        targets = np.asarray(base_out[0].targets)
        n_images = base_out[0].n_images
        var_metrics = np.array([fn(o.probs, o.targets) for o in var_out], dtype=np.float64)
        base_metrics = np.array([fn(o.probs, o.targets) for o in base_out], dtype=np.float64)
        mv, mb = float(var_metrics.mean()), float(base_metrics.mean())
        if mb == 0 or not (math.isfinite(mb) and math.isfinite(mv)):
            mean_pct = float(_pct(mv, mb)) if mb != 0 else math.nan
            return Comparison(mean_pct, math.nan, math.nan, n_reps, n_images, "none")
        statistic: _BatchStatistic | None = None
        if _fast:
            scores = [per_image_scores(metric, o) for o in (*var_out, *base_out)]
            present = [s for s in scores if s is not None]
            if len(present) == len(scores):
                stacked = np.stack(present)
                statistic = _fast_statistic(stacked[:n_reps], stacked[n_reps:])
            if statistic is None:
                statistic = _count_statistic(metric, var_out, base_out, targets)
        if statistic is None:
            statistic = _slow_statistic(fn, var_out, base_out, targets)
        batch = max(1, min(n_resamples, _BATCH_CELLS // max(n_images, n_reps)))
        every_pair = np.arange(n_reps)

        def over_images(img_idx: np.ndarray, axis: int = -1) -> np.ndarray:
            return statistic(np.broadcast_to(every_pair, (img_idx.shape[0], n_reps)), img_idx)

        draws = _bootstrap((np.arange(n_images),), over_images, n_resamples=n_resamples, batch=batch,
                           seed=seed)
        mean_pct = float(_pct(mv, mb))
        if n_reps < 2:
            low, high = _percentiles(draws, confidence)
            return Comparison(mean_pct, low, high, n_reps, n_images, "images", draws)
        draws = draws + _seed_draws(var_metrics - base_metrics, mb, n_resamples, seed)
        low, high = _percentiles(draws, confidence)
        return Comparison(mean_pct, low, high, n_reps, n_images, "images+replicates", draws)

    values_v = np.asarray(variant_values, dtype=np.float64)
    values_b = np.asarray(baseline_values, dtype=np.float64)
    mv, mb = float(values_v.mean()), float(values_b.mean())
    mean_pct = float(_pct(mv, mb))
    if n_reps < 2 or mb == 0 or not math.isfinite(mean_pct):
        return Comparison(mean_pct if mb != 0 else math.nan, math.nan, math.nan, n_reps, 0, "none")
    draws = mean_pct + _seed_draws(values_v - values_b, mb, n_resamples, seed)
    low, high = _percentiles(draws, confidence)
    return Comparison(mean_pct, low, high, n_reps, 0, "replicates", draws)


def _seed_draws(differences: Sequence[float] | np.ndarray, baseline_mean: float, n: int,
                seed: int) -> np.ndarray:
    """``n`` draws of the seed noise in the mean of the replicate pairs' differences, as a % of
    ``baseline_mean``: the paired t distribution (``R - 1`` degrees of freedom, scaled by the
    differences' standard error), at its ``(i + 1/2) / n`` quantiles in a random order.

    A bootstrap over two or three seed pairs cannot see the tails it has not drawn (its interval
    is at most the pairs' range); the t distribution is the small-sample answer for the mean of a
    few roughly normal differences. Stratified quantiles keep its percentiles exact for any ``n``.
    """
    d = np.asarray(differences, dtype=np.float64)
    se = float(np.std(d, ddof=1)) / math.sqrt(d.size) / abs(baseline_mean) * 100.0
    order = np.random.default_rng([seed, 0x5EED]).permutation(n)
    return se * stats.t.ppf((order + 0.5) / n, df=d.size - 1)


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of ``draws`` (``nan`` if any draw is ``nan``). Hazen's plotting
    positions, ``(i + 1/2) / n``, are the levels :func:`_seed_draws` samples at, so a
    distribution of seed draws alone gives the t interval itself."""
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha], method="hazen")
    return float(low), float(high)


def pool(comparisons: Sequence[Comparison], *, confidence: float = 0.95) -> Comparison:
    """The mean % change over several independent cells, with a bootstrap interval.

    The pooled distribution is the draw-by-draw mean of the cells' :attr:`Comparison.draws`, and the
    interval its percentiles. ``replicates`` is the fewest of any cell (so a pool with a
    one-replicate cell is not :attr:`~Comparison.judged`), ``images`` the sum. Any cell without
    draws makes the pool ``"none"`` (``nan`` interval). ``method`` is the cells' common method, or
    ``"mixed"`` when they differ. Cells compared with the same ``seed`` (the fractions of one
    dataset) share their image draws and the order of their seed draws, so their noise is pooled as
    fully correlated: never narrower than it should be.

    Raises:
        ValueError: If ``comparisons`` is empty or their draws differ in length.
    """
    if not comparisons:
        raise ValueError("pool needs at least one comparison")
    mean_pct = float(np.mean([c.mean_pct for c in comparisons]))
    replicates = min(c.replicates for c in comparisons)
    images = sum(c.images for c in comparisons)
    if any(c.draws is None for c in comparisons) or not math.isfinite(mean_pct):
        return Comparison(mean_pct, math.nan, math.nan, replicates, images, "none")
    lengths = {len(c.draws) for c in comparisons if c.draws is not None}
    if len(lengths) != 1:
        raise ValueError(
            f"pooled comparisons need draws of one length (the same n_resamples), got {sorted(lengths)}"
        )
    draws = np.mean(np.stack([np.asarray(c.draws, dtype=np.float64) for c in comparisons]), axis=0)
    low, high = _percentiles(draws, confidence)
    methods = {c.method for c in comparisons}
    method = methods.pop() if len(methods) == 1 else "mixed"
    return Comparison(mean_pct, low, high, replicates, images, method, draws)
