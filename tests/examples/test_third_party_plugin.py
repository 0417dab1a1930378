"""``examples/third_party_plugin``: installed on its own, listed by ``hpstudy datasets``, and
conformant: its own test (``examples/third_party_plugin/tests``) runs here, unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "third_party_plugin"
sys.path[:0] = [str(EXAMPLE), str(EXAMPLE / "tests")]
from test_example_folders import TestFoldersDataset  # noqa: E402, F401 - collected here

del sys.path[:2]


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
