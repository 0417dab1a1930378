"""The learning-rate finder: one function, so the method behind it can change in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

from hpstudy.study._spec import LrFindSettings
from hpstudy.training._data import DecodedSplit
from hpstudy.training._learner import Hyperparams, TrainSettings, build_learner

__all__ = ["LrFindResult", "find_lr"]


@dataclass(frozen=True)
class LrFindResult:
    """The suggested learning rate, the method that produced it, and anything else worth storing."""

    lr: float
    method: str
    details: dict[str, float] = field(default_factory=dict)


def find_lr(
    train: DecodedSplit,
    valid: DecodedSplit,
    baseline: Hyperparams,
    settings: TrainSettings,
    sweep: LrFindSettings,
) -> LrFindResult:
    """Sweep learning rates on the frozen network and suggest one.

    For now this is fastai's ``Learner.lr_find`` (training loss, ``valley`` suggestion); its other
    suggestions are kept in ``details``.
    """
    from fastai.callback.schedule import minimum, steep, valley

    learn = build_learner(train, valid, baseline, settings)
    learn.freeze()
    with learn.no_bar(), learn.no_logging():
        res = learn.lr_find(
            start_lr=sweep.start_lr,
            end_lr=sweep.end_lr,
            num_it=sweep.num_it,
            show_plot=False,
            suggest_funcs=(valley, steep, minimum),
        )
    return LrFindResult(
        lr=float(res.valley),
        method="fastai-valley",
        details={"valley": float(res.valley), "steep": float(res.steep),
                 "minimum": float(res.minimum)},
    )
