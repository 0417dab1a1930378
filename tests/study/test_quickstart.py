"""The README's first command, as written: the quickstart study on digits with two workers.

Slow (about five minutes on two cores): `pytest -m slow`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.slow


def test_quickstart_learns_and_reports_every_change_with_its_interval(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "120", "HPSTUDY_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "hpstudy", "run", "--dataset", "digits", "--study", "quickstart",
         "--workers", "2"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="quickstart:digits",
                              storage=f"sqlite:///{tmp_path / 'hpstudy.db'}")
    trials = study.get_trials()
    assert len(trials) == 18 and {t.params["replicate"] for t in trials} == {0, 1, 2}
    baseline = [t.value for t in trials if t.params["variant"] == "baseline"]
    assert statistics.mean(baseline) >= 0.90
    rows = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] == ["1"]]
    assert len(rows) == 6
    assert rows[0][3] == f"{statistics.mean(baseline):.3f}±{statistics.stdev(baseline):.3f}"
    for row in rows[1:]:
        assert row[4] == "3" and ".." in row[6] and row[7] in ("better*", "worse*", "n.s.")
