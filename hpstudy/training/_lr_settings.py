"""How the learning-rate finder sweeps: the ``[lr_find]`` table of a study spec.

Kept apart from the finder itself (and free of torch and fastai), so reading a spec stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LOSS_KINDS", "LR_FIND_NETWORKS", "LrFindSettings", "lr_find_problems"]

#: The losses a suggestion can be computed from.
LOSS_KINDS: tuple[str, ...] = ("valid", "train")
#: ``[lr_find] network`` values.
LR_FIND_NETWORKS: tuple[str, ...] = ("frozen", "unfrozen", "both")


@dataclass(frozen=True)
class LrFindSettings:
    """How the learning-rate finder sweeps (see :mod:`hpstudy.training`)."""

    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_it: int = 100
    loss: str = "valid"  # the curve the suggestion comes from: "valid" or "train"
    valid_images: int = 256  # held-out validation images evaluated after every step
    divergence: float = 4.0  # stop once the smoothed loss exceeds this many times its best
    repeats: int = 1  # sweeps with different seeds; the suggestion is their median
    lr: float | None = None  # a fixed learning rate instead of the finder's (it then never runs)
    #: Which network the finder sweeps: ``"frozen"`` (the published method: one finder, both stages
    #: train at its lr), ``"unfrozen"`` (the unfrozen stage of every trial trains at the unfrozen
    #: finder's lr) or ``"both"`` (both values stored; the design as published). The unfrozen
    #: finder sweeps the network after the baseline's frozen stage, so it runs after the frozen one.
    network: str = "frozen"
    #: With ``network = "both"``: add the variant ``lr_find=unfrozen``, the baseline whose
    #: unfrozen stage trains at the unfrozen finder's lr, so the report can compare the two.
    unfrozen_variant: bool = False

    @property
    def runs_unfrozen(self) -> bool:
        """Whether a study runs (and stores) the finder on the unfrozen network too."""
        return self.network in ("unfrozen", "both")


def _is_number(value: Any) -> bool:  # noqa: ANN401 - a TOML value
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:  # noqa: ANN401 - a TOML value
    return isinstance(value, int) and not isinstance(value, bool)


def lr_find_problems(lr_find: Mapping[str, Any], unfrozen_epochs: int) -> list[str]:
    """Every problem of an ``[lr_find]`` table as written in a spec, one phrase each (empty when
    :class:`LrFindSettings` can be built from it)."""
    problems: list[str] = []
    known_lr = {f: t for f, t in LrFindSettings.__annotations__.items()}
    for key, value in lr_find.items():
        if key not in known_lr:
            problems.append(f"lr_find: unknown key {key!r} (known: {', '.join(known_lr)})")
        elif key == "num_it" and (not _is_int(value) or value < 5):
            problems.append(f"lr_find.num_it must be an integer >= 5, got {value!r}")
        elif key in ("valid_images", "repeats") and (not _is_int(value) or value < 1):
            problems.append(f"lr_find.{key} must be an integer >= 1, got {value!r}")
        elif key == "loss" and value not in LOSS_KINDS:
            problems.append(f"lr_find.loss must be \"valid\" or \"train\", got {value!r}")
        elif key == "lr" and (not _is_number(value) or not math.isfinite(value) or value <= 0):
            problems.append(f"lr_find.lr must be a finite number > 0, got {value!r}")
        elif key == "divergence" and (not _is_number(value) or not math.isfinite(value) or value <= 1):
            problems.append(f"lr_find.divergence must be a finite number > 1, got {value!r}")
        elif key in ("start_lr", "end_lr") and (
            not _is_number(value) or not math.isfinite(value) or value <= 0
        ):
            problems.append(f"lr_find.{key} must be a finite number > 0, got {value!r}")
        elif key == "network" and value not in LR_FIND_NETWORKS:
            allowed = ", ".join(f'"{n}"' for n in LR_FIND_NETWORKS)
            problems.append(f"lr_find.network must be one of {allowed}, got {value!r}")
        elif key == "unfrozen_variant" and not isinstance(value, bool):
            problems.append(f"lr_find.unfrozen_variant must be true/false, got {value!r}")
    problems.extend(_network_problems(lr_find, unfrozen_epochs))
    start = lr_find.get("start_lr", LrFindSettings.start_lr)
    end = lr_find.get("end_lr", LrFindSettings.end_lr)
    if not problems and start >= end:
        problems.append("lr_find.start_lr must be below lr_find.end_lr")
    return problems


def _network_problems(lr_find: Mapping[str, Any], unfrozen_epochs: int) -> list[str]:
    """What stands in the way of ``[lr_find] network`` and ``unfrozen_variant`` as written."""
    network = lr_find.get("network", "frozen")
    if network not in ("unfrozen", "both"):
        if lr_find.get("unfrozen_variant") is True:
            return ['lr_find.unfrozen_variant = true needs lr_find.network = "both" (it compares '
                    "the two finders' values)"]
        return []
    problems = []
    if lr_find.get("lr") is not None:
        problems.append(f'lr_find.network = "{network}" runs the finder on the unfrozen network; '
                        "remove lr_find.lr (a fixed lr runs no finder) or set network = \"frozen\"")
    if unfrozen_epochs == 0:
        problems.append(f'lr_find.network = "{network}" needs unfrozen_epochs >= 1 (there is no '
                        "unfrozen stage to find an lr for)")
    if lr_find.get("unfrozen_variant") is True and network != "both":
        problems.append('lr_find.unfrozen_variant = true needs lr_find.network = "both" (with '
                        '"unfrozen" every trial already trains at the unfrozen finder\'s lr)')
    return problems
