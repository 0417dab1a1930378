"""The benchmark scripts run end to end on small inputs and print the keys their readers expect.

The GPU figures are only measured where a GPU is (``benchmarks/gpu_check.sh``); these runs keep
the scripts working in between, on the CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
pytestmark = pytest.mark.slow


def _run(script: str, *args: str, tmp_path: Path) -> dict:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args, "--json"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_pipeline_only_compares_the_two_loaders(tmp_path: Path) -> None:
    out = _run("throughput.py", "--pipeline-only", "--images", "120", "--size", "64",
               "--batch", "32", "--epochs", "1", tmp_path=tmp_path)
    assert out["cache_loader"] > 0 and out["decode_loader"] > 0
    assert out["ratio"] == pytest.approx(out["cache_loader"] / out["decode_loader"], rel=0.01)


def test_model_throughput_runs_every_pipeline_on_the_cpu(tmp_path: Path) -> None:
    out = _run("throughput.py", "--device", "cpu", "--images", "120", "--size", "32", "--batch", "32",
               "--arch", "resnet18", "--epochs", "1", tmp_path=tmp_path)
    for key in ("ceiling", "hpstudy", "fastai_default"):
        assert out[key] > 0
    assert out["ratio_ceiling"] == pytest.approx(out["hpstudy"] / out["ceiling"], rel=0.01)
    assert out["ratio_fastai"] == pytest.approx(out["hpstudy"] / out["fastai_default"], rel=0.01)


def test_study_walltime_completes_the_whole_grid(tmp_path: Path) -> None:
    out = _run("study_walltime.py", "--device", "cpu", "--images", "80", "--size", "32",
               "--arch", "resnet18", "--workers", "2", tmp_path=tmp_path)
    assert out["trials"] == out["grid"] == 26
    assert 0 < out["lr_find_s"] < out["study_s"] and 0 < out["trials_s"] < out["study_s"]


def test_optimizer_step_compares_both_adams(tmp_path: Path) -> None:
    out = _run("optimizer_step.py", "--device", "cpu", "--steps", "2", tmp_path=tmp_path)
    for size in ("host", "full"):
        assert out[f"ratio_{size}"] == pytest.approx(
            out[f"fastai_{size}_ms"] / out[f"study_{size}_ms"], rel=0.02)


def test_noise_measures_replicate_disagreement(tmp_path: Path) -> None:
    spec = tmp_path / "tinynoise.toml"
    spec.write_text(
        'arch = "resnet18"\npretrained = false\nbatch_size = 128\nimage_size = 16\n'
        "frozen_epochs = 0\nunfrozen_epochs = 1\nfractions = [1.0]\n"
        "[baseline]\nlr_mult = 1.0\ndivisor = 10\nwd = 0.1\nbeta2 = 0.99\nps = 0.5\n"
        "[factors]\nlr_mult = [0.1]\nwd = [0.0]\n"
        "[lr_find]\nstart_lr = 1e-5\nend_lr = 1.0\nnum_it = 10\nvalid_images = 64\n"
    )
    out = _run("noise.py", "--spec", str(spec), "--replicates", "2", "--workers", "2",
               tmp_path=tmp_path)
    # Four replicates: two independent runs of two, split three ways; six single-replicate pairs.
    assert out["replicates_per_run"] == 2 and out["splits"] == 3
    assert out["cells"] == 6 * 2  # two variants per pair of single-replicate runs
    assert out["baseline_sd"] >= 0 and 0 <= out["sign_flips"] <= out["cells"]
    for flagged, share, most in (("flagged", "flagged_reproduced", 3 * 2 * 2),
                                 ("flagged_single", "flagged_reproduced_single", 6 * 2 * 2)):
        assert 0 <= out[flagged] <= most
        if out[flagged]:
            assert 0 <= out[share] <= 1
        else:
            assert out[share] is None
    for kind in ("run", "single"):
        assert out[f"median_width_{kind}"] >= 0 and 0 <= out[f"covers_held_out_{kind}"] <= 1


def test_fastai_equivalence_pairs_hpstudy_with_plain_fastai(tmp_path: Path) -> None:
    out = _run("fastai_equivalence.py", "--seeds", "2", "--policy", "fastai", "--size", "16",
               "--frozen-epochs", "0", "--unfrozen-epochs", "1", "--limit", "200",
               "--limit-valid", "100", tmp_path=tmp_path)
    assert out["policy"] == "fastai" and out["seeds"] == 2 and out["dataset"] == "digits"
    assert out["epochs"] == [0, 1] and out["lr"] == pytest.approx(0.00176)
    assert out["train_images"] == 200 and out["valid_images"] == 100
    for side in ("hpstudy", "fastai"):
        s = out[side]
        assert len(s["values"]) == 2 and all(0 <= v <= 1 for v in s["values"])
        assert s["mean"] == pytest.approx(sum(s["values"]) / 2) and s["sd"] >= 0
        assert s["wall_s"] > 0
    diffs = [100 * (a - b) for a, b in zip(out["hpstudy"]["values"], out["fastai"]["values"], strict=True)]
    low, high = out["diff_ci"]
    assert out["diff_mean"] == pytest.approx(sum(diffs) / 2)
    assert low - 1e-9 <= out["diff_mean"] <= high + 1e-9
    assert out["equivalent"] == (low >= -2 and high <= 2)
