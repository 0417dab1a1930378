"""The fastai training adapter: the only package of hpstudy that imports fastai.

Everything else talks to it in plain data: decoded splits in, :class:`TrainResult` out.
"""

from hpstudy.training._backbones import TIMM_PREFIX, is_timm, resolve_arch
from hpstudy.training._data import (
    GPU_SHARE_ENV,
    DecodedSplit,
    TensorBatches,
    decode_split,
    gpu_memory_share,
)
from hpstudy.training._features import FeatureExtractor, backbone_features, backbone_weights
from hpstudy.training._learner import (
    Hyperparams,
    TrainSettings,
    build_learner,
    resolve_device,
)
from hpstudy.training._lr_find import LrFindResult, find_lr
from hpstudy.training._lr_plot import plot_lr_find
from hpstudy.training._train import EpochRecord, TrainingDiverged, TrainResult, train_trial
from hpstudy.training._weights import pretrained_checkpoint, require_pretrained_weights

__all__ = [
    "GPU_SHARE_ENV",
    "TIMM_PREFIX",
    "DecodedSplit",
    "EpochRecord",
    "FeatureExtractor",
    "Hyperparams",
    "LrFindResult",
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
