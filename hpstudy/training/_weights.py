"""The ImageNet checkpoint a pretrained spec trains from, made sure of before a study is created."""

from __future__ import annotations

from pathlib import Path

from hpstudy.errors import HpstudyError
from hpstudy.training._backbones import checkpoint_of, is_timm

__all__ = ["missing_weights_error", "pretrained_checkpoint", "require_pretrained_weights"]


def pretrained_checkpoint(arch: str) -> tuple[str, Path]:
    """The URL of ``arch``'s default ImageNet weights (what fastai's ``vision_learner`` loads) and
    the file they are kept in, under ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``):
    torchvision's own file name, or ``timm/<pretrained tag>.safetensors`` for a timm arch."""
    url, path, _ = checkpoint_of(arch)
    return url, path


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

    url, path, sha_prefix = checkpoint_of(arch)
    if path.is_file():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written to a temporary file and renamed: an interrupted download leaves nothing behind.
        torch.hub.download_url_to_file(url, str(path), sha_prefix, progress=False)
    except (OSError, RuntimeError, ValueError) as exc:
        raise missing_weights_error(arch, exc) from None
    return path


def missing_weights_error(arch: str, exc: BaseException) -> HpstudyError:
    """The one-line error for ImageNet weights that could not be loaded: the reason, then the file
    to put where (and where it comes from), or ``pretrained = false``."""
    url, path, _ = checkpoint_of(arch)
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    kind = "timm" if is_timm(arch) else "torchvision"
    return HpstudyError(
        f"could not load ImageNet weights for {arch} ({reason}); put the {kind} "
        f"checkpoint {path.name} (from {url}) in {path.parent} ($TORCH_HOME/hub/checkpoints"
        f"{'/timm' if kind == 'timm' else ''}) or set pretrained = false in the spec"
    )
