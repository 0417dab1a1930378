"""The learning-rate finder on a study's data: the one place that turns a spec into a finder run,
and stores its values on the study (once, under a storage-wide lock)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpstudy.errors import HpstudyError
from hpstudy.study._data import HostSettings, StudyData
from hpstudy.study._note import save_design_note
from hpstudy.study._records import set_study_attr, study_attrs
from hpstudy.study._spec import StudySpec, load_spec
from hpstudy.study._storage import storage_lock, storage_url_of
from hpstudy.study._study import StudyRef, lr_find_key
from hpstudy.study._train_step import study_data
from hpstudy.training._lr_settings import LrFindSettings

if TYPE_CHECKING:
    from hpstudy.training import Hyperparams, LrFindResult

__all__ = [
    "FIXED_LR_METHOD",
    "LrFindFn",
    "baseline_hyperparams",
    "ensure_lr_find",
    "find_lr_on",
    "find_lr_point",
    "lr_find_for_dataset",
]

#: The method stored with a spec's fixed ``lr_find.lr``.
FIXED_LR_METHOD = "fixed (lr_find.lr in the spec)"


def find_lr_on(
    data: StudyData,
    spec: StudySpec,
    fraction: float,
    device: str,
    sweep: LrFindSettings | None = None,
    *,
    network: str = "frozen",
    frozen_finder_lr: float | None = None,
) -> LrFindResult:
    """Run the finder on ``fraction`` of the training split with the spec's baseline divisor, wd,
    beta2 and dropout (the lr is what the sweep varies), as ``hpstudy run`` does for the stored
    per-(dataset, fraction) value.

    A sweep with a fixed ``lr`` (the spec's ``lr_find.lr``) runs nothing and returns that lr.

    With ``network="unfrozen"`` the sweep starts after the baseline trial's frozen stage, trained
    at ``frozen_finder_lr`` times the baseline ``lr_mult`` (the frozen finder's value: the caller
    runs that finder first).

    Raises:
        HpstudyError: If the training fraction or the validation split holds no image.
    """
    from hpstudy.training import LrFindResult, find_lr

    settings = sweep or spec.lr_find
    if network == "unfrozen":
        if frozen_finder_lr is None:
            raise ValueError("the unfrozen finder needs the frozen finder's lr for the frozen stage")
    elif settings.lr is not None:
        return LrFindResult(settings.lr, FIXED_LR_METHOD)

    train, valid = data.train(fraction), data.valid()
    if len(train) == 0 or len(valid) == 0:
        raise HpstudyError(
            f"dataset {data.plugin.name!r} has {len(train)} training images at fraction "
            f"{fraction:g} and {len(valid)} validation images; the finder needs both"
        )
    lr = 1e-3 if frozen_finder_lr is None else frozen_finder_lr * spec.baseline["lr_mult"]
    return find_lr(train, valid, baseline_hyperparams(spec, lr), data.settings(spec, device),
                   settings, network=network)


def baseline_hyperparams(spec: StudySpec, lr: float = 1e-3) -> Hyperparams:
    """The spec's baseline factors at ``lr`` (the frozen finder sweeps its own lrs, so any value;
    the unfrozen finder's frozen stage trains at it)."""
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
    network: str = "frozen",
    data_root: str | Path | None = None,
    device: str = "auto",
) -> LrFindResult:
    """Run the study's learning-rate finder on one dataset, as ``hpstudy run`` would, and return it.

    Nothing is stored. With ``network="unfrozen"`` the finder runs on the frozen network first
    (the frozen stage before the unfrozen sweep trains at its value times the baseline
    ``lr_mult``), then on the unfrozen one; the result is the unfrozen finder's.

    Args:
        dataset: A registered dataset name.
        spec: A packaged spec name, a path to a spec file, or a ``StudySpec``.
        fraction: The training fraction (default: the spec's largest).
        loss: ``valid`` or ``train`` (default: the spec's ``lr_find.loss``).
        repeats: Sweeps with different seeds (default: the spec's ``lr_find.repeats``).
        network: ``frozen`` (the published method) or ``unfrozen``.
        data_root: Folder that holds the dataset (default ``$HPSTUDY_DATA``).
        device: ``auto``, ``cpu`` or ``cuda``.

    Raises:
        HpstudyError: For an unknown dataset or spec, missing data, a bad fraction, loss or repeats.
    """
    from hpstudy.training import resolve_arch, resolve_device
    from hpstudy.training._lr_settings import LOSS_KINDS

    spec_obj = spec if isinstance(spec, StudySpec) else load_spec(spec)
    if fraction is None:
        fraction = max(spec_obj.fractions)
    if not 0 < fraction <= 1:
        raise HpstudyError(f"--fraction {fraction:g} must be in (0, 1]")
    if loss is not None and loss not in LOSS_KINDS:
        raise HpstudyError(f"--loss {loss!r} must be one of {', '.join(LOSS_KINDS)}")
    if repeats is not None and repeats < 1:
        raise HpstudyError(f"--repeats {repeats} must be at least 1")
    if network not in ("frozen", "unfrozen"):
        raise HpstudyError(f"--network {network!r} must be frozen or unfrozen")
    if network == "unfrozen" and spec_obj.unfrozen_epochs == 0:
        raise HpstudyError(f"--network unfrozen: spec {spec_obj.name!r} has no unfrozen stage "
                           "(unfrozen_epochs = 0); use --network frozen")
    sweep = replace(
        spec_obj.lr_find,
        loss=loss if loss is not None else spec_obj.lr_find.loss,
        repeats=repeats if repeats is not None else spec_obj.lr_find.repeats,
        lr=None,  # the finder's own answer, even where the spec fixes an lr for its studies
    )
    resolve_arch(spec_obj.arch)
    device = resolve_device(device)
    data = StudyData.open(dataset, data_root, spec_obj)
    found = find_lr_on(data, spec_obj, fraction, device, sweep)
    if network == "frozen":
        return found
    return find_lr_on(data, spec_obj, fraction, device, sweep, network="unfrozen",
                      frozen_finder_lr=found.lr)


#: ``lr_find_fn(ref, fraction, host, device) -> {"lr": ..., "method": ..., ...}`` (``host``: the
#: :class:`~hpstudy.study.HostSettings` of this host, or ``None`` for the defaults); for the
#: unfrozen network it is called with ``network="unfrozen", frozen_finder_lr=...`` too.
LrFindFn = Callable[..., dict[str, Any]]


def find_lr_point(
    ref: StudyRef, fraction: float, host: HostSettings | None, device: str, *,
    network: str = "frozen", frozen_finder_lr: float | None = None,
) -> dict[str, Any]:
    """Run the study's lr finder for one training fraction with the baseline hyperparameters, or
    take the spec's fixed ``lr_find.lr``; on the unfrozen network (``network="unfrozen"``) after
    a frozen stage at ``frozen_finder_lr`` times the baseline ``lr_mult``."""
    result = find_lr_on(study_data(ref, host), ref.spec, fraction, device, network=network,
                        frozen_finder_lr=frozen_finder_lr)
    return {"lr": result.lr, "method": result.method, **result.details}


def ensure_lr_find(
    ref: StudyRef,
    host: HostSettings | None,
    device: str,
    lr_find_fn: LrFindFn = find_lr_point,
) -> dict[str, float]:
    """Run the lr finder once per training fraction and store it on the study; with
    ``[lr_find] network = "unfrozen"`` or ``"both"`` the finder on the unfrozen network too
    (after the frozen one: it starts from the baseline's frozen stage, trained at that value).

    Runs under a storage-wide lock, so concurrent coordinators compute each value once; values
    already stored are reused, never recomputed. The study's dashboard note is written (or brought
    up to date) under the same lock.

    Returns:
        Each stored value by its attribute name (:func:`~hpstudy.study.lr_find_key`).
    """
    study = ref.study
    out: dict[str, float] = {}

    def ensure(key: str, find: Callable[[], dict[str, Any]]) -> float:
        if key not in stored:
            stored[key] = find()
            set_study_attr(study, key, stored[key], compact=float(f"{stored[key]['lr']:.3g}"))
        out[key] = float(stored[key]["lr"])
        return out[key]

    with storage_lock(storage_url_of(study), f"lr-find:{study.study_name}"):
        stored = study_attrs(study)
        for fraction in sorted(ref.spec.fractions):
            find = functools.partial(lr_find_fn, ref, fraction, host, device)
            frozen = ensure(lr_find_key(fraction), find)
            if ref.spec.lr_find.runs_unfrozen:
                ensure(lr_find_key(fraction, "unfrozen"),
                       functools.partial(find, network="unfrozen", frozen_finder_lr=frozen))
        save_design_note(ref)
    return out
