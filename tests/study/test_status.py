"""``hpstudy status``: running trials with their worker, failures with their reasons, JSON keys."""

from __future__ import annotations

import json

from click.testing import CliRunner

from hpstudy.cli import cli
from hpstudy.study import HeartbeatSettings, open_storage, study_status
from hpstudy.study._study import claim_next
from hpstudy.study._worker import WorkerConfig, run_worker
from hpstudy.testing import prepare_standin_study, standin_train


def test_status_shows_running_stale_and_failures(sqlite_url: str, monkeypatch) -> None:  # noqa: ANN001
    import random

    from hpstudy.cli._console import console

    monkeypatch.setattr(console, "width", 250)  # rich truncates cells to the terminal width

    ref = prepare_standin_study(sqlite_url, heartbeat=HeartbeatSettings(1, 2), max_attempts=1)
    owner = {"host": "elsewhere", "pid": 4242, "worker": "w9", "device": "cuda:1"}
    trial = claim_next(ref, owner=owner, rng=random.Random(0))
    assert trial is not None
    (status,) = study_status(open_storage(sqlite_url, create=False))
    (running,) = status.running_trials
    assert (running.host, running.pid, running.device, running.attempt) == (
        "elsewhere", 4242, "cuda:1", 1
    )
    assert running.since is not None
    assert (running.epoch, running.epochs, running.images_per_s) == (0, 2, None)
    # What the worker records after each epoch (smoke trains 1 + 1 epochs).
    trial.set_user_attr("epochs", [{"epoch": 0, "stage": "frozen", "metric": 0.5,
                                    "images_per_s": 812.5}])
    (running,) = study_status(open_storage(sqlite_url, create=False))[0].running_trials
    assert (running.epoch, running.epochs, running.images_per_s) == (1, 2, 812.5)

    result = CliRunner().invoke(cli, ["status", "--storage", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "elsewhere" in result.output and "cuda:1" in result.output

    # The claimed trial's worker never beats again: another worker fails it and carries on.
    broken = "ps=0.25@1"
    run_worker(WorkerConfig(sqlite_url, "smoke:digits", poll_s=0.3),
               standin_train(0.0, fail_always=(broken,)))
    result = CliRunner().invoke(cli, ["status", "--storage", sqlite_url, "--json"])
    assert result.exit_code == 0, result.output
    (data,) = json.loads(result.output)
    for key in ("study", "grid_size", "complete", "running", "waiting", "failed", "duplicates",
                "attempts_failed", "stale"):
        assert key in data
    assert data["running"] == 0 and data["stale"] == 0
    assert data["failed"] == 2  # max_attempts=1: the dead worker's point and the broken one
    assert data["attempts_failed"] == 2
    reasons = {f["point"]: f["reason"] for f in data["failures"]}
    assert reasons[broken].startswith("StandinError")
    assert "heartbeat" in reasons[trial.user_attrs["grid_point"]]
    assert data["complete"] == data["grid_size"] - 2

    text = CliRunner().invoke(cli, ["status", "--storage", sqlite_url]).output
    assert "StandinError" in text and "left failed" in text
