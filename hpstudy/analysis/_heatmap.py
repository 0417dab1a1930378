"""The study's heatmap: % improvement of every variant over its dataset's baseline, with its 95 %
confidence interval; cells whose interval includes 0 are muted."""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpstudy.analysis._collect import StudyResult

__all__ = ["HEATMAP_CSV_COLUMNS", "Heatmap", "heatmap", "plot_heatmap", "write_heatmap_csv"]


@dataclass(frozen=True)
class Heatmap:
    """Rows are (study, fraction), columns variants; ``NaN`` marks a result that does not exist.

    ``values`` holds the mean % change, ``low``/``high`` its 95 % interval (``NaN`` where none),
    ``significant`` whether the interval excludes 0 and ``replicates`` the replicate pairs behind
    each cell (the baseline column is 0 by definition and never significant).

    Columns are sorted by their mean improvement, worst on the left and best on the right (as in the
    published heatmap); columns with no result at all come first.
    """

    rows: tuple[tuple[str, float], ...]
    labels: tuple[str, ...]
    columns: tuple[str, ...]
    values: np.ndarray
    low: np.ndarray
    high: np.ndarray
    significant: np.ndarray
    replicates: np.ndarray

    def value(self, study: str, fraction: float, variant: str) -> float:
        """The cell of ``study`` at ``fraction`` for ``variant`` (``NaN`` when missing)."""
        return float(self.values[self.rows.index((study, fraction)), self.columns.index(variant)])

    def column_means(self) -> dict[str, float]:
        """Mean improvement of each column over the rows that have it (``NaN`` for none)."""
        out = {}
        for j, c in enumerate(self.columns):
            col = self.values[:, j]
            out[c] = float(np.nanmean(col)) if np.isfinite(col).any() else math.nan
        return out


def _row_label(r: StudyResult, fraction: float, unique: bool) -> str:
    return f"{r.dataset if unique else r.name} @ {fraction:g}"


def heatmap(results: list[StudyResult]) -> Heatmap:
    """Build the heatmap of ``results`` (every fraction of every study is a row)."""
    per_dataset = Counter(r.dataset for r in results)
    rows: list[tuple[str, float]] = []
    labels: list[str] = []
    columns: list[str] = []
    for r in results:
        for v in r.variants:
            if v not in columns:
                columns.append(v)
        for f in r.fractions:
            rows.append((r.name, f))
            labels.append(_row_label(r, f, per_dataset[r.dataset] == 1))
    shape = (len(rows), len(columns))
    values, low, high = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    significant = np.zeros(shape, dtype=bool)
    replicates = np.zeros(shape, dtype=int)
    by_name = {r.name: r for r in results}
    for i, (name, f) in enumerate(rows):
        r = by_name[name]
        for j, v in enumerate(columns):
            change = r.changes.get((v, f))
            if change is None:
                continue
            values[i, j] = change
            c = r.comparisons.get((v, f))
            if c is not None:
                low[i, j], high[i, j] = c.ci_low_pct, c.ci_high_pct
                significant[i, j] = c.significant
                replicates[i, j] = c.replicates
    means = [
        float(np.nanmean(values[:, j])) if np.isfinite(values[:, j]).any() else -math.inf
        for j in range(len(columns))
    ]
    order = sorted(range(len(columns)), key=lambda j: (means[j], columns[j]))
    return Heatmap(tuple(rows), tuple(labels), tuple(columns[j] for j in order),
                   values[:, order], low[:, order], high[:, order], significant[:, order],
                   replicates[:, order])


HEATMAP_CSV_COLUMNS = ("study", "fraction", "row", "variant", "mean_pct", "ci_low_pct",
                       "ci_high_pct", "significant", "replicates")


def write_heatmap_csv(h: Heatmap, path: Path) -> Path:
    """One row per (study, fraction, variant) with a result: the mean % change, its 95 % interval
    (empty where none), whether it is significant and the replicate pairs behind it."""

    def num(x: float) -> str:
        return "" if math.isnan(x) else f"{x:.6g}"

    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEATMAP_CSV_COLUMNS)
        for i, ((study, fraction), label) in enumerate(zip(h.rows, h.labels, strict=True)):
            for j, variant in enumerate(h.columns):
                if math.isnan(h.values[i, j]):
                    continue
                w.writerow([study, f"{fraction:g}", label, variant, num(h.values[i, j]),
                            num(h.low[i, j]), num(h.high[i, j]),
                            str(bool(h.significant[i, j])).lower(), int(h.replicates[i, j])])
    return path


def plot_heatmap(h: Heatmap, path: Path, title: str = "% improvement over baseline") -> Path:
    """A PNG of the heatmap: diverging colors around 0, the value in each cell, grey = missing."""
    import matplotlib
    import matplotlib.colors

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = h.values[np.isfinite(h.values)]
    lim = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    cmap = plt.get_cmap("RdYlGn").with_extremes(bad="#d9d9d9")
    fig_w = max(6.0, 0.85 * len(h.columns) + 2.5)
    fig_h = max(2.5, 0.55 * len(h.rows) + 2.0)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    # Only significant cells get colour; a difference within the noise is drawn pale grey.
    shown = np.where(h.significant, h.values, np.nan)
    im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    muted = np.where(np.isfinite(h.values) & ~h.significant, 1.0, np.nan)
    ax.imshow(np.ma.masked_invalid(muted), cmap=matplotlib.colors.ListedColormap(["#f2f2f2"]),
              aspect="auto")
    ax.set_xticks(range(len(h.columns)), h.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(h.labels)), h.labels, fontsize=8)
    ax.set_xlabel("variant: the baseline with one factor changed (worst mean left, best right)",
                  fontsize=8)
    ax.set_ylabel("dataset @ training fraction", fontsize=8)
    for i in range(h.values.shape[0]):
        for j in range(h.values.shape[1]):
            v = h.values[i, j]
            if math.isnan(v):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="#777777")
                continue
            text = f"{v:+.1f}" + ("*" if h.significant[i, j] else "")
            if np.isfinite(h.low[i, j]):
                text += f"\n[{h.low[i, j]:+.1f}, {h.high[i, j]:+.1f}]"
            ax.text(j, i, text, ha="center", va="center", fontsize=6,
                    color="black" if h.significant[i, j] else "#8c8c8c")
    fig.colorbar(im, ax=ax, label="% vs baseline (significant cells)")
    ax.set_title(title + "\n* 95% interval excludes 0; grey: no detectable difference", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
