"""The checks ``hpstudy run`` and ``hpstudy worker`` make before they touch the storage or claim a
trial: every user mistake is found here, once, with its one-line message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hpstudy.datasets import OpenDataset, get_dataset, open_dataset
from hpstudy.study._spec import StudySpec, load_spec
from hpstudy.study._worker import resolve_threads

__all__ = ["Checked", "check_before_training"]


@dataclass(frozen=True)
class Checked:
    """What the checks resolved: the spec, the dataset on disk, CPU threads and device."""

    spec: StudySpec
    data: OpenDataset
    threads: int
    device: str


def check_before_training(
    dataset: str,
    spec: str | StudySpec,
    *,
    data_root: str | Path | None,
    device: str,
    threads: int | None,
) -> Checked:
    """Check, in this order, that the dataset is registered, the spec valid and its ``arch``
    known, the thread count and device usable, ``$HPSTUDY_GPU_MEMORY_SHARE`` readable, the data
    on disk with images in both splits, and (for a pretrained spec) the ImageNet weights on this
    host (downloaded once when missing).

    Raises:
        HpstudyError: The first problem found, in one line that names the fix.
    """
    from hpstudy.training import (
        gpu_memory_share,
        require_pretrained_weights,
        resolve_arch,
        resolve_device,
    )

    plugin = get_dataset(dataset)
    spec_obj = spec if isinstance(spec, StudySpec) else load_spec(spec)
    resolve_arch(spec_obj.arch)
    n_threads = resolve_threads(threads, spec_obj)
    device = resolve_device(device)
    gpu_memory_share()  # a bad $HPSTUDY_GPU_MEMORY_SHARE fails here, not in every worker
    data = open_dataset(plugin, data_root).require_images()
    if spec_obj.pretrained:
        require_pretrained_weights(spec_obj.arch)  # offline without them: fail before the storage
    return Checked(spec_obj, data, n_threads, device)
