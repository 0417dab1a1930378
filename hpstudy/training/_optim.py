"""The study's optimizer: fastai's Adam with decoupled weight decay, stepped with multi-tensor kernels."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import torch
from fastai.optimizer import Optimizer, debias

__all__ = ["StudyAdam"]


class StudyAdam(Optimizer):
    """fastai's ``Adam(decouple_wd=True)``, one multi-tensor kernel per operation and group.

    Same hyperparameters (``lr``, ``mom``, ``sqr_mom``, ``eps``, ``wd``, so ``fit_one_cycle``
    schedules ``lr`` and ``mom`` as usual), same per-parameter state (``grad_avg``, ``sqr_avg``,
    ``step``), the same arithmetic in the same order, and the same ``do_wd`` flags that keep
    weight decay off BatchNorm and bias parameters. fastai's ``Adam`` runs five Python callbacks
    and about ten kernels for each of a resnet34's 110 parameter tensors at every step, which is
    what a GPU waits on at small batch sizes; here parameters that share a layer group, a
    weight-decay flag and a step count are updated together with ``torch._foreach_*`` operations
    (a handful of kernel launches per group).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float,
        mom: float = 0.9,
        sqr_mom: float = 0.99,
        eps: float = 1e-5,
        wd: float = 0.01,
    ) -> None:
        super().__init__(params, cbs=[], lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd)

    @torch.no_grad()
    def step(self, closure: None = None) -> None:
        if closure is not None:
            raise NotImplementedError("StudyAdam does not take a closure")
        groups: dict[tuple[int, bool, int], list[tuple[torch.Tensor, dict]]] = defaultdict(list)
        for i, params in enumerate(self.param_lists):
            for p in params:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "grad_avg" not in state:
                    state["grad_avg"] = torch.zeros_like(p.grad)
                    state["sqr_avg"] = torch.zeros_like(p.grad)
                state["step"] = state.get("step", 0) + 1
                groups[i, state.get("do_wd", True), state["step"]].append((p, state))
        for (i, do_wd, step), members in groups.items():
            self._update(self.hypers[i], do_wd, step, members)

    @staticmethod
    def _update(h: dict, do_wd: bool, step: int, members: list[tuple[torch.Tensor, dict]]) -> None:
        lr, mom, sqr_mom, eps, wd = h["lr"], h["mom"], h["sqr_mom"], h["eps"], h["wd"]
        params = [p for p, _ in members]
        grads = [p.grad for p, _ in members if p.grad is not None]  # members all have one
        avgs = [s["grad_avg"] for _, s in members]
        sqrs = [s["sqr_avg"] for _, s in members]
        if do_wd and wd != 0:  # fastai's weight_decay
            torch._foreach_mul_(params, 1 - lr * wd)
        torch._foreach_mul_(avgs, mom)  # average_grad with dampening
        torch._foreach_add_(avgs, grads, alpha=1 - mom)
        torch._foreach_mul_(sqrs, sqr_mom)  # average_sqr_grad
        torch._foreach_addcmul_(sqrs, grads, grads, value=1 - sqr_mom)
        debias1 = debias(mom, 1 - mom, step)  # adam_step
        debias2 = debias(sqr_mom, 1 - sqr_mom, step)
        denom = torch._foreach_div(sqrs, debias2)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, avgs, denom, value=-lr / debias1)

    @torch.no_grad()
    def zero_grad(self) -> None:
        grads = [p.grad for p, *_ in self.all_params(with_grad=True)]
        if grads:
            torch._foreach_zero_(grads)
