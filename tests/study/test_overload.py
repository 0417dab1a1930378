"""Under overload a study slows down but finishes: eight `run --workers 1` coordinators started at
the same moment on one fresh storage, on every backend, on a host their workers keep busy.

Each coordinator is its own process running the real ``run_study`` (storage creation, the
lr-finder lock, the queue, a spawned worker, heartbeats, stale checks); only the training step and
the finder are stand-ins, and they keep a core busy instead of sleeping, so eight of them on this
project's two cores overload the host the way real training does. Heartbeats are aggressive (1 s,
4 s grace), so a busy storage delays them well past the grace period.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from hpstudy.study import HeartbeatSettings, open_storage, study_status
from hpstudy.testing import launch_standin_coordinators

SMOKE = Path(__file__).resolve().parents[2] / "studies" / "smoke.toml"
RUNNERS = 8


def test_eight_runners_on_a_busy_host_finish_every_point_exactly_once(storage_url: str,
                                                                     tmp_path: Path) -> None:
    spec = tmp_path / "smoke.toml"  # the smoke design on one fraction: 13 points
    spec.write_text(SMOKE.read_text().replace("fractions = [0.2, 1.0]", "fractions = [0.2]"))
    procs = launch_standin_coordinators(storage_url, str(spec), RUNNERS, train_s=0.5,
                                        lr_find_s=2.0,
                                        heartbeat=HeartbeatSettings(interval_s=1, grace_s=4))
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        assert "done 13/13" in out
    (status,) = study_status(open_storage(storage_url, create=False))
    assert status.grid_size == status.complete == 13
    assert status.duplicates == status.running == status.waiting == status.failed == 0
    trials = optuna.load_study(study_name="smoke:digits", storage=storage_url).get_trials()
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 13 and len({t.user_attrs["grid_point"] for t in done}) == 13
    assert status.attempts_failed == 0  # no live worker was taken for a dead one
