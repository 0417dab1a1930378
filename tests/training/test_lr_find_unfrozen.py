"""The finder on the unfrozen network: where it starts, how it moves the layer groups, and that it
leaves model, optimizer and RNGs exactly as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _state import assert_same, snapshot
from _tiny import digits_settings

from hpstudy.study import LrFindSettings
from hpstudy.training import Hyperparams, TensorBatches, build_learner, find_lr, train_trial
from hpstudy.training._learner import group_multipliers
from hpstudy.training._lr_find import unfrozen_start
from hpstudy.training._lr_sweep import run_sweep

HP = Hyperparams(2e-3, 10, 0.1, 0.99, 0.5)
SMOKE = Path(__file__).resolve().parents[2] / "studies" / "smoke.toml"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits(decoded_digits):  # noqa: ANN001, ANN201
    return decoded_digits(128, 64)


def _weights_after_the_frozen_stage(digits) -> dict[str, torch.Tensor]:  # noqa: ANN001
    """The baseline trial's weights when its unfrozen stage begins, taken by a fastai callback."""
    from fastai.callback.core import Callback

    taken: dict[str, torch.Tensor] = {}

    class TakeWeights(Callback):
        def after_fit(self) -> None:
            if not taken:
                taken.update({k: v.clone() for k, v in self.learn.model.state_dict().items()})

    train_trial(*digits, HP, digits_settings(unfrozen_epochs=0), callbacks=[TakeWeights()])
    return taken


def test_the_sweep_starts_where_the_baseline_unfreezes(digits) -> None:  # noqa: ANN001
    expected = _weights_after_the_frozen_stage(digits)
    learn = build_learner(*digits, HP, digits_settings())
    mults = unfrozen_start(learn, HP, digits_settings())
    assert mults == pytest.approx([0.01, 0.1, 1.0])  # resnet: three groups, divisor 10 apart
    assert all(p.requires_grad for p in learn.model.parameters())
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, expected[k]), k


def test_the_sweep_moves_the_groups_together_and_restores_everything(digits) -> None:  # noqa: ANN001
    learn = build_learner(*digits, HP, digits_settings())
    mults = unfrozen_start(learn, HP, digits_settings())
    before = snapshot(learn)
    assert learn.opt.state  # Adam moments from the frozen stage, to be kept
    seen: list[list[float]] = []
    learn.model.register_forward_hook(
        lambda m, i, o: seen.append([h["lr"] for h in learn.opt.hypers]) if m.training else None)
    sweep = run_sweep(learn, TensorBatches(digits[1], 32, train=False), num_it=12,
                      group_mults=mults)
    assert len(seen) == len(sweep.lrs) >= 5
    for lrs, swept in zip(seen, sweep.lrs, strict=True):
        assert lrs == pytest.approx([swept * m for m in mults])
    assert_same(before, snapshot(learn))
    with pytest.raises(ValueError, match="2 factors for 3 parameter groups"):
        run_sweep(learn, TensorBatches(digits[1], 32, train=False), num_it=12,
                  group_mults=[0.1, 1.0])
    assert_same(before, snapshot(learn))


def test_find_lr_on_the_unfrozen_network_records_how(digits) -> None:  # noqa: ANN001
    rng = torch.get_rng_state()
    sweep = LrFindSettings(start_lr=1e-5, end_lr=1.0, num_it=16, valid_images=64, loss="train")
    result = find_lr(*digits, HP, digits_settings(), sweep, network="unfrozen")
    assert torch.equal(rng, torch.get_rng_state())
    d = result.details
    assert d["network"] == "unfrozen" and d["frozen_stage_lr"] == pytest.approx(HP.lr)
    assert d["group_mults"] == pytest.approx([0.01, 0.1, 1.0])
    assert result.lr > 0 and result.method == "steepest-train-loss-butterworth"
    frozen = find_lr(*digits, HP, digits_settings(), sweep)
    assert frozen.details["network"] == "frozen" and "group_mults" not in frozen.details


def test_group_multipliers_are_what_fastai_gives_a_discriminative_slice() -> None:
    assert group_multipliers(3, 3) == pytest.approx([1 / 9, 1 / 3, 1])
    assert group_multipliers(10, 2) == pytest.approx([0.01, 1])
    assert group_multipliers(5, 1) == [1.0]
    hp = Hyperparams(1e-3, 5, 0.1, 0.99, 0.5, unfrozen_lr=4e-3)
    assert (hp.unfrozen_slice.start, hp.unfrozen_slice.stop) == pytest.approx((4e-3 / 25, 4e-3))
    plain = Hyperparams(1e-3, 5, 0.1, 0.99, 0.5)
    assert plain.unfrozen_slice.stop == 1e-3


def _spec(tmp_path: Path, unfrozen_epochs: int = 1) -> str:
    text = SMOKE.read_text().replace("unfrozen_epochs = 1", f"unfrozen_epochs = {unfrozen_epochs}")
    text = text[: text.index("[lr_find]")] + (
        '[lr_find]\nstart_lr = 1e-4\nend_lr = 1.0\nnum_it = 20\nvalid_images = 64\nloss = "train"\n'
    )
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return str(path)


def test_cli_sweeps_the_unfrozen_network(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from hpstudy.cli import main

    main(["lr-find", "--dataset", "digits", "--study", _spec(tmp_path), "--fraction", "0.2",
          "--device", "cpu", "--network", "unfrozen", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["network"] == "unfrozen" and out["loss"] == "train"
    assert out["group_mults"] == pytest.approx([0.01, 0.1, 1.0])
    assert out["frozen_stage_lr"] > 0 and 1e-4 <= out["suggestion"] <= 1.0


def test_cli_refuses_the_unfrozen_network_without_an_unfrozen_stage(tmp_path: Path,
                                                                  capsys) -> None:  # noqa: ANN001
    from hpstudy.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["lr-find", "--dataset", "digits", "--study", _spec(tmp_path, unfrozen_epochs=0),
              "--device", "cpu", "--network", "unfrozen"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert "--network unfrozen: spec 'tiny' has no unfrozen stage (unfrozen_epochs = 0)" in err
