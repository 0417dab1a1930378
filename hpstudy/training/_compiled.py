"""Makes a ``torch.compile``-d model safe inside fastai's training and validation loops."""

from __future__ import annotations

import torch
from fastai.callback.core import Callback

__all__ = ["CompiledModelGuard"]


class CompiledModelGuard(Callback):
    """Keeps fastai's loops correct when the model runs as CUDA graphs (``reduce-overhead``).

    The outputs of a CUDA graph live in the graph's static memory and are overwritten by its next
    replay, but fastai keeps predictions across batches: validation metrics accumulate
    ``learn.pred`` and ``get_preds`` concatenates them. So each batch starts a new CUDA-graph step
    (``cudagraph_mark_step_begin``) and the prediction is copied out of the graph's memory before
    anything holds on to it. Both are no-ops in cost next to a forward pass (a ``batch x classes``
    copy), and harmless where no CUDA graph runs, so the guard goes with every compiled model.
    """

    order = 11  # after MixedPrecision (10) has cast the prediction to float

    def before_batch(self) -> None:
        torch.compiler.cudagraph_mark_step_begin()

    def after_pred(self) -> None:
        self.learn.pred = self.pred.clone()
