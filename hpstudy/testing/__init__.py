"""Test helpers for dataset plugin authors: the conformance suite and fixture writers.

A plugin's test subclasses :class:`DatasetConformance`, names the plugin and writes a few fake files
in the dataset's real layout::

    from hpstudy.testing import DatasetConformance, FixtureInfo, write_image

    class TestMyData(DatasetConformance):
        plugin = MyDataset

        def make_fixture(self, root):
            for i in range(4):
                write_image(root / "cats" / f"{i}.png")
            ...
            return FixtureInfo(images=8, classes=2, labels={"cat", "dog"})

pytest then runs every ``test_*`` method of the suite against it.
"""

from hpstudy.testing._conformance import DatasetConformance, FixtureInfo
from hpstudy.testing._files import truncate, write_csv, write_garbage, write_image

__all__ = [
    "DatasetConformance",
    "FixtureInfo",
    "truncate",
    "write_csv",
    "write_garbage",
    "write_image",
]
