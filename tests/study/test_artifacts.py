"""Per-image outputs as Optuna artifacts: where they go, and a worker that cannot write them stops
with one line instead of failing every point's attempts."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import optuna
import pytest

from hpstudy.errors import HostError
from hpstudy.outputs import pack_outputs
from hpstudy.study import open_storage, study_status
from hpstudy.study._artifacts import ARTIFACTS_ENV, _artifact_error, artifact_dir, save_outputs
from hpstudy.study._worker import WorkerConfig, run_worker
from hpstudy.testing import prepare_standin_study


def test_artifacts_live_beside_an_sqlite_file_or_where_the_environment_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ARTIFACTS_ENV, raising=False)
    assert artifact_dir(f"sqlite:///{tmp_path / 'a.db'}") == tmp_path / "a.db.artifacts"
    monkeypatch.setenv(ARTIFACTS_ENV, str(tmp_path / "shared"))
    assert artifact_dir("postgresql+psycopg://u@h/db") == tmp_path / "shared"


def _saving_train(ref, trial, point, config) -> float:  # noqa: ANN001 - the TrainFn signature
    probs = np.full((4, 3), 1 / 3, dtype=np.float32)
    save_outputs(config.storage_url, trial, pack_outputs(probs, np.arange(4) % 3, multi_label=False))
    return 0.5


def test_a_worker_that_cannot_write_outputs_stops_without_using_attempts(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(ARTIFACTS_ENV, str(blocker / "artifacts"))
    prepare_standin_study(sqlite_url)
    with pytest.raises(HostError, match=r"cannot write the studies' artifacts \(per-image "
                                        r"outputs, heatmaps\) at .*"
                                        rf"not-a-folder/artifacts .*set {ARTIFACTS_ENV}"):
        run_worker(WorkerConfig(sqlite_url, "smoke:digits", poll_s=0.2), _saving_train)
    (status,) = study_status(open_storage(sqlite_url, create=False))
    assert status.attempts_failed == 0 and status.running == 0 and status.interrupted == 1
    assert status.waiting == 26  # the point is queued again, with its attempt unused

    monkeypatch.setenv(ARTIFACTS_ENV, str(tmp_path / "artifacts"))
    assert run_worker(WorkerConfig(sqlite_url, "smoke:digits", poll_s=0.2), _saving_train) == 26
    trial = optuna.load_study(study_name="smoke:digits", storage=sqlite_url).get_trials()[-1]
    assert trial.user_attrs["outputs"] and any((tmp_path / "artifacts").iterdir())


def test_a_full_artifact_disk_names_the_folder_and_the_fix(tmp_path: Path) -> None:
    err = _artifact_error(tmp_path / "art", OSError(errno.ENOSPC, "No space left on device"))
    assert str(err).startswith("no space left for the studies' artifacts (per-image outputs, "
                               f"heatmaps) at {tmp_path}/art")
    assert ARTIFACTS_ENV in str(err) and "MiB free" in str(err)
