"""A picture of one learning-rate finder result: the raw and smoothed curves and every suggestion."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpstudy.training._lr_curve import ema, start_level

if TYPE_CHECKING:
    from hpstudy.training._lr_find import LrFindResult

__all__ = ["plot_lr_find"]

_MARKERS = {  # suggestion: (label, marker, colour)
    "suggestion": ("ours: steepest descent", "o", "tab:red"),
    "valley": ("fastai valley", "s", "tab:green"),
    "steep": ("fastai steep", "^", "tab:purple"),
    "minimum": ("fastai minimum", "v", "tab:brown"),
}


def _array(values: list[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def plot_lr_find(result: LrFindResult, path: str | Path) -> Path:
    """Draw ``result`` into a PNG at ``path`` and return the path.

    The stored curve (the repeat nearest the median) is drawn raw and smoothed, with fastai's view
    of the same sweep (its moving average of the training loss) dashed. hpstudy's suggestion sits
    on the smoothed curve, fastai's suggestions on fastai's curve (where fastai finds them); the
    level the raw curve is capped at before filtering is drawn and labelled, and the range of the
    repeats' suggestions is shaded.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = result.details
    curve = d["curve"]
    lrs = _array(curve["lrs"])
    loss_kind = d["loss"]
    raw = _array(curve[f"{loss_kind}_loss"])
    smoothed = _array(curve["smoothed"])
    fig, ax = plt.subplots(figsize=(8, 5))
    try:
        ax.plot(lrs, raw, color="0.6", lw=1, label=f"{loss_kind} loss (raw)")
        ax.plot(lrs[: len(smoothed)], smoothed, color="tab:blue", lw=2,
                label=f"{loss_kind} loss (Butterworth, zero phase)")
        fastai_curve = ema(np.nan_to_num(_array(curve["train_loss"]), nan=np.inf))
        ax.plot(lrs, fastai_curve, "--", color="tab:orange", lw=1,
                label="fastai's curve (EMA of training loss)")
        finite_raw = raw[np.isfinite(raw)]
        if len(finite_raw) >= 5:
            cap = start_level(finite_raw)
            ax.axhline(cap, color="tab:blue", lw=0.8, ls=":",
                       label=f"cap before filtering: start level {cap:.3g} (higher losses clipped)")
        for key, (label, marker, colour) in _MARKERS.items():
            lr = result.lr if key == "suggestion" else d.get(key)
            if lr is None or not math.isfinite(lr):
                continue
            xs, ys = (lrs[: len(smoothed)], smoothed) if key == "suggestion" else (lrs, fastai_curve)
            ok = np.isfinite(ys)
            y = np.interp(np.log10(lr), np.log10(xs[ok]), ys[ok])
            ax.plot([lr], [y], marker, color=colour, ms=9, label=f"{label}: {lr:.3g}")
        runs = [r["suggestion"] for r in d.get("runs", []) if r.get("suggestion")]
        if len(runs) > 1:
            ax.axvspan(min(runs), max(runs), color="tab:red", alpha=0.1,
                       label=f"{len(runs)} repeats: {d['spread_decades']:.2f} decades")
        finite = raw[np.isfinite(raw)]
        if len(finite):
            top = min(float(finite.max()), 2.0 * float(np.median(finite[: max(3, len(finite) // 10)])))
            ax.set_ylim(max(0.0, float(finite.min()) * 0.9), top * 1.05)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title(f"learning-rate finder: {result.method}")
        ax.legend(fontsize=8)
        out = Path(path)
        fig.savefig(out, dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out
