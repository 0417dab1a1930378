"""``examples/third_party_plugin``: installed on its own, listed by ``hpstudy datasets``, and
conformant (the suite is all a third-party author needs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpstudy.testing import DatasetConformance, FixtureInfo, write_image

EXAMPLE = Path(__file__).parents[2] / "examples" / "third_party_plugin"
sys.path.insert(0, str(EXAMPLE))
from hpstudy_example_plugin import FoldersDataset  # noqa: E402

sys.path.remove(str(EXAMPLE))


class TestFoldersDataset(DatasetConformance):
    plugin = FoldersDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        for split, n in (("train", 3), ("valid", 2)):
            for cls in ("circle", "square"):
                for i in range(n):
                    write_image(root / split / cls / f"{i}.png", (12, 12), seed=i)
        (root / "train" / "circle" / "broken.png").write_bytes(b"GIF89a, not really")
        return FixtureInfo(images=10, classes=2, labels={"circle", "square"}, train=6, valid=4,
                           skipped=1)

    def damage_victim(self, splits):  # noqa: ANN001, ANN201 - folder listing is the index
        pytest.skip("a folder listing is this dataset's index; damaged files are in the fixture")


def test_installed_plugin_is_listed(tmp_path: Path) -> None:
    import shutil

    source = shutil.copytree(EXAMPLE, tmp_path / "src")  # the build leaves files next to it
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    path = os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-m", "hpstudy", "datasets", "--json", "--data-root", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["example-folders"]["distribution"] == "hpstudy-example-plugin"
    assert rows["example-folders"]["data"] == "missing"
