"""The baseline-plus-one-factor grid of a study spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpstudy.errors import SpecError
from hpstudy.study._spec import FACTORS, UNFROZEN_VARIANT, StudySpec, variant_name

if TYPE_CHECKING:
    import optuna

__all__ = [
    "BASELINE",
    "GridPoint",
    "Variant",
    "factor_distributions",
    "grid",
    "parse_point_key",
    "point_key",
    "replicate_seed",
    "search_space",
    "variants",
]

BASELINE = "baseline"


@dataclass(frozen=True)
class Variant:
    """One setting of the five factors: the baseline, or the baseline with one factor changed.

    ``factor`` and ``value`` name the changed factor (``None`` for the baseline).
    ``unfrozen_finder`` is True for :data:`~hpstudy.study.UNFROZEN_VARIANT` (factor ``lr_find``,
    no value): the baseline's factors, its unfrozen stage at the unfrozen finder's lr.
    """

    name: str
    hparams: Mapping[str, float]
    factor: str | None = None
    value: float | None = None
    unfrozen_finder: bool = False


@dataclass(frozen=True)
class GridPoint:
    """A variant trained on a fraction of the training split with one replicate's seed: one trial
    of the study. Replicate ``r`` of every variant shares its seeds with replicate ``r`` of the
    baseline, so the two are compared as a pair."""

    variant: Variant
    fraction: float
    replicate: int = 0

    @property
    def key(self) -> str:
        return point_key(self.variant.name, self.fraction, self.replicate)


def point_key(variant: str, fraction: float, replicate: int = 0) -> str:
    """The stable text key of a grid point, e.g. ``"wd=0@0.2"``, or ``"wd=0@0.2#2"`` for replicate 2
    (replicate 0 has no suffix, so single-replicate studies keep their keys)."""
    return f"{variant}@{fraction:g}" + (f"#{replicate}" if replicate else "")


def parse_point_key(key: str) -> tuple[str, float, int]:
    """``(variant, fraction, replicate)`` of a :func:`point_key`."""
    rest, _, rep = key.partition("#")
    variant, _, fraction = rest.rpartition("@")
    return variant, float(fraction), int(rep or 0)


def replicate_seed(seed: int, replicate: int) -> int:
    """The training seed of a replicate: head initialisation, batch order, augmentation, dropout.

    The training-fraction subset and the lr finder keep the spec's ``seed``: replicates differ only
    in training randomness.
    """
    return seed + replicate


def variants(spec: StudySpec) -> list[Variant]:
    """The baseline followed by each factor's other values, one factor at a time, then (with
    ``[lr_find] unfrozen_variant``) :data:`~hpstudy.study.UNFROZEN_VARIANT`.

    Raises:
        SpecError: If two variants would share a name (two factor values that print alike at 3
            significant digits); :func:`~hpstudy.study.parse_spec` refuses such specs first.
    """
    out = [Variant(BASELINE, dict(spec.baseline))]
    for factor in FACTORS:
        for value in spec.factors.get(factor, ()):
            out.append(
                Variant(variant_name(factor, value), {**spec.baseline, factor: value}, factor, value)
            )
    if spec.lr_find.unfrozen_variant:
        out.append(Variant(UNFROZEN_VARIANT, dict(spec.baseline), "lr_find", None,
                           unfrozen_finder=True))
    names = [v.name for v in out]
    if len(set(names)) != len(names):  # parse_spec refuses these; a spec built otherwise may not
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise SpecError(f"spec {spec.name!r}: variant names collide ({', '.join(repeated)}); "
                        "factor values must differ in their first 3 significant digits")
    return out


def grid(spec: StudySpec) -> list[GridPoint]:
    """Every (variant, fraction, replicate) point: replicate-major, so a whole single-replicate
    grid completes before the next replicate starts, then fraction-major so the cheap fractions
    come first."""
    vs = variants(spec)
    return [
        GridPoint(v, f, r)
        for r in range(spec.replicates)
        for f in sorted(spec.fractions)
        for v in vs
    ]


def factor_distributions(spec: StudySpec) -> dict[str, optuna.distributions.FloatDistribution]:
    """Each factor as an Optuna parameter: a float range over the baseline's and the factor's
    values (log-scaled for ``lr_mult``), so Optuna's and optuna-dashboard's per-parameter views
    (slice, contour, parallel coordinates, importance) show the five factors, not only variant
    names. A factor the spec does not vary is a one-value range."""
    from optuna.distributions import FloatDistribution

    out = {}
    for name in FACTORS:
        values = [spec.baseline[name], *spec.factors.get(name, ())]
        low, high = min(values), max(values)
        out[name] = FloatDistribution(low, high, log=name == "lr_mult" and low > 0)
    return out


def search_space(spec: StudySpec) -> dict[str, list[str] | list[float] | list[int]]:
    """The GridSampler search space over the three study parameters."""
    return {
        "variant": [v.name for v in variants(spec)],
        "fraction": sorted(spec.fractions),
        "replicate": list(range(spec.replicates)),
    }
