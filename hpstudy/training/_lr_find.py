"""The learning-rate finder: one function, so the method behind it can change in one place.

The method is the one the 2019 study describes: sweep learning rates on the frozen network while
recording the *validation* loss, smooth the curve with a digital filter, and take the learning rate
where the smoothed loss falls most steeply. fastai's own suggestions from the same sweep are kept
for comparison. See :mod:`hpstudy.training._lr_curve` for the filter and why it was chosen.

The study's future work, built here too: the same sweep on the *unfrozen* network, started from the
weights the baseline trial has after its frozen stage, with the discriminative lrs of the layer
groups moving together (their ratios set by the divisor, as in the unfrozen stage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hpstudy.errors import HpstudyError
from hpstudy.training._data import DecodedSplit, TensorBatches
from hpstudy.training._learner import (
    Hyperparams,
    TrainSettings,
    build_learner,
    group_multipliers,
)
from hpstudy.training._lr_curve import Curve, fastai_suggestions, spread_decades
from hpstudy.training._lr_settings import LrFindSettings
from hpstudy.training._lr_sweep import Sweep, preserved_rng, run_sweep

if TYPE_CHECKING:
    from fastai.learner import Learner

__all__ = [
    "FASTAI_SUGGESTIONS",
    "LrFindResult",
    "SweepAnalysis",
    "analyse_sweep",
    "find_lr",
    "held_out_split",
    "unfrozen_start",
]

#: fastai's suggestion functions reported next to ours, in table order.
FASTAI_SUGGESTIONS: tuple[str, ...] = ("valley", "steep", "minimum")


@dataclass(frozen=True)
class LrFindResult:
    """The suggested learning rate, the method that produced it, and anything else worth storing.

    ``details`` is JSON-ready (non-finite numbers become ``None``) and never uses the keys ``lr`` or
    ``method``. For this finder it holds ``valley``, ``steep``, ``minimum`` (fastai's suggestions,
    median over repeats), ``loss``, ``repeats``, ``spread_decades``, ``valid_images``, ``runs`` (one
    dict a repeat: seed, suggestion, ``truncated`` (the suggestion with the divergent tail
    truncated instead of capped), fastai's three, points recorded, stopped early) and ``curve``
    (``lrs``, ``train_loss``, ``valid_loss``, ``smoothed`` of the repeat nearest the median) and
    ``network`` (``frozen`` or ``unfrozen``). On the unfrozen network it also holds
    ``frozen_stage_lr`` (the lr the frozen stage before the sweep trained at) and
    ``group_mults`` (each layer group's share of the swept lr); ``lr`` is the top group's lr.
    """

    lr: float
    method: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepAnalysis:
    """One sweep and every suggestion drawn from it."""

    sweep: Sweep
    loss: str
    curve: Curve
    fastai: dict[str, float]
    truncated: float = math.nan  # the suggestion with the tail truncated instead of capped

    @property
    def suggestion(self) -> float:
        return self.curve.lr


def analyse_sweep(sweep: Sweep, loss: str) -> SweepAnalysis:
    """Our suggestion from the ``loss`` curve, and fastai's three from the training loss.

    The same curve is also answered with its divergent tail truncated rather than capped
    (``truncated``; NaN where that reading finds no descent), so every stored sweep carries both.
    """
    curve = Curve.fit(sweep.lrs, sweep.losses(loss))
    try:
        truncated = Curve.fit(sweep.lrs, sweep.losses(loss), guard="truncate").lr
    except ValueError:
        truncated = math.nan
    return SweepAnalysis(sweep, loss, curve,
                         fastai_suggestions(sweep.lrs, sweep.train_losses, sweep.num_it), truncated)


def held_out_split(valid: DecodedSplit, n: int) -> DecodedSplit:
    """``n`` images of ``valid`` (all of them if it has fewer), evenly spaced through the split.

    The choice is fixed - no RNG - so every repeat and every run sees the same images.
    """
    if n >= len(valid):
        return valid
    return valid.subset(np.unique(np.linspace(0, len(valid) - 1, n).round().astype(np.int64)))


def _median_lr(values: list[float]) -> float:
    v = np.asarray([x for x in values if math.isfinite(x) and x > 0])
    return float(10 ** np.median(np.log10(v))) if len(v) else math.nan


def _json_number(x: float, digits: int = 6) -> float | None:
    return float(f"{x:.{digits}g}") if math.isfinite(x) else None


def _json_list(values: np.ndarray) -> list[float | None]:
    return [_json_number(float(v), 5) for v in values]


def _summarize(runs: list[SweepAnalysis], seeds: list[int], sweep: LrFindSettings,
               valid_images: int, extra: dict[str, Any]) -> LrFindResult:
    suggestions = [r.suggestion for r in runs]
    lr = _median_lr(suggestions)
    near = min(range(len(runs)), key=lambda i: abs(math.log10(suggestions[i] / lr)))
    rep = runs[near]
    details: dict[str, Any] = {
        name: _json_number(_median_lr([r.fastai[name] for r in runs]))
        for name in FASTAI_SUGGESTIONS
    }
    details.update(
        loss=sweep.loss,
        repeats=len(runs),
        spread_decades=_json_number(spread_decades(suggestions)),
        valid_images=valid_images,
        runs=[
            {
                "seed": seed,
                "suggestion": _json_number(r.suggestion),
                "truncated": _json_number(r.truncated),
                **{name: _json_number(r.fastai[name]) for name in FASTAI_SUGGESTIONS},
                "points": len(r.sweep.lrs),
                "stopped_early": r.sweep.stopped_early,
            }
            for seed, r in zip(seeds, runs, strict=True)
        ],
        curve={
            "seed": seeds[near],
            "lrs": _json_list(rep.sweep.lrs),
            "train_loss": _json_list(rep.sweep.train_losses),
            "valid_loss": _json_list(rep.sweep.valid_losses),
            "smoothed": _json_list(rep.curve.smoothed),
        },
        **extra,
    )
    return LrFindResult(lr=lr, method=f"steepest-{sweep.loss}-loss-butterworth", details=details)


def unfrozen_start(learn: Learner, hp: Hyperparams, settings: TrainSettings) -> list[float]:
    """Bring a freshly built learner to where the baseline trial's unfrozen stage starts: its
    frozen stage (``fit_one_cycle(frozen_epochs, hp.lr)`` on the frozen network, exactly as
    :func:`~hpstudy.training.train_trial` trains it), then unfrozen.

    Returns:
        Each layer group's share of the top lr (:func:`group_multipliers` of ``hp.divisor``).
    """
    learn.freeze()
    if settings.frozen_epochs:
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(settings.frozen_epochs, hp.lr)
    learn.unfreeze()
    return group_multipliers(hp.divisor, len(learn.opt.param_lists))


def find_lr(
    train: DecodedSplit,
    valid: DecodedSplit,
    baseline: Hyperparams,
    settings: TrainSettings,
    sweep: LrFindSettings,
    *,
    network: str = "frozen",
) -> LrFindResult:
    """Sweep learning rates on the frozen (or unfrozen) network and suggest one.

    Each of ``sweep.repeats`` sweeps builds the trial's learner (architecture, head dropout, Adam with
    ``beta2`` and ``wd``) with seed ``settings.seed + k``, which changes the head's initial weights
    and the order of the training batches, freezes it and runs
    :func:`~hpstudy.training._lr_sweep.run_sweep` with a fixed held-out set of
    ``sweep.valid_images`` validation images. Each sweep's suggestion is the steepest descent of the
    filtered ``sweep.loss`` curve; the result is their median (in log space), with their spread in
    decades. The global RNG states are the same before and after.

    With ``network="unfrozen"`` each sweep first trains the frozen stage at ``baseline.lr`` (the
    baseline trial's frozen stage: :func:`unfrozen_start`), unfreezes, and sweeps every layer group
    at once, group ``g`` at the swept lr times its :func:`group_multipliers` share: the suggestion
    is the top group's lr, the value an unfrozen stage's ``slice(lr / divisor**2, lr)`` takes.

    Raises:
        HpstudyError: If a sweep diverges within its first two steps, or its curve never falls
            (:meth:`~hpstudy.training._lr_curve.Curve.fit`): the study's preparation stops there
            rather than train every point at a noise point's lr.
    """
    if network not in ("frozen", "unfrozen"):
        raise ValueError(f"network must be frozen or unfrozen, got {network!r}")
    held_out = held_out_split(valid, sweep.valid_images)
    runs: list[SweepAnalysis] = []
    seeds = [settings.seed + k for k in range(sweep.repeats)]
    extra: dict[str, Any] = {"network": network}
    with preserved_rng():
        for seed in seeds:
            s = replace(settings, seed=seed)
            learn = build_learner(train, valid, baseline, s)
            mults = None
            if network == "unfrozen":
                mults = unfrozen_start(learn, baseline, s)
                extra.update(frozen_stage_lr=_json_number(baseline.lr),
                             group_mults=[_json_number(m) for m in mults])
            else:
                learn.freeze()
            batches = TensorBatches(held_out, s.batch_size, train=False, device=s.device,
                                    gpu_share=s.gpu_share)
            recorded = run_sweep(
                learn, batches, start_lr=sweep.start_lr, end_lr=sweep.end_lr,
                num_it=sweep.num_it, divergence=sweep.divergence, monitor=sweep.loss,
                group_mults=mults,
            )
            try:
                runs.append(analyse_sweep(recorded, sweep.loss))
            except ValueError as exc:
                raise HpstudyError(f"lr finder ({network} network, {sweep.loss} loss, seed "
                                   f"{seed}): {exc}") from None
    return _summarize(runs, seeds, sweep, len(held_out), extra)
