"""The checks ``hpstudy run`` and ``hpstudy worker`` make before they touch the storage or claim a
trial: every user mistake is found here, once, with its one-line message."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hpstudy.datasets import Dataset, OpenDataset, get_dataset, open_dataset
from hpstudy.study._data import HostSettings
from hpstudy.study._spec import StudySpec, load_spec
from hpstudy.study._train_step import resolve_threads

__all__ = ["Checked", "check_before_training"]


@dataclass(frozen=True)
class Checked:
    """What the checks resolved: the spec, the dataset's plugin, CPU threads and device; and,
    once :meth:`on_this_host` has run, the dataset on disk (``data``)."""

    spec: StudySpec
    plugin: Dataset
    threads: int
    device: str
    host: HostSettings = field(default_factory=HostSettings)
    data: OpenDataset | None = None

    def on_this_host(self) -> Checked:
        """Check what this host must have: the data on disk with images in both splits and, for a
        pretrained spec, the ImageNet weights (downloaded once when missing).

        Raises:
            HpstudyError: The first problem found, in one line that names the fix.
        """
        from hpstudy.training import require_pretrained_weights

        data = open_dataset(self.plugin, self.host.data_root).require_images()
        if self.spec.pretrained:
            require_pretrained_weights(self.spec.arch)  # offline: fail before any trial is claimed
        return replace(self, data=data)


def check_before_training(
    dataset: str,
    spec: str | StudySpec,
    *,
    host: HostSettings,
    device: str,
    threads: int | None,
    check_host: bool = True,
) -> Checked:
    """Check, in this order, that the dataset is registered, the spec valid and its ``arch``
    known, the thread count and device usable and the GPU memory share (``host.gpu_share``, else
    ``$HPSTUDY_GPU_MEMORY_SHARE``) a number from 0 to 1; then, with ``check_host`` (else call
    :meth:`Checked.on_this_host` later), the data and weights.

    Raises:
        HpstudyError: The first problem found, in one line that names the fix.
    """
    from hpstudy.training import gpu_memory_share, resolve_arch, resolve_device

    plugin = get_dataset(dataset)
    spec_obj = spec if isinstance(spec, StudySpec) else load_spec(spec)
    resolve_arch(spec_obj.arch)
    n_threads = resolve_threads(threads, spec_obj)
    device = resolve_device(device)
    gpu_memory_share(host.gpu_share)  # a bad share fails here, not in every worker
    checked = Checked(spec_obj, plugin, n_threads, device, host)
    return checked.on_this_host() if check_host else checked
