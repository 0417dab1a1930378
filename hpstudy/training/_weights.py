"""The ImageNet checkpoint a pretrained spec trains from, made sure of before a study is created."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from hpstudy.errors import HpstudyError
from hpstudy.training._learner import resolve_arch

__all__ = ["pretrained_checkpoint", "require_pretrained_weights"]


def pretrained_checkpoint(arch: str) -> tuple[str, Path]:
    """The URL of ``arch``'s default torchvision ImageNet weights (what fastai's ``vision_learner``
    loads) and the file torchvision keeps them in: ``<torch hub dir>/checkpoints/<name>``, i.e.
    ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``)."""
    import torch
    import torchvision.models as tvm

    resolve_arch(arch)
    url = tvm.get_model_weights(arch).DEFAULT.url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def require_pretrained_weights(arch: str) -> Path:
    """Make sure ``arch``'s ImageNet checkpoint is on this host: found in the torch hub cache, or
    downloaded there now (once, instead of by every worker's first trial).

    Returns:
        The checkpoint file.

    Raises:
        HpstudyError: If it is missing and cannot be downloaded (e.g. offline), naming the file and
            the folder to put it in.
    """
    import torch

    url, path = pretrained_checkpoint(arch)
    if path.is_file():
        return path
    match = torch.hub.HASH_REGEX.search(path.name)  # torchvision names files <arch>-<sha256 prefix>
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), match.group(1) if match else None,
                                       progress=False)
    except (OSError, RuntimeError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HpstudyError(
            f"could not load ImageNet weights for {arch} ({reason}); put the torchvision "
            f"checkpoint {path.name} (from {url}) in {path.parent} ($TORCH_HOME/hub/checkpoints) "
            "or set pretrained = false in the spec"
        ) from None
    return path
