"""The backbone of a study's model as a feature extractor: pooled penultimate activations.

The body is built exactly as :func:`~hpstudy.training.build_learner` builds it (fastai's
``create_vision_model`` under ``torch.manual_seed(seed)``), so with ``pretrained=False`` the random
weights are the ones every trial of the study starts from, and with ``pretrained=True`` they are
torchvision's default ImageNet weights that fastai loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from hpstudy.progress import report
from hpstudy.training._backbones import backbone_body, is_timm, weights_name
from hpstudy.training._data import DecodedSplit, TensorBatches

__all__ = ["FeatureExtractor", "backbone_features", "backbone_weights"]


def backbone_weights(arch: str, *, pretrained: bool, seed: int = 0) -> str:
    """A name for the weights a backbone starts from, recorded with cached features and references.

    ``"ResNet34_Weights.IMAGENET1K_V1"`` for pretrained torchvision weights,
    ``"timm:convnext_tiny.in12k_ft_in1k"`` for a timm model's, ``"random-init(seed=0)"`` for a
    randomly initialised network (seeded, so reproducible).
    """
    return weights_name(arch, pretrained=pretrained, seed=seed)


@dataclass
class FeatureExtractor:
    """The body of ``arch`` (torchvision or ``timm:<name>``) followed by global average pooling,
    in eval mode on ``device``.

    Call it on a :class:`DecodedSplit` to get one ``float32`` row per image. Images are normalized
    like :class:`TensorBatches` (ImageNet statistics, grayscale repeated to three channels). On CUDA
    the forward pass runs under bf16 autocast; the pooled output is returned as ``float32``.
    """

    arch: str
    pretrained: bool
    device: str = "cpu"
    seed: int = 0
    batch_size: int = 256
    _body: torch.nn.Module | None = field(default=None, repr=False)

    @property
    def weights(self) -> str:
        return backbone_weights(self.arch, pretrained=self.pretrained, seed=self.seed)

    def _load(self) -> torch.nn.Module:
        if self._body is None:
            if self.pretrained and is_timm(self.arch):
                from hpstudy.training._weights import require_pretrained_weights

                require_pretrained_weights(self.arch)  # timm loads only from that file
            torch.manual_seed(self.seed)
            try:
                body = backbone_body(self.arch, pretrained=self.pretrained)
            except (OSError, RuntimeError) as exc:
                if not self.pretrained:
                    raise
                from hpstudy.training._weights import missing_weights_error

                raise missing_weights_error(self.arch, exc) from None
            self._body = body.to(self.device).eval()
        return self._body

    def __call__(self, split: DecodedSplit) -> np.ndarray:
        """Pooled features of every image of ``split``, in order (``N x D``, ``float32``)."""
        body = self._load()
        batches = TensorBatches(split, self.batch_size, train=False, device=self.device)
        cuda = torch.device(self.device).type == "cuda"
        out: list[np.ndarray] = []
        done = 0
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            for x, _ in batches:
                out.append(body(x).float().cpu().numpy())
                done += len(x)
                report("features", done, len(split))
        if not out:
            dim = int(body(torch.zeros(1, 3, 32, 32, device=self.device)).shape[1])
            return np.zeros((0, dim), dtype=np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)


def backbone_features(
    split: DecodedSplit,
    arch: str,
    *,
    pretrained: bool,
    device: str = "cpu",
    batch_size: int = 256,
    seed: int = 0,
) -> np.ndarray:
    """Pooled penultimate activations of ``arch``'s body for every image of ``split``.

    Args:
        split: Decoded images (any size; the body pools globally).
        arch: A torchvision model name or ``timm:<name>``, as in a study spec.
        pretrained: Use the ImageNet weights fastai loads; else the seeded random initialisation.
        device: ``cpu`` or ``cuda``; bf16 autocast on CUDA.
        batch_size: Images per forward pass.
        seed: Seed of the random initialisation (and of nothing else).

    Returns:
        ``N x D`` ``float32`` features (``D`` = 512 for resnet18/34).

    Raises:
        SpecError: If ``arch`` is not a torchvision (or timm) model.
        HpstudyError: If pretrained weights cannot be loaded.
    """
    return FeatureExtractor(arch, pretrained, device, seed, batch_size)(split)
