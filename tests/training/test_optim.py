"""``StudyAdam`` must train exactly as fastai's ``Adam(decouple_wd=True)`` does in a trial."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from _tiny import digits_settings

from hpstudy.training import Hyperparams, build_learner
from hpstudy.training._optim import StudyAdam

HP = Hyperparams(lr=3e-3, divisor=10, wd=0.1, beta2=0.95, ps=0.5)


def _trained(learn) -> tuple[dict[str, torch.Tensor], list[float]]:  # noqa: ANN001
    """A trial's two stages, as ``train_trial`` runs them, from the same random state."""
    torch.manual_seed(1)
    with learn.no_bar(), learn.no_logging():
        learn.freeze()
        learn.fit_one_cycle(1, HP.lr)
        learn.unfreeze()
        learn.fit_one_cycle(1, slice(HP.lr / HP.divisor**2, HP.lr))
    losses = [float(v) for v in learn.recorder.values[-1][:2]]
    return {k: v.detach().clone() for k, v in learn.model.state_dict().items()}, losses


def test_a_trial_with_study_adam_matches_fastais_adam(tiny_digits) -> None:
    from fastai.optimizer import Adam

    ours = build_learner(*tiny_digits, HP, digits_settings(batch_size=16))
    theirs = build_learner(*tiny_digits, HP, digits_settings(batch_size=16))
    theirs.opt_func = partial(Adam, sqr_mom=HP.beta2, decouple_wd=True)
    ours_state, ours_losses = _trained(ours)
    theirs_state, theirs_losses = _trained(theirs)
    assert isinstance(ours.opt, StudyAdam) and not isinstance(theirs.opt, StudyAdam)
    assert ours_losses == pytest.approx(theirs_losses, rel=1e-5)
    for name, value in theirs_state.items():
        torch.testing.assert_close(ours_state[name], value, rtol=1e-5, atol=1e-6, msg=name)
    # The state fastai's tools read (lr_find, save/load) has fastai's layout.
    for p, q in zip(ours.model.parameters(), theirs.model.parameters(), strict=True):
        assert set(ours.opt.state[p]) == set(theirs.opt.state[q])
        assert ours.opt.state[p].get("step") == theirs.opt.state[q].get("step")


def test_weight_decay_skips_parameters_flagged_do_wd_false() -> None:
    decayed, kept = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = StudyAdam([[decayed, kept]], lr=0.1, wd=0.5)
    opt.state[kept]["do_wd"] = False
    for p in (decayed, kept):
        p.grad = torch.zeros(3)
    opt.step()
    assert torch.allclose(decayed, torch.full((3,), 1 - 0.1 * 0.5))
    assert torch.equal(kept.detach(), torch.ones(3))
    opt.zero_grad()
    assert torch.equal(decayed.grad, torch.zeros(3))
    assert opt.state[decayed]["step"] == opt.state[kept]["step"] == 1


def test_parameters_without_gradients_are_not_stepped() -> None:
    frozen, trained = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = StudyAdam([[frozen], [trained]], lr=0.1, wd=0.0)
    trained.grad = torch.ones(2)
    opt.step()
    assert torch.equal(frozen.detach(), torch.ones(2)) and "step" not in opt.state[frozen]
    assert (trained < 1).all()
