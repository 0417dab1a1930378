"""The finder's mathematics on synthetic curves whose answer is known in advance."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.signal import butter, filtfilt

from hpstudy.training._lr_curve import (
    Curve,
    DivergenceMonitor,
    ema,
    exp_schedule,
    fastai_suggestions,
    points_per_decade,
    smooth_curve,
    spread_decades,
    start_level,
    steepest_descent,
    truncate_at_divergence,
)

LRS = exp_schedule(1e-7, 10.0, 100)
X = np.log10(LRS)


def known_curve(x: np.ndarray, centre: float, width: float = 0.35, rise_at: float = 1.5) -> np.ndarray:
    """A loss that falls by 2 around ``centre`` (steepest exactly there) and later diverges."""
    return 2.3 - 2.0 / (1 + np.exp(-(x - centre) / width)) + 0.3 * np.exp((x - centre - rise_at) * 2.5)


def true_steepest(centre: float, **kw: float) -> float:
    x = np.linspace(-7, 1, 40_001)
    y = known_curve(x, centre, **kw)
    g = np.gradient(y, x)
    return float(x[np.argmin(g[: np.argmin(y) + 1])])


def high_frequency_noise(seed: int, n: int = 100, amplitude: float = 0.3) -> np.ndarray:
    """White noise high-passed above half the Nyquist rate (periods under four steps), std ``amplitude``."""
    rng = np.random.default_rng(seed)
    b, a = butter(4, 0.5, btype="highpass")
    noise = filtfilt(b, a, rng.standard_normal(n + 40))[20:-20]
    return amplitude * noise / noise.std()


def test_schedule_is_geometric_from_start_to_end() -> None:
    assert LRS[0] == pytest.approx(1e-7) and LRS[-1] == pytest.approx(10.0)
    assert np.allclose(np.diff(np.log10(LRS)), 8 / 99)
    assert points_per_decade(LRS) == pytest.approx(99 / 8)
    with pytest.raises(ValueError):
        exp_schedule(1.0, 0.1, 10)


@pytest.mark.parametrize("centre", [-5.0, -3.0, -1.5])
def test_clean_curve_gives_its_steepest_point(centre: float) -> None:
    fit = Curve.fit(LRS, known_curve(X, centre))
    assert abs(math.log10(fit.lr) - true_steepest(centre)) < 0.1


@pytest.mark.parametrize("centre", [-4.0, -3.0, -2.0])
def test_high_frequency_noise_moves_the_raw_gradient_but_not_the_filtered_one(centre: float) -> None:
    truth = true_steepest(centre)
    raw_errors = []
    for seed in range(20):
        noisy = known_curve(X, centre) + high_frequency_noise(seed)
        filtered = Curve.fit(LRS, noisy).lr
        assert abs(math.log10(filtered) - truth) <= 0.25, (seed, math.log10(filtered), truth)
        raw = LRS[steepest_descent(LRS, noisy)]  # the same rule without the filter
        raw_errors.append(abs(math.log10(raw) - truth))
    assert sum(e > 0.25 for e in raw_errors) >= 12
    assert np.median(raw_errors) > 0.25


def test_filter_adapts_to_the_number_of_points() -> None:
    """The same curve sampled 50, 100 or 1000 times over the sweep gives the same answer."""
    answers = []
    for n in (50, 100, 1000):
        lrs = exp_schedule(1e-7, 10.0, n)
        x = np.log10(lrs)
        noise = 0.25 * np.cos(np.pi * np.arange(n))
        answers.append(math.log10(Curve.fit(lrs, known_curve(x, -3.0) + noise).lr))
    assert max(answers) - min(answers) < 0.2
    assert all(abs(a - true_steepest(-3.0)) < 0.2 for a in answers)


def test_filter_is_zero_phase() -> None:
    """A causal filter delays the curve; ours must not move a symmetric dip."""
    y = 1.0 - np.exp(-((X + 3.0) ** 2) / 0.5)
    smoothed = smooth_curve(LRS, y)
    assert X[np.argmin(smoothed)] == pytest.approx(X[np.argmin(y)], abs=1e-9)


def test_search_stops_at_the_smoothed_minimum() -> None:
    """A steeper fall after the minimum (e.g. the wreck of a diverged run) is never chosen."""
    y = known_curve(X, -4.0, rise_at=1.0)
    low = float(y.min())
    y[80:] = np.linspace(y[79], low + 0.3, 20)  # a steep fall beyond the minimum, not below it
    assert (np.diff(y[80:]) / np.diff(X[80:])).min() < np.gradient(y[:75], X[:75]).min()
    assert math.log10(Curve.fit(LRS, y).lr) == pytest.approx(true_steepest(-4.0, rise_at=1.0),
                                                             abs=0.15)


@pytest.mark.parametrize("name", ["rising", "flat then rising", "dip at the start then rising"])
def test_a_curve_that_never_falls_is_refused_not_answered_with_its_first_lr(name: str) -> None:
    y = {
        "rising": np.linspace(1.0, 5.0, 100),
        # A network that does not respond until it diverges.
        "flat then rising": 2.3 + 0.3 * np.exp(X * 2.5),
        # Its lowest point is a wobble among the first lrs, which the old finder took.
        "dip at the start then rising": 2.3 - 0.05 * np.exp(-((X + 6.8) ** 2) / 0.02)
                                        + 0.3 * np.exp(X * 2.5),
    }[name]
    with pytest.raises(ValueError, match="never falls .* lower lr_find.start_lr"):
        Curve.fit(LRS, y)


def test_a_descent_from_the_first_lr_on_is_still_a_descent() -> None:
    # The sweep starts on the slope: the steepest point is early, but the minimum lies well past
    # the start, so the curve falls and is answered.
    y = known_curve(X, -6.5)
    fit = Curve.fit(LRS, y)
    assert fit.index < 15 and int(np.argmin(fit.smoothed)) > 10


@pytest.mark.parametrize("centre", [-5.0, -3.0])
def test_truncating_the_divergent_tail_also_finds_the_steepest_point(centre: float) -> None:
    y = known_curve(X, centre, rise_at=1.0)
    end = truncate_at_divergence(y)
    assert end > int(np.argmin(y)) and y[end] > start_level(y) >= y[end - 1]
    fit = Curve.fit(LRS, y, guard="truncate")
    assert len(fit.smoothed) == end
    assert math.log10(fit.lr) == pytest.approx(true_steepest(centre, rise_at=1.0), abs=0.15)
    with pytest.raises(ValueError, match="guard must be"):
        Curve.fit(LRS, y, guard="clip")


def test_non_finite_tail_is_cut_before_filtering() -> None:
    y = known_curve(X, -3.0)
    y[70:] = np.nan
    fit = Curve.fit(LRS, y)
    assert len(fit.smoothed) == 70 and np.isfinite(fit.smoothed).all()
    with pytest.raises(ValueError, match="lower start_lr"):
        Curve.fit(LRS, np.full(100, np.inf))


def test_divergence_stop_triggers_on_an_exploding_curve() -> None:
    monitor = DivergenceMonitor(4.0, points_per_decade(LRS))
    losses = known_curve(X, -3.0, rise_at=1.0)
    stopped = next((i for i, v in enumerate(losses) if monitor.update(float(v))), None)
    assert stopped is not None
    # Stopped on the rise, not before: the smoothed loss had reached 4x its best.
    assert stopped > int(np.argmin(losses))
    assert monitor.smoothed > 4 * monitor.best


def test_divergence_stop_ignores_noise_and_stops_on_nan() -> None:
    rng = np.random.default_rng(0)
    monitor = DivergenceMonitor(4.0, points_per_decade(LRS))
    assert not any(monitor.update(float(v)) for v in 1.0 + 0.3 * rng.standard_normal(100))
    assert monitor.update(math.nan)
    with pytest.raises(ValueError):
        DivergenceMonitor(1.0, 10.0)


def test_ema_matches_fastai_avg_smooth_loss() -> None:
    from fastai.learner import AvgSmoothLoss

    values = np.random.default_rng(1).uniform(0.5, 3.0, 30)
    metric = AvgSmoothLoss()
    metric.reset()
    theirs = []
    for v in values:
        metric.accumulate(SimpleNamespace(loss=torch.tensor(v, dtype=torch.float32)))
        theirs.append(float(metric.value))
    assert np.allclose(ema(values), theirs, rtol=1e-5)


def test_fastai_suggestions_are_fastais_functions_on_fastais_curve() -> None:
    from fastai.callback.schedule import minimum, steep, valley

    train = known_curve(X, -3.0) + 0.1 * np.random.default_rng(2).standard_normal(100)
    ours = fastai_suggestions(LRS, train, 100)
    lrs, losses = torch.tensor(LRS[10:-5]), torch.tensor(ema(train)[10:-5])
    assert ours["valley"] == valley(lrs, losses, 100)[0]
    assert ours["steep"] == steep(lrs, losses, 100)[0]
    assert ours["minimum"] == minimum(lrs, losses, 100)[0]
    cut = train.copy()
    cut[60:] = np.nan
    assert fastai_suggestions(LRS, cut, 100)["minimum"] <= LRS[59]


def test_spread_in_decades() -> None:
    assert spread_decades([1e-3]) == 0.0
    assert spread_decades([1e-3, 1e-2, 3e-3]) == pytest.approx(1.0)
