"""Proximity of a dataset to a reference: features → class means → EMD → near/far, and storage."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpstudy.errors import HpstudyError
from hpstudy.proximity._class_means import proximity
from hpstudy.proximity._emd import DEFAULT_GAMMA, Method
from hpstudy.proximity._features import DEFAULT_FEATURE_SIZE, dataset_features
from hpstudy.proximity._reference import Reference, load_reference

if TYPE_CHECKING:
    from hpstudy.study import StudySpec

__all__ = [
    "DEFAULT_REFERENCE_DATASET",
    "DEFAULT_THRESHOLD",
    "check_threshold",
    "PROXIMITY_ATTR",
    "FeatureConfig",
    "ProximityResult",
    "build_reference",
    "choose_reference",
    "group_of",
    "measure_proximity",
    "random_weights_warning",
    "store_proximity",
]

#: The study's split between "near" and "far" ImageNet datasets (cosine proximity).
DEFAULT_THRESHOLD = 0.72
DEFAULT_REFERENCE_DATASET = "tiny-imagenet"
#: Study user attribute that holds a dataset's proximity.
PROXIMITY_ATTR = "proximity"


@dataclass(frozen=True)
class FeatureConfig:
    """How features are computed: the study's backbone, an image size, and where to run and cache."""

    arch: str
    pretrained: bool
    size: int
    seed: int = 0
    device: str = "cpu"
    batch_size: int = 256
    data_root: str | Path | None = None
    cache_dir: str | Path | None = None

    @classmethod
    def from_spec(cls, spec: StudySpec, **kwargs: Any) -> FeatureConfig:
        """The backbone and weights of ``spec``; its image size, else 224."""
        return cls(spec.arch, spec.pretrained, spec.image_size or DEFAULT_FEATURE_SIZE, spec.seed,
                   **kwargs)

    @property
    def weights(self) -> str:
        from hpstudy.training import backbone_weights

        return backbone_weights(self.arch, pretrained=self.pretrained, seed=self.seed)

    def features(self, dataset: str):  # noqa: ANN201 - FeatureSet
        return dataset_features(
            dataset, arch=self.arch, pretrained=self.pretrained, size=self.size, seed=self.seed,
            data_root=self.data_root, device=self.device, batch_size=self.batch_size,
            cache_dir=self.cache_dir,
        )


def group_of(value: float, threshold: float = DEFAULT_THRESHOLD) -> str:
    """``near`` when ``value > threshold``, else ``far`` (the study's rule at
    :data:`DEFAULT_THRESHOLD`)."""
    return "near" if value > threshold else "far"


@dataclass(frozen=True)
class ProximityResult:
    """A dataset's proximity to a reference and the group it falls in."""

    dataset: str
    value: float
    emd: float
    group: str
    threshold: float
    method: Method
    reference: dict[str, Any]
    gamma: float | None = None
    stored_on: tuple[str, ...] = field(default=())

    @property
    def warning(self) -> str:
        """What makes this proximity meaningless, if anything (``""`` otherwise)."""
        return random_weights_warning(self.reference)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: ``proximity``, ``group``, ``threshold``, ``emd``, ``reference``..."""
        return {
            "dataset": self.dataset,
            "proximity": self.value,
            "group": self.group,
            "threshold": self.threshold,
            "emd": self.emd,
            "method": self.method,
            "gamma": self.gamma,
            "reference": self.reference,
            "stored_on": list(self.stored_on),
            "warning": self.warning,
        }

    def to_attr(self) -> dict[str, Any]:
        """What is stored on a study under :data:`PROXIMITY_ATTR`."""
        return {
            "value": self.value,
            "emd": self.emd,
            "group": self.group,
            "threshold": self.threshold,
            "method": self.method,
            "gamma": self.gamma,
            "reference": self.reference,
        }


def random_weights_warning(reference: dict[str, Any]) -> str:
    """The warning for a proximity computed with randomly initialised weights (``""`` if not)."""
    weights = str(reference.get("weights", ""))
    if not weights.startswith("random-init"):
        return ""
    return (f"proximity computed with randomly initialised {reference.get('arch', '')} weights "
            f"({weights}), so 'near ImageNet' means nothing here; measure it with a pretrained "
            "spec, e.g. --study fellowship2019")


def choose_reference(
    config: FeatureConfig, *, file: str | Path | None = None, dataset: str | None = None
) -> Reference:
    """The reference to measure against: class means saved in ``file`` (by
    :meth:`Reference.save`), else built from ``dataset`` (default
    :data:`DEFAULT_REFERENCE_DATASET`) with ``config``.

    Raises:
        HpstudyError: If both ``file`` and ``dataset`` are given, or either cannot be read.
    """
    if file and dataset:
        raise HpstudyError("give either --reference FILE or --reference-dataset NAME, not both")
    if file:
        return load_reference(file)
    return build_reference(dataset or DEFAULT_REFERENCE_DATASET, config)


def build_reference(dataset: str, config: FeatureConfig) -> Reference:
    """Class means of ``dataset``'s training split under ``config``, as a :class:`Reference`."""
    fs = config.features(dataset)
    return Reference(
        means=fs.class_means(),
        dataset=dataset,
        version=fs.version,
        arch=fs.arch,
        weights=fs.weights,
        size=fs.size,
        n_images=len(fs.labels),
    )


def check_threshold(threshold: float) -> float:
    """``threshold``, when it is a finite number.

    Raises:
        HpstudyError: Naming the value and the published one.
    """
    if not math.isfinite(threshold):
        raise HpstudyError(f"--threshold {threshold} must be a finite number, e.g. "
                           f"{DEFAULT_THRESHOLD:g}")
    return threshold


def measure_proximity(
    dataset: str,
    reference: Reference,
    config: FeatureConfig,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    method: Method = "cosine",
    gamma: float = DEFAULT_GAMMA,
) -> ProximityResult:
    """Proximity of ``dataset`` (its training split) to ``reference``.

    Raises:
        ReferenceMismatchError: If ``reference`` was computed with another arch, weights or size.
        HpstudyError: Unknown dataset, missing data, a bad threshold.
    """
    check_threshold(threshold)
    reference.check(config.arch, config.weights, config.size)
    means = config.features(dataset).class_means()
    p = proximity(means, reference.means, method, gamma)
    return ProximityResult(
        dataset=dataset,
        value=p.value,
        emd=p.emd,
        group=group_of(p.value, threshold),
        threshold=threshold,
        method=method,
        reference=reference.describe(),
        gamma=p.gamma,
    )


def store_proximity(storage: Any, result: ProximityResult) -> ProximityResult:
    """Record ``result`` on every hpstudy study of its dataset in ``storage``.

    Returns:
        ``result`` with ``stored_on`` naming those studies (empty when the dataset has none yet).
    """
    from hpstudy.study import find_studies, load_study, set_study_attr

    names = find_studies(storage, dataset=result.dataset)
    for name in names:
        set_study_attr(load_study(storage, name).study, PROXIMITY_ATTR, result.to_attr(),
                       compact={"value": round(result.value, 4), "group": result.group})
    return ProximityResult(**{**result.__dict__, "stored_on": tuple(names)})
