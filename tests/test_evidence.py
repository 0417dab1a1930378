"""Bootstrap intervals for the % change against the baseline: known answers, edge cases, pooling."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from hpstudy.evidence import (
    _COUNT_METRICS,
    Comparison,
    _count_statistic,
    _fast_statistic,
    _row_counts,
    compare,
    per_image_scores,
    pool,
)
from hpstudy.metrics import get_metric
from hpstudy.outputs import ValidOutputs

C = 5


def _single(correct: np.ndarray, targets: np.ndarray, seed: int) -> ValidOutputs:
    """Softmax-like outputs whose top class is the target exactly where ``correct``."""
    rng = np.random.default_rng(seed)
    n = len(targets)
    probs = rng.random((n, C))
    wrong = (targets + 1 + rng.integers(0, C - 1, size=n)) % C
    top = np.where(correct, targets, wrong)
    probs[np.arange(n), top] += 2.0
    return ValidOutputs((probs / probs.sum(axis=1, keepdims=True)).astype(np.float32), targets, False)


def _multi(seed: int, n: int = 200, c: int = 4, signal: float = 0.4) -> ValidOutputs:
    rng = np.random.default_rng(seed)
    targets = (np.random.default_rng(99).random((n, c)) < 0.3).astype(np.uint8)
    probs = np.clip(signal * targets + 0.6 * rng.random((n, c)), 0, 1).astype(np.float32)
    return ValidOutputs(probs, targets, True)


def _values(outputs: list[ValidOutputs], metric: str) -> list[float]:
    return [get_metric(metric)(o.probs, o.targets) for o in outputs]


def _cmp(variant: list[ValidOutputs], baseline: list[ValidOutputs], metric: str = "accuracy",
         **kwargs: object) -> Comparison:
    return compare(variant, baseline, metric, variant_values=_values(variant, metric),
                   baseline_values=_values(baseline, metric), **kwargs)  # type: ignore[arg-type]


def _paired_pair(n: int = 4000, seed: int = 0) -> tuple[ValidOutputs, ValidOutputs]:
    """Baseline right w.p. 0.70; the variant keeps 95 % of its hits and fixes ~22 % of its misses."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, C, size=n)
    base = rng.random(n) < 0.70
    var = np.where(base, rng.random(n) < 0.95, rng.random(n) < (0.73 - 0.70 * 0.95) / 0.30)
    return _single(var, targets, seed + 1), _single(base, targets, seed + 2)


def test_images_interval_matches_delta_method() -> None:
    variant, baseline = _paired_pair()
    v = per_image_scores("accuracy", variant)
    b = per_image_scores("accuracy", baseline)
    assert v is not None and b is not None
    mv, mb = v.mean(), b.mean()
    pct = (mv / mb - 1) * 100
    # Delta method for the ratio of paired means: influence of image i on mv/mb.
    se = 100 * np.std((v - b * mv / mb) / mb, ddof=1) / math.sqrt(len(v))
    low, high = pct - 1.959964 * se, pct + 1.959964 * se

    got = _cmp([variant], [baseline], n_resamples=2000, seed=1)
    assert got.method == "images" and got.replicates == 1 and got.images == len(v)
    assert got.mean_pct == pytest.approx(pct, abs=1e-9)
    width = high - low
    assert abs(got.ci_low_pct - low) < 0.15 * width
    assert abs(got.ci_high_pct - high) < 0.15 * width
    assert got.ci_low_pct > 0  # the images alone would call it better ...
    # ... but one replicate pair says nothing of the seed's noise: not judged either way.
    assert not got.judged and not got.significant and got.verdict == "not judged"
    assert got.draws is not None and got.draws.shape == (2000,)

    worse = _cmp([baseline], [variant], n_resamples=500)
    assert worse.ci_high_pct < 0 and not worse.significant and worse.verdict == "not judged"


@pytest.mark.parametrize("metric", ["accuracy", "map3", "balanced_accuracy"])
@pytest.mark.parametrize("reps", [1, 2])
def test_identical_arms_give_exactly_zero_without_warnings(metric: str, reps: int) -> None:
    outs = [_paired_pair(n=300, seed=s)[1] for s in range(reps)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _cmp(outs, outs, metric, n_resamples=200)
    assert got.mean_pct == 0
    assert (got.ci_low_pct, got.ci_high_pct) == (0.0, 0.0)
    assert not got.significant
    assert got.verdict == ("not judged" if reps == 1 else "no detectable difference")


def _replicate_pairs(changes: list[float], n: int = 3000) -> tuple[list[ValidOutputs], list[ValidOutputs]]:
    """Pairs on shared images whose variant differs from its baseline by exactly ``changes`` (%)."""
    rng = np.random.default_rng(7)
    targets = rng.integers(0, C, size=n)
    variants, baselines = [], []
    for r, change in enumerate(changes):
        base = rng.random(n) < 0.70
        var = base.copy()
        flips = round(abs(change) / 100 * base.sum())
        pool_idx = np.flatnonzero(~base if change > 0 else base)
        var[rng.choice(pool_idx, size=flips, replace=False)] = change > 0
        variants.append(_single(var, targets, 10 * r + 1))
        baselines.append(_single(base, targets, 10 * r + 2))
    return variants, baselines


def test_replicates_that_disagree_widen_the_interval_to_zero() -> None:
    variants, baselines = _replicate_pairs([5.0, -4.0, 1.0])
    alone = [_cmp([v], [b], n_resamples=1000) for v, b in zip(variants, baselines, strict=True)]
    assert [round(c.mean_pct) for c in alone] == [5, -4, 1]
    # Each pair alone: many images, an interval clear of 0, but one pair is not judged.
    assert all((c.ci_low_pct > 0 or c.ci_high_pct < 0) and not c.judged for c in alone)

    together = _cmp(variants, baselines, n_resamples=1000)
    assert together.method == "images+replicates" and together.replicates == 3
    assert together.ci_low_pct < 0 < together.ci_high_pct
    assert not together.significant
    assert together.ci_high_pct - together.ci_low_pct > alone[0].ci_high_pct - alone[0].ci_low_pct


@pytest.mark.parametrize("metric", ["accuracy", "map3", "f2_samples"])
def test_fast_path_equals_metric_recomputed_per_resample(metric: str) -> None:
    if metric == "f2_samples":
        variant = [_multi(1, n=300), _multi(2, n=300)]
        baseline = [_multi(3, n=300, signal=0.2), _multi(4, n=300, signal=0.2)]
    else:
        pairs = [_paired_pair(n=300, seed=s) for s in (0, 5)]
        variant, baseline = [p[0] for p in pairs], [p[1] for p in pairs]
    fn = get_metric(metric)
    scores = [per_image_scores(metric, o) for o in (*variant, *baseline)]
    for s, o in zip(scores, (*variant, *baseline), strict=True):
        assert s is not None and s.mean() == pytest.approx(fn(o.probs, o.targets), abs=1e-12)

    # The batch statistic on explicit resamples against the metric on those images.
    stat = _fast_statistic(np.stack(scores[:2]), np.stack(scores[2:]))  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    rep_idx = rng.integers(0, 2, size=(4, 2))
    img_idx = rng.integers(0, 300, size=(4, 300))
    got = stat(rep_idx, img_idx)
    for b in range(4):
        images = img_idx[b]
        mv = np.mean([fn(variant[r].probs[images], variant[r].targets[images]) for r in rep_idx[b]])
        mb = np.mean([fn(baseline[r].probs[images], baseline[r].targets[images]) for r in rep_idx[b]])
        assert got[b] == pytest.approx((mv - mb) / abs(mb) * 100, abs=1e-9)

    # The whole bootstrap through the fast path and through the generic one.
    fast = _cmp(variant, baseline, metric, n_resamples=200, seed=4)
    slow = _cmp(variant, baseline, metric, n_resamples=200, seed=4, _fast=False)
    assert fast.draws is not None and slow.draws is not None
    np.testing.assert_allclose(fast.draws, slow.draws, rtol=0, atol=1e-9)
    assert fast.ci_low_pct == pytest.approx(slow.ci_low_pct, abs=1e-9)
    assert fast.ci_high_pct == pytest.approx(slow.ci_high_pct, abs=1e-9)


def _single_with_rare_class(seed: int, n: int = 60) -> ValidOutputs:
    """Single-label outputs on fixed targets where class ``C - 1`` is the target of two images
    only, and predicted on those only: resamples without them have it neither true nor predicted."""
    targets = np.random.default_rng(42).integers(0, C - 1, size=n)
    targets[[5, 17]] = C - 1
    rng = np.random.default_rng(seed)
    correct = rng.random(n) < 0.6
    correct[[5, 17]] = True
    wrong = (targets + 1 + rng.integers(0, C - 2, size=n)) % (C - 1)  # another class, never C - 1
    probs = rng.random((n, C))
    probs[np.arange(n), np.where(correct, targets, wrong)] += 2.0
    return ValidOutputs((probs / probs.sum(axis=1, keepdims=True)).astype(np.float32), targets, False)


def _multi_with_ties(seed: int, n: int = 80, c: int = 5, signal: float = 0.4) -> ValidOutputs:
    """Multi-label outputs with many exactly tied scores (one decimal) and a rare class 1 (two
    positives, predicted on those only), so that resamples miss it."""
    out = _multi(seed, n=n, c=c, signal=signal)
    targets = out.targets.copy()
    targets[:, 1] = 0
    targets[[3, 40], 1] = 1
    probs = np.round(out.probs.astype(np.float64), 1)
    probs[:, 1] = np.where(targets[:, 1] == 1, 0.7, np.round(np.random.default_rng(seed).random(n) * 0.4, 1))
    return ValidOutputs(probs.astype(np.float32), targets, True)


_COUNT_CASES = [
    ("balanced_accuracy", "single"),
    ("macro_f1", "single"),
    ("macro_f1", "multi"),
    ("mean_auroc", "multi"),
    ("mean_auroc_findings", "multi"),
]


def _count_case(kind: str) -> tuple[list[ValidOutputs], list[ValidOutputs], list[int]]:
    """Two replicate pairs on shared images, and the images of the rare class."""
    if kind == "single":
        return [_single_with_rare_class(1), _single_with_rare_class(2)], [
            _single_with_rare_class(3), _single_with_rare_class(4)], [5, 17]
    return [_multi_with_ties(1), _multi_with_ties(2)], [
        _multi_with_ties(3, signal=0.2), _multi_with_ties(4, signal=0.2)], [3, 40]


@pytest.mark.parametrize(("metric", "kind"), _COUNT_CASES)
def test_count_path_equals_metric_recomputed_per_resample(metric: str, kind: str) -> None:
    variant, baseline, rare = _count_case(kind)
    n = variant[0].n_images
    fn = get_metric(metric)
    assert per_image_scores(metric, variant[0]) is None  # not a mean over images: the count path
    stat = _count_statistic(metric, variant, baseline, baseline[0].targets)
    assert stat is not None

    rng = np.random.default_rng(3)
    without_rare = np.setdiff1d(np.arange(n), rare)
    img_idx = np.stack([
        np.arange(n),  # the images themselves
        rng.integers(0, n, size=n),
        rng.integers(0, n, size=n),
        rng.choice(without_rare, size=n),  # the rare class is missing
        np.r_[np.full(n // 2, rare[0]), rng.choice(without_rare, size=n - n // 2)],  # one image many times
    ])
    rep_idx = np.array([[0, 1], [0, 0], [1, 0], [1, 1], [0, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = stat(rep_idx, img_idx)
        # Each trial's metric itself (a % change would hide a factor common to both arms, such as
        # averaging over a class that is not there).
        form = _COUNT_METRICS[metric](baseline[0].targets, C)
        assert form is not None
        counts = np.ascontiguousarray(_row_counts(img_idx, n).T, dtype=np.float32)
        for o in (*variant, *baseline):
            score = form.scorer(o.probs)
            assert score is not None
            values = score(counts, form.context(counts))
            expected = [fn(o.probs[images], o.targets[images]) for images in img_idx]
            np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
    for b in range(len(img_idx)):
        images = img_idx[b]
        mv = np.mean([fn(variant[r].probs[images], variant[r].targets[images]) for r in rep_idx[b]])
        mb = np.mean([fn(baseline[r].probs[images], baseline[r].targets[images]) for r in rep_idx[b]])
        assert got[b] == pytest.approx((mv - mb) / abs(mb) * 100, abs=1e-9)

    # The whole bootstrap through the count path and through the generic one, with two pairs and one.
    for reps in (2, 1):
        fast = _cmp(variant[:reps], baseline[:reps], metric, n_resamples=200, seed=4)
        slow = _cmp(variant[:reps], baseline[:reps], metric, n_resamples=200, seed=4, _fast=False)
        assert fast.draws is not None and slow.draws is not None
        np.testing.assert_allclose(fast.draws, slow.draws, rtol=0, atol=1e-9)
        assert fast.ci_low_pct == pytest.approx(slow.ci_low_pct, abs=1e-9)
        assert fast.ci_high_pct == pytest.approx(slow.ci_high_pct, abs=1e-9)


def test_count_path_runs_at_chestxray_size() -> None:
    """ChestX-ray14's validation size (about 20,000 images, 15 labels) with the study's 2000
    resamples: the per-resample recomputation took about three minutes on such data, the count
    path takes seconds (measured outside the tests; nothing here is timed)."""
    n, c = 20_000, 15
    rng = np.random.default_rng(0)
    targets = (rng.random((n, c)) < np.linspace(0.02, 0.5, c)).astype(np.uint8)
    arms = []
    for signal in (1.4, 1.0):
        logits = signal * (targets - 0.5) + rng.normal(size=(n, c))
        arms.append(ValidOutputs((1 / (1 + np.exp(-logits))).astype(np.float32), targets, True))
    got = _cmp([arms[0]], [arms[1]], "mean_auroc_findings", n_resamples=2000, seed=0)
    assert got.method == "images" and got.images == n
    assert got.draws is not None and got.draws.shape == (2000,) and np.isfinite(got.draws).all()
    assert got.ci_low_pct <= got.mean_pct <= got.ci_high_pct


def test_seed_noise_is_the_paired_t_interval() -> None:
    """Without per-image outputs the interval is the textbook paired t interval of the pairs'
    metric differences, as a % of the baseline mean (scipy's ttest_rel gives it)."""
    from scipy import stats

    variant_values = [0.74, 0.79, 0.71, 0.77]
    baseline_values = [0.70, 0.72, 0.73, 0.71]
    got = compare([None] * 4, [None] * 4, "accuracy", variant_values=variant_values,
                  baseline_values=baseline_values, n_resamples=4000)
    ci = stats.ttest_rel(variant_values, baseline_values).confidence_interval(0.95)
    scale = 100 / np.mean(baseline_values)
    assert got.method == "replicates" and got.judged
    assert got.ci_low_pct == pytest.approx(ci.low * scale, rel=2e-3)
    assert got.ci_high_pct == pytest.approx(ci.high * scale, rel=2e-3)
    # Every pair gains, yet four noisy pairs do not exclude 0: t(3) is wide.
    assert got.ci_low_pct < 0 < got.ci_high_pct and got.verdict == "no detectable difference"


def test_seed_noise_dominates_when_images_are_many() -> None:
    """With outputs, the interval adds the images' noise to the seeds': on 20,000 images the image
    part is small, and the interval is close to the paired t interval of the pairs' changes."""
    from scipy import stats

    variants, baselines = _replicate_pairs([6.0, 1.0, 3.5], n=20000)
    got = _cmp(variants, baselines, n_resamples=2000)
    v = np.array(_values(variants, "accuracy"))
    b = np.array(_values(baselines, "accuracy"))
    ci = stats.ttest_rel(v, b).confidence_interval(0.95)
    t_width = (ci.high - ci.low) * 100 / b.mean()
    one_pair = _cmp(variants[:1], baselines[:1], n_resamples=2000)
    assert one_pair.ci_high_pct - one_pair.ci_low_pct < 0.2 * t_width  # the images' part is small
    width = got.ci_high_pct - got.ci_low_pct
    assert 0.97 * t_width < width < 1.15 * t_width
    assert got.ci_low_pct < got.mean_pct < got.ci_high_pct


def test_missing_outputs_fall_back_to_replicates_or_nothing() -> None:
    got = compare([None] * 3, [None] * 3, "accuracy", variant_values=[0.75, 0.76, 0.74],
                  baseline_values=[0.70, 0.71, 0.69], n_resamples=500)
    assert got.method == "replicates" and got.images == 0 and got.replicates == 3
    assert got.mean_pct == pytest.approx((0.75 / 0.70 - 1) * 100)
    assert got.significant and got.verdict == "better"  # every pair gains, so every draw does

    variant, baseline = _paired_pair(n=200)
    partial = compare([variant, None, variant], [baseline, baseline, baseline], "accuracy",
                      variant_values=[0.75, 0.6, 0.8], baseline_values=[0.7, 0.7, 0.7], n_resamples=200)
    assert partial.method == "replicates"

    one = compare([None], [None], "accuracy", variant_values=[0.75], baseline_values=[0.70])
    assert one.method == "none" and one.draws is None and one.replicates == 1
    assert one.mean_pct == pytest.approx((0.75 / 0.70 - 1) * 100)
    assert math.isnan(one.ci_low_pct) and math.isnan(one.ci_high_pct)
    assert not one.significant and one.verdict == "not judged"
    assert one.to_dict()["ci_low_pct"] is None and one.to_dict()["method"] == "none"


def test_outputs_on_different_images_fall_back_to_replicates() -> None:
    a = _paired_pair(n=200, seed=0)
    b = _paired_pair(n=200, seed=1)  # other targets
    got = compare([a[0], b[0]], [a[1], b[1]], "accuracy", variant_values=[0.73, 0.74],
                  baseline_values=[0.70, 0.71], n_resamples=200)
    assert got.method == "replicates"


def test_zero_baseline_has_no_change() -> None:
    got = compare([None] * 2, [None] * 2, "accuracy", variant_values=[0.1, 0.2], baseline_values=[0.0, 0.0])
    assert got.method == "none" and math.isnan(got.mean_pct) and not got.significant
    targets = np.zeros(50, dtype=int)
    never = _single(np.zeros(50, dtype=bool), targets, 0)
    sometimes = _single(np.arange(50) % 2 == 0, targets, 1)
    got = _cmp([sometimes], [never])
    assert got.method == "none" and math.isnan(got.mean_pct) and got.images == 50


def test_resamples_with_zero_baseline_give_nan_interval_without_warnings() -> None:
    # The baseline is right on one image of five: about a third of the resamples miss it.
    targets = np.zeros(5, dtype=int)
    baseline = _single(np.arange(5) == 0, targets, 0)
    variant = _single(np.arange(5) < 3, targets, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _cmp([variant], [baseline], n_resamples=200)
    assert got.method == "images" and got.mean_pct == pytest.approx(200.0)
    assert math.isnan(got.ci_low_pct) and not got.significant


def _cell(draws: np.ndarray | None, mean_pct: float, reps: int, images: int) -> Comparison:
    return Comparison(mean_pct, math.nan, math.nan, reps, images, "images+replicates", draws)


def test_pool_averages_draws_index_wise() -> None:
    up = np.linspace(0.0, 10.0, 1001)
    # Index-wise means of opposite ramps are all 5: no spread, whatever each cell's own spread.
    flat = pool([_cell(up, 5.0, 3, 100), _cell(up[::-1], 5.0, 2, 50)])
    assert (flat.ci_low_pct, flat.ci_high_pct) == pytest.approx((5.0, 5.0))
    assert flat.replicates == 2 and flat.images == 150 and flat.method == "images+replicates"

    got = pool([_cell(up, 4.0, 3, 100), _cell(3 * up, 8.0, 3, 100)], confidence=0.9)
    expected = np.quantile(2 * up, [0.05, 0.95], method="hazen")
    assert got.mean_pct == pytest.approx(6.0)
    assert (got.ci_low_pct, got.ci_high_pct) == pytest.approx(tuple(expected))
    assert got.draws is not None and np.allclose(got.draws, 2 * up)

    none = pool([_cell(up, 4.0, 3, 100), _cell(None, 1.0, 1, 0)])
    assert none.method == "none" and none.draws is None and math.isnan(none.ci_low_pct)
    assert none.mean_pct == pytest.approx(2.5) and not none.significant
    with pytest.raises(ValueError, match="length"):
        pool([_cell(up, 1.0, 1, 1), _cell(up[:10], 1.0, 1, 1)])
    with pytest.raises(ValueError):
        pool([])


def test_pool_of_real_comparisons_is_narrower_than_its_cells() -> None:
    cells = [_cmp([v], [b], n_resamples=1000, seed=s) for s, (v, b) in
             enumerate(_paired_pair(n=1000, seed=s) for s in (0, 10, 20))]
    pooled = pool(cells)
    assert pooled.mean_pct == pytest.approx(np.mean([c.mean_pct for c in cells]))
    assert pooled.method == "images" and pooled.images == 3000
    width = pooled.ci_high_pct - pooled.ci_low_pct
    assert all(width < c.ci_high_pct - c.ci_low_pct for c in cells)


def test_same_seed_same_interval() -> None:
    variants, baselines = _replicate_pairs([3.0, 2.0])
    first = _cmp(variants, baselines, n_resamples=300, seed=5)
    again = _cmp(variants, baselines, n_resamples=300, seed=5)
    other = _cmp(variants, baselines, n_resamples=300, seed=6)
    assert (first.ci_low_pct, first.ci_high_pct) == (again.ci_low_pct, again.ci_high_pct)
    assert first.draws is not None and again.draws is not None and other.draws is not None
    np.testing.assert_array_equal(first.draws, again.draws)
    assert not np.array_equal(first.draws, other.draws)

    values = {"variant_values": [0.75, 0.76, 0.74], "baseline_values": [0.70, 0.72, 0.69]}
    r1 = compare([None] * 3, [None] * 3, "accuracy", n_resamples=300, seed=5, **values)  # type: ignore[arg-type]
    r2 = compare([None] * 3, [None] * 3, "accuracy", n_resamples=300, seed=5, **values)  # type: ignore[arg-type]
    assert (r1.ci_low_pct, r1.ci_high_pct) == (r2.ci_low_pct, r2.ci_high_pct)


def test_multi_label_auroc_runs_the_count_path() -> None:
    variant = [_multi(1), _multi(2)]
    baseline = [_multi(3, signal=0.2), _multi(4, signal=0.2)]
    assert per_image_scores("mean_auroc", variant[0]) is None
    got = _cmp(variant, baseline, "mean_auroc", n_resamples=200)
    assert got.method == "images+replicates" and got.images == 200 and got.replicates == 2
    assert math.isfinite(got.ci_low_pct) and math.isfinite(got.ci_high_pct)
    assert got.ci_low_pct <= got.mean_pct <= got.ci_high_pct
    assert got.significant and got.verdict == "better"  # a much stronger signal


def test_to_dict_and_bad_arguments() -> None:
    variant, baseline = _paired_pair(n=200)
    d = _cmp([variant], [baseline], n_resamples=100).to_dict()
    assert set(d) == {"mean_pct", "ci_low_pct", "ci_high_pct", "replicates", "images", "method",
                      "significant", "verdict"}
    assert isinstance(d["mean_pct"], float) and d["images"] == 200
    with pytest.raises(ValueError, match="replicate pair"):
        compare([variant], [baseline, baseline], "accuracy", variant_values=[0.7], baseline_values=[0.7])
    with pytest.raises(ValueError, match="replicate pair"):
        compare([], [], "accuracy", variant_values=[], baseline_values=[])
    with pytest.raises(KeyError, match="unknown metric"):
        compare([variant], [baseline], "nope", variant_values=[0.7], baseline_values=[0.7])
