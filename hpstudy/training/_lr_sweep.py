"""The learning-rate sweep itself: a plain training loop over a fastai Learner's model and optimizer.

The loop is written out rather than run through ``Learner.fit`` so that what happens between two
steps (a validation pass in eval mode) and what is put back afterwards (everything) is explicit.
It uses the learner's own model, loss, optimizer (with its weight decay) and training batches, so
the sweep sees exactly what a trial's first, frozen stage would see.
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hpstudy.progress import report
from hpstudy.training._lr_curve import DivergenceMonitor, exp_schedule, points_per_decade
from hpstudy.training._lr_settings import LOSS_KINDS

if TYPE_CHECKING:
    from fastai.learner import Learner

__all__ = ["LOSS_KINDS", "Sweep", "preserved_rng", "preserved_state", "run_sweep"]


Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Sweep:
    """What one sweep recorded, one entry per optimizer step.

    ``train_losses[i]`` is the loss of the batch stepped on at ``lrs[i]``; ``valid_losses[i]`` is the
    mean loss over the held-out images right after that step. ``stopped_early`` is True when the
    divergence rule ended the sweep before ``num_it`` steps.
    """

    lrs: np.ndarray
    train_losses: np.ndarray
    valid_losses: np.ndarray
    num_it: int
    stopped_early: bool

    def losses(self, kind: str) -> np.ndarray:
        """The recorded losses of ``kind`` (``valid`` or ``train``)."""
        if kind not in LOSS_KINDS:
            raise ValueError(f"loss must be one of {', '.join(LOSS_KINDS)}, got {kind!r}")
        return self.valid_losses if kind == "valid" else self.train_losses


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Put Python's, NumPy's and torch's (CPU and every initialised CUDA device's) RNG states back."""
    py, np_state, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def _clone(value: Any) -> Any:  # noqa: ANN401 - optimizer state is arbitrary nested data
    return copy.deepcopy(value)


@contextlib.contextmanager
def preserved_state(learn: Learner) -> Iterator[None]:
    """Run a block, then put the learner back exactly as it was, even if the block raised.

    Restored: every parameter and buffer (BatchNorm running statistics and ``num_batches_tracked``
    included) in place, so the optimizer's references stay valid; gradients; ``requires_grad``
    flags; each module's train/eval mode; the optimizer's per-parameter state and hyperparameters;
    the training batches' epoch counter (their shuffling seed); and the global RNG states.
    """
    from fastai.optimizer import Optimizer

    model, opt = learn.model, learn.opt
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    flags = [p.requires_grad for p in params]
    modes = [m.training for m in model.modules()]
    if isinstance(opt, Optimizer):
        opt_state = {p: _clone(s) for p, s in opt.state.items()}
        opt_hypers = [_clone(dict(h)) for h in opt.hypers]
    else:
        opt_dict = _clone(opt.state_dict())
    train_dl = learn.dls.train
    epoch = getattr(train_dl, "_epoch", None)
    try:
        with preserved_rng():
            yield
    finally:
        with torch.no_grad():
            model.load_state_dict(weights)
        for p, g, flag in zip(params, grads, flags, strict=True):
            p.requires_grad_(flag)
            p.grad = g
        for m, mode in zip(model.modules(), modes, strict=True):
            m.training = mode
        if isinstance(opt, Optimizer):
            opt.state.clear()
            opt.state.update(opt_state)
            for h, saved in zip(opt.hypers, opt_hypers, strict=True):
                h.clear()
                h.update(saved)
        else:
            opt.load_state_dict(opt_dict)
        if epoch is not None:
            train_dl._epoch = epoch


def _cycle(batches: Iterable[Batch]) -> Iterator[Batch]:
    while True:
        empty = True
        for b in batches:
            empty = False
            yield b
        if empty:
            raise ValueError("the training batches are empty; the sweep needs at least one batch")


def _mean_loss(learn: Learner, held_out: Iterable[Batch]) -> float:
    total, count = 0.0, 0
    for x, y in held_out:
        total += float(learn.loss_func(learn.model(x), y)) * len(x)
        count += len(x)
    if count == 0:
        raise ValueError("the held-out validation set is empty")
    return total / count


def run_sweep(
    learn: Learner,
    held_out: Iterable[Batch],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_it: int = 100,
    divergence: float = 4.0,
    monitor: str = "valid",
    group_mults: Sequence[float] | None = None,
) -> Sweep:
    """Train ``learn`` for up to ``num_it`` steps at exponentially growing learning rates.

    Before every step the optimizer's ``lr`` is set for every parameter group (its weight decay is
    the learner's ``wd``, as ``Learner.fit`` would set it). After every step the model is evaluated,
    in eval mode and without gradients, on ``held_out``. The sweep ends early once the smoothed
    ``monitor`` loss exceeds ``divergence`` times its best value, or at once if a loss is not finite
    (see :class:`~hpstudy.training._lr_curve.DivergenceMonitor`). Whatever the outcome, the learner
    and the RNGs are left exactly as they were (:func:`preserved_state`).

    Args:
        learn: A fastai Learner: its ``model``, ``loss_func``, ``opt`` (created if missing) and
            ``dls.train`` are used; freeze it first to sweep the frozen network.
        held_out: A re-iterable of ``(x, y)`` batches, the same every time it is iterated.
        start_lr: The first learning rate.
        end_lr: The last learning rate, reached at step ``num_it``.
        num_it: The number of steps.
        divergence: The stop factor (> 1).
        monitor: ``valid`` or ``train``: the loss the divergence rule watches.
        group_mults: One factor per parameter group: at step ``i`` group ``g`` trains at
            ``lrs[i] * group_mults[g]``, so discriminative lrs move together (the recorded lr is
            the sweep's, i.e. the group with factor 1). Default: every group at the sweep's lr.

    Returns:
        The recorded curve.
    """
    if monitor not in LOSS_KINDS:
        raise ValueError(f"monitor must be one of {', '.join(LOSS_KINDS)}, got {monitor!r}")
    lrs = exp_schedule(start_lr, end_lr, num_it)
    if learn.opt is None:
        learn.create_opt()
    if group_mults is not None and len(group_mults) != len(learn.opt.param_lists):
        raise ValueError(f"group_mults has {len(group_mults)} factors for "
                         f"{len(learn.opt.param_lists)} parameter groups")
    stop = DivergenceMonitor(divergence, points_per_decade(lrs))
    train_losses: list[float] = []
    valid_losses: list[float] = []
    with preserved_state(learn):
        model, opt = learn.model, learn.opt
        if learn.wd is not None:
            opt.set_hypers(wd=learn.wd)
        batches = _cycle(learn.dls.train)
        for step, lr in enumerate(lrs, start=1):
            model.train()
            x, y = next(batches)
            opt.set_hypers(lr=float(lr) if group_mults is None
                           else [float(lr) * m for m in group_mults])
            loss = learn.loss_func(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            train_losses.append(float(loss.detach()))
            model.eval()
            with torch.no_grad():
                valid_losses.append(_mean_loss(learn, held_out))
            watched = valid_losses[-1] if monitor == "valid" else train_losses[-1]
            stopped = stop.update(watched)
            report("lr sweep", num_it if stopped else step, num_it)
            if stopped:
                break
    n = len(train_losses)
    return Sweep(lrs[:n], np.array(train_losses), np.array(valid_losses), num_it, n < num_it)
