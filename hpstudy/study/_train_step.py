"""The training step a worker runs for each claimed grid point (:func:`train_point`, fastai behind
:mod:`hpstudy.training`), the study's data it trains on, and the CPU threads every trial uses."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from hpstudy.errors import HpstudyError
from hpstudy.study._artifacts import save_outputs
from hpstudy.study._data import HostSettings
from hpstudy.study._grid import GridPoint, replicate_seed
from hpstudy.study._records import study_attrs
from hpstudy.study._study import StudyRef, lr_find_key
from hpstudy.study._trial_record import TrialWriter

if TYPE_CHECKING:
    import optuna

    from hpstudy.study._data import StudyData
    from hpstudy.study._spec import StudySpec
    from hpstudy.study._worker import WorkerConfig

__all__ = [
    "DEFAULT_THREADS",
    "resolve_threads",
    "runtime_record",
    "study_data",
    "torch_threads",
    "train_point",
]


_DATA: dict[tuple[str, str, HostSettings], StudyData] = {}


def study_data(ref: StudyRef, host: HostSettings | None = None) -> StudyData:
    """The study's dataset in this process, opened once and kept (images decode on first use)."""
    from hpstudy.study._data import StudyData

    host = host or HostSettings()
    key = (ref.dataset, ref.spec.hash, host)
    if key not in _DATA:
        _DATA[key] = StudyData.open(ref.dataset, host.data_root, ref.spec, host.cache_dir,
                                    host.gpu_share)
    return _DATA[key]


def train_point(ref: StudyRef, trial: optuna.Trial, point: GridPoint, config: WorkerConfig) -> float:
    """Train one claimed grid point with fastai and record everything about it on the trial."""
    from hpstudy.training import Hyperparams, train_trial

    base_lr = _stored_lr(ref, point.fraction, "frozen")
    unfrozen_lr = None
    if point.variant.unfrozen_finder or ref.spec.lr_find.network == "unfrozen":
        unfrozen_lr = _stored_lr(ref, point.fraction, "unfrozen")
    data = study_data(ref, config.host)
    hp_values = dict(point.variant.hparams)
    hp = Hyperparams(
        lr=base_lr * hp_values["lr_mult"],
        divisor=hp_values["divisor"],
        wd=hp_values["wd"],
        beta2=hp_values["beta2"],
        ps=hp_values["ps"],
        ps_last=ref.spec.ps_last,
        unfrozen_lr=None if unfrozen_lr is None else unfrozen_lr * hp_values["lr_mult"],
    )
    seed = replicate_seed(ref.spec.seed, point.replicate)
    settings = data.settings(ref.spec, config.device, compile_mode=config.compile_mode, seed=seed)
    train, valid = data.train(point.fraction), data.valid()
    hparams = {k: v for k, v in asdict(hp).items() if k != "unfrozen_lr" or v is not None}
    record = TrialWriter(trial)
    record.setup(hparams={**hparams, "lr_mult": hp_values["lr_mult"]}, lr_find=base_lr,
                 lr_find_unfrozen=unfrozen_lr, metric=settings.metric, seed=seed,
                 runtime=runtime_record(config.device), n_train=len(train))
    last = [time.perf_counter()]

    def on_epoch(rec) -> None:  # noqa: ANN001 - EpochRecord
        now = time.perf_counter()  # the epoch's training images a second, for progress displays
        rate = len(train) / max(now - last[0], 1e-9)
        last[0] = now
        trial.report(rec.metric, rec.epoch)
        record.epoch({**asdict(rec), "images_per_s": round(rate, 1)})

    result = train_trial(train, valid, hp, settings, on_epoch=on_epoch)
    record.result(wall_s=result.wall_s, images_per_s=result.images_per_s)
    if result.probs is not None and result.targets is not None:
        from hpstudy.outputs import pack_outputs

        blob = pack_outputs(result.probs, result.targets, multi_label=result.targets.ndim == 2)
        save_outputs(config.storage_url, trial, blob)
    return result.metric


def _stored_lr(ref: StudyRef, fraction: float, network: str) -> float:
    stored = study_attrs(ref.study).get(lr_find_key(fraction, network))
    if stored is None:
        raise RuntimeError(f"no stored lr-finder value ({network} network) for fraction "
                           f"{fraction:g}")
    return float(stored["lr"])


def runtime_record(device: str) -> dict[str, Any]:
    """What a trial's numbers depend on beyond its spec and seed: CPU threads, device, versions."""
    import torch

    record: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "device": device,
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        record["gpu"] = torch.cuda.get_device_name()
        record["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
    return record


#: Torch CPU threads of a trial when neither the spec nor the command line says.
DEFAULT_THREADS = 1


def resolve_threads(threads: int | None, spec: StudySpec) -> int:
    """The CPU threads every trial computes with: ``threads`` (the command line), else the spec's
    ``threads``, else :data:`DEFAULT_THREADS` — never derived from the number of workers, because
    the thread count changes the order of floating-point sums and so a trial's result."""
    if threads is not None and threads < 1:
        raise HpstudyError(f"--threads {threads} must be at least 1")
    return threads or spec.threads or DEFAULT_THREADS


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (unchanged when ``None``), then restore."""
    if not threads:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
