"""How close a dataset is to ImageNet (or any reference): features, class means, EMD, near/far.

Proximity follows Cui et al. 2018 (section 4.1) as the 2019 study modified it: the mean backbone
feature of each class, weighted by the class's image count, and the exact Earth Mover's Distance
between the two weighted sets under the cosine ground distance ``1 - cos``; ``proximity = 1 - EMD``.
Cui's original ``exp(-0.01 * EMD)`` with the Euclidean ground distance is ``method="cui"``.
"""

from hpstudy.proximity._class_means import ClassMeans, class_means, proximity
from hpstudy.proximity._emd import (
    DEFAULT_GAMMA,
    ProximityValue,
    emd,
    emd_lp,
    ground_distance,
    proximity_from_emd,
)
from hpstudy.proximity._features import (
    CACHE_ENV,
    DEFAULT_FEATURE_SIZE,
    FeatureSet,
    cache_root,
    dataset_features,
)
from hpstudy.proximity._measure import (
    DEFAULT_REFERENCE_DATASET,
    DEFAULT_THRESHOLD,
    PROXIMITY_ATTR,
    FeatureConfig,
    ProximityResult,
    build_reference,
    check_threshold,
    choose_reference,
    group_of,
    measure_proximity,
    random_weights_warning,
    store_proximity,
)
from hpstudy.proximity._reference import Reference, load_reference

__all__ = [
    "CACHE_ENV",
    "DEFAULT_FEATURE_SIZE",
    "DEFAULT_GAMMA",
    "DEFAULT_REFERENCE_DATASET",
    "DEFAULT_THRESHOLD",
    "PROXIMITY_ATTR",
    "ClassMeans",
    "FeatureConfig",
    "FeatureSet",
    "ProximityResult",
    "ProximityValue",
    "Reference",
    "build_reference",
    "check_threshold",
    "choose_reference",
    "cache_root",
    "class_means",
    "dataset_features",
    "emd",
    "emd_lp",
    "ground_distance",
    "group_of",
    "load_reference",
    "measure_proximity",
    "random_weights_warning",
    "proximity",
    "proximity_from_emd",
    "store_proximity",
]
