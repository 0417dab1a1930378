"""Test helpers: the conformance suite for dataset plugins, fixture writers, and study stand-ins.

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

The study stand-ins (:func:`standin_train`, :func:`prepare_standin_study`, ...) run the real
claiming, heartbeats, retries and queue with a training step that sleeps, for tests and benchmarks
of many workers. They do not need pytest (spawned workers import them): only the conformance suite
does, and it is imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpstudy.testing._files import truncate, write_csv, write_garbage, write_image
from hpstudy.testing._standin import (
    StandinError,
    launch_standin_coordinators,
    prepare_standin_study,
    run_standin_nodes,
    standin_coordinator,
    standin_lr_find,
    standin_node,
    standin_train,
)

if TYPE_CHECKING:
    from hpstudy.testing._conformance import DatasetConformance, FixtureInfo

__all__ = [
    "DatasetConformance",
    "FixtureInfo",
    "StandinError",
    "launch_standin_coordinators",
    "prepare_standin_study",
    "run_standin_nodes",
    "standin_coordinator",
    "standin_lr_find",
    "standin_node",
    "standin_train",
    "truncate",
    "write_csv",
    "write_garbage",
    "write_image",
]

#: Names of the conformance suite, which imports pytest: loaded on first use.
_CONFORMANCE = ("DatasetConformance", "FixtureInfo")


def __getattr__(name: str) -> Any:
    if name in _CONFORMANCE:
        from hpstudy.testing import _conformance

        return getattr(_conformance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
