"""Benchmark: one optimizer step of the study's Adam against fastai's ``Adam(decouple_wd=True)``.

Both step (and zero the gradients of) a resnet34's 110 parameter tensors in the study's three
layer groups, with BatchNorm and bias parameters flagged ``do_wd=False`` as a Learner flags them.
Two sizes, side by side in one run:

* ``host``: every tensor holds one number, so the time is the per-step overhead (Python, dispatch,
  kernel launches) that a GPU waits on when a step is launch-bound (small batches, CUDA graphs);
* ``full``: the real parameter sizes (21.3 M numbers), the arithmetic itself.

Prints milliseconds per step and the ratios fastai / study (higher is better for the study).

    python benchmarks/optimizer_step.py [--device cpu|cuda] [--steps 50] [--json]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torchvision
from _output import emit


def _groups(device: str, tiny: bool) -> tuple[list[list[torch.nn.Parameter]], list[torch.nn.Parameter]]:
    """A resnet34's parameters in three layer groups with gradients, and those a Learner flags
    ``do_wd=False`` (BatchNorm weights and biases, and biases)."""
    model = torchvision.models.resnet34(num_classes=37).to(device)
    with torch.no_grad():
        for p in model.parameters():
            if tiny:
                p.set_(torch.zeros(1, device=device))
            p.grad = torch.randn_like(p)
    no_wd = [p for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()]
    no_wd += [m.bias for m in model.modules() if getattr(m, "bias", None) is not None
              and not isinstance(m, torch.nn.BatchNorm2d)]
    params = list(model.parameters())
    third = len(params) // 3
    return [params[:third], params[third:2 * third], params[2 * third:]], no_wd


def _per_step_ms(make: Callable, device: str, tiny: bool, steps: int) -> float:
    """Time of ``step()`` + ``zero_grad()`` (Adam does all its arithmetic on zero gradients too)."""
    groups, no_wd = _groups(device, tiny)
    opt = make(groups)
    for p in no_wd:
        opt.state[p]["do_wd"] = False

    def step() -> None:
        opt.step()
        opt.zero_grad()

    for _ in range(3):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps * 1000


def main() -> None:
    from fastai.optimizer import Adam

    from hpstudy.training._optim import StudyAdam

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    fastai_adam = lambda g: Adam(g, lr=1e-3, sqr_mom=0.99, wd=0.01, decouple_wd=True)  # noqa: E731
    study_adam = lambda g: StudyAdam(g, lr=1e-3, sqr_mom=0.99, wd=0.01)  # noqa: E731
    out: dict[str, float | str] = {"device": args.device}
    for size, tiny in (("host", True), ("full", False)):
        f = _per_step_ms(fastai_adam, args.device, tiny, args.steps)
        s = _per_step_ms(study_adam, args.device, tiny, args.steps)
        out.update({f"fastai_{size}_ms": round(f, 3), f"study_{size}_ms": round(s, 3),
                    f"ratio_{size}": round(f / s, 2)})
    emit(out, args.json)


if __name__ == "__main__":
    main()
