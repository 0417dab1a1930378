"""Replicates: a third grid dimension, exactly once under concurrent workers, and a number a study
may raise (keeping every stored result) or lower (setting the extra ones aside).

Workers are real processes running the real claim/queue code with the stand-in training step.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpstudy.study import (
    HeartbeatSettings,
    create_study,
    load_spec,
    load_study,
    open_storage,
    study_status,
    summarize,
)
from hpstudy.study._study import ensure_queued, point_of
from hpstudy.study._worker import WorkerConfig, run_worker
from hpstudy.testing import prepare_standin_study, run_standin_nodes, standin_train

SMOKE = Path(__file__).resolve().parents[2] / "studies" / "smoke.toml"


def _spec_file(tmp_path: Path, replicates: int) -> Path:
    """The smoke spec with ``replicates`` set, under the same name (so it is the same study)."""
    folder = tmp_path / f"r{replicates}"
    folder.mkdir(exist_ok=True)
    path = folder / "smoke.toml"
    path.write_text(f"replicates = {replicates}\n" + SMOKE.read_text())
    return path


def test_every_replicate_of_every_point_runs_exactly_once(storage_url: str, tmp_path: Path) -> None:
    spec = str(_spec_file(tmp_path, 3))
    codes = run_standin_nodes(storage_url, 4, standin_train(0.05), spec=spec,
                              heartbeat=HeartbeatSettings(interval_s=1, grace_s=4))
    assert codes == [0] * 4
    (status,) = study_status(open_storage(storage_url, create=False))
    assert status.grid_size == status.complete == 26 * 3
    assert status.duplicates == status.waiting == status.running == status.failed == 0
    trials = optuna.load_study(study_name="smoke:digits", storage=storage_url).get_trials()
    assert len(trials) == 78  # nothing enqueued twice
    params = Counter((t.params["variant"], t.params["fraction"], t.params["replicate"])
                     for t in trials)
    assert set(params.values()) == {1} and {r for _, _, r in params} == {0, 1, 2}
    keys = {t.user_attrs["grid_point"] for t in trials}
    assert "baseline@1" in keys and "baseline@1#2" in keys and "wd=0@0.2#1" in keys


def test_raising_replicates_adds_points_and_keeps_stored_results(sqlite_url: str,
                                                                 tmp_path: Path) -> None:
    prepare_standin_study(sqlite_url, str(_spec_file(tmp_path, 1)))
    config = WorkerConfig(sqlite_url, "smoke:digits", poll_s=0.2)
    assert run_worker(config, standin_train(0.0)) == 26
    study = optuna.load_study(study_name="smoke:digits", storage=sqlite_url)
    before = {t.number: (t.value, t.datetime_complete) for t in study.get_trials()}

    # Same study (replicates is not part of the spec hash): 26 new points queued, none retrained.
    ref = prepare_standin_study(sqlite_url, str(_spec_file(tmp_path, 2)))
    assert ref.spec.replicates == 2
    (status,) = study_status(open_storage(sqlite_url, create=False))
    assert (status.grid_size, status.complete, status.waiting) == (52, 26, 26)
    assert run_worker(config, standin_train(0.0)) == 26
    trials = optuna.load_study(study_name="smoke:digits", storage=sqlite_url).get_trials()
    assert {t.number: (t.value, t.datetime_complete) for t in trials if t.number in before} == before
    (status,) = study_status(open_storage(sqlite_url, create=False))
    assert status.grid_size == status.complete == 52
    rows = summarize(load_study(open_storage(sqlite_url, create=False), "smoke:digits"))
    values = {}
    for t in optuna.load_study(study_name="smoke:digits", storage=sqlite_url).get_trials():
        if t.state == TrialState.COMPLETE:
            values.setdefault((t.params["variant"], t.params["fraction"]), []).append(t.value)
    for row in rows:  # the metric's spread over the replicates, beside its mean
        mine = values[(row.variant, row.fraction)]
        expected = statistics.stdev(mine) if len(mine) > 1 else None
        assert row.metric_sd == (pytest.approx(expected) if expected is not None else None)
    assert {r.replicates for r in rows} == {2}
    assert all(r.comparison is not None and r.comparison.replicates == 2
               for r in rows if r.variant != "baseline")
    assert all(r.comparison.method == "replicates" for r in rows if r.comparison)  # no outputs

    # Lowering it sets replicate 1 aside: counted out, kept in storage, back when raised again.
    rdb = open_storage(sqlite_url, create=False)
    create_study(rdb, load_spec(_spec_file(tmp_path, 1)), "digits", "accuracy")
    (status,) = study_status(rdb)
    assert status.grid_size == status.complete == 26
    rows = summarize(load_study(rdb, "smoke:digits"))
    assert {r.replicates for r in rows} == {1}
    assert len(optuna.load_study(study_name="smoke:digits", storage=sqlite_url).get_trials()) == 52
    ref = create_study(rdb, load_spec(_spec_file(tmp_path, 2)), "digits", "accuracy")
    assert ensure_queued(ref) == 0
    (status,) = study_status(rdb)
    assert status.grid_size == status.complete == 52


def test_lowering_replicates_takes_queued_extra_points_off_the_queue(sqlite_url: str,
                                                                    tmp_path: Path) -> None:
    prepare_standin_study(sqlite_url, str(_spec_file(tmp_path, 3)))
    rdb = open_storage(sqlite_url, create=False)
    ref = create_study(rdb, load_spec(_spec_file(tmp_path, 1)), "digits", "accuracy")
    ensure_queued(ref)
    study = optuna.load_study(study_name="smoke:digits", storage=sqlite_url)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 26 and all("#" not in t.user_attrs["grid_point"] for t in waiting)
    assert run_worker(WorkerConfig(sqlite_url, "smoke:digits", poll_s=0.2),
                      standin_train(0.0)) == 26
    (status,) = study_status(rdb)
    assert status.complete == status.grid_size == 26 and status.attempts_failed == 0


def test_a_worker_opened_before_replicates_grew_resolves_the_new_points(sqlite_url: str,
                                                                        tmp_path: Path) -> None:
    old = prepare_standin_study(sqlite_url, str(_spec_file(tmp_path, 1)))
    point = point_of(old, "wd=0", 0.2, 2)
    assert point.key == "wd=0@0.2#2" and point.variant.hparams["wd"] == 0.0
    with pytest.raises(KeyError):
        point_of(old, "wd=0", 0.5, 0)  # not a fraction of the spec


def test_early_epoch_changes_compare_the_replicates_last_frozen_epochs(sqlite_url: str,
                                                                        tmp_path: Path) -> None:
    from hpstudy.study._report import early_epoch, summarize_early

    ref = prepare_standin_study(sqlite_url, str(_spec_file(tmp_path, 3)))
    config = WorkerConfig(sqlite_url, ref.study.study_name, worker_id="w", poll_s=0.2)
    assert run_worker(config, standin_train(0.0, epochs=4)) == 78
    early = summarize_early(ref)
    assert len(early) == 24  # 12 variants x 2 fractions, the baseline is the reference
    trials = {t.user_attrs["grid_point"]: t for t in ref.study.get_trials()}

    def frozen_end(key: str) -> float:
        records = trials[key].user_attrs["epochs"]
        assert early_epoch(records)[0] == ref.spec.frozen_epochs - 1  # 0-based: the last frozen
        return early_epoch(records)[1]

    keys = ["@1", "@1#1", "@1#2"]
    variant = sum(frozen_end(f"wd=0{k}") for k in keys) / 3
    baseline = sum(frozen_end(f"baseline{k}") for k in keys) / 3
    c = early[("wd=0", 1.0)]
    assert c.method == "replicates" and c.replicates == 3
    assert c.mean_pct == pytest.approx((variant - baseline) / baseline * 100)
    assert c.ci_low_pct <= c.mean_pct <= c.ci_high_pct
    one = summarize_early(prepare_standin_study(sqlite_url, str(_spec_file(tmp_path, 1))))
    assert one[("wd=0", 1.0)].method == "none"  # a single pair has no interval at an early epoch
