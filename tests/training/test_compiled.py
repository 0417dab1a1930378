"""``--compile``: the model compiled in place must still freeze, unfreeze, save and validate as
fastai expects. Runs on the CPU (inductor, no CUDA graphs), where the guard callback runs too."""

from __future__ import annotations

import pytest
import torch
from _tiny import digits_settings
from torch import nn

from hpstudy.training import Hyperparams, build_learner, train_trial

HP = Hyperparams(lr=3e-3, divisor=10, wd=0.1, beta2=0.99, ps=0.5)


def test_compiled_model_keeps_fastais_module_tree_and_state_dict_keys(tiny_digits) -> None:
    eager = build_learner(*tiny_digits, HP, digits_settings(batch_size=16))
    compiled = build_learner(*tiny_digits, HP, digits_settings(batch_size=16, compile_mode="default"))
    assert isinstance(compiled.model, nn.Sequential)  # compiled in place, not wrapped
    assert list(compiled.model.state_dict()) == list(eager.model.state_dict())
    assert len(compiled.splitter(compiled.model)) == 3  # the layer groups of the divisor
    assert any(type(cb).__name__ == "CompiledModelGuard" for cb in compiled.cbs)
    assert not any(type(cb).__name__ == "CompiledModelGuard" for cb in eager.cbs)


@pytest.mark.slow
def test_compiled_trial_trains_each_stage_and_its_metrics_match_an_eager_check(tiny_digits) -> None:
    from fastai.callback.core import Callback

    torch._dynamo.reset()
    body_weights: dict[str, torch.Tensor] = {}
    final: dict[str, dict] = {}

    class Watch(Callback):
        order = 100

        def before_fit(self) -> None:
            body_weights.setdefault("start", self.learn.model[0][0].weight.detach().clone())

        def after_fit(self) -> None:
            stage = "frozen" if "frozen" not in body_weights else "unfrozen"
            body_weights[stage] = self.learn.model[0][0].weight.detach().clone()
            final["state"] = {k: v.detach().clone() for k, v in self.learn.model.state_dict().items()}

    settings = digits_settings(batch_size=16, compile_mode="reduce-overhead")
    result = train_trial(*tiny_digits, HP, settings, callbacks=[Watch()])
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # it did compile
    assert [r.stage for r in result.epochs] == ["frozen", "unfrozen"]
    # The first conv is frozen in stage one and trained in stage two: requires_grad changes
    # reached the compiled model.
    assert torch.equal(body_weights["start"], body_weights["frozen"])
    assert not torch.equal(body_weights["frozen"], body_weights["unfrozen"])
    # The recorded validation loss and metric are those of the final weights, checked eagerly.
    check = build_learner(*tiny_digits, HP, digits_settings(batch_size=16))
    check.model.load_state_dict(final["state"])
    with check.no_bar(), check.no_logging():
        valid_loss, accuracy = check.validate()
    last = result.epochs[-1]
    assert last.valid_loss == pytest.approx(valid_loss, rel=1e-3)
    assert last.metric == pytest.approx(accuracy, abs=1 / 32)
