"""The study's hyperparameters must reach fastai's optimizer and head: inspect the learner."""

from __future__ import annotations

import pytest
import torch
from _tiny import digits_settings
from torch import nn

from hpstudy.training import Hyperparams, build_learner, train_trial


def test_head_dropout_is_ps_over_two_then_ps(tiny_digits) -> None:
    learn = build_learner(*tiny_digits, Hyperparams(1e-3, 10, 0.1, 0.99, 0.3), digits_settings())
    drops = [m.p for m in learn.model[1].modules() if isinstance(m, nn.Dropout)]
    assert drops == pytest.approx([0.15, 0.3])


def test_head_dropout_pair_is_first_then_last_layer(tiny_digits) -> None:
    hp = Hyperparams(1e-3, 10, 0.1, 0.99, 0.75, ps_last=0.25)
    learn = build_learner(*tiny_digits, hp, digits_settings())
    head = [m for m in learn.model[1].modules() if isinstance(m, (nn.Dropout, nn.Linear))]
    kinds = [(type(m).__name__, getattr(m, "p", None)) for m in head]
    assert kinds == [("Dropout", 0.75), ("Linear", None), ("Dropout", 0.25), ("Linear", None)]


def test_lr_divisor_wd_beta2_reach_the_optimizer(tiny_digits) -> None:
    from fastai.callback.core import Callback

    seen: list[tuple[bool, list[dict]]] = []

    class Spy(Callback):
        order = 100

        def before_step(self) -> None:
            convs = [m for m in self.learn.model[0].modules() if isinstance(m, nn.Conv2d)]
            frozen = not any(c.weight.requires_grad for c in convs)  # BN stays trainable
            seen.append((frozen, [dict(h) for h in self.opt.hypers]))

    hp = Hyperparams(lr=2e-3, divisor=5.0, wd=0.05, beta2=0.95, ps=0.5)
    result = train_trial(*tiny_digits, hp, digits_settings(batch_size=8), callbacks=[Spy()])
    assert len(result.epochs) == 2
    frozen = [h for f, h in seen if f]
    unfrozen = [h for f, h in seen if not f]
    assert frozen and unfrozen
    for hypers in frozen + unfrozen:
        assert len(hypers) == 3  # a resnet has three layer groups
        assert all(h["sqr_mom"] == 0.95 and h["wd"] == 0.05 for h in hypers)
    # One cycle peaks at lr in the head group; the peak is reached in each stage.
    assert max(h[2]["lr"] for h in frozen) == pytest.approx(2e-3, rel=0.02)
    assert max(h[2]["lr"] for h in unfrozen) == pytest.approx(2e-3, rel=0.02)
    # Unfrozen: consecutive layer groups differ by the divisor at every step.
    for h in unfrozen:
        assert h[1]["lr"] / h[0]["lr"] == pytest.approx(5.0)
        assert h[2]["lr"] / h[1]["lr"] == pytest.approx(5.0)


def test_epoch_records_carry_losses_and_the_metric(tiny_digits) -> None:
    hp = Hyperparams(lr=1e-3, divisor=10, wd=0.1, beta2=0.99, ps=0.5)
    seen = []
    result = train_trial(*tiny_digits, hp, digits_settings(), on_epoch=seen.append)
    assert [r.stage for r in seen] == ["frozen", "unfrozen"]
    assert [r.epoch for r in seen] == [0, 1]
    assert 0.0 <= result.metric <= 1.0 and result.metric == seen[-1].metric
    assert all(torch.isfinite(torch.tensor([r.train_loss, r.valid_loss])).all() for r in seen)
    assert result.images_per_s > 0
