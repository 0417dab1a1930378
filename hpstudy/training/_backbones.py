"""Backbones by name: torchvision's (``resnet34``) and timm's (``timm:convnext_tiny``).

fastai's ``vision_learner`` builds both kinds: a torchvision constructor, or a timm model name. What
differs is everything around it, and it lives here: checking the name, the layer groups the
discriminative learning rates apply to, where the pretrained checkpoint lives and how it is fetched,
and the body whose pooled penultimate activations are the proximity features.

timm is an optional extra (``pip install 'hpstudy[timm]'``). Its pretrained checkpoints are kept, like
torchvision's, in the torch hub cache: ``$TORCH_HOME/hub/checkpoints/timm/<pretrained tag>.safetensors``
(downloaded there once from the Hugging Face hub, ``$HF_ENDPOINT`` or ``https://huggingface.co``),
and always loaded from that file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from hpstudy.errors import SpecError

__all__ = [
    "TIMM_PREFIX",
    "backbone_body",
    "checkpoint_of",
    "is_timm",
    "learner_args",
    "resolve_arch",
    "weights_name",
]

#: The prefix that names a timm model in a spec's ``arch``.
TIMM_PREFIX = "timm:"


def is_timm(arch: str) -> bool:
    """Whether ``arch`` names a timm model (``timm:<name>``)."""
    return arch.startswith(TIMM_PREFIX)


def _timm(arch: str) -> Any:  # noqa: ANN401 - the timm module
    try:
        import timm
    except ImportError:
        raise SpecError(f"arch {arch!r} needs timm, which is not installed; "
                        "pip install 'hpstudy[timm]' (or timm), or use a torchvision arch") from None
    return timm


def resolve_arch(name: str):  # noqa: ANN201 - a torchvision constructor or a timm model name
    """What fastai's ``vision_learner`` takes for ``name``: the torchvision constructor of
    ``resnet34``, or the timm model name of ``timm:convnext_tiny``.

    Raises:
        SpecError: If torchvision (or timm) has no such model, or timm is not installed.
    """
    if is_timm(name):
        model = name[len(TIMM_PREFIX):]
        timm = _timm(name)
        if not model or not timm.is_model(model):
            family = model.split("_")[0] if model else "convnext"
            sample = ", ".join(f"timm:{m}" for m in (timm.list_models(f"{family}*")[:4]
                                                      or ["convnext_tiny", "resnet50"]))
            raise SpecError(f"unknown arch {name!r}: timm has no model {model!r}; use a timm model "
                            f"name such as {sample}")
        return model
    import torchvision.models as tvm

    available = tvm.list_models(module=tvm)
    if name not in available:
        sample = ", ".join(a for a in available if a.startswith(("resnet", "convnext", "efficient")))
        raise SpecError(f"unknown arch {name!r}; use a torchvision model name such as {sample} "
                        "(or a timm model as timm:<name>)")
    return getattr(tvm, name)


def _timm_pretrained(arch: str) -> tuple[str, str]:
    """The pretrained tag (``convnext_tiny.in12k_ft_in1k``) and download URL of a timm arch."""
    import timm

    model = resolve_arch(arch)
    cfg = timm.models.get_pretrained_cfg(model)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if hub_id:
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        return hub_id.rsplit("/", 1)[-1], f"{endpoint}/{hub_id}/resolve/main/model.safetensors"
    url = getattr(cfg, "url", None) if cfg is not None else None
    if url:
        return Path(urlparse(url).path).name.rsplit(".", 1)[0], url
    raise SpecError(f"timm has no pretrained weights for {arch!r}; set pretrained = false or pick a "
                    "model timm lists with timm.list_models(pretrained=True)")


def checkpoint_of(arch: str) -> tuple[str, Path, str | None]:
    """The URL of ``arch``'s default ImageNet weights, the file they are kept in, and the SHA-256
    prefix the file name promises (torchvision's names carry one; ``None`` otherwise).

    torchvision: ``<torch hub dir>/checkpoints/<name>``, where torchvision itself looks. timm:
    ``<torch hub dir>/checkpoints/timm/<pretrained tag>.<ext>``, the file hpstudy hands timm.
    """
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    if is_timm(arch):
        tag, url = _timm_pretrained(arch)
        suffix = Path(urlparse(url).path).suffix or ".safetensors"
        return url, checkpoints / "timm" / f"{tag}{suffix}", None
    import torchvision.models as tvm

    resolve_arch(arch)
    url = tvm.get_model_weights(arch).DEFAULT.url
    path = checkpoints / Path(urlparse(url).path).name
    match = torch.hub.HASH_REGEX.search(path.name)  # torchvision names files <arch>-<sha256 prefix>
    return url, path, match.group(1) if match else None


def weights_name(arch: str, *, pretrained: bool, seed: int = 0) -> str:
    """A name for the weights a backbone starts from, recorded with cached features and references:
    ``ResNet34_Weights.IMAGENET1K_V1``, ``timm:convnext_tiny.in12k_ft_in1k``, or
    ``random-init(seed=0)`` for a seeded random initialisation."""
    if not pretrained:
        return f"random-init(seed={seed})"
    if is_timm(arch):
        return f"{TIMM_PREFIX}{_timm_pretrained(arch)[0]}"
    import torchvision.models as tvm

    resolve_arch(arch)
    return str(tvm.get_model_weights(arch).DEFAULT)


def learner_args(arch: str, *, pretrained: bool) -> dict[str, Any]:
    """Extra ``vision_learner`` (and ``create_timm_model``) arguments ``arch`` needs: for timm, its
    three layer groups and, pretrained, the checkpoint file to load (never a download)."""
    if not is_timm(arch):
        return {}
    args: dict[str, Any] = {"splitter": timm_splitter}
    if pretrained:
        args["pretrained_cfg_overlay"] = {"file": str(checkpoint_of(arch)[1])}
    return args


def _split_module(model: torch.nn.Module) -> str | None:
    """The module that starts a timm body's second layer group: the first stage at 1/16 of the
    input resolution (``layer3`` of a resnet, ``stages.2`` of a convnext), where torchvision's
    resnet split falls; for a body that keeps one resolution throughout (a ViT), its middle block."""
    info = [f for f in getattr(model, "feature_info", None) or [] if f.get("module")]
    if not info:
        return None
    if len({f["reduction"] for f in info}) == 1:
        return info[len(info) // 2]["module"]
    deep = [f for f in info if f["reduction"] >= 16]
    return (deep[0] if deep else info[len(info) // 2])["module"]


def timm_splitter(model: torch.nn.Module) -> list[list[torch.nn.Parameter]]:
    """fastai's three layer groups for a timm model built by ``vision_learner``: the body up to
    its 1/16-resolution stage, the rest of the body, and the head, as torchvision resnets get them
    (a body without ``feature_info`` is cut in half by parameter count)."""
    body, head = model[0].model, model[1:]  # type: ignore[index]  # fastai's Sequential
    named = list(body.named_parameters())
    split = _split_module(body)
    cut = next((i for i, (n, _) in enumerate(named) if split and n.startswith(f"{split}.")), None)
    if cut is None or cut == 0:
        cut = len(named) // 2
    params = [p for _, p in named]
    return [params[:cut], params[cut:], list(head.parameters())]


class _GlobalPool(torch.nn.Module):
    """Global average pooling of a feature map (``N x C x H x W``); pooled features pass through."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            x = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        return x.flatten(1)


def backbone_body(arch: str, *, pretrained: bool) -> torch.nn.Module:
    """The body of ``arch`` as ``vision_learner`` builds it, followed by global average pooling:
    one row of pooled penultimate activations per image. Call under ``torch.manual_seed`` for a
    reproducible random initialisation."""
    from fastai.vision.learner import create_timm_model, create_vision_model

    constructor = resolve_arch(arch)
    if is_timm(arch):
        extra = {k: v for k, v in learner_args(arch, pretrained=pretrained).items()
                 if k != "splitter"}
        model, _ = create_timm_model(constructor, n_out=1, pretrained=pretrained, **extra)
    else:
        model = create_vision_model(constructor, n_out=1, pretrained=pretrained)
    return torch.nn.Sequential(model[0], _GlobalPool())
