"""The baseline-plus-one-factor grid of a study spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hpstudy.study._spec import FACTORS, StudySpec

__all__ = ["BASELINE", "GridPoint", "Variant", "variants", "grid", "search_space", "point_key"]

BASELINE = "baseline"


@dataclass(frozen=True)
class Variant:
    """One setting of the five factors: the baseline, or the baseline with one factor changed.

    ``factor`` and ``value`` name the changed factor (``None`` for the baseline).
    """

    name: str
    hparams: Mapping[str, float]
    factor: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class GridPoint:
    """A variant trained on a fraction of the training split: one trial of the study."""

    variant: Variant
    fraction: float

    @property
    def key(self) -> str:
        return point_key(self.variant.name, self.fraction)


def point_key(variant: str, fraction: float) -> str:
    """The stable text key of a grid point, e.g. ``"wd=0@0.2"``."""
    return f"{variant}@{fraction:g}"


def _label(factor: str, value: float) -> str:
    return f"{factor}={value:.3g}"


def variants(spec: StudySpec) -> list[Variant]:
    """The baseline followed by each factor's other values, one factor at a time."""
    out = [Variant(BASELINE, dict(spec.baseline))]
    for factor in FACTORS:
        for value in spec.factors.get(factor, ()):
            out.append(
                Variant(_label(factor, value), {**spec.baseline, factor: value}, factor, value)
            )
    names = [v.name for v in out]
    if len(set(names)) != len(names):  # two values that print alike at 3 significant digits
        raise ValueError(f"variant names collide: {names}")
    return out


def grid(spec: StudySpec) -> list[GridPoint]:
    """Every (variant, fraction) point, fraction-major so the cheap fractions come first."""
    return [GridPoint(v, f) for f in sorted(spec.fractions) for v in variants(spec)]


def search_space(spec: StudySpec) -> dict[str, list[str] | list[float]]:
    """The GridSampler search space over the two study parameters."""
    return {"variant": [v.name for v in variants(spec)], "fraction": sorted(spec.fractions)}
