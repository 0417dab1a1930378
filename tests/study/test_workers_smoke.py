"""A real study: `hpstudy run` on digits with 3 worker processes on PostgreSQL, fastai training.

The smoke design (26 grid points, 1 frozen + 1 unfrozen epoch) on smaller fractions of the data and
a shorter lr sweep, so the whole study costs about a third of the packaged smoke study; the
packaged one runs end to end in ``test_e2e_smoke``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hpstudy.study import open_storage, study_status

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def _quick_smoke(tmp_path: Path) -> Path:
    spec = (STUDIES / "smoke.toml").read_text()
    for old, new in (("fractions = [0.2, 1.0]", "fractions = [0.05, 0.1]"),
                     ("num_it = 50", "num_it = 20"), ("valid_images = 256", "valid_images = 64")):
        assert old in spec
        spec = spec.replace(old, new)
    path = tmp_path / "smoke.toml"  # the study keeps the name smoke:digits
    path.write_text(spec)
    return path


@pytest.mark.postgres
def test_real_smoke_study_with_three_workers_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    import optuna

    run = subprocess.run(
        [sys.executable, "-m", "hpstudy", "run", "--dataset", "digits", "--study",
         str(_quick_smoke(tmp_path)), "--workers", "3", "--device", "cpu", "--storage", postgres_url],
        capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "26/26 complete" in run.stdout
    storage = open_storage(postgres_url, create=False)
    (status,) = study_status(storage)
    assert (status.complete, status.duplicates, status.running, status.waiting) == (26, 0, 0, 0)
    trials = optuna.load_study(study_name="smoke:digits", storage=storage).get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 26
    assert len({t.user_attrs["worker"] for t in complete}) >= 2
    for t in complete:
        assert t.user_attrs["lr_find"] > 0
        assert len(t.intermediate_values) == 2  # 1 frozen + 1 unfrozen epoch
        assert 0.0 <= t.value <= 1.0
