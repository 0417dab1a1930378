"""The README's main job through the CLI, for real, on a small design: `hpstudy run` with two worker
processes trains every grid point once, `status --json` counts them and a second run trains nothing.

The spec is the smoke design cut to 3 variants × 2 fractions at 16 px, so it fits the default test
run; the quick start itself (``--study quickstart``, five minutes) is ``test_quickstart.py`` (slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpstudy.study import study_attrs


def _hpstudy(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "hpstudy", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=900,
    )


def _table(stdout: str) -> list[str]:
    """The summary table's rows: they start with the training fraction."""
    return [line for line in stdout.splitlines() if line.split()[:1] in (["0.2"], ["1"])]


MINI = """\
arch = "resnet18"
pretrained = false
batch_size = 128
image_size = 16
frozen_epochs = 1
unfrozen_epochs = 1
fractions = [0.2, 1.0]
[baseline]
lr_mult = 1.0
divisor = 10
wd = 0.1
beta2 = 0.99
ps = 0.5
[factors]
lr_mult = [10.0]
wd = [0.0]
[lr_find]
start_lr = 1e-5
end_lr = 1.0
num_it = 20
"""
GRID = 6


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory):
    cwd = tmp_path_factory.mktemp("smoke")
    (cwd / "mini.toml").write_text(MINI)
    first = _hpstudy(cwd, "run", "--dataset", "digits", "--study", "mini.toml", "--workers", "2")
    return cwd, first


def test_smoke_study_completes_every_grid_point_exactly_once(smoke_run) -> None:
    cwd, first = smoke_run
    assert first.returncode == 0, first.stderr[-3000:]
    assert (cwd / "hpstudy.db").is_file()  # the default storage, in the working directory
    study = optuna.load_study(study_name="mini:digits", storage=f"sqlite:///{cwd}/hpstudy.db")
    trials = study.get_trials()
    assert len(trials) == GRID
    assert all(t.state == TrialState.COMPLETE for t in trials)
    keys = [(t.params["variant"], t.params["fraction"], t.params["replicate"]) for t in trials]
    assert len(set(keys)) == GRID
    rows = _table(first.stdout)
    assert len(rows) == GRID and rows[0].split()[1] == "baseline"
    for row in rows:  # one replicate: every variant has its image-bootstrap interval, not judged
        if "baseline" not in row:
            assert ".." in row and row.rstrip().endswith("not judged"), row
    assert "not judged: one replicate" in " ".join(first.stdout.split())
    assert "seed-to-seed spread is not measured" in " ".join(first.stdout.split())  # one sweep


def test_trials_record_hyperparameters_history_and_throughput(smoke_run) -> None:
    cwd, _ = smoke_run
    study = optuna.load_study(study_name="mini:digits", storage=f"sqlite:///{cwd}/hpstudy.db")
    attrs = study_attrs(study)
    assert attrs["spec"]["name"] == "mini" and len(attrs["spec_hash"]) == 64
    assert study.user_attrs["spec"] == "mini"  # Optuna's views show the compact values
    lr_find = {f: attrs[f"lr_find@{f}"]["lr"] for f in ("0.2", "1")}
    for t in study.get_trials():
        u = t.user_attrs
        hp = u["hparams"]
        assert set(hp) == {"lr", "lr_mult", "divisor", "wd", "beta2", "ps", "ps_last"}
        assert hp["ps_last"] == attrs["spec"]["ps_last"]  # None: fastai's reading of one ps
        f = f"{t.params['fraction']:g}"
        assert u["lr_find"] == lr_find[f]
        assert hp["lr"] == pytest.approx(lr_find[f] * hp["lr_mult"])
        assert u["metric"] == "accuracy" and u["device"] == "cpu" and u["host"]
        assert len(u["epochs"]) == 2 and {"train_loss", "valid_loss", "metric"} <= set(u["epochs"][0])
        assert all(e["images_per_s"] > 0 for e in u["epochs"])  # the run table's img/s
        assert t.intermediate_values == {0: u["epochs"][0]["metric"], 1: u["epochs"][1]["metric"]}
        assert t.value == u["epochs"][-1]["metric"]
        assert u["wall_s"] > 0 and u["images_per_s"] > 0
    variant = {t.params["variant"]: t for t in study.get_trials() if t.params["fraction"] == 1.0}
    assert variant["wd=0"].user_attrs["hparams"]["wd"] == 0.0
    assert variant["lr_mult=10"].user_attrs["hparams"]["lr_mult"] == 10.0


def test_status_json_reports_the_complete_grid(smoke_run) -> None:
    cwd, _ = smoke_run
    out = _hpstudy(cwd, "status", "--json")
    assert out.returncode == 0, out.stderr
    [entry] = json.loads(out.stdout)
    assert entry["study"] == "mini:digits"
    assert (entry["grid_size"], entry["complete"], entry["running"], entry["failed"],
            entry["duplicates"]) == (GRID, GRID, 0, 0, 0)


def test_second_run_trains_nothing_and_prints_the_same_table(smoke_run) -> None:
    cwd, first = smoke_run
    second = _hpstudy(cwd, "run", "--dataset", "digits", "--study", "mini.toml", "--workers", "2")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "nothing left to train" in second.stdout
    assert _table(second.stdout) == _table(first.stdout)
    study = optuna.load_study(study_name="mini:digits", storage=f"sqlite:///{cwd}/hpstudy.db")
    assert len(study.get_trials()) == GRID


def test_optuna_studies_fits_a_terminal(smoke_run) -> None:
    """Optuna's own CLI prints the study's user attributes whole: they hold compact values only
    (the spec's name, its short hash, the finder's lr), not the records behind them."""
    cwd, _ = smoke_run
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from optuna.cli import main; sys.exit(main())",
         "studies", "--storage", f"sqlite:///{cwd}/hpstudy.db"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "400"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert any("mini:digits" in line for line in lines)
    assert max(map(len, lines)) <= 200, max(lines, key=len)
    row = next(line for line in lines if "mini:digits" in line)
    assert "'spec': 'mini'" in row and "'lr_find@0.2': " in row and "curve" not in row
