"""The datasets of the 2019 fastai hyperparameter study, as hpstudy plugins.

Each module reads one dataset exactly as it is distributed; see docs/datasets.md and
each class's docstring for its layout, split and metric.
"""

from hpstudy_datasets._amazon import AmazonDataset
from hpstudy_datasets._cancer import CancerDataset
from hpstudy_datasets._common import StudyDataset
from hpstudy_datasets._dota import DotaDataset
from hpstudy_datasets._pets import PetsDataset
from hpstudy_datasets._protein import ProteinDataset
from hpstudy_datasets._quickdraw import QuickDrawDataset
from hpstudy_datasets._tiny_imagenet import TinyImageNetDataset
from hpstudy_datasets._xray import XrayDataset

__all__ = [
    "AmazonDataset",
    "CancerDataset",
    "DotaDataset",
    "PetsDataset",
    "ProteinDataset",
    "QuickDrawDataset",
    "StudyDataset",
    "TinyImageNetDataset",
    "XrayDataset",
]
