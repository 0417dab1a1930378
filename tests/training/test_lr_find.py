"""The finder end to end: a known good band, exact state restoration, divergence, storage, CLI."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from _state import assert_same as _assert_same
from _state import snapshot as _snapshot
from _tiny import digits_settings
from torch import nn

from hpstudy.datasets import Task
from hpstudy.study import LrFindSettings, study_attrs
from hpstudy.training import (
    DecodedSplit,
    Hyperparams,
    TensorBatches,
    build_learner,
    find_lr,
)
from hpstudy.training._lr_find import analyse_sweep, held_out_split
from hpstudy.training._lr_sweep import run_sweep

SMOKE = Path(__file__).resolve().parents[2] / "studies" / "smoke.toml"


def rows_dataset(n: int, seed: int) -> DecodedSplit:
    """4x4 grey images in four classes: class k has a bright row k (left-right flips keep it)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(100, 60, (n, 1, 4, 4))
    x[np.arange(n), 0, y, :] += 80
    images = torch.from_numpy(np.clip(x, 0, 255).astype(np.uint8))
    return DecodedSplit(images, torch.from_numpy(y), Task.SINGLE_LABEL)


TRAIN, VALID = rows_dataset(512, 1), rows_dataset(512, 2)


pytestmark = pytest.mark.usefixtures("one_thread")


def small_learner(seed: int = 0, wd: float = 0.01):  # noqa: ANN201 - a fastai Learner
    """An MLP with BatchNorm and dropout, trained with the study's optimizer (Adam, beta2, wd)."""
    import fastai.callback.schedule  # noqa: F401 - fit_one_cycle
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.optimizer import Adam

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 32), nn.BatchNorm1d(32), nn.ReLU(),
                          nn.Dropout(0.2), nn.Linear(32, 4))
    dls = DataLoaders(TensorBatches(TRAIN, 32, train=True, seed=seed),
                      TensorBatches(VALID, 128, train=False))
    return Learner(dls, model, loss_func=CrossEntropyLossFlat(),
                   opt_func=partial(Adam, sqr_mom=0.99, decouple_wd=True), wd=wd)


def held_out() -> TensorBatches:
    return TensorBatches(held_out_split(VALID, 256), 128, train=False)


def good_band(epochs: int = 4, step: float = 0.25) -> tuple[float, float]:
    """Train at a grid of lrs; the band is where the final validation loss is within a quarter of
    the way from the best to chance (ln 4) - measured, not assumed."""
    final = {}
    for e in np.arange(-5.0, 1.0 + 1e-9, step):
        learn = small_learner()
        with learn.no_logging():
            learn.fit_one_cycle(epochs, float(10**e))
        final[float(e)] = float(learn.validate()[0])
    best = min(final.values())
    threshold = best + 0.25 * (math.log(4) - best)
    good = [e for e, v in final.items() if v <= threshold]
    # The band must be one contiguous run for the test to mean anything.
    assert good == [e for e in final if good[0] <= e <= good[-1]], final
    return good[0], good[-1]


def test_suggestion_lies_in_the_measured_good_band() -> None:
    low, high = good_band()
    assert high - low >= 0.5  # a real band, not a point
    for seed in range(3):
        sweep = run_sweep(small_learner(seed), held_out())
        suggestion = math.log10(analyse_sweep(sweep, "valid").suggestion)
        assert low <= suggestion <= high, (seed, suggestion, (low, high))


def _trained(learn):  # noqa: ANN001, ANN202
    """A learner mid-training: non-empty Adam state, moved BatchNorm statistics, live gradients."""
    with learn.no_logging():
        learn.fit(1, 1e-3)
    x, y = next(iter(learn.dls.train))
    learn.model.train()
    learn.loss_func(learn.model(x), y).backward()  # leave gradients behind, as a caller might
    learn.model.eval()
    return learn


def test_state_is_restored_exactly() -> None:
    learn = _trained(small_learner())
    bn = learn.model[2]
    before = _snapshot(learn)
    assert int(bn.num_batches_tracked) > 0 and learn.opt.state[bn.weight]
    seen: list[torch.Tensor] = []
    bn.register_forward_hook(lambda m, i, o: seen.append(m.running_mean.clone()))
    sweep = run_sweep(learn, held_out(), num_it=40)
    # The sweep did train (the statistics moved) and still left nothing behind.
    assert not torch.equal(seen[-1], before["weights"]["2.running_mean"])
    assert len(sweep.lrs) > 5
    _assert_same(before, _snapshot(learn))


def test_state_is_restored_when_the_sweep_fails() -> None:
    learn = _trained(small_learner())
    before = _snapshot(learn)
    with pytest.raises(ValueError, match="held-out validation set is empty"):
        run_sweep(learn, [], num_it=20)  # fails after the first optimizer step
    _assert_same(before, _snapshot(learn))


def test_divergence_stops_an_exploding_sweep() -> None:
    learn = small_learner(wd=0.0)
    sweep = run_sweep(learn, held_out(), start_lr=1e-3, end_lr=1e6, num_it=100)
    assert sweep.stopped_early and len(sweep.lrs) < 100
    assert len(sweep.train_losses) == len(sweep.valid_losses) == len(sweep.lrs)
    best = np.minimum.accumulate(sweep.valid_losses)
    assert sweep.valid_losses[-1] > 2 * best[-1] or not np.isfinite(sweep.valid_losses[-1])
    calm = run_sweep(small_learner(), held_out(), start_lr=1e-7, end_lr=1e-4, num_it=30)
    assert not calm.stopped_early and len(calm.lrs) == 30


@pytest.fixture(scope="module")
def tiny_digits(decoded_digits):  # noqa: ANN001, ANN201 - more validation images for the finder
    return decoded_digits(128, 96)


def test_frozen_resnet_state_is_restored_exactly(tiny_digits) -> None:  # noqa: ANN001
    hp = Hyperparams(1e-3, 10, 0.1, 0.99, 0.5)
    learn = build_learner(*tiny_digits, hp, digits_settings())
    learn.freeze()
    learn.opt.set_hypers(lr=1e-3)
    learn = _trained(learn)
    before = _snapshot(learn)
    run_sweep(learn, TensorBatches(tiny_digits[1], 32, train=False), num_it=12)
    _assert_same(before, _snapshot(learn))


def test_find_lr_stores_every_suggestion_as_json(tiny_digits) -> None:  # noqa: ANN001
    hp = Hyperparams(1e-3, 10, 0.1, 0.99, 0.5)
    sweep = LrFindSettings(num_it=15, valid_images=64, repeats=2)
    rng_before = torch.get_rng_state()
    result = find_lr(*tiny_digits, hp, digits_settings(), sweep)
    assert torch.equal(rng_before, torch.get_rng_state())
    stored = {"lr": result.lr, "method": result.method, **result.details}
    assert stored["lr"] == result.lr and stored["method"] == result.method  # no clash
    assert json.loads(json.dumps(stored, allow_nan=False)) == stored
    d = result.details
    assert d["loss"] == "valid" and d["repeats"] == 2 and d["valid_images"] == 64
    assert [r["seed"] for r in d["runs"]] == [0, 1]
    suggestions = [r["suggestion"] for r in d["runs"]]
    assert min(suggestions) <= result.lr <= max(suggestions)
    assert d["spread_decades"] == pytest.approx(math.log10(max(suggestions) / min(suggestions)),
                                                abs=1e-5)
    for name in ("valley", "steep", "minimum"):
        assert d[name] is None or d[name] > 0
    n = len(d["curve"]["lrs"])
    assert n == len(d["curve"]["valid_loss"]) == len(d["curve"]["train_loss"])
    assert 2 <= n <= 15 and d["curve"]["lrs"][0] == pytest.approx(1e-7)


def test_train_loss_can_be_selected(tiny_digits) -> None:  # noqa: ANN001
    hp = Hyperparams(1e-3, 10, 0.1, 0.99, 0.5)
    result = find_lr(*tiny_digits, hp, digits_settings(),
                     LrFindSettings(num_it=12, valid_images=32, loss="train"))
    assert result.details["loss"] == "train" and result.method == "steepest-train-loss-butterworth"


def _spec(tmp_path: Path, start_lr: float = 1e-5, end_lr: float = 10.0) -> str:
    text = SMOKE.read_text()
    text = text[: text.index("[lr_find]")] + (
        f"[lr_find]\nstart_lr = {start_lr}\nend_lr = {end_lr}\nnum_it = 15\nvalid_images = 64\n"
    )
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return str(path)


def test_cli_prints_json_and_draws_the_plot(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    from hpstudy.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    plot = tmp_path / "lr.png"
    main(["lr-find", "--dataset", "digits", "--study", _spec(tmp_path), "--fraction", "0.2",
          "--device", "cpu", "--plot", str(plot), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"suggestion", "network", "valley", "steep", "minimum", "loss", "repeats",
                        "spread_decades"}
    assert out["network"] == "frozen"
    assert out["loss"] == "valid" and out["repeats"] == 1 and out["spread_decades"] == 0.0
    assert 1e-5 <= out["suggestion"] <= 10
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--fraction", "1.5"], "--fraction 1.5 must be in (0, 1]"),
     (["--dataset", "nope"], "unknown dataset 'nope'")],
)
def test_cli_user_errors_are_one_line(tmp_path: Path, capsys, args: list[str], message: str) -> None:  # noqa: ANN001
    from hpstudy.cli import main

    argv = ["lr-find", "--dataset", "digits", "--study", _spec(tmp_path), "--device", "cpu", *args]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert message in err and "Traceback" not in err


def test_cli_refuses_a_sweep_that_starts_past_the_descent(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    # From lr 10 on, a fresh network's loss only climbs: no descent, no suggestion.
    from hpstudy.cli import main

    argv = ["lr-find", "--dataset", "digits", "--study", _spec(tmp_path, 10.0, 1e4),
            "--fraction", "0.2", "--device", "cpu"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert "lr finder (frozen network, valid loss, seed 0)" in err and "never falls" in err
    (line,) = [x for x in err.splitlines() if "lr finder" in x]  # one line, beside library warnings
    assert "lower lr_find.start_lr" in line


def test_a_fixed_lr_replaces_the_finder_and_keeps_the_hash_of_specs_without_it(tmp_path: Path) -> None:
    import tomllib

    from hpstudy.errors import SpecError
    from hpstudy.study import create_study, open_storage, parse_spec
    from hpstudy.study._lr import ensure_lr_find

    data = tomllib.loads(SMOKE.read_text())
    without = parse_spec(data, name="smoke")
    assert without.lr_find.lr is None
    data["lr_find"]["lr"] = 0.003
    fixed = parse_spec(data, name="smoke")
    assert fixed.hash != without.hash and fixed.lr_find.lr == 0.003
    ref = create_study(open_storage(f"sqlite:///{tmp_path / 's.db'}", create=True), fixed, "digits",
                       "accuracy")
    assert ensure_lr_find(ref, None, "cpu") == {"lr_find@0.2": 0.003,
                                                                 "lr_find@1": 0.003}
    assert study_attrs(ref.study)["lr_find@1"] == {"lr": 0.003,
                                                   "method": "fixed (lr_find.lr in the spec)"}
    assert ref.study.user_attrs["lr_find@1"] == 0.003  # what Optuna's views show
    from hpstudy.study import lr_find_for_dataset  # `hpstudy lr-find` still runs the finder

    ran = lr_find_for_dataset("digits", fixed, fraction=0.2, device="cpu")
    assert ran.method.startswith("steepest") and ran.details["repeats"] == 1
    data["lr_find"]["lr"] = 0
    with pytest.raises(SpecError, match="lr_find.lr must be a finite number > 0"):
        parse_spec(data, name="smoke")


def test_spec_validates_the_finder_settings() -> None:
    import tomllib

    from hpstudy.errors import SpecError
    from hpstudy.study import parse_spec

    data = tomllib.loads(SMOKE.read_text())
    assert parse_spec(data, name="smoke").lr_find.loss == "valid"
    data["lr_find"].update(loss="both", valid_images=0, repeats=1.5, divergence=1.0)
    with pytest.raises(SpecError) as info:
        parse_spec(data, name="smoke")
    for problem in ('lr_find.loss must be "valid" or "train"', "lr_find.valid_images must be",
                    "lr_find.repeats must be", "lr_find.divergence must be a finite number > 1"):
        assert problem in str(info.value)
    data["lr_find"] = {"loss": "train", "valid_images": 512, "repeats": 3, "divergence": 3.0}
    assert parse_spec(data, name="smoke").lr_find == LrFindSettings(
        loss="train", valid_images=512, repeats=3, divergence=3.0)
