"""The study's heatmap: % improvement of every variant over its dataset's baseline."""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpstudy.analysis._collect import StudyResult

__all__ = ["Heatmap", "heatmap", "plot_heatmap", "write_heatmap_csv"]


@dataclass(frozen=True)
class Heatmap:
    """Rows are (study, fraction), columns variants; ``NaN`` marks a result that does not exist.

    Columns are sorted by their mean improvement, worst on the left and best on the right (as in the
    published heatmap); columns with no result at all come first.
    """

    rows: tuple[tuple[str, float], ...]
    labels: tuple[str, ...]
    columns: tuple[str, ...]
    values: np.ndarray

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
    values = np.full((len(rows), len(columns)), np.nan)
    by_name = {r.name: r for r in results}
    for i, (name, f) in enumerate(rows):
        for j, v in enumerate(columns):
            change = by_name[name].changes.get((v, f))
            if change is not None:
                values[i, j] = change
    means = [
        float(np.nanmean(values[:, j])) if np.isfinite(values[:, j]).any() else -math.inf
        for j in range(len(columns))
    ]
    order = sorted(range(len(columns)), key=lambda j: (means[j], columns[j]))
    return Heatmap(tuple(rows), tuple(labels), tuple(columns[j] for j in order), values[:, order])


def write_heatmap_csv(h: Heatmap, path: Path) -> Path:
    """One row per (study, fraction), one column per variant; empty cells are missing results."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["study", "fraction", "row", *h.columns])
        for (study, fraction), label, vals in zip(h.rows, h.labels, h.values, strict=True):
            cells = ["" if math.isnan(v) else f"{v:.6g}" for v in vals]
            w.writerow([study, f"{fraction:g}", label, *cells])
    return path


def plot_heatmap(h: Heatmap, path: Path, title: str = "% improvement over baseline") -> Path:
    """A PNG of the heatmap: diverging colors around 0, the value in each cell, grey = missing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = h.values[np.isfinite(h.values)]
    lim = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    cmap = plt.get_cmap("RdYlGn").with_extremes(bad="#d9d9d9")
    fig_w = max(6.0, 0.75 * len(h.columns) + 2.5)
    fig_h = max(2.5, 0.45 * len(h.rows) + 1.8)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    im = ax.imshow(np.ma.masked_invalid(h.values), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(h.columns)), h.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(h.labels)), h.labels, fontsize=8)
    for i in range(h.values.shape[0]):
        for j in range(h.values.shape[1]):
            v = h.values[i, j]
            ax.text(j, i, "n/a" if math.isnan(v) else f"{v:+.1f}", ha="center", va="center",
                    fontsize=7)
    fig.colorbar(im, ax=ax, label="% vs baseline")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
