"""A real study: `hpstudy run` on digits with 3 worker processes on PostgreSQL, fastai training."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hpstudy.study import open_storage, study_status


@pytest.mark.postgres
def test_real_smoke_study_with_three_workers_on_postgres(postgres_url: str) -> None:
    import optuna

    run = subprocess.run(
        [sys.executable, "-m", "hpstudy", "run", "--dataset", "digits", "--study", "smoke",
         "--workers", "3", "--device", "cpu", "--storage", postgres_url],
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
