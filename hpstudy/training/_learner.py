"""Builds the fastai Learner of one trial: architecture, head dropout, loss, optimizer, metric."""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from hpstudy.datasets import Task
from hpstudy.errors import HpstudyError
from hpstudy.metrics import get_metric
from hpstudy.training._augment import Augment
from hpstudy.training._backbones import is_timm, learner_args, resolve_arch
from hpstudy.training._data import DecodedSplit, TensorBatches

if TYPE_CHECKING:
    from fastai.learner import Learner

# fastai's import still calls torch.jit.script, which recent torch deprecates; not our users' concern.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)

__all__ = [
    "Hyperparams",
    "TrainSettings",
    "build_learner",
    "group_multipliers",
    "resolve_arch",
    "resolve_device",
]


@dataclass(frozen=True)
class Hyperparams:
    """The five factors of the study, resolved: ``lr`` is the finder's value times ``lr_mult``.

    Head dropout: with ``ps_last`` unset, fastai's reading of one ``ps`` (``ps/2`` before the
    head's first linear layer, ``ps`` before the last); with it set, ``ps`` before the first and
    ``ps_last`` before the last (the 2019 study's ``p1``, ``p2``).

    ``unfrozen_lr`` is the unfrozen stage's top learning rate when it differs from ``lr`` (the
    finder on the unfrozen network times ``lr_mult``); ``None``: the unfrozen stage trains at
    ``lr`` too, as published.
    """

    lr: float
    divisor: float
    wd: float
    beta2: float
    ps: float
    ps_last: float | None = None
    unfrozen_lr: float | None = None

    @property
    def unfrozen_slice(self) -> slice:
        """The unfrozen stage's discriminative lrs: ``slice(top / divisor**2, top)``, which fastai
        spreads geometrically over the layer groups (:func:`group_multipliers`)."""
        top = self.lr if self.unfrozen_lr is None else self.unfrozen_lr
        return slice(top / self.divisor**2, top)

    @property
    def head_dropout(self) -> tuple[float, float]:
        """Dropout before the head's first and last linear layer."""
        return (self.ps / 2, self.ps) if self.ps_last is None else (self.ps, self.ps_last)


def group_multipliers(divisor: float, n_groups: int) -> list[float]:
    """Each layer group's share of the top lr under :attr:`Hyperparams.unfrozen_slice`: fastai's
    ``even_mults(1 / divisor**2, 1, n_groups)`` (``[1/d², 1/d, 1]`` for a resnet's three groups)."""
    from fastai.torch_core import even_mults

    if n_groups == 1:
        return [1.0]
    return [float(m) for m in even_mults(1 / divisor**2, 1.0, n_groups)]


@dataclass(frozen=True)
class TrainSettings:
    """What every trial of a study shares.

    ``augment`` are the augmentation hints (the plugin's, or the spec's ``[augment] hints``) and
    ``augment_policy`` the augmentation policy (``"fastai"`` or ``"crop"``, see
    :class:`~hpstudy.training._augment.Augment`); ``extra_metrics`` are recorded beside
    the primary ``metric``; ``compile_mode`` is passed to ``torch.compile``, e.g.
    ``"reduce-overhead"`` for CUDA graphs at small batch sizes. ``resize`` is how the images were
    made square (the spec's ``resize``): with ``"crop"`` the training batches are random crops
    of a training split decoded for it (see :class:`~hpstudy.training.TensorBatches`).
    ``drop_last`` leaves each epoch's last partial training batch out, as fastai's training
    ``DataLoader`` does. ``gpu_share`` is the share of free GPU memory a split's pixels may take
    (see :func:`~hpstudy.training.gpu_memory_share`; ``None``: ``$HPSTUDY_GPU_MEMORY_SHARE`` or
    0.5).
    """

    arch: str
    pretrained: bool
    batch_size: int
    frozen_epochs: int
    unfrozen_epochs: int
    n_classes: int
    task: Task
    metric: str
    seed: int = 0
    device: str = "cpu"
    augment: frozenset[str] = frozenset()
    augment_policy: str = "fastai"
    extra_metrics: tuple[str, ...] = ()
    compile_mode: str | None = None
    resize: str = "crop"
    drop_last: bool = True
    gpu_share: float | None = None


def resolve_device(device: str) -> str:
    """``auto`` picks ``cuda`` when a GPU is visible, else ``cpu``.

    Raises:
        HpstudyError: If ``cuda`` is asked for and no GPU is visible.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise HpstudyError(f"--device {device}: no CUDA GPU is visible here; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise HpstudyError(f"--device {device!r} is not one of auto, cpu, cuda")
    return device


def _metric(name: str, task: Task):  # noqa: ANN202 - a fastai metric object
    from fastai.metrics import AccumMetric, ActivationType

    fn = get_metric(name)
    activation = ActivationType.Softmax if task is Task.SINGLE_LABEL else ActivationType.Sigmoid
    return AccumMetric(
        lambda preds, targs: fn(preds.float().numpy(), targs.numpy()),
        activation=activation,
        dim_argmax=-1,
        flatten=False,
        to_np=False,
        name=name,
    )


def _accelerate(learn: Learner, settings: TrainSettings) -> None:
    """On a GPU: cuDNN autotuning, channels-last weights and bf16 autocast (fp16 with loss scaling
    where bf16 is not supported). On any device, when asked for: ``torch.compile`` of the model in
    place, so the module tree and state-dict keys stay as fastai's freezing, layer groups and
    ``lr_find`` expect them; :class:`CompiledModelGuard` keeps CUDA-graph outputs from being
    overwritten.
    """
    if settings.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # a study's batch shapes are fixed: autotune once
        learn.model.to(memory_format=torch.channels_last)
        if torch.cuda.is_bf16_supported():
            learn.to_bf16()
        else:
            learn.to_fp16()
    if settings.compile_mode:
        from hpstudy.training._compiled import CompiledModelGuard

        # Static shapes: a study sees four batch shapes at most (full and last, train and
        # valid), and CUDA graphs record one graph per shape anyway.
        learn.model.compile(mode=None if settings.compile_mode == "default" else settings.compile_mode,
                            dynamic=False)
        learn.add_cb(CompiledModelGuard())


def build_learner(
    train: DecodedSplit, valid: DecodedSplit, hp: Hyperparams, settings: TrainSettings
) -> Learner:
    """A fastai ``vision_learner`` wired as the study prescribes.

    * head dropout :attr:`Hyperparams.head_dropout` (one ``ps``: fastai's ``ps/2`` before the
      first head layer and ``ps`` before the last; a pair: the 2019 ``p1``, ``p2``);
    * Adam with decoupled weight decay ``wd`` and second-moment decay ``sqr_mom = beta2``
      (:class:`StudyAdam`: fastai's ``Adam`` in multi-tensor kernels);
    * cross-entropy for single-label data, binary cross-entropy on logits for multi-label data;
    * the dataset's primary metric (then its extra metrics) on the validation split after every
      epoch;
    * augmentation of the training batches: ``settings.augment_policy`` (default fastai's
      ``aug_transforms()`` defaults: flip, warp, rotation, zoom, brightness and contrast; or
      ``"crop"``: random resized crops and flips), changed by the hints ``settings.augment``;
    * with ``settings.resize = "crop"``, fastai's random ``Resize`` crop of each non-square
      training image, drawn per epoch inside the same resampling (see :class:`TensorBatches`);
    * on a GPU, channels-last, bf16 autocast and optionally ``torch.compile`` (see ``_accelerate``);
    * a timm ``arch`` (``timm:convnext_tiny``) gets three layer groups like a resnet's, and its
      pretrained weights from the checkpoint file in the torch hub cache
      (:mod:`hpstudy.training._backbones`).

    Weights are initialised from ``settings.seed`` so every trial of a study starts alike.
    """
    # These modules patch Learner with no_bar(), fit_one_cycle() and lr_find().
    import fastai.callback.fp16  # noqa: F401
    import fastai.callback.progress  # noqa: F401
    import fastai.callback.schedule  # noqa: F401
    from fastai.data.core import DataLoaders
    from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat
    from fastai.vision.learner import vision_learner

    from hpstudy.training._optim import StudyAdam

    if settings.pretrained and is_timm(settings.arch):
        from hpstudy.training._weights import require_pretrained_weights

        require_pretrained_weights(settings.arch)  # timm loads only from that file
    arch = resolve_arch(settings.arch)
    dls = DataLoaders(
        TensorBatches(train, settings.batch_size, train=True, seed=settings.seed,
                      augment=Augment.for_hints(settings.augment, settings.augment_policy),
                      resize=settings.resize, drop_last=settings.drop_last,
                      gpu_share=settings.gpu_share),
        TensorBatches(valid, settings.batch_size, train=False, gpu_share=settings.gpu_share),
        path=Path(tempfile.gettempdir()) / "hpstudy-learner",  # fastai's lr_find saves there
        device=torch.device(settings.device),
    )
    loss = CrossEntropyLossFlat() if settings.task is Task.SINGLE_LABEL else BCEWithLogitsLossFlat()
    torch.manual_seed(settings.seed)
    try:
        learn = vision_learner(
            dls,
            arch,
            n_out=settings.n_classes,
            pretrained=settings.pretrained,
            normalize=False,  # TensorBatches normalizes with ImageNet statistics
            ps=list(hp.head_dropout),
            loss_func=loss,
            opt_func=partial(StudyAdam, sqr_mom=hp.beta2),
            wd=hp.wd,
            metrics=[_metric(m, settings.task) for m in (settings.metric, *settings.extra_metrics)],
            **learner_args(settings.arch, pretrained=settings.pretrained),
        )
    except (OSError, RuntimeError) as exc:
        if not settings.pretrained:
            raise
        from hpstudy.training._weights import missing_weights_error

        raise missing_weights_error(settings.arch, exc) from None
    learn.model.to(settings.device)
    _accelerate(learn, settings)
    return learn
