"""The fastai training adapter: the only package of hpstudy that imports fastai.

Everything else talks to it in plain data: decoded splits in, :class:`TrainResult` out.

The names below are imported on first use (PEP 562), so a module that needs only the finder's
settings (:mod:`hpstudy.training._lr_settings`, read with every study spec) does not pay for
torch; ``from hpstudy.training import train_trial`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpstudy.cache import DecodedSplit, decode_split
    from hpstudy.training._backbones import TIMM_PREFIX, is_timm, resolve_arch
    from hpstudy.training._data import GPU_SHARE_ENV, TensorBatches, gpu_memory_share
    from hpstudy.training._features import FeatureExtractor, backbone_features, backbone_weights
    from hpstudy.training._learner import Hyperparams, TrainSettings, build_learner, resolve_device
    from hpstudy.training._lr_find import LrFindResult, find_lr
    from hpstudy.training._lr_plot import plot_lr_find
    from hpstudy.training._lr_settings import LrFindSettings
    from hpstudy.training._train import EpochRecord, TrainingDiverged, TrainResult, train_trial
    from hpstudy.training._weights import pretrained_checkpoint, require_pretrained_weights

#: Where each public name lives.
_HOME: dict[str, str] = {
    "DecodedSplit": "hpstudy.cache",  # the trainer's input, re-exported
    "decode_split": "hpstudy.cache",
    "TIMM_PREFIX": "hpstudy.training._backbones",
    "is_timm": "hpstudy.training._backbones",
    "resolve_arch": "hpstudy.training._backbones",
    "GPU_SHARE_ENV": "hpstudy.training._data",
    "TensorBatches": "hpstudy.training._data",
    "gpu_memory_share": "hpstudy.training._data",
    "FeatureExtractor": "hpstudy.training._features",
    "backbone_features": "hpstudy.training._features",
    "backbone_weights": "hpstudy.training._features",
    "Hyperparams": "hpstudy.training._learner",
    "TrainSettings": "hpstudy.training._learner",
    "build_learner": "hpstudy.training._learner",
    "resolve_device": "hpstudy.training._learner",
    "LrFindResult": "hpstudy.training._lr_find",
    "find_lr": "hpstudy.training._lr_find",
    "plot_lr_find": "hpstudy.training._lr_plot",
    "LrFindSettings": "hpstudy.training._lr_settings",
    "EpochRecord": "hpstudy.training._train",
    "TrainingDiverged": "hpstudy.training._train",
    "TrainResult": "hpstudy.training._train",
    "train_trial": "hpstudy.training._train",
    "pretrained_checkpoint": "hpstudy.training._weights",
    "require_pretrained_weights": "hpstudy.training._weights",
}

__all__ = [
    "GPU_SHARE_ENV",
    "TIMM_PREFIX",
    "DecodedSplit",
    "EpochRecord",
    "FeatureExtractor",
    "Hyperparams",
    "LrFindResult",
    "LrFindSettings",
    "TensorBatches",
    "TrainResult",
    "TrainSettings",
    "TrainingDiverged",
    "backbone_features",
    "backbone_weights",
    "build_learner",
    "decode_split",
    "find_lr",
    "gpu_memory_share",
    "is_timm",
    "plot_lr_find",
    "pretrained_checkpoint",
    "require_pretrained_weights",
    "resolve_arch",
    "resolve_device",
    "train_trial",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - any public name
    if name not in _HOME:
        raise AttributeError(f"module 'hpstudy.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
