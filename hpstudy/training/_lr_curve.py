"""The pure mathematics of the learning-rate finder: schedule, filter, suggestions.

Everything here works on plain arrays of recorded ``(lr, loss)`` pairs and is independent of how the
sweep produced them, so it can be tested on synthetic curves.

The filter is a Butterworth low-pass run forwards and backwards (:func:`scipy.signal.filtfilt`):

* **zero phase** - the forward-backward pass cancels the filter's delay, so the steepest point of the
  smoothed curve stays where it is in the data. A causal filter (or fastai's exponential moving
  average) lags, which moves every feature of the curve, and so the suggestion, to higher lrs;
* **flat pass band, monotone stop band** - the slow shape of the curve (the fall over a decade or
  so) passes unchanged while batch-to-batch noise is attenuated ever more strongly with frequency.
  Savitzky-Golay, the other usual choice, has stop-band side lobes that let part of the
  high-frequency noise through, and that noise is exactly what ruins a gradient;
* **second order** - its step response barely overshoots, so the sharp rise of a diverging sweep
  does not ring back into the descent being measured (the curve is also capped at its starting level
  before filtering, see :func:`smooth_curve`).

Its cutoff is set in the units the curve lives in - cycles per decade of learning rate - and turned
into a normalised frequency from the number of points actually recorded per decade. A sweep of 100
or 1000 steps, or one stopped early, is therefore smoothed over the same span of learning rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, filtfilt

__all__ = [
    "CUTOFF_CYCLES_PER_DECADE",
    "DivergenceMonitor",
    "Curve",
    "exp_schedule",
    "fastai_suggestions",
    "points_per_decade",
    "smooth_curve",
    "spread_decades",
    "start_level",
    "start_window",
    "steepest_descent",
    "truncate_at_divergence",
]

#: Variations of the loss faster than this many cycles per decade of lr are treated as noise.
CUTOFF_CYCLES_PER_DECADE = 0.75
#: Filter order (doubled by the forward-backward pass).
FILTER_ORDER = 2


def exp_schedule(start_lr: float, end_lr: float, num_it: int) -> np.ndarray:
    """``num_it`` learning rates growing geometrically from ``start_lr`` to ``end_lr`` inclusive.

    Raises:
        ValueError: If the bounds are not positive and increasing, or ``num_it < 2``.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_it < 2:
        raise ValueError(f"num_it must be >= 2, got {num_it}")
    return start_lr * (end_lr / start_lr) ** (np.arange(num_it) / (num_it - 1))


def points_per_decade(lrs: np.ndarray) -> float:
    """How many recorded points fall in one decade of learning rate (geometric spacing assumed)."""
    lrs = np.asarray(lrs, dtype=float)
    if len(lrs) < 2:
        return 1.0
    span = math.log10(lrs[-1] / lrs[0])
    return (len(lrs) - 1) / span if span > 0 else 1.0


class DivergenceMonitor:
    """Stops a sweep once the smoothed loss exceeds ``factor`` times its best value.

    The online smoothing is a debiased exponential moving average (as in fastai's ``LRFinder``)
    whose window spans half a decade of learning rate: ``beta = 1 - 1 / max(2, ppd / 2)`` for
    ``ppd`` points per decade. fastai's fixed ``beta = 0.98`` averages over about 50 steps, four
    decades of a default sweep, and so reacts to divergence long after it starts. A non-finite loss
    stops the sweep at once.
    """

    def __init__(self, factor: float, per_decade: float) -> None:
        if factor <= 1:
            raise ValueError(f"the divergence factor must be > 1, got {factor}")
        self.factor = factor
        self.beta = 1.0 - 1.0 / max(2.0, per_decade / 2.0)
        self._avg = 0.0
        self._count = 0
        self.best = math.inf
        self.smoothed = math.nan

    def update(self, loss: float) -> bool:
        """Record one loss; True when the sweep should stop."""
        if not math.isfinite(loss):
            return True
        self._count += 1
        self._avg = self.beta * self._avg + (1.0 - self.beta) * loss
        self.smoothed = self._avg / (1.0 - self.beta**self._count)
        self.best = min(self.best, self.smoothed)
        return self.smoothed > self.factor * self.best


def _finite_prefix(lrs: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bad = np.flatnonzero(~np.isfinite(losses))
    end = int(bad[0]) if len(bad) else len(losses)
    return lrs[:end], losses[:end]


def start_window(n: int) -> int:
    """How many leading points of an ``n``-point curve make its start: a tenth, at least three."""
    return max(3, n // 10)


def start_level(losses: np.ndarray) -> float:
    """The level :func:`smooth_curve` caps a curve at: the median of its start
    (:func:`start_window`)."""
    y = np.asarray(losses, dtype=float)
    return float(np.median(y[: start_window(len(y))]))


def truncate_at_divergence(losses: np.ndarray) -> int:
    """Where a curve diverges: the first point after its lowest one that climbs back above its
    starting level (:func:`start_level`); the whole length when none does."""
    y = np.asarray(losses, dtype=float)
    level = start_level(y)
    lowest = int(np.argmin(y))
    above = np.flatnonzero(y[lowest:] > level)
    return lowest + int(above[0]) if len(above) else len(y)


def smooth_curve(lrs: np.ndarray, losses: np.ndarray, *, cap: bool = True) -> np.ndarray:
    """Zero-phase Butterworth low-pass of ``losses`` over ``log10(lrs)``.

    The curve is first capped at its starting level (the median of its first tenth, at least three
    points): the divergent tail beyond it says nothing about the descent, and capping it keeps its
    size from leaking back through the filter. The normalised cutoff is
    ``CUTOFF_CYCLES_PER_DECADE / (points_per_decade / 2)``, clipped to ``[0.02, 0.9]``; the padding
    shrinks with short curves. Curves of fewer than five points are returned unfiltered.
    ``cap=False`` filters the curve as it is (for a curve already cut at its divergence).

    Args:
        lrs: Geometrically spaced learning rates, increasing.
        losses: The loss recorded at each lr; all finite.

    Returns:
        The smoothed losses, same length.
    """
    y = np.asarray(losses, dtype=float)
    n = len(y)
    if n < 5:
        return y.copy()
    if cap:
        y = np.minimum(y, start_level(y))
    wn = CUTOFF_CYCLES_PER_DECADE / (points_per_decade(lrs) / 2.0)
    wn = min(max(wn, 0.02), 0.9)
    b, a = butter(FILTER_ORDER, wn)
    padlen = min(3 * max(len(a), len(b)), n - 1)
    return filtfilt(b, a, y, padlen=padlen)


def steepest_descent(lrs: np.ndarray, smoothed: np.ndarray) -> int:
    """Index of the steepest fall per decade, ``argmin d loss / d log10 lr``, left of the minimum.

    Only points up to the minimum of ``smoothed`` are searched: beyond it the loss rises and any fall
    there is noise or the wreck of divergence. A curve that never falls gives index 0.
    """
    smoothed = np.asarray(smoothed, dtype=float)
    if len(smoothed) < 2:
        return 0
    grad = np.gradient(smoothed, np.log10(np.asarray(lrs, dtype=float)))
    lowest = int(np.argmin(smoothed))
    return int(np.argmin(grad[: lowest + 1]))


@dataclass(frozen=True)
class Curve:
    """One sweep's suggestion from a recorded curve, with the smoothed curve it came from.

    ``lrs``/``smoothed`` cover the finite prefix of the recorded curve only.
    """

    lr: float
    index: int
    lrs: np.ndarray
    smoothed: np.ndarray

    @classmethod
    def fit(cls, lrs: np.ndarray, losses: np.ndarray, guard: str = "cap") -> Curve:
        """Smooth the finite prefix of a recorded curve and take its steepest descent.

        ``guard`` keeps the divergent tail out of the filter: ``"cap"`` (the finder's rule) caps
        the curve at its starting level (:func:`smooth_curve`); ``"truncate"`` cuts it where it
        climbs back above that level (:func:`truncate_at_divergence`) and filters the rest as it
        is. ``benchmarks/lr_find.py`` compares the two over seeds.

        A curve whose smoothed minimum lies in its start (:func:`start_window`; the first point
        of a curve shorter than five points, e.g. a sweep stopped by divergence) never falls: the
        sweep began past the descent, or the loss does not respond to the learning rate, and its
        "steepest descent" would be the first lr or a noise point.

        Raises:
            ValueError: If fewer than two finite points lead the curve, or if it never falls.
        """
        x, y = _finite_prefix(np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float))
        if len(y) < 2:
            raise ValueError(
                "the loss was not finite within the first two steps of the sweep; lower start_lr"
            )
        if guard == "truncate":
            end = max(2, truncate_at_divergence(y))
            x, y = x[:end], y[:end]
        elif guard != "cap":
            raise ValueError(f"guard must be 'cap' or 'truncate', got {guard!r}")
        smoothed = smooth_curve(x, y, cap=guard == "cap")
        window = start_window(len(y)) if len(y) >= 5 else 1  # a short curve: its first point
        if int(np.argmin(smoothed)) < window:
            raise ValueError(
                f"the smoothed loss is lowest at the sweep's start (lr {x[0]:.3g} to "
                f"{x[window - 1]:.3g}) and never falls below that over the {len(y)} points to "
                f"{x[-1]:.3g}, so there is no descent to take the steepest point of; lower "
                "lr_find.start_lr (the descent lies below it), raise lr_find.num_it, or set a fixed "
                "lr_find.lr"
            )
        i = steepest_descent(x, smoothed)
        return cls(float(x[i]), i, x, smoothed)


def ema(losses: np.ndarray, beta: float = 0.98) -> np.ndarray:
    """fastai's ``AvgSmoothLoss``: a debiased exponential moving average, as its Recorder keeps."""
    out = np.empty(len(losses))
    avg = 0.0
    for i, v in enumerate(np.asarray(losses, dtype=float)):
        avg = beta * avg + (1.0 - beta) * v  # torch.lerp(v, avg, beta)
        out[i] = avg / (1.0 - beta ** (i + 1))
    return out


def fastai_suggestions(lrs: np.ndarray, train_losses: np.ndarray, num_it: int) -> dict[str, float]:
    """fastai's ``valley``, ``steep`` and ``minimum`` exactly as ``Learner.lr_find`` computes them.

    That is: on the debiased moving average (``beta = 0.98``) of the per-batch *training* loss,
    trimmed to ``[num_it // 10 : -5]`` and cut at the first NaN, by fastai's own functions from
    ``fastai.callback.schedule``. A value is NaN when too little of the curve is left to judge.
    """
    import torch
    from fastai.callback.schedule import minimum, steep, valley

    smoothed = ema(train_losses)
    x = torch.tensor(np.asarray(lrs, dtype=float)[num_it // 10 : -5])
    y = torch.tensor(smoothed[num_it // 10 : -5])
    nan = torch.nonzero(torch.isnan(y))
    if len(nan):
        x, y = x[: int(nan[0])], y[: int(nan[0])]
    out: dict[str, float] = {}
    for fn in (valley, steep, minimum):
        out[fn.__name__] = float(fn(x, y, num_it)[0]) if len(y) >= 2 else math.nan
    return out


def spread_decades(values: list[float] | np.ndarray) -> float:
    """``log10(max / min)`` of positive values: how many decades they span (0 for one value)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.log10(v.max() / v.min())) if len(v) else math.nan
