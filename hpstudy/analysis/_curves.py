"""Per-epoch validation curves of the learning-rate variants, split by near/far group."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hpstudy.analysis._collect import StudyResult
from hpstudy.study import BASELINE

__all__ = ["CurvePoint", "lr_curves", "plot_curves", "write_curves_csv"]


@dataclass(frozen=True)
class CurvePoint:
    """The validation metric of one lr variant of one study after one epoch (largest fraction)."""

    group: str
    study: str
    dataset: str
    variant: str
    lr_mult: float
    epoch: int
    stage: str
    metric: float
    valid_loss: float | None


def lr_curves(results: list[StudyResult], groups: dict[str, str]) -> list[CurvePoint]:
    """Curves of the baseline and every ``lr_mult`` variant at each study's largest fraction."""
    out = []
    for r in results:
        fraction = max(r.fractions)
        for variant in r.variants:
            factor, value = r.settings[variant]
            if variant != BASELINE and factor != "lr_mult":
                continue
            mult = r.baseline["lr_mult"] if variant == BASELINE else float(value or 0.0)
            for rec in r.curves.get((variant, fraction), []):
                out.append(CurvePoint(
                    group=groups.get(r.name, "?"), study=r.name, dataset=r.dataset,
                    variant=variant, lr_mult=mult, epoch=int(rec["epoch"]) + 1,
                    stage=str(rec.get("stage", "")), metric=float(rec["metric"]),
                    valid_loss=rec.get("valid_loss"),
                ))
    return out


def write_curves_csv(points: list[CurvePoint], path: Path) -> Path:
    fields = list(CurvePoint.__dataclass_fields__)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for p in points:
            w.writerow([getattr(p, k) for k in fields])
    return path


def plot_curves(points: list[CurvePoint], groups: list[str], path: Path, *,
                label: Callable[[str], str] = str, metric: str = "metric") -> Path:
    """One panel per group (titled ``label(group)``); color = lr multiplier, line style = dataset;
    whole epochs on the x axis and a dotted line where the network is unfrozen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = groups or ["?"]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    mults = sorted({p.lr_mult for p in points})
    colors = {m: plt.get_cmap("viridis")(i / max(1, len(mults) - 1)) for i, m in enumerate(mults)}
    styles = ["-", "--", ":", "-."]
    for ax, group in zip(axes[0], panels, strict=True):
        pts = [p for p in points if p.group == group]
        studies = sorted({p.study for p in pts})
        for si, study in enumerate(studies):
            for m in mults:
                line = sorted((p for p in pts if p.study == study and p.lr_mult == m),
                              key=lambda p: p.epoch)
                if line:
                    ax.plot([p.epoch for p in line], [p.metric for p in line],
                            styles[si % len(styles)], color=colors[m], marker="o", markersize=3,
                            label=f"{line[0].dataset} lr×{m:.3g}")
        ax.set_title(f"{label(group)} ({len(studies)} stud{'y' if len(studies) == 1 else 'ies'})",
                     fontsize=9)
        frozen = [p.epoch for p in pts if p.stage == "frozen"]
        if frozen and any(p.stage == "unfrozen" for p in pts):
            ax.axvline(max(frozen) + 0.5, color="#888888", linestyle=":", linewidth=1)
            ax.text(max(frozen) + 0.55, 0.02, "unfrozen →", transform=ax.get_xaxis_transform(),
                    fontsize=7, color="#555555")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch (frozen body first, then unfrozen)")
        ax.set_ylabel(f"validation {metric}")
        if pts:
            ax.legend(fontsize=6)
        else:
            ax.text(0.5, 0.5, "no curves", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
