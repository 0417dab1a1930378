"""The learning-rate finder on a study's data: the one place that turns a spec into a finder run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from hpstudy.errors import HpstudyError
from hpstudy.study._data import StudyData
from hpstudy.study._spec import LrFindSettings, StudySpec, load_spec

if TYPE_CHECKING:
    from hpstudy.training import Hyperparams, LrFindResult

__all__ = ["FIXED_LR_METHOD", "baseline_hyperparams", "find_lr_on", "lr_find_for_dataset"]

#: The method stored with a spec's fixed ``lr_find.lr``.
FIXED_LR_METHOD = "fixed (lr_find.lr in the spec)"


def find_lr_on(
    data: StudyData,
    spec: StudySpec,
    fraction: float,
    device: str,
    sweep: LrFindSettings | None = None,
) -> LrFindResult:
    """Run the finder on ``fraction`` of the training split with the spec's baseline divisor, wd,
    beta2 and dropout (the lr is what the sweep varies), as ``hpstudy run`` does for the stored
    per-(dataset, fraction) value.

    A sweep with a fixed ``lr`` (the spec's ``lr_find.lr``) runs nothing and returns that lr.

    Raises:
        HpstudyError: If the training fraction or the validation split holds no image.
    """
    from hpstudy.training import LrFindResult, find_lr

    settings = sweep or spec.lr_find
    if settings.lr is not None:
        return LrFindResult(settings.lr, FIXED_LR_METHOD)

    train, valid = data.train(fraction), data.valid()
    if len(train) == 0 or len(valid) == 0:
        raise HpstudyError(
            f"dataset {data.plugin.name!r} has {len(train)} training images at fraction "
            f"{fraction:g} and {len(valid)} validation images; the finder needs both"
        )
    return find_lr(train, valid, baseline_hyperparams(spec), data.settings(spec, device), settings)


def baseline_hyperparams(spec: StudySpec, lr: float = 1e-3) -> Hyperparams:
    """The spec's baseline factors at ``lr`` (the finder sweeps its own lrs, so any value)."""
    from hpstudy.training import Hyperparams

    b = spec.baseline
    return Hyperparams(lr=lr, divisor=b["divisor"], wd=b["wd"], beta2=b["beta2"], ps=b["ps"],
                       ps_last=spec.ps_last)


def lr_find_for_dataset(
    dataset: str,
    spec: str | StudySpec = "smoke",
    *,
    fraction: float | None = None,
    loss: str | None = None,
    repeats: int | None = None,
    data_root: str | Path | None = None,
    device: str = "auto",
) -> LrFindResult:
    """Run the study's learning-rate finder on one dataset, as ``hpstudy run`` would, and return it.

    Nothing is stored.

    Args:
        dataset: A registered dataset name.
        spec: A packaged spec name, a path to a spec file, or a ``StudySpec``.
        fraction: The training fraction (default: the spec's largest).
        loss: ``valid`` or ``train`` (default: the spec's ``lr_find.loss``).
        repeats: Sweeps with different seeds (default: the spec's ``lr_find.repeats``).
        data_root: Folder that holds the dataset (default ``$HPSTUDY_DATA``).
        device: ``auto``, ``cpu`` or ``cuda``.

    Raises:
        HpstudyError: For an unknown dataset or spec, missing data, a bad fraction, loss or repeats.
    """
    from hpstudy.training import resolve_arch, resolve_device
    from hpstudy.training._lr_sweep import LOSS_KINDS

    spec_obj = spec if isinstance(spec, StudySpec) else load_spec(spec)
    if fraction is None:
        fraction = max(spec_obj.fractions)
    if not 0 < fraction <= 1:
        raise HpstudyError(f"--fraction {fraction:g} must be in (0, 1]")
    if loss is not None and loss not in LOSS_KINDS:
        raise HpstudyError(f"--loss {loss!r} must be one of {', '.join(LOSS_KINDS)}")
    if repeats is not None and repeats < 1:
        raise HpstudyError(f"--repeats {repeats} must be at least 1")
    sweep = replace(
        spec_obj.lr_find,
        loss=loss if loss is not None else spec_obj.lr_find.loss,
        repeats=repeats if repeats is not None else spec_obj.lr_find.repeats,
        lr=None,  # the finder's own answer, even where the spec fixes an lr for its studies
    )
    resolve_arch(spec_obj.arch)
    device = resolve_device(device)
    data = StudyData.open(dataset, data_root, spec_obj)
    return find_lr_on(data, spec_obj, fraction, device, sweep)
