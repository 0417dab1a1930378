"""timm backbones (``arch = "timm:<model>"``): layer groups, a trial, proximity features, and the
pretrained checkpoint's local-file route, download and offline error. No weights are downloaded
from the internet: pretrained tests serve a seeded random checkpoint from a loopback server."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from _tiny import digits_settings

from hpstudy.errors import HpstudyError, SpecError
from hpstudy.training import (
    FeatureExtractor,
    Hyperparams,
    backbone_weights,
    build_learner,
    pretrained_checkpoint,
    require_pretrained_weights,
    resolve_arch,
    train_trial,
)

pytest.importorskip("timm")

ATTO = "timm:convnext_atto"  # 3.4 M parameters: a timm model small enough for CPU tests
HP = Hyperparams(2e-3, 10, 0.1, 0.99, 0.5)


@pytest.fixture(scope="module")
def digits(decoded_digits):  # noqa: ANN001, ANN201
    return decoded_digits(96, 32)


def test_timm_names_resolve_and_unknown_ones_say_what_exists() -> None:
    assert resolve_arch("timm:convnext_tiny") == "convnext_tiny"
    with pytest.raises(SpecError, match=r"unknown arch 'timm:convnext_tinyy': timm has no model "
                                        r"'convnext_tinyy'; use a timm model name such as timm:"):
        resolve_arch("timm:convnext_tinyy")
    with pytest.raises(SpecError, match="timm has no model ''"):
        resolve_arch("timm:")
    with pytest.raises(SpecError, match=r"or a timm model as timm:<name>"):
        resolve_arch("convnext_tinyy")


def test_a_timm_body_gets_three_layer_groups_like_a_resnet(digits) -> None:  # noqa: ANN001
    learn = build_learner(*digits, HP, digits_settings(arch="timm:convnext_tiny"))
    groups = learn.splitter(learn.model)
    assert len(groups) == 3
    body = learn.model[0].model
    names = {id(p): n for n, p in body.named_parameters()}
    first, second = [names[id(p)] for p in groups[0]], [names[id(p)] for p in groups[1]]
    assert first[0].startswith("stem.") and first[-1].startswith("stages.1.")
    assert second[0].startswith("stages.2.")  # 1/16 resolution: where a resnet's layer3 starts
    every = [id(p) for g in groups for p in g]
    assert sorted(every) == sorted(id(p) for p in learn.model.parameters())  # each once
    learn.freeze()
    assert not any(p.requires_grad for p in groups[1] if p.ndim > 1)
    assert all(p.requires_grad for p in groups[2])


def test_a_timm_arch_trains_a_trial_with_discriminative_lrs(digits) -> None:  # noqa: ANN001
    from fastai.callback.core import Callback

    lrs: list[list[float]] = []

    class TakeLrs(Callback):
        def before_batch(self) -> None:
            if self.training:
                lrs.append([h["lr"] for h in self.opt.hypers])

    result = train_trial(*digits, HP, digits_settings(arch=ATTO), callbacks=[TakeLrs()])
    assert [e.stage for e in result.epochs] == ["frozen", "unfrozen"]
    assert np.isfinite(result.metric) and result.probs.shape == (32, 10)
    unfrozen = lrs[len(lrs) // 2:]
    peak = max(unfrozen, key=lambda g: g[-1])
    assert len(peak) == 3 and peak == pytest.approx([HP.lr / 100, HP.lr / 10, HP.lr], rel=0.05)


def test_a_timm_arch_yields_seeded_proximity_features(digits) -> None:  # noqa: ANN001
    features = FeatureExtractor(ATTO, pretrained=False)(digits[1])
    assert features.shape == (32, 320) and features.dtype == np.float32
    again = FeatureExtractor(ATTO, pretrained=False, batch_size=7)(digits[1])
    np.testing.assert_allclose(features, again, rtol=1e-4, atol=1e-5)
    other = FeatureExtractor(ATTO, pretrained=False, seed=1)(digits[1])
    assert not np.allclose(features, other)
    assert backbone_weights(ATTO, pretrained=False) == "random-init(seed=0)"
    assert backbone_weights(ATTO, pretrained=True) == "timm:convnext_atto.d2_in1k"


def test_timm_checkpoints_live_beside_torchvision_ones(offline_hub: Path) -> None:
    url, path = pretrained_checkpoint("timm:convnext_tiny")
    assert url == ("https://huggingface.co/timm/convnext_tiny.in12k_ft_in1k/resolve/main/"
                   "model.safetensors")
    assert path == offline_hub / "timm" / "convnext_tiny.in12k_ft_in1k.safetensors"


def test_a_missing_timm_checkpoint_offline_names_the_file_and_folder(offline_hub: Path) -> None:
    with pytest.raises(HpstudyError) as err:
        require_pretrained_weights(ATTO)
    message = str(err.value)
    assert message.startswith(f"could not load ImageNet weights for {ATTO} (")
    assert ("put the timm checkpoint convnext_atto.d2_in1k.safetensors (from https://huggingface.co"
            "/timm/convnext_atto.d2_in1k/resolve/main/model.safetensors)") in message
    assert f"in {offline_hub / 'timm'} ($TORCH_HOME/hub/checkpoints/timm) or set pretrained" in message
    assert "\n" not in message and not list(offline_hub.rglob("*.safetensors"))


@pytest.fixture
def hub_server(tmp_path: Path, offline_hub: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A loopback Hugging Face endpoint (``$HF_ENDPOINT``) serving a seeded random convnext_atto
    checkpoint where the hub keeps ``timm/convnext_atto.d2_in1k``."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(123)
    model = timm.create_model("convnext_atto", pretrained=False)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    served = tmp_path / "hub" / "timm" / "convnext_atto.d2_in1k" / "resolve" / "main"
    served.mkdir(parents=True)
    save_file(state, served / "model.safetensors")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "hub"))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_pretrained_timm_weights_are_fetched_once_and_loaded_from_the_file(
    hub_server: dict, offline_hub: Path, digits,  # noqa: ANN001
) -> None:
    path = require_pretrained_weights(ATTO)
    assert path == offline_hub / "timm" / "convnext_atto.d2_in1k.safetensors" and path.is_file()
    learn = build_learner(*digits, HP, digits_settings(arch=ATTO, pretrained=True))
    body = learn.model[0].model.state_dict()
    for key in ("stem.0.weight", "stages.3.blocks.1.mlp.fc2.weight"):
        assert torch.equal(body[key], hub_server[key]), key
    extractor = FeatureExtractor(ATTO, pretrained=True)
    assert extractor(digits[1]).shape == (32, 320)
    loaded = extractor._load()[0].model.state_dict()
    assert all(torch.equal(loaded[k], hub_server[k]) for k in loaded)
    assert require_pretrained_weights(ATTO) == path  # found, not fetched again
